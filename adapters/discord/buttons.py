"""The buttons under every paper of a Discord digest: 👍, 👎, 🔖 Save, Abstract.

Persistent: each button's `custom_id` is `paperbot:<action>:<paper id>` (for an id too long for
Discord's 100 characters, a feed post's URL say, a short reference `~<hash>` that the command
layer resolves among the papers of the message pressed on: bot.commands.feedback.button_ref), and one
`discord.ui.DynamicItem` class registered at start (`client.add_dynamic_items`) recognises it on
any message, however old and whatever process posted it, so nothing is kept per message. A press
becomes the command `<action> <paper id>`, run by the client's `run_button` (the adapter's runner).

Discord allows 5 action rows a message, so a digest message holds 5 papers: one row per paper,
in the order of the embeds, the row's first (disabled) button naming the paper's number (#1...),
which the embed's footer repeats.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import discord

from bot.commands.feedback import button_ref

ACTIONS: dict[str, tuple[str | None, str]] = {  # action -> (emoji, label)
    "like": ("👍", ""),
    "dislike": ("👎", ""),
    "save": ("🔖", "Save"),
    "abstract": (None, "Abstract"),
}
MAX_CUSTOM_ID = 100  # Discord's limit
_PREFIX = "paperbot"
BUTTON_TEMPLATE = re.compile(rf"{_PREFIX}:(?P<action>{'|'.join(ACTIONS)}):(?P<paper>.+)")
LABEL_TEMPLATE = re.compile(rf"{_PREFIX}:row:(?P<n>\d+)")

ButtonRunner = Callable[[discord.Interaction, str], Awaitable[None]]


class _RunsButtons(Protocol):
    run_button: ButtonRunner


def paper_ref(paper_id: str) -> str:
    """What a paper's buttons name it by: its id, or its short reference if any of its
    custom_ids would not fit Discord's 100 characters (all of a paper's buttons use the same)."""
    longest = max(len(f"{_PREFIX}:{action}:") for action in ACTIONS)
    return paper_id if longest + len(paper_id) <= MAX_CUSTOM_ID else button_ref(paper_id)


def custom_id(action: str, paper_id: str) -> str:
    """`paperbot:<action>:<paper id or its short reference>`."""
    return f"{_PREFIX}:{action}:{paper_ref(paper_id)}"


class PaperButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=BUTTON_TEMPLATE):
    """One of a paper's buttons; pressed, it runs `<action> <paper id>` for the presser."""

    def __init__(self, action: str, paper_id: str, row: int | None = None) -> None:
        emoji, label = ACTIONS[action]
        cid = f"{_PREFIX}:{action}:{paper_id}"  # (`paper_id` may be a short reference)
        if len(cid) > MAX_CUSTOM_ID or not paper_id:
            raise ValueError(f"not a paper id for a button: {paper_id!r}")
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=label or None,
                emoji=emoji,
                custom_id=cid,
                row=row,
            )
        )
        self.action = action
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> PaperButton:
        """The button a press names, rebuilt from its custom_id alone (old messages too)."""
        return cls(match["action"], match["paper"])

    async def callback(self, interaction: discord.Interaction) -> None:
        """Run the button's command through the adapter, answered to the presser only."""
        client: _RunsButtons = interaction.client  # type: ignore[assignment]
        await client.run_button(interaction, f"{self.action} {self.paper_id}")


class RowLabel(discord.ui.DynamicItem[discord.ui.Button[Any]], template=LABEL_TEMPLATE):
    """The disabled `#n` button that starts paper n's row (a DynamicItem, so that a digest's view
    stays fully dynamic and discord.py keeps nothing per message)."""

    def __init__(self, n: int, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=f"#{n}",
                custom_id=f"{_PREFIX}:row:{n}",
                disabled=True,
                row=row,
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> RowLabel:
        """A label is disabled and never pressed; rebuilt only if Discord says otherwise."""
        return cls(int(match["n"]))


def digest_view(rows: Sequence[tuple[int, str]]) -> discord.ui.View | None:
    """The buttons of a digest message: for each (number, paper id), a row `#n 👍 👎 🔖 Abstract`.

    Needs a running event loop (discord.ui.View does); None when there is no row.
    """
    if not rows:
        return None
    view = discord.ui.View(timeout=None)
    for row, (n, paper_id) in enumerate(rows):
        view.add_item(RowLabel(n, row=row))
        for action in ACTIONS:
            view.add_item(PaperButton(action, paper_ref(paper_id), row=row))
    return view
