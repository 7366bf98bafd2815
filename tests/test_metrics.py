"""The core's Metrics port as Prometheus metrics: polls, posts by outcome, digests, matcher."""

from __future__ import annotations

from adapters.web.metrics import PrometheusMetrics, StoreFigures
from bot.models import ChannelRef
from bot.ports import MessageRejected, TransientChatError
from entry.runner import store_figures
from tests.conftest import paper

CH = ChannelRef.parse("console:local:general")


async def test_polls_posts_digests_and_the_matcher_are_counted(
    pipeline, source, chat, clock, stores
):  # type: ignore[no-untyped-def]
    metrics = PrometheusMetrics()
    pipeline.metrics = metrics
    value = metrics.registry.get_sample_value
    source.papers = [paper(i, f"Diffusion paper {i}") for i in range(1, 4)]
    await pipeline.poll("list")
    source.error = OSError("down")
    await pipeline.poll("list", force=True)
    assert value("paperbot_papers_stored_total", {"source": "list"}) == 3
    assert value("paperbot_polls_total", {"source": "list"}) == 2
    assert value("paperbot_poll_failures_total", {"source": "list"}) == 1

    await chat.command(CH, "subscribe diffusion")
    chat.failures = [TransientChatError("timeout")]
    await pipeline.run_digest(CH)
    assert value("paperbot_posts_total", {"platform": "console", "outcome": "retry"}) == 1
    assert value("paperbot_digests_posted_total", {"platform": "console"}) is None
    figures = await store_figures(stores)
    assert figures == StoreFigures(3, {"pending": 3, "set_aside": 0, "sent": 0})

    clock.advance(hours=2)
    chat.failures = [MessageRejected("invalid_blocks"), MessageRejected("still")]
    await pipeline.flush(CH)  # refused as rendered and as plain text: set aside
    assert value("paperbot_posts_total", {"platform": "console", "outcome": "rejected"}) == 1
    metrics.set_store(await store_figures(stores))
    assert value("paperbot_deliveries", {"state": "set_aside"}) == 3

    source.error = None
    source.papers = [paper(9, "Diffusion paper 9")]
    clock.advance(hours=2)
    await pipeline.poll("list", force=True)
    await pipeline.run_digest(CH)
    assert value("paperbot_posts_total", {"platform": "console", "outcome": "sent"}) == 1
    assert value("paperbot_digests_posted_total", {"platform": "console"}) == 1
    assert value("paperbot_matcher_seconds_count") >= 1
    assert b"paperbot_command_seconds" in metrics.render()
