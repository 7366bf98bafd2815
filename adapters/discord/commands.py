"""The `/papers` application command group: typed, described options in, command text out.

Each subcommand only rebuilds the text the shared handler parses (`/papers schedule time:09:00
timezone:Europe/Berlin days:weekdays` -> `schedule 09:00 Europe/Berlin weekdays`) and hands it to
the adapter's runner; what the text means is bot.commands' business.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Literal
from zoneinfo import available_timezones

import discord
from discord import app_commands

CommandRunner = Callable[[discord.Interaction, str], Awaitable[None]]

MAX_QUERY = 256  # the query language's own limit; Discord enforces it in the client too
MAX_CHOICES = 25  # Discord's limit on autocomplete suggestions
MAX_PAPER = 512  # a paper id or an arXiv / Hugging Face URL
PAPER_HELP = "a paper id from search (arxiv:2410.16251), an arXiv id, or an arXiv / HF URL"
Paper = app_commands.Range[str, 1, MAX_PAPER]


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def zone_suggestions(typed: str) -> list[str]:
    """IANA time zones for the `timezone` option: those containing what was typed, prefix first."""
    needle = typed.strip().lower().replace(" ", "_")
    found = [z for z in _zones() if needle in z.lower()]
    found.sort(key=lambda z: (not z.lower().startswith(needle), z))
    return found[:MAX_CHOICES]


DAY_CHOICES = (
    "daily",
    "weekdays",
    *(f"weekly {d}" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
    "mon,thu",
    "tue,fri",
)


def days_suggestions(typed: str) -> list[str]:
    """Choices for the `days` option; any other day list (`mon,wed,fri`) may be typed as it is,
    since an autocompleted option takes free text."""
    needle = typed.strip().lower()
    return [d for d in DAY_CHOICES if needle in d][:MAX_CHOICES]


def settings_text(
    max: int | None,
    min_upvotes: int | None,
    threads: bool | None,
    notices: bool | None = None,
) -> str:
    """`settings max=5 min-upvotes=3 threads=on notices=on` from the options given (only those)."""
    parts = ["settings"]
    if max is not None:
        parts.append(f"max={max}")
    if min_upvotes is not None:
        parts.append(f"min-upvotes={min_upvotes}")
    if threads is not None:
        parts.append(f"threads={'on' if threads else 'off'}")
    if notices is not None:
        parts.append(f"notices={'on' if notices else 'off'}")
    return " ".join(parts)


def schedule_text(time: str, timezone: str | None, days: str | None) -> str:
    """`schedule 09:00 Europe/Berlin weekdays`, or `schedule off`."""
    parts = ["schedule", time.strip()]
    if time.strip().lower() != "off":
        parts.extend(p.strip() for p in (timezone, days) if p and p.strip())
    return " ".join(parts)


@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class PapersGroup(app_commands.Group, name="papers", description="New research papers, daily"):
    """`/papers <subcommand>`: every subcommand of the product, each with typed options."""

    def __init__(self, run: CommandRunner) -> None:
        super().__init__()
        self._run = run

    @app_commands.command(
        description='Follow a query: words, "phrases", OR, -exclusions, title:, cat:'
    )
    @app_commands.describe(query='e.g. diffusion video, "classifier-free guidance", cat:cs.CV')
    async def subscribe(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, MAX_QUERY]
    ) -> None:
        """Add a subscription to this channel."""
        await self._run(interaction, f"subscribe {query.strip()}")

    @app_commands.command(description="Stop following a query")
    @app_commands.describe(target="the query as subscribed, its #id from /papers list, or all")
    async def unsubscribe(
        self, interaction: discord.Interaction, target: app_commands.Range[str, 1, MAX_QUERY]
    ) -> None:
        """Remove one subscription, or all."""
        await self._run(interaction, f"unsubscribe {target.strip()}")

    @app_commands.command(
        name="list", description="This channel's subscriptions, schedule and settings"
    )
    async def list_(self, interaction: discord.Interaction) -> None:
        """Show the channel's set-up."""
        await self._run(interaction, "list")

    @app_commands.command(description="Post the digest now: matching papers not yet posted here")
    async def digest(self, interaction: discord.Interaction) -> None:
        """Post the digest to the channel."""
        await self._run(interaction, "digest")

    @app_commands.command(description="Show the next digest to you only; marks nothing as posted")
    async def preview(self, interaction: discord.Interaction) -> None:
        """Preview the next digest."""
        await self._run(interaction, "preview")

    @app_commands.command(description="The best stored matches of the last 30 days, shown to you")
    @app_commands.describe(query="same language as subscribe, e.g. diffus* -survey")
    async def search(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, MAX_QUERY]
    ) -> None:
        """Search stored papers."""
        await self._run(interaction, f"search {query.strip()}")

    @app_commands.command(description="Today's most upvoted Hugging Face papers, unfiltered")
    async def trending(self, interaction: discord.Interaction) -> None:
        """Show trending papers."""
        await self._run(interaction, "trending")

    @app_commands.command(description="When the digest is posted (default 09:00 UTC daily)")
    @app_commands.describe(
        time="HH:MM (24-hour), or off",
        timezone="IANA time zone, e.g. Europe/Berlin (default UTC)",
        days="daily, weekdays, weekly mon (any day), or a list of days like mon,thu",
    )
    async def schedule(
        self,
        interaction: discord.Interaction,
        time: app_commands.Range[str, 1, 8],
        timezone: app_commands.Range[str, 1, 64] | None = None,
        days: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        """Set the digest's time, time zone and days."""
        await self._run(interaction, schedule_text(time, timezone, days))

    @schedule.autocomplete("days")
    async def _days_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=d, value=d) for d in days_suggestions(current)]

    @schedule.autocomplete("timezone")
    async def _timezone_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in zone_suggestions(current)]

    @app_commands.command(description="Digest size, upvote floor, full abstracts in a thread")
    @app_commands.describe(
        max="papers per digest (default 10)",
        min_upvotes="leave out papers with fewer Hugging Face upvotes",
        threads="post full abstracts in a thread under the digest",
        notices="post a notice here when a feed has been failing for a day",
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        max: app_commands.Range[int, 1, 50] | None = None,
        min_upvotes: app_commands.Range[int, 0, 100_000] | None = None,
        threads: bool | None = None,
        notices: bool | None = None,
    ) -> None:
        """Change the channel's digest settings (no options: show them)."""
        await self._run(interaction, settings_text(max, min_upvotes, threads, notices))

    @app_commands.command(description="Stop posting digests here; subscriptions are kept")
    async def pause(self, interaction: discord.Interaction) -> None:
        """Pause the channel."""
        await self._run(interaction, "pause")

    @app_commands.command(description="Start posting digests here again")
    async def resume(self, interaction: discord.Interaction) -> None:
        """Resume the channel."""
        await self._run(interaction, "resume")

    # --- votes and the reading list (the same as a digest's buttons) ---

    @app_commands.command(description="👍 More papers like this one in this channel's digests")
    @app_commands.describe(paper=PAPER_HELP)
    async def like(self, interaction: discord.Interaction, paper: Paper) -> None:
        """Vote for a paper (again: withdraw the vote)."""
        await self._run(interaction, f"like {paper.strip()}")

    @app_commands.command(description="👎 Fewer papers like this one in this channel's digests")
    @app_commands.describe(paper=PAPER_HELP)
    async def dislike(self, interaction: discord.Interaction, paper: Paper) -> None:
        """Vote against a paper."""
        await self._run(interaction, f"dislike {paper.strip()}")

    @app_commands.command(description="Withdraw your vote on a paper")
    @app_commands.describe(paper=PAPER_HELP)
    async def unvote(self, interaction: discord.Interaction, paper: Paper) -> None:
        """Withdraw a vote."""
        await self._run(interaction, f"unvote {paper.strip()}")

    @app_commands.command(description="🔖 Add a paper to this channel's reading list")
    @app_commands.describe(paper=PAPER_HELP)
    async def save(self, interaction: discord.Interaction, paper: Paper) -> None:
        """Save a paper."""
        await self._run(interaction, f"save {paper.strip()}")

    @app_commands.command(description="Take a paper off this channel's reading list")
    @app_commands.describe(paper=PAPER_HELP)
    async def unsave(self, interaction: discord.Interaction, paper: Paper) -> None:
        """Unsave a paper."""
        await self._run(interaction, f"unsave {paper.strip()}")

    @app_commands.command(description="This channel's saved papers")
    async def saved(self, interaction: discord.Interaction) -> None:
        """List the reading list."""
        await self._run(interaction, "saved")

    @app_commands.command(description="The saved papers as a file: BibTeX or CSV")
    @app_commands.describe(format="bibtex (for LaTeX and reference managers) or csv")
    async def export(
        self, interaction: discord.Interaction, format: Literal["bibtex", "csv"]
    ) -> None:
        """Export the reading list as an attachment."""
        await self._run(interaction, f"export {format}")

    @app_commands.command(
        name="more-like", description="Stored papers of the last 30 days most like this one"
    )
    @app_commands.describe(paper=PAPER_HELP)
    async def more_like(self, interaction: discord.Interaction, paper: Paper) -> None:
        """Find similar papers."""
        await self._run(interaction, f"more-like {paper.strip()}")

    @app_commands.command(description="A paper's whole abstract, shown to you")
    @app_commands.describe(paper=PAPER_HELP)
    async def abstract(self, interaction: discord.Interaction, paper: Paper) -> None:
        """Show an abstract."""
        await self._run(interaction, f"abstract {paper.strip()}")

    votes = app_commands.Group(name="votes", description="This channel's votes")

    @votes.command(name="reset", description="Forget this channel's votes (ranking as before)")
    async def votes_reset(self, interaction: discord.Interaction) -> None:
        """Forget the channel's votes."""
        await self._run(interaction, "votes reset")

    @app_commands.command(name="help", description="How to use paperbot, with examples")
    async def help_(self, interaction: discord.Interaction) -> None:
        """Show usage."""
        await self._run(interaction, "help")


def build_tree(client: discord.Client, run: CommandRunner) -> app_commands.CommandTree:
    """The client's command tree, holding the `papers` group whose subcommands call `run`."""
    tree = app_commands.CommandTree(client)
    tree.add_command(PapersGroup(run))
    return tree


def papers_group(tree: app_commands.CommandTree) -> PapersGroup:
    """The `papers` group of a tree built by build_tree."""
    group = tree.get_command("papers")
    if not isinstance(group, PapersGroup):
        raise LookupError("the tree holds no /papers group")
    return group
