"""The real sources over real HTTP on loopback: poll, merge, search, trending, status, 304."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aiohttp import web

from adapters.sources.registry import build_sources
from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.models import ChannelRef, Command, Schedule
from config.settings import load_settings
from tests.fakes import FakeChat

FIXTURES = Path(__file__).parent / "fixtures"
CH = ChannelRef.parse("console:local:general")


class PaperServer:
    """Hugging Face, arXiv RSS and a journal feed, served from recorded responses with ETags."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> PaperServer:
        app = web.Application()
        app.router.add_get(
            "/api/daily_papers", self.serve("hf_daily_papers_2026-03-06.json", "application/json")
        )
        app.router.add_get(
            "/rss/{cats}", self.serve("arxiv_rss_cs.CV+cs.LG.xml", "application/rss+xml")
        )
        app.router.add_get(
            "/journal.xml", self.serve("feed_journal_rss2.xml", "application/rss+xml")
        )
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def serve(self, name: str, content_type: str):  # type: ignore[no-untyped-def]
        body = (FIXTURES / name).read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'

        async def handler(request: web.Request) -> web.Response:
            self.requests.append((request.path_qs, request.headers.get("If-None-Match")))
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(body=body, content_type=content_type, headers={"ETag": etag})

        return handler

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


async def no_sleep(seconds: float) -> None:
    """Per-host spacing is tested with a fake clock elsewhere; here it must not slow the test."""


async def test_poll_every_source_then_search_trending_status_and_304(stores, clock, monkeypatch):
    async with PaperServer() as server:
        settings = load_settings(
            _env_file=None,
            sources=["huggingface", "arxiv", "feed"],
            huggingface_url=server.url("/api"),
            arxiv_rss_url=server.url("/rss"),
            feeds=[server.url("/journal.xml")],
        )
        sources = {s.name: s for s in build_sources(settings, clock=clock, sleep=no_sleep)}
        pipe = Pipeline(stores, sources, {"console": FakeChat()}, clock)
        hf = sources["huggingface"]
        handler = CommandHandler(pipe, Schedule(), trending=hf.trending)  # type: ignore[attr-defined]
        try:
            reports = {r.source: r for r in await pipe.poll_all(force=True)}
            assert all(r.error is None for r in reports.values()), reports
            hf_seen = reports["huggingface"]  # sources poll at once: either may store a paper first
            assert len(hf_seen.new) + hf_seen.updated == 3
            assert reports["feed"].new

            # A paper on Hugging Face and in the arXiv listing is one record with both.
            stored = await stores.papers.seen_between(None, clock())
            both = [p for p in stored if {"huggingface", "arxiv"} <= set(p.sources)]
            assert both and both[0].upvotes is not None and both[0].categories

            reply = await handler(Command(CH, "U1", "search testing"))
            assert reply.matches and all(m.paper.upvotes is not None for m in reply.matches)
            reply = await handler(Command(CH, "U1", "trending"))
            upvotes = [m.paper.upvotes for m in reply.matches]
            assert len(upvotes) == 3 and upvotes == sorted(upvotes, reverse=True)

            states = {s.name: s for s in await stores.sources.all()}
            assert {"huggingface", "arxiv", "feed"} <= set(states)
            assert all(s.failures == 0 and s.last_success_at for s in states.values())

            before = len(server.requests)
            clock.advance(hours=2)
            again = {r.source: r for r in await pipe.poll_all(force=True)}
            assert all(r.not_modified and not r.new for r in again.values())
            conditional = server.requests[before:]
            assert conditional and all(etag for _, etag in conditional)
        finally:
            for source in sources.values():
                await source.aclose()
