"""A channel's own settings: schedule, settings, pause, resume."""

from __future__ import annotations

from dataclasses import replace

from bot.commands.base import CommandBase, _error, describe_channel
from bot.delivery.schedules import ScheduleError, parse_schedule, parse_settings
from bot.models import Command, Reply


class ChannelCommands(CommandBase):
    """schedule, settings, pause, resume."""

    async def _cmd_schedule(self, command: Command, rest: str) -> Reply:
        try:
            schedule = parse_schedule(rest, (await self._current(command)).schedule)
        except ScheduleError as exc:
            return _error(str(exc))
        channel = await self._channel(command)
        if schedule != channel.schedule:
            changed = replace(channel, schedule=schedule, schedule_set_at=self.clock())
            await self._changed(changed, channel)
        if schedule.describe() == "off":
            return Reply("Scheduled digests are off. `digest` still posts one on demand.")
        return Reply(f"Digests will be posted at **{schedule.describe()}**.")

    async def _cmd_settings(self, command: Command, rest: str) -> Reply:
        if not rest:
            return Reply(describe_channel(await self._current(command)))
        try:
            settings = parse_settings(rest, (await self._current(command)).settings)
        except ScheduleError as exc:
            return _error(str(exc))
        channel = await self._channel(command)
        updated = replace(channel, settings=settings)
        await self._changed(updated, channel)
        return Reply(f"Settings saved. {describe_channel(updated)}")

    async def _cmd_pause(self, command: Command, rest: str) -> Reply:
        channel = await self._channel(command)
        await self._changed(replace(channel, paused=True), channel)
        return Reply(
            "Paused: no digests will be posted here until `resume`. Subscriptions are kept."
        )

    async def _cmd_resume(self, command: Command, rest: str) -> Reply:
        channel = await self._channel(command)
        await self._changed(replace(channel, paused=False, active=True), channel)
        return Reply(f"Resumed. {describe_channel(replace(channel, paused=False, active=True))}")
