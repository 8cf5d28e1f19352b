"""The alarm clock for reminders: one JobQueue job, always set for the next moment anything is
due.

The rows in the database are the truth (flows/features/sessions/reminders.py). This only wakes
up when the earliest of them falls due, asks the engine to move everything due into the outbox
(marked sent in the same transaction), sends those rows, and sets itself again. So 10,000
pending reminders cost one job, not 10,000, and start-up is one query. The job runs however late
it is (no misfire grace period: a stalled event loop or a slow start still delivers), and the
minute sweep calls `run_due` too, in case the clock jumps.

Once a reminder is in the outbox, the outbox's promise holds: it is sent after a crash, and sent
twice only if the process dies between Telegram accepting it and the commit that removes it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot
from telegram.ext import JobQueue

from bot import health
from bot.delivery import deliver_side_by_side, flush_outbox
from bot.limits import bulk as bulk_sending
from flows.app import App

log = logging.getLogger(__name__)
JOB_ID = "coreflect-nudges"
RETRY = timedelta(seconds=15)  # after a failure to reach Telegram


class Alarm:
    def __init__(self, bot: Bot, service: App, job_queue: JobQueue[Any] | None) -> None:
        self.bot = bot
        self.service = service
        self.job_queue = job_queue
        self.armed_for: datetime | None = None  # when the job will next run (None: nothing due)
        self._lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        """A run is sending now (and will send whatever falls due before it ends)."""
        return self._lock.locked()

    async def run_due(self) -> int:
        """Send everything due now; returns how many reminders went into the outbox.

        Sent as bulk (bot/limits.py): reminders use only what replies leave of Telegram's
        limits, so someone waiting for an answer never queues behind 10,000 reminders."""
        with bulk_sending():
            return await self._run_due()

    async def _run_due(self) -> int:
        queued = 0
        async with self._lock:
            try:
                # Each round moves a batch into the outbox; the last one finds nothing more due.
                while rows := await self.service.due():
                    queued += len(rows)
                    health.REMINDERS.inc(len(rows))
                    await deliver_side_by_side(self.bot, self.service, rows)
                    await self.service.store.flush_sent()  # keep the repeat window narrow
            except Exception as exc:  # Telegram unreachable: they wait in the outbox
                log.warning("nudges not sent yet (%s); trying again soon", type(exc).__name__)
                self.arm(self.service.clock() + RETRY)
                return queued
            try:
                await flush_outbox(self.bot, self.service)  # anything a failure left behind
            except Exception as exc:
                log.warning("saved replies not sent yet (%s)", type(exc).__name__)
                self.arm(self.service.clock() + RETRY)
                return queued
        await self.rearm()
        return queued

    async def rearm(self) -> None:
        self.arm(await self.service.next_wake())

    def arm(self, moment: datetime | None) -> None:
        """Set the one job for `moment` (replacing any earlier setting), or clear it."""
        self.armed_for = moment
        if self.job_queue is None:
            return
        for job in self.job_queue.get_jobs_by_name(JOB_ID):
            job.schedule_removal()
        if moment is None:
            return
        self.job_queue.run_once(
            self._wake,
            when=moment,
            name=JOB_ID,
            job_kwargs={"misfire_grace_time": None, "coalesce": True},
        )

    async def _wake(self, context: Any) -> None:
        await self.run_due()
