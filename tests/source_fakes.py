"""Stand-ins for the paper-source tests: a fake clock that sleeping advances, and a small fake web
served through httpx.MockTransport that records when each request arrived."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

FIXTURES = Path(__file__).parent / "fixtures"

Answer = httpx.Response | Exception | Callable[[httpx.Request], Awaitable[httpx.Response]]


def fixture(name: str) -> bytes:
    """The bytes of a recorded response under tests/fixtures/."""
    return (FIXTURES / name).read_bytes()


class FakeTime:
    """A clock that only moves when someone sleeps (or the test moves it)."""

    def __init__(self, now: datetime = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        """The fake now."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the sleep and jump forward by it."""
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


@dataclass
class Hit:
    """One request as the fake web saw it."""

    at: datetime
    request: httpx.Request

    @property
    def url(self) -> str:
        """The full URL requested."""
        return str(self.request.url)


@dataclass
class FakeWeb:
    """Answers by exact URL: each URL has a queue of answers, the last one repeating.

    An answer is a Response, an exception to raise (httpx.ConnectError, httpx.ReadTimeout...), or
    an async function of the request.
    """

    time: FakeTime
    routes: dict[str, list[Answer]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    def on(self, url: str, *answers: Answer) -> None:
        """Queue answers for `url`."""
        self.routes.setdefault(url, []).extend(answers)

    def urls(self) -> list[str]:
        """Every URL requested, in order."""
        return [hit.url for hit in self.hits]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """The MockTransport handler."""
        self.hits.append(Hit(self.time.now, request))
        queue = self.routes.get(str(request.url))
        if not queue:
            return httpx.Response(404, text=f"no route for {request.url}")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return await answer(request)

    @property
    def transport(self) -> httpx.MockTransport:
        """A transport serving this fake web."""
        return httpx.MockTransport(self.handle)


def ok(body: bytes, content_type: str = "application/xml", **headers: str) -> httpx.Response:
    """A 200 answer."""
    return httpx.Response(200, content=body, headers={"Content-Type": content_type, **headers})


def conditional(
    body: bytes, *, etag: str, last_modified: str, content_type: str = "application/xml"
) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    """An answer that says 304 when the client sends back the validators it was given."""

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("If-None-Match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(
            200,
            content=body,
            headers={"Content-Type": content_type, "ETag": etag, "Last-Modified": last_modified},
        )

    return answer
