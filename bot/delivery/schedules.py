"""Schedules and settings as users type them, and when a schedule fires (DST-correct)."""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

from bot.inbound import excerpt
from bot.models import WEEKDAY_NAMES, ChannelSettings, Days, Schedule

log = logging.getLogger(__name__)

MAX_ITEMS_LIMIT = 50
MAX_MIN_UPVOTES = 1_000_000  # above any paper's upvotes, within every database's integers
FIRST_DIGEST_WINDOW = timedelta(hours=24)  # a daily channel's first digest reaches this far back
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_NUMBER = re.compile(r"^[+-]?[0-9]{1,30}$")


class ScheduleError(ValueError):
    """A schedule or setting that cannot be used; the message says what to type instead, and
    `column` (1-based, in the text parsed) where the fault is."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.message = message
        self.column = column
        super().__init__(f"{message} (at column {column})" if column else message)

    def at(self, column: int) -> ScheduleError:
        """The same error, placed at `column` unless it already names a place."""
        return self if self.column else ScheduleError(self.message, column)


def _words(text: str) -> list[tuple[str, int]]:
    """The words of `text` with their 1-based columns."""
    return [(m.group(), m.start() + 1) for m in re.finditer(r"\S+", text)]


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    # Not zones a person means: the server's own setting, and the tz database's placeholders.
    odd = {"localtime", "Factory", "posixrules"}
    return tuple(sorted(available_timezones() - odd))


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or ScheduleError suggesting the closest one.

    Only names of `available_timezones()` are opened: any other text given to ZoneInfo is a path
    under the zone database (`America/Argentina` is a folder, `Europe/` + 300 letters too long)."""
    if name.upper() == "UTC":
        return ZoneInfo("UTC")
    if name in _zones():
        return ZoneInfo(name)
    lowered = {z.lower(): z for z in _zones()}
    if name.lower() in lowered:
        return ZoneInfo(lowered[name.lower()])
    # No zone name is longer than ~32 characters: a longer text gets no (slow) suggestion.
    close = difflib.get_close_matches(name, _zones(), n=1, cutoff=0.6) if len(name) <= 64 else []
    hint = f" (did you mean {close[0]}?)" if close else " (use an IANA name like Europe/Berlin)"
    raise ScheduleError(f"unknown time zone '{excerpt(name)}'{hint}")


@lru_cache(maxsize=256)
def schedule_zone(name: str) -> ZoneInfo:
    """The zone of a stored schedule. One this host cannot read (a legacy name its tzdata
    dropped) falls back to UTC, with one warning, rather than stop that channel's digests and,
    with them, every other channel's."""
    try:
        return zone(name)
    except ScheduleError:
        log.warning("time zone %r is unknown on this host: its digests go out on UTC", name)
        return ZoneInfo("UTC")


def parse_time(text: str) -> time:
    """`HH:MM` on a 24-hour clock."""
    m = _TIME.match(text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ScheduleError(
            f"'{excerpt(text)}' is not a time: use HH:MM on a 24-hour clock, e.g. 09:00"
        )
    return time(int(m.group(1)), int(m.group(2)))


_DAY_WORDS = (
    {name: i for i, name in enumerate(WEEKDAY_NAMES)}
    | {
        full: i
        for i, full in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    }
    | {"tues": 1, "wed": 2, "weds": 2, "thur": 3, "thurs": 3}
)
_CHOICES = "daily, weekdays, `weekly mon` or a list of days like `mon,thu`"
_USAGE = "`schedule <HH:MM> [time zone] [daily|weekdays|weekly <day>|<day>,<day>]`"


def _day(word: str, whole: str) -> int:
    day = _DAY_WORDS.get(word.lower())
    if day is None:
        close = difflib.get_close_matches(word.lower()[:64], list(_DAY_WORDS), n=1, cutoff=0.6)
        hint = f" (did you mean {WEEKDAY_NAMES[_DAY_WORDS[close[0]]]}?)" if close else ""
        raise ScheduleError(
            f"'{excerpt(word or whole)}' is not a day of the week{hint}: use mon, tue, wed, thu, fri, "
            "sat or sun, e.g. `mon,thu`"
        )
    return day


def parse_days(text: str) -> frozenset[int]:
    """Weekdays (0 = Monday) from `mon`, `Monday`, `mon,thu` or a range like `mon-wed`."""
    out: set[int] = set()
    for piece in text.split(","):
        first, dash, last = piece.partition("-")
        if dash:
            a, b = _day(first, text), _day(last, text)
            out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            out.add(_day(piece, text))
    return frozenset(out)


def _looks_like_days(word: str) -> bool:
    return "," in word or bool(
        difflib.get_close_matches(
            word.lower().partition("-")[0][:64], list(_DAY_WORDS), n=1, cutoff=0.75
        )
    )


def days_of(weekdays: frozenset[int]) -> tuple[Days, frozenset[int]]:
    """The `Schedule.days` and `Schedule.on` for a set of weekdays (all seven are daily,
    Monday to Friday is weekdays)."""
    if weekdays == frozenset(range(7)):
        return Days.DAILY, frozenset()
    if weekdays == frozenset(range(5)):
        return Days.WEEKDAYS, frozenset()
    return Days.WEEKLY, weekdays


def parse_schedule(text: str, current: Schedule) -> Schedule:
    """`HH:MM [time zone] [daily|weekdays|weekly <day>|<days>]` or `off`, over the channel's
    current schedule (what is not given is kept). An error names the column of the fault."""
    words = _words(text)
    if not words:
        raise ScheduleError(
            "Give a time, e.g. `schedule 09:00 Europe/Berlin weekdays`, or `schedule off`."
        )
    if len(words) == 1 and words[0][0].lower() == "off":
        return replace(current, days=Days.OFF, on=frozenset())
    column = words[0][1]
    try:
        at = parse_time(words[0][0])
        tz: str | None = None
        days: tuple[Days, frozenset[int]] | None = None
        rest = words[1:]
        while rest:
            (word, column), rest = rest[0], rest[1:]
            lowered = word.lower()
            if days is not None and (
                lowered in ("daily", "weekdays", "weekly") or _looks_like_days(word)
            ):
                raise ScheduleError(f"Give the days once: {_USAGE}.")
            if lowered in ("daily", "weekdays"):
                days = (Days(lowered), frozenset())
            elif lowered == "weekly":
                if not rest or "/" in rest[0][0] or rest[0][0].upper() == "UTC":
                    raise ScheduleError(
                        "Say which day a weekly digest goes out, e.g. `schedule 09:00 weekly mon`."
                    )
                (word, column), rest = rest[0], rest[1:]
                days = days_of(parse_days(word))
            elif lowered.partition("-")[0] in _DAY_WORDS or _looks_like_days(word):
                days = days_of(parse_days(word))
            elif "/" not in word and difflib.get_close_matches(
                lowered[:64], ("daily", "weekdays", "weekends", "weekly"), n=1, cutoff=0.6
            ):
                raise ScheduleError(
                    f"'{excerpt(word)}' is not a choice of days: digests go out {_CHOICES}"
                )
            elif tz is not None:
                raise ScheduleError(f"Too many words: {_USAGE}.")
            else:
                tz = zone(word).key
    except ScheduleError as exc:
        raise exc.at(column) from None
    if days is None:
        days = (
            (current.days, current.on)
            if current.days is not Days.OFF
            else (Days.DAILY, frozenset())
        )
    return Schedule(at=at, timezone=tz or current.timezone, days=days[0], on=days[1])


def cron_days(schedule: Schedule) -> str:
    """The schedule's days as a cron day-of-week field: `*`, `mon-fri` or `mon,thu`."""
    if schedule.days is Days.DAILY:
        return "*"
    if schedule.days is Days.WEEKDAYS:
        return "mon-fri"
    return schedule.day_list


def first_window(schedule: Schedule) -> timedelta:
    """How far back a channel's first digest reaches: a day, or for a schedule on chosen days
    the longest gap between them (the week, for a weekly digest)."""
    if schedule.days is not Days.WEEKLY or not schedule.on:
        return FIRST_DIGEST_WINDOW
    days = sorted(schedule.on)
    gaps = [b - a for a, b in pairwise(days)] + [days[0] + 7 - days[-1]]
    return timedelta(days=max(gaps))


def period(schedule: Schedule) -> str:
    """What a digest on this schedule covers, as its "and N more" line says: `this week` for a
    weekly digest, nothing for a daily one."""
    return "this week" if schedule.once_a_week else ""


_SETTING_KEYS = ("max", "min-upvotes", "threads", "notices")


def parse_settings(text: str, current: ChannelSettings) -> ChannelSettings:
    """`max=<n> min-upvotes=<n> threads=on|off notices=on|off`, any subset; all valid or
    nothing changes."""
    updated = current
    for word, column in _words(text):
        try:
            updated = _setting(word, updated)
        except ScheduleError as exc:
            raise exc.at(column) from None
    return updated


def _setting(word: str, current: ChannelSettings) -> ChannelSettings:
    key, sep, value = word.partition("=")
    key = key.lower().replace("_", "-")
    if not sep or not value:
        raise ScheduleError(f"'{excerpt(word)}' should look like key=value, e.g. max=5")
    if key == "max":
        n = _int(key, value)
        if not 1 <= n <= MAX_ITEMS_LIMIT:
            raise ScheduleError(f"max must be between 1 and {MAX_ITEMS_LIMIT}, not {n}")
        return replace(current, max_items=n)
    if key == "min-upvotes":
        n = _int(key, value)
        if not 0 <= n <= MAX_MIN_UPVOTES:
            raise ScheduleError(f"min-upvotes must be between 0 and {MAX_MIN_UPVOTES:,}, not {n}")
        return replace(current, min_upvotes=n)
    if key in ("threads", "notices"):
        if value.lower() not in ("on", "off", "true", "false"):
            raise ScheduleError(f"{key} must be on or off, not '{excerpt(value)}'")
        return replace(current, **{key: value.lower() in ("on", "true")})
    close = difflib.get_close_matches(key[:64], _SETTING_KEYS, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ScheduleError(
        f"unknown setting '{excerpt(key)}'{hint}; settings are max, min-upvotes, threads, notices"
    )


def _int(key: str, value: str) -> int:
    # A bounded number of digits: int() of a 100,000-digit text is slow (and refused past 4,300).
    if not _NUMBER.match(value):
        raise ScheduleError(f"{key} must be a whole number, not '{excerpt(value)}'")
    return int(value)


def fire_times(schedule: Schedule, after: datetime, until: datetime) -> list[datetime]:
    """The schedule's slots in (after, until], as aware UTC datetimes, DST-correct.

    A wall-clock time skipped by a spring-forward change fires as much later as the clocks jumped
    (02:30 -> 03:30); one repeated by a fall-back change fires once (its first occurrence).
    """
    if schedule.days is Days.OFF or until <= after:
        return []
    tz = schedule_zone(schedule.timezone)
    weekdays = schedule.weekdays
    out: list[datetime] = []
    day = after.astimezone(tz).date() - timedelta(days=1)
    last = until.astimezone(tz).date()
    while day <= last:
        if day.weekday() in weekdays:
            slot = _wall_to_utc(datetime.combine(day, schedule.at), tz)
            if after < slot <= until:
                out.append(slot)
        day += timedelta(days=1)
    return out


def previous_slot(schedule: Schedule, now: datetime) -> datetime | None:
    """The latest slot at or before `now` within the last 8 days, if any."""
    slots = fire_times(schedule, now - timedelta(days=8), now)
    return slots[-1] if slots else None


def next_slot(schedule: Schedule, now: datetime) -> datetime | None:
    """The first slot after `now`, if the schedule is on."""
    slots = fire_times(schedule, now, now + timedelta(days=8))
    return slots[0] if slots else None


def _wall_to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    # fold=0: a repeated hour counts once (its first occurrence); a skipped wall time maps with
    # the offset from before the change, i.e. it fires as much later as the clocks jumped.
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
