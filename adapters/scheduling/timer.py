"""APScheduler behind the core's `Timer` port: interval and cron jobs on the running loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.delivery.schedules import schedule_zone


class ApsTimer:
    """The `Timer` port on APScheduler's AsyncIOScheduler (one instance per job id; a job
    still running when its next time comes is not started twice, and missed runs coalesce)."""

    def __init__(self) -> None:
        self.aps = AsyncIOScheduler(timezone=UTC)

    @property
    def running(self) -> bool:
        return bool(self.aps.running)

    def every(
        self,
        job_id: str,
        interval: timedelta,
        job: Callable[..., Awaitable[Any]],
        *args: Any,
        first_at: datetime | None = None,
        catch_up: bool = False,
    ) -> None:
        self.aps.add_job(
            job,
            IntervalTrigger(seconds=interval.total_seconds(), timezone=UTC),
            args=list(args),
            id=job_id,
            next_run_time=first_at,
            max_instances=1,
            coalesce=True,
            **({"misfire_grace_time": None} if catch_up else {}),
        )

    def at(
        self,
        job_id: str,
        when: time,
        weekdays: str,
        timezone: str,
        job: Callable[..., Awaitable[Any]],
        *args: Any,
    ) -> None:
        trigger = CronTrigger(
            hour=when.hour,
            minute=when.minute,
            day_of_week=weekdays,
            timezone=schedule_zone(timezone),
        )
        self.aps.add_job(
            job,
            trigger,
            args=list(args),
            id=job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )

    def has(self, job_id: str) -> bool:
        return self.aps.get_job(job_id) is not None

    def remove(self, job_id: str) -> None:
        if self.aps.get_job(job_id):
            self.aps.remove_job(job_id)

    def start(self) -> None:
        self.aps.start()

    def pause(self) -> None:
        if self.aps.running:
            self.aps.pause()

    def shutdown(self) -> None:
        if self.aps.running:
            self.aps.shutdown(wait=False)
