"""The domain types every part of paperbot speaks: papers, channels, subscriptions, digests, commands."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from enum import StrEnum

PLATFORMS = ("slack", "discord", "console", "email")
_PART = re.compile(r"^[A-Za-z0-9_.\-]+$")
# An email channel is `email:<domain>:<local part>`: a domain of dot-separated labels with a
# letter TLD, and a local part of the characters list addresses use (`+` for sub-addresses).
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_LOCAL = re.compile(r"^(?=.{1,64}$)[A-Za-z0-9_+\-]+(\.[A-Za-z0-9_+\-]+)*$")


class InvalidChannelId(ValueError):
    """A channel id that is not `platform:workspace:channel`."""


@dataclass(frozen=True, order=True)
class ChannelRef:
    """Where a digest goes: `platform:workspace:channel`, e.g. `slack:T0123:C0456`."""

    platform: str
    workspace: str
    channel: str

    @classmethod
    def parse(cls, text: str) -> ChannelRef:
        """Parse `platform:workspace:channel`, or raise InvalidChannelId saying what is wrong."""
        parts = text.strip().split(":")
        if len(parts) != 3 or not all(parts):
            raise InvalidChannelId(
                f"invalid channel id {text!r}: expected platform:workspace:channel, "
                "e.g. slack:T0123:C0456 or console:local:general"
            )
        platform, workspace, channel = parts
        if platform not in PLATFORMS:
            raise InvalidChannelId(
                f"invalid channel id {text!r}: unknown platform {platform!r} "
                f"(expected one of {', '.join(PLATFORMS)})"
            )
        if platform == "email":
            if not _DOMAIN.match(workspace) or not _LOCAL.match(channel):
                raise InvalidChannelId(
                    f"invalid channel id {text!r}: {channel}@{workspace} is not an email "
                    "address; expected email:<domain>:<local part>, e.g. "
                    "email:lab.org:ml-reading for ml-reading@lab.org"
                )
            return cls(platform, workspace.lower(), channel)
        for part in (workspace, channel):
            if not _PART.match(part):
                raise InvalidChannelId(
                    f"invalid channel id {text!r}: {part!r} may hold only letters, digits, . _ -"
                )
        return cls(platform, workspace, channel)

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.channel}"


@dataclass(frozen=True)
class Paper:
    """One paper, one record, whichever sources saw it.

    `id` is canonical: `arxiv:<id without version>`, else `doi:<doi>`, else `url:<guid or link>`.
    `first_seen` is set by storage when the paper is first stored and never changes after.
    """

    id: str
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    url: str = ""
    pdf_url: str | None = None
    code_url: str | None = None
    project_url: str | None = None
    categories: tuple[str, ...] = ()
    upvotes: int | None = None
    comments: int | None = None
    published: datetime | None = None
    first_seen: datetime | None = None
    sources: tuple[str, ...] = ()
    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] = ()

    def merged_with(self, newer: Paper) -> Paper:
        """This record enriched by a later sighting: missing fields filled, upvotes and categories
        updated, first_seen kept."""
        cats = tuple(dict.fromkeys(self.categories + newer.categories))
        srcs = tuple(dict.fromkeys(self.sources + newer.sources))
        kws = tuple(dict.fromkeys(self.ai_keywords + newer.ai_keywords))
        return replace(
            self,
            title=newer.title or self.title,
            abstract=newer.abstract if len(newer.abstract) > len(self.abstract) else self.abstract,
            authors=newer.authors or self.authors,
            url=self.url or newer.url,
            pdf_url=self.pdf_url or newer.pdf_url,
            code_url=newer.code_url or self.code_url,
            project_url=newer.project_url or self.project_url,
            categories=cats,
            upvotes=newer.upvotes if newer.upvotes is not None else self.upvotes,
            comments=newer.comments if newer.comments is not None else self.comments,
            published=self.published or newer.published,
            first_seen=self.first_seen or newer.first_seen,
            sources=srcs,
            ai_summary=newer.ai_summary or self.ai_summary,
            ai_keywords=kws,
        )


WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()


class Days(StrEnum):
    """Which days a channel's digest is posted."""

    DAILY = "daily"
    WEEKDAYS = "weekdays"
    WEEKLY = "weekly"  # on the chosen weekdays (`Schedule.on`): `weekly mon`, or `mon,thu`
    OFF = "off"


@dataclass(frozen=True)
class Schedule:
    """When a channel's digest is posted: a wall-clock time in an IANA time zone, on some days.

    `on` holds the weekdays (0 = Monday) of a `Days.WEEKLY` schedule and is empty otherwise.
    """

    at: time = time(9, 0)
    timezone: str = "UTC"
    days: Days = Days.DAILY
    on: frozenset[int] = frozenset()

    @property
    def weekdays(self) -> frozenset[int]:
        """The weekdays (0 = Monday) a digest goes out on; empty when off."""
        if self.days is Days.DAILY:
            return frozenset(range(7))
        if self.days is Days.WEEKDAYS:
            return frozenset(range(5))
        if self.days is Days.WEEKLY:
            return self.on
        return frozenset()

    @property
    def day_list(self) -> str:
        """The chosen weekdays as names, e.g. `mon,thu` (empty unless weekly)."""
        return ",".join(WEEKDAY_NAMES[d] for d in sorted(self.on))

    @property
    def once_a_week(self) -> bool:
        """Whether the digest goes out on one day of the week only (its window is the week)."""
        return self.days is Days.WEEKLY and len(self.on) == 1

    def describe(self) -> str:
        """Human form, e.g. `09:00 Europe/Berlin weekdays`, `... weekly mon`, `... mon,thu`, or
        `off`."""
        if self.days is Days.OFF:
            return "off"
        if self.days is Days.WEEKLY:
            days = f"weekly {self.day_list}" if self.once_a_week else self.day_list
        else:
            days = self.days.value
        return f"{self.at:%H:%M} {self.timezone} {days}"


@dataclass(frozen=True)
class ChannelSettings:
    """Per-channel digest settings."""

    max_items: int = 10
    min_upvotes: int = 0
    threads: bool = False
    notices: bool = False  # operational notices (a feed failing for a day) are posted here


@dataclass(frozen=True)
class Channel:
    """A chat channel that receives digests."""

    ref: ChannelRef
    schedule: Schedule = field(default_factory=Schedule)
    settings: ChannelSettings = field(default_factory=ChannelSettings)
    paused: bool = False
    active: bool = True
    last_digest_at: datetime | None = None
    created_at: datetime | None = None
    schedule_set_at: datetime | None = None  # slots before it are not owed


@dataclass(frozen=True, slots=True)  # (the matcher holds every channel's)
class Subscription:
    """One query a channel follows. `query` is as the user typed it, `canonical` its normal form."""

    id: int
    channel: ChannelRef
    query: str
    canonical: str
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)  # (half the memory: a sweep holds every match's hits)
class Hit:
    """One matched term: in which field (`title`, `abstract`, `authors`, `categories`), which query
    term, and the character span [start, end) in that field's original text."""

    field: str
    term: str
    start: int
    end: int


@dataclass(frozen=True)
class Match:
    """A paper that matched a channel: which subscriptions, and every hit (for highlighting)."""

    paper: Paper
    subscription_ids: tuple[int, ...]
    hits: tuple[Hit, ...]
    score: float | None = None  # the channel's learned ranking, where it has one
    because: str | None = None  # why it ranks there: the liked paper most like it (a title)

    @property
    def in_title(self) -> bool:
        """Whether any term matched in the title (title matches rank first)."""
        return any(h.field == "title" for h in self.hits)

    @property
    def terms(self) -> tuple[str, ...]:
        """The distinct matched terms, in order of first appearance."""
        return tuple(dict.fromkeys(h.term for h in self.hits))


@dataclass(frozen=True)
class Digest:
    """What a channel is about to receive: ranked matches, capped, with the count left over.

    A digest too big for one message is split into pages (`page` of `pages`); the header goes
    on the first page and "and N more" (`more`) on the last.
    """

    channel: ChannelRef
    items: tuple[Match, ...]
    more: int = 0
    title: str = "New papers"
    page: int = 1
    pages: int = 1
    period: str = ""  # what the "and N more" line says it covers: "this week" for a weekly digest

    @property
    def empty(self) -> bool:
        """Nothing to post."""
        return not self.items


@dataclass(frozen=True)
class Command:
    """A chat command, the same from every platform: `/papers <text>` in `channel` by `user`.

    `can_manage` says whether the user may change this channel's subscriptions, schedule and
    settings; the platform adapter decides it (workspace admin, Manage Channels, allow-list).
    `message` is the platform message id a button was pressed on (stored with a vote).
    """

    channel: ChannelRef
    user: str
    text: str
    can_manage: bool = True
    message: str | None = None  # the platform message a button was pressed on


class Visibility(StrEnum):
    """Who sees a reply."""

    CALLER = "caller"  # Slack/Discord ephemeral
    CHANNEL = "channel"


@dataclass(frozen=True)
class Reply:
    """The answer to a Command.

    `text` uses a small markdown subset every adapter can render: `**bold**`, `` `code` `` and
    line breaks. `matches` are papers to render as a list under it (search results, previews).
    """

    text: str
    visibility: Visibility = Visibility.CALLER
    matches: tuple[Match, ...] = ()
    error: bool = False
    attachment: Attachment | None = None


@dataclass(frozen=True)
class Attachment:
    """A file a reply carries (an export): Slack uploads it, Discord attaches it, the terminal prints it."""

    filename: str
    content: bytes
    mime: str
