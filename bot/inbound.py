"""Text from outside (source entries, chat payloads, argv): made safe once, at the edge, and quoted
short when an error names it."""

from __future__ import annotations

import re
import unicodedata

REPLACEMENT = "\ufffd"
# Lone surrogates (JSON `"\udcff"`, argv bytes that are not UTF-8) cannot be encoded, and C0/C1
# control characters (NUL above all) are refused by PostgreSQL or break a chat's rendering.
# Tab, newline and carriage return are whitespace, and kept.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
EXCERPT = 40  # characters of the input an error message quotes


def clean(text: str) -> str:
    """`text` with lone surrogates and control characters replaced by U+FFFD, in Unicode NFC."""
    text = _UNSAFE.sub(REPLACEMENT, text)
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text)


_UNREADABLE = re.compile(f"{_UNSAFE.pattern[:-1]}{REPLACEMENT}]")


def unreadable_at(text: str) -> int | None:
    """The 1-based column of the first character that could not be read (U+FFFD, or one that
    `clean` would replace), if any."""
    found = _UNREADABLE.search(text)
    return found.start() + 1 if found else None


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """At most `limit` characters of what was typed, ending in `…` when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
