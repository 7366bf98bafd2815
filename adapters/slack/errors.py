"""What Slack's failures mean to paperbot: retry handlers for slack_sdk and the error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.ports import (
    ChannelUnavailable,
    ChatAuthError,
    ChatError,
    MessageRejected,
    TransientChatError,
)

Sleep = Callable[[float], Awaitable[None]]

# The bot can no longer post there: the pipeline marks the channel inactive.
CHANNEL_GONE = frozenset({"channel_not_found", "not_in_channel", "is_archived", "account_inactive"})
# The token itself is rejected: Slack posting stops until an operator fixes it.
AUTH_FAILED = frozenset({"invalid_auth", "token_revoked", "token_expired", "not_authed"})
# The app may not read the channel's history (no channels:history / groups:history scope).
NO_HISTORY = frozenset({"missing_scope", "not_allowed_token_type", "not_allowed"})
# Slack refused the message itself (its blocks, text or metadata): the same message would be
# refused again (https://api.slack.com/methods/chat.postMessage#errors).
MESSAGE_REFUSED = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_attachments",
        "too_many_attachments",
        "msg_too_long",
        "msg_blocks_too_long",
        "no_text",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "invalid_arguments",
        "invalid_array_arg",
        "invalid_charset",
        "invalid_form_data",
        "invalid_post_type",
        "missing_post_type",
    }
)
# Calls that change nothing, so repeating one after a dropped connection is harmless.
READ_ONLY = frozenset(
    {
        "auth.test",
        "users.info",
        "conversations.history",
        "conversations.info",
        "apps.connections.open",
    }
)


def retry_after(headers: object) -> float | None:
    """The Retry-After header in seconds, if there is a readable one."""
    if not hasattr(headers, "items"):
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None


class RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, waiting exactly Retry-After through an injectable `sleep`.

    A wait longer than `max_wait` is not sat out here: the call fails as a TransientChatError
    carrying the wait, and the pipeline comes back later instead of holding a worker.
    """

    def __init__(
        self, max_retry_count: int = 2, max_wait: float = 30.0, sleep: Sleep = asyncio.sleep
    ):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait
        self._sleep = sleep

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response.headers)
        return wait is None or wait <= self.max_wait

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = retry_after(response.headers) if response is not None else None
        state.next_attempt_requested = True
        await self._sleep(1.0 if wait is None else wait)
        state.increment_current_attempt()


class ConnectionRetry(AsyncConnectionErrorRetryHandler):
    """slack_sdk's connection-error handler, made safe for posting.

    A connection that could not be opened sent nothing, so any call is retried. A connection
    dropped mid-call may have posted already, so only read-only calls are repeated; a dropped
    chat.postMessage becomes a TransientChatError and the pipeline reconciles it by delivery id.
    """

    def __init__(self, max_retry_count: int = 1, delay: float = 0.5, sleep: Sleep = asyncio.sleep):
        super().__init__(max_retry_count=max_retry_count)
        self.delay = delay
        self._sleep = sleep

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if isinstance(error, aiohttp.ClientConnectorError):
            return True
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        return method in READ_ONLY and await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        await self._sleep(self.delay * (2**state.current_attempt))
        state.increment_current_attempt()


def retry_handlers(sleep: Sleep = asyncio.sleep, max_wait: float = 30.0) -> list[AsyncRetryHandler]:
    """The retry handlers every Slack Web API client of paperbot carries."""
    return [ConnectionRetry(sleep=sleep), RateLimitRetry(max_wait=max_wait, sleep=sleep)]


def error_code(exc: SlackApiError) -> str:
    """Slack's error code (`is_archived`, `ratelimited`...) or the HTTP status."""
    data = exc.response.data if exc.response is not None else None
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"http_{exc.response.status_code}" if exc.response is not None else "unknown"


def to_chat_error(exc: Exception, what: str) -> ChatError:
    """The ChatError a failed Slack call means; `what` says which call, for the message.

    A TransientChatError is `uncertain` when Slack may have acted anyway (a 5xx, a timeout, a
    connection lost after the request went out), so the pipeline looks before posting again.
    """
    if isinstance(exc, SlackApiError):
        code = error_code(exc)
        status = exc.response.status_code if exc.response is not None else 0
        if status == 429 or code == "ratelimited":
            wait = retry_after(exc.response.headers) if exc.response is not None else None
            return TransientChatError(f"{what}: rate limited by Slack", retry_after=wait)
        if code in CHANNEL_GONE:
            return ChannelUnavailable(f"{what}: {code}")
        if code in AUTH_FAILED:
            return ChatAuthError(f"{what}: {code}")
        if code in MESSAGE_REFUSED:
            return MessageRejected(f"{what}: {code}")
        if status >= 500 or code in ("internal_error", "fatal_error", "service_unavailable"):
            return TransientChatError(
                f"{what}: Slack answered {code} (HTTP {status})", uncertain=True
            )
        return ChatError(f"{what}: {code}")
    if isinstance(exc, aiohttp.ClientConnectorError):  # never connected: nothing was sent
        return TransientChatError(f"{what}: cannot reach Slack: {exc}")
    if isinstance(exc, TimeoutError | aiohttp.ClientError):
        detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        return TransientChatError(f"{what}: {detail}", uncertain=True)
    return ChatError(f"{what}: {type(exc).__name__}: {exc}")
