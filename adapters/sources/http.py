"""A polite HTTP client for paper sources: spacing per host, conditional requests, retries with
backoff and jitter, bounded bodies, and one clear SourceError when a request cannot be made."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urljoin, urlsplit

import httpx

from adapters.sources.decoding import (
    ACCEPT_ENCODING,
    BoundedDecoder,
    TooLarge,
    UndecodableBody,
    content_encodings,
)
from bot.ports import Clock, SourceError, utcnow

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# arXiv's terms: "no more than one request every three seconds, and limit requests to a single
# connection at a time", for all its legacy APIs (RSS and the query API) together.
ARXIV_GATE = "arxiv.org"
ARXIV_INTERVAL = 3.0
DEFAULT_INTERVAL = 1.0
MAX_BODY = 32 * 1024 * 1024
_ERROR_BODY = 64 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def user_agent() -> str:
    """The User-Agent every source sends: names paperbot and its version."""
    try:
        ours = version("paperbot")
    except PackageNotFoundError:
        ours = "dev"
    return f"paperbot/{ours} (self-hosted research paper digest bot; httpx/{httpx.__version__})"


class HttpFailure(SourceError):
    """A request that failed for good (after retries, or at once for a 4xx): names source, URL, status."""

    def __init__(
        self, source: str, url: str, reason: str, status: int | None = None, body: bytes = b""
    ) -> None:
        super().__init__(f"{source}: GET {url} failed: {reason}")
        self.source = source
        self.url = url
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Fetched:
    """A successful answer: the body (empty for 304) and the validators to send next time."""

    url: str
    status: int
    content: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""

    @property
    def not_modified(self) -> bool:
        """The server says nothing changed since the validators we sent."""
        return self.status == 304


class HostGates:
    """Spacing between requests to one host, one request at a time, shared by every client that
    holds the same instance. Hosts under a key of `intervals` (e.g. `arxiv.org`) share its gate."""

    def __init__(
        self,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        *,
        default_interval: float = DEFAULT_INTERVAL,
        intervals: Mapping[str, float] | None = None,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._default = default_interval
        self._intervals = dict(intervals if intervals is not None else {ARXIV_GATE: ARXIV_INTERVAL})
        self._last: dict[str, datetime] = {}
        # One lock per event loop: an asyncio.Lock must not be shared across loops.
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def key_for(self, url: str) -> str:
        """The gate a URL goes through: its host, or the configured domain it belongs to."""
        host = (urlsplit(url).hostname or "").lower()
        for key in self._intervals:
            if host == key or host.endswith("." + key):
                return key
        return host

    def interval(self, key: str) -> float:
        """Seconds between the starts of two requests through `key`."""
        return self._intervals.get(key, self._default)

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold the gate for one request: waits for the previous one to finish and for the spacing."""
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        lock = locks.setdefault(key, asyncio.Lock())
        async with lock:
            interval = self.interval(key)
            last = self._last.get(key)
            if last is not None:
                elapsed = (self._clock() - last).total_seconds()
                # Clamped: a wall clock stepped backwards must not stall the source for hours.
                wait = min(interval, max(0.0, interval - elapsed))
                if wait > 0:
                    await self._sleep(wait)
            self._last[key] = self._clock()
            yield


_shared: HostGates | None = None


def shared_gates() -> HostGates:
    """The process's gates on the real clock: every client left to its defaults shares them, so
    all arXiv requests of the process go through one gate."""
    global _shared
    if _shared is None:
        _shared = HostGates()
    return _shared


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date), or None."""
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def validator_keys(url: str) -> tuple[str, str]:
    """The cursor keys holding a URL's ETag and Last-Modified."""
    return f"etag:{url}", f"modified:{url}"


def conditional_headers(cursor: Mapping[str, str], url: str) -> dict[str, str]:
    """If-None-Match / If-Modified-Since for `url` from the validators kept in `cursor`."""
    etag_key, modified_key = validator_keys(url)
    headers = {}
    if etag := cursor.get(etag_key):
        headers["If-None-Match"] = etag
    if modified := cursor.get(modified_key):
        headers["If-Modified-Since"] = modified
    return headers


def validators_of(fetched: Fetched) -> dict[str, str]:
    """The cursor entries remembering `fetched`'s validators."""
    etag_key, modified_key = validator_keys(fetched.url)
    kept = {}
    if fetched.etag:
        kept[etag_key] = fetched.etag
    if fetched.last_modified:
        kept[modified_key] = fetched.last_modified
    return kept


class PoliteClient:
    """GET with spacing per host, conditional headers, retries on connection errors, timeouts,
    408, 429 and 5xx (Retry-After honoured, else exponential backoff with jitter), none on other
    4xx.

    The httpx.AsyncClient is created on first use and closed by `aclose`.
    """

    def __init__(
        self,
        source: str,
        *,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
        gates: HostGates | None = None,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        attempts: int = 4,
        backoff: float = 2.0,
        max_backoff: float = 60.0,
        max_retry_after: float = 300.0,
        max_bytes: int = MAX_BODY,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.source = source
        self._timeout = timeout
        self._transport = transport
        if gates is None:
            real = clock is utcnow and sleep is asyncio.sleep
            gates = shared_gates() if real else HostGates(clock, sleep)
        self._gates = gates
        self._clock = clock
        self._sleep = sleep
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._max_bytes = max_bytes
        self._jitter = jitter
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,  # followed by get(), each hop through the gate
                # Only the encodings decoding.py undoes within the size cap.
                headers={"User-Agent": user_agent(), "Accept-Encoding": ACCEPT_ENCODING},
            )
        return self._client

    async def aclose(self) -> None:
        """Close the connection pool, if one was opened."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def backoff_delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1-based): doubling, capped, with jitter."""
        base = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
        return base * (0.5 + 0.5 * self._jitter())

    async def get(
        self,
        url: str,
        *,
        validators: Mapping[str, str] | None = None,
        gate: str | None = None,
        accept: str | None = None,
    ) -> Fetched:
        """GET `url` (conditionally when `validators`, a cursor, holds its ETag/Last-Modified).

        Returns a 2xx or 304 answer; raises HttpFailure otherwise, after retries where worth it.
        """
        headers = conditional_headers(validators or {}, url)
        if accept:
            headers["Accept"] = accept
        target = url
        for _hop in range(MAX_REDIRECTS + 1):
            # Each hop of a redirect goes through the gate too (http:// to https:// at arXiv
            # would otherwise be two requests in one 3-second slot).
            fetched = await self._get(target, headers, gate or self._gates.key_for(target))
            if fetched.status not in _REDIRECTS:
                # Under the URL asked for: its validators are what the next poll sends.
                return replace(fetched, url=url)
            target = fetched.url
        raise HttpFailure(self.source, url, f"more than {MAX_REDIRECTS} redirects")

    async def _get(self, url: str, headers: dict[str, str], key: str) -> Fetched:
        """One URL, retried where worth it: its answer (a redirect's target as its url)."""
        reason = "no attempt made"
        status: int | None = None
        for attempt in range(1, self._attempts + 1):
            retry_after: float | None = None
            async with self._gates.slot(key):
                try:
                    response, body = await self._once(url, headers)
                except (TimeoutError, httpx.TimeoutException):
                    reason, status = f"timed out after {self._timeout:g}s", None
                except httpx.TransportError as exc:
                    if isinstance(exc, httpx.UnsupportedProtocol):
                        raise HttpFailure(self.source, url, str(exc)) from exc
                    reason, status = f"connection error ({type(exc).__name__}: {exc})", None
                except (httpx.HTTPError, httpx.InvalidURL) as exc:
                    raise HttpFailure(self.source, url, f"{type(exc).__name__}: {exc}") from exc
                except TooLarge:
                    raise HttpFailure(
                        self.source, url, f"response larger than {self._max_bytes} bytes"
                    ) from None
                except UndecodableBody as exc:
                    raise HttpFailure(self.source, url, str(exc)) from None
                else:
                    status = response.status_code
                    location = response.headers.get("Location")
                    if status in _REDIRECTS and location:
                        return Fetched(url=urljoin(url, location), status=status)
                    if 200 <= status < 300 or status == 304:
                        return Fetched(
                            url=url,
                            status=status,
                            content=body if status != 304 else b"",
                            etag=response.headers.get("ETag"),
                            last_modified=response.headers.get("Last-Modified"),
                            content_type=response.headers.get("Content-Type", ""),
                        )
                    reason = f"HTTP {status}"
                    if status not in (408, 429) and status < 500:  # 408: the server timed out
                        raise HttpFailure(self.source, url, reason, status, body)
                    retry_after = retry_after_seconds(
                        response.headers.get("Retry-After"), self._clock()
                    )
            if attempt == self._attempts:
                break
            delay = retry_after if retry_after is not None else self.backoff_delay(attempt)
            if delay > self._max_retry_after:
                raise HttpFailure(
                    self.source, url, f"{reason}, asked to retry after {delay:.0f}s", status
                )
            log.info(
                "%s: GET %s: %s; retry %d/%d in %.1fs",
                self.source,
                url,
                reason,
                attempt,
                self._attempts - 1,
                delay,
            )
            await self._sleep(delay)
        raise HttpFailure(self.source, url, f"{reason} after {self._attempts} attempts", status)

    async def _once(self, url: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
        # httpx's timeout bounds each phase; this bounds the whole request, so that a server
        # trickling bytes cannot hold the poll forever.
        async with asyncio.timeout(self._timeout):
            async with self._http().stream("GET", url, headers=headers) as response:
                ok = 200 <= response.status_code < 300
                limit = self._max_bytes if ok else _ERROR_BODY
                chunks: list[bytes] = []
                try:
                    # Raw bytes, decoded here: the cap holds while decompressing, every layer.
                    decoder = BoundedDecoder(
                        content_encodings(response.headers.get_list("Content-Encoding")), limit
                    )
                    async for chunk in _raw(response):
                        chunks.append(decoder.feed(chunk))
                    chunks.append(decoder.finish())
                except (TooLarge, UndecodableBody):
                    if ok:
                        raise
                    # An error page is only quoted: what fits is enough.
                return response, b"".join(chunks)


def _raw(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's bytes as they came, still encoded."""
    if response.is_stream_consumed and isinstance(response.stream, httpx.AsyncByteStream):
        # A response built whole (httpx.Response(content=...), as a MockTransport returns):
        # httpx has read it already, and its raw bytes are still in the stream.
        return response.stream.__aiter__()
    return response.aiter_raw()
