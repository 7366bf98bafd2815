"""The platform-neutral command handler: one Command in, one Reply out."""

from __future__ import annotations

import logging

from bot.commands.base import (
    MANAGE_COMMANDS,
    NO_ARGUMENTS,
    VOTE_COMMANDS,
    _error,
    _shown,
    command_name,
    is_votes_reset,
)
from bot.commands.channel import ChannelCommands
from bot.commands.feedback import FeedbackCommands
from bot.commands.papers import PaperCommands
from bot.commands.subscriptions import SubscriptionCommands
from bot.delivery.pipeline import NoChatForPlatform
from bot.inbound import clean, unreadable_at
from bot.models import Command, Reply

log = logging.getLogger(__name__)

HELP = """**paperbot** posts a daily digest of new papers matching this channel's subscriptions.

`subscribe <query>`: follow a query, e.g. `subscribe "classifier-free guidance"`, `subscribe (video OR audio) diffusion -survey`, `subscribe cat:cs.CV upvotes:>=10`
`unsubscribe <query | #id | all>`: stop following
`list`: this channel's subscriptions, schedule and settings
`digest`: post the digest now · `preview`: see the next digest (only you)
`search <query>`: best matches of the last 30 days (only you) · `trending`: today's most upvoted papers
`schedule 09:00 Europe/Berlin weekdays`, `schedule 09:00 weekly mon`, `schedule 09:00 mon,thu` or `schedule off`: when the digest is posted
`settings max=10 min-upvotes=0 threads=off notices=off`: digest size, upvote floor, abstracts in a thread, a notice when a feed fails for a day
`pause` / `resume`: stop and restart posting, subscriptions kept
`like <paper>` / `dislike <paper>` (again: withdrawn) / `unvote <paper>`: teach this channel's ranking; from 3 liked papers on, digests are ordered by what it liked · `votes` / `votes reset`
`save <paper>` / `unsave <paper>` · `saved`: this channel's saved papers · `export bibtex` / `export csv`: them as a file
`abstract <paper>`: the whole abstract (only you) · `more-like <paper>`: the papers of the last 30 days most like it (only you)
A `<paper>` is an id as `search` shows it (`arxiv:2410.16251`), an arXiv id or an arXiv / Hugging Face URL.
Queries: words match whole words in title or abstract (any case, plurals folded); `diffus*` prefixes; `"exact phrase"`; `OR`; `-word` or `NOT word` excludes; fields `title:` `abstract:` `author:` `cat:` `upvotes:>=N`."""


class CommandHandler(SubscriptionCommands, PaperCommands, ChannelCommands, FeedbackCommands):
    """Runs chat commands against the stores and the pipeline. Call it with a Command.

    Each group of commands is a base class with one `_cmd_<name>` method per command (`rest` is
    the text after the command word); a new command is a method in the group it belongs to."""

    async def __call__(self, command: Command) -> Reply:
        """Run one command; errors come back as a Reply, never as an exception."""
        if (column := unreadable_at(command.text)) is not None:
            # The edge replaced what could not be read (a lone surrogate, a control character):
            # running the rest would follow or store something the user did not type.
            return _error(
                f"`{_shown(clean(command.text))}` holds a character that could not be read at column "
                f"{column} (shown as �): type the command again without it."
            )
        name = command_name(command.text)
        rest = command.text.strip()[len(name) :].strip()
        handler = getattr(self, f"_cmd_{name.replace('-', '_')}", None)
        if handler is None:
            return _error(f"Unknown command `{_shown(name)}`. Try `help` for the list of commands.")
        if rest and name in NO_ARGUMENTS:
            return _error(f"`{name}` takes nothing after it (got `{_shown(rest)}`): type `{name}`.")
        if name in MANAGE_COMMANDS and not command.can_manage and self.admins_only:
            return _error(
                "Sorry, only admins can change this channel's subscriptions, schedule or "
                "settings here (Slack: workspace admins; Discord: members with Manage Channels). "
                "Ask one of them, or try `preview` and `search`."
            )
        if not command.can_manage and (
            (name in VOTE_COMMANDS and self.votes_admins_only)
            or (is_votes_reset(command.text) and (self.admins_only or self.votes_admins_only))
        ):
            return _error(
                "Sorry, only admins can vote on papers or reset the votes in this channel "
                "(Slack: workspace admins; Discord: members with Manage Channels). Nothing was "
                "changed; `save`, `abstract` and `more-like` are open to everyone."
            )
        try:
            return await handler(command, rest)
        except NoChatForPlatform as exc:
            return _error(str(exc))
        except Exception:
            log.exception("command %r in %s failed", command.text, command.channel)
            return _error(
                "Something went wrong on our side; the error was logged. Try again later."
            )

    async def _cmd_help(self, command: Command, rest: str) -> Reply:
        return Reply(HELP)
