"""Test doubles that behave like the real edges: a chat that records posts, a settable clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.models import ChannelRef, Command, Digest, Reply
from bot.ports import ChatError, CommandHandler


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 30, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when


@dataclass
class Post:
    """One message the fake chat received."""

    channel: ChannelRef
    page: Digest
    delivery_id: str
    message_id: str
    plain: bool = False

    @property
    def paper_ids(self) -> list[str]:
        return [m.paper.id for m in self.page.items]


@dataclass
class FakeChat:
    """A chat platform in memory: records posts, pages by `page_size`, fails on demand.

    `failures` is a queue of exceptions raised by the next posts, in order.
    """

    platform: str = "console"
    page_size: int = 100
    posts: list[Post] = field(default_factory=list)
    failures: list[ChatError] = field(default_factory=list)
    lose_responses: int = 0
    handler: CommandHandler | None = None
    before_post: Callable[[ChannelRef], None] | None = None

    async def start(self, on_command: CommandHandler) -> None:
        self.handler = on_command

    def paginate(self, digest: Digest) -> list[Digest]:
        from bot.delivery.digest import paginate

        return paginate(digest, lambda d: len(d.items) <= self.page_size)

    async def post(
        self,
        channel: ChannelRef,
        page: Digest,
        delivery_id: str,
        *,
        threads: bool = False,
        plain: bool = False,
    ) -> str:
        if self.before_post:
            self.before_post(channel)
        if self.failures:
            raise self.failures.pop(0)
        message_id = f"m{len(self.posts) + 1}"
        self.posts.append(Post(channel, page, delivery_id, message_id, plain))
        if self.lose_responses:
            self.lose_responses -= 1
            raise ConnectionResetError("response lost after the post landed")
        return message_id

    async def find_delivery(self, channel: ChannelRef, delivery_id: str) -> str | None:
        for post in self.posts:
            if post.channel == channel and post.delivery_id == delivery_id:
                return post.message_id
        return None

    async def stop(self) -> None:
        pass

    async def command(self, channel: ChannelRef | str, text: str, **kw: object) -> Reply:
        """Push a command as a user would, and return the reply."""
        assert self.handler is not None, "start() the chat first"
        ref = ChannelRef.parse(channel) if isinstance(channel, str) else channel
        return await self.handler(Command(channel=ref, user="U1", text=text, **kw))  # type: ignore[arg-type]

    def posted_ids(self, channel: ChannelRef | None = None) -> list[str]:
        return [pid for p in self.posts if channel in (None, p.channel) for pid in p.paper_ids]
