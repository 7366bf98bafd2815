"""Builds the configured paper sources by name."""

from __future__ import annotations

from collections.abc import Sequence

from bot.ports import Clock, PaperSource, utcnow
from config.settings import Settings


def build_sources(
    settings: Settings, names: Sequence[str] | None = None, *, clock: Clock = utcnow
) -> list[PaperSource]:
    """The sources named (default: settings.sources)."""
    from adapters.sources.sample import SampleSource

    out: list[PaperSource] = []
    for name in names if names is not None else settings.sources:
        if name == "sample":
            out.append(SampleSource(clock=clock))
        else:
            raise ValueError(f"unknown or unavailable source {name!r}")
    return out
