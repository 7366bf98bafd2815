"""`GET /metrics`: what paperbot did, in Prometheus's text format (prometheus-client).

Counters and histograms are fed through the core's Metrics port as things happen; the gauges
that describe the database (papers stored, deliveries pending or set aside) are read from it on
each scrape, through `refresh`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
Refresh = Callable[[], Awaitable["StoreFigures"]]


@dataclass(frozen=True)
class StoreFigures:
    """What the database holds at a scrape: papers, and ledger papers per state (`pending`,
    `set_aside`, `sent`)."""

    papers: int
    deliveries: Mapping[str, int] = field(default_factory=dict)


class PrometheusMetrics:
    """The Metrics port as Prometheus metrics, in a registry of its own (one per bot)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.papers_stored = Counter(
            "paperbot_papers_stored",
            "New papers stored by polls, per source",
            ["source"],
            registry=r,
        )
        self.polls = Counter("paperbot_polls", "Polls of a source", ["source"], registry=r)
        self.poll_failures = Counter(
            "paperbot_poll_failures", "Polls of a source that failed", ["source"], registry=r
        )
        self.digests = Counter(
            "paperbot_digests_posted", "Digest runs that posted", ["platform"], registry=r
        )
        self.posts = Counter(
            "paperbot_posts",
            "Attempts to post a digest page, by outcome",
            ["platform", "outcome"],
            registry=r,
        )
        self.commands = Histogram(
            "paperbot_command_seconds",
            "Time to answer a chat command",
            ["command"],
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
        )
        self.command_errors = Counter(
            "paperbot_command_errors", "Commands answered with an error", ["command"], registry=r
        )
        self.matcher = Histogram(
            "paperbot_matcher_seconds",
            "Time the matcher took per run over a window of papers",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )
        self.papers = Gauge("paperbot_papers", "Papers in the database", registry=r)
        self.deliveries = Gauge(
            "paperbot_deliveries", "Papers in the delivery ledger, by state", ["state"], registry=r
        )

    def polled(self, source: str, new: int, *, failed: bool) -> None:
        """Counts the poll, its failure or its new papers."""
        self.polls.labels(source).inc()
        if failed:
            self.poll_failures.labels(source).inc()
        else:
            self.papers_stored.labels(source).inc(new)

    def matched(self, seconds: float, papers: int) -> None:
        """Observes the matcher's time."""
        self.matcher.observe(seconds)

    def post(self, platform: str, outcome: str) -> None:
        """Counts one post by its outcome."""
        self.posts.labels(platform, outcome).inc()

    def digest(self, platform: str) -> None:
        """Counts a digest that posted."""
        self.digests.labels(platform).inc()

    def command(self, name: str, seconds: float, *, ok: bool) -> None:
        """Observes a command's latency."""
        self.commands.labels(name).observe(seconds)
        if not ok:
            self.command_errors.labels(name).inc()

    def set_store(self, figures: StoreFigures) -> None:
        """Sets the gauges read from the database."""
        self.papers.set(figures.papers)
        for state in ("pending", "set_aside", "sent"):
            self.deliveries.labels(state).set(figures.deliveries.get(state, 0))

    def render(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)


def metrics_route(metrics: PrometheusMetrics, refresh: Refresh | None = None) -> web.RouteDef:
    """The aiohttp route answering METRICS_PATH; a database that cannot be read leaves the
    database gauges as they were (the rest is still served)."""

    async def handler(_: web.Request) -> web.Response:
        if refresh is not None:
            try:
                metrics.set_store(await refresh())
            except Exception as exc:
                log.warning("metrics: the database figures could not be read: %s", exc)
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return web.get(METRICS_PATH, handler)
