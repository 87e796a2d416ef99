"""Telling the emulator what an in-process Mahfil bot is doing, so ``settle`` waits on events.

The emulator sees Bot API calls and updates; only the bot knows that it is still processing
an update, redrawing a ballot in the background, delivering the outbox or running a
scheduled job, and when a job is due. ``watch(emu, app)`` adds those as the emulator's
``busy_checks`` and ``timers`` and has each of them call ``emu.wake()`` when it may have gone
idle, so ``settle`` looks again at that moment instead of polling.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.triggers.date import DateTrigger

from bot.emulator.core import Emulator

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from bot.app import MahfilApp


class JobWatch:
    """Scheduled jobs of one application: how many run now, and when the next is due."""

    def __init__(self, emu: Emulator, scheduler: BaseScheduler) -> None:
        self.emu = emu
        self.scheduler = scheduler
        self.running = 0
        scheduler.add_listener(self._event, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED
                               | EVENT_JOB_ERROR | EVENT_JOB_MISSED)

    def _event(self, event: JobEvent) -> None:
        # Jobs coalesce (PTB's default): one submission ends in one of the other events.
        if event.code == EVENT_JOB_SUBMITTED:
            self.running += 1
        elif self.running:
            self.running -= 1
        self.emu.wake()

    def due(self) -> float | None:
        """Seconds until a one-off job runs (a deadline, a reminder), or ``<= 0`` for any job
        whose time has come and that the scheduler is about to start; None otherwise.
        Repeating jobs in between their runs do not count: the bot is idle until then."""
        now = datetime.now(UTC)
        soonest: float | None = None
        for job in self.scheduler.get_jobs():
            at = getattr(job, "next_run_time", None)  # absent until the scheduler started
            if at is None:
                continue
            seconds = (at - now).total_seconds()
            if seconds > 0 and not isinstance(job.trigger, DateTrigger):
                continue
            soonest = seconds if soonest is None else min(soonest, seconds)
        return soonest


def watch(emu: Emulator, app: MahfilApp) -> JobWatch | None:
    """Make ``emu.settle()`` wait for ``app``: updates in its queue or being processed,
    background redraws, the delivery worker and scheduled jobs."""
    from bot.app import PerUserUpdateProcessor

    processor = app.update_processor
    queue = app.update_queue
    background = app.bot_data.latest_only
    courier = app.bot_data.courier
    jobs = JobWatch(emu, app.job_queue.scheduler) if app.job_queue is not None else None
    emu.busy_checks[:] = [
        lambda: getattr(processor, "active", 0) > 0 or not queue.empty() or background.busy
        or courier.busy or (jobs is not None and jobs.running > 0)
    ]
    emu.timers[:] = [jobs.due] if jobs is not None else []
    background.on_idle = courier.on_idle = emu.wake
    if isinstance(processor, PerUserUpdateProcessor):
        processor.on_idle = emu.wake
    return jobs
