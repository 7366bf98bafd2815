"""The platform-neutral command handler: one Command in, one Reply out."""

from __future__ import annotations

# Commands that change a channel's subscriptions, schedule or settings: with
# PAPERBOT_ADMINS_ONLY=true only admins may run them (each adapter decides who is one).
MANAGE_COMMANDS = frozenset({"subscribe", "unsubscribe", "schedule", "settings", "pause", "resume"})


def command_name(text: str) -> str:
    """The command word of `text` (`subscribe diffusion` -> `subscribe`), lower-cased."""
    word = text.strip().split(maxsplit=1)
    return word[0].lower() if word else "help"


def needs_manage(text: str) -> bool:
    """Whether running `text` needs the right to manage the channel."""
    return command_name(text) in MANAGE_COMMANDS
