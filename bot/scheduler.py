"""The reminder schedule: APScheduler jobs rebuilt from the periods table.

Why the jobs are rebuilt at start (in memory, fixed ids, `replace_existing=True`) rather
than kept in a persistent job store:

- The database already is the truth of what is due (periods and their deadlines) and of
  what was sent (the `reminders` rows). Jobs derived from it afresh at every start, after
  every deadline change and every night cannot disagree with it; a stored copy of the
  jobs can (a deadline moved from the CLI or by hand, a database restored from a backup,
  REMINDER_DAYS_BEFORE changed between runs).
- APScheduler 3's SQLAlchemyJobStore is synchronous: it needs a second, sync database
  driver next to aiosqlite/asyncpg, and it blocks the event loop that serves the updates
  while it reads and writes.
- A job store must never be shared by two schedulers (APScheduler 3 has no locking; both
  would run every job). Here each process keeps its own jobs, and two schedulers on one
  database are harmless: exactly-once comes from the unique (person, period, kind)
  record claimed before each message, not from the scheduler.
- Stored jobs are pickled references to functions and arguments: a renamed function or
  a changed argument breaks them after an upgrade. Rebuilt jobs always use today's code.
- What a bot that was down should send is a decision about usefulness (the latest
  reminder still before the deadline, the digest if never sent), not a misfire policy.
  It is made at start from the same tables (`catch_up`).

The price: `rebuild()` has to run after a deadline moves or a period closes or reopens
(the coordinator commands call `rebuild_schedule` from the Dispatcher's data); the daily
job rebuilds too, and each job re-reads its period when it fires, so a stale job does
nothing wrong.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiogram import Bot
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backup import BackupError, nightly
from bot.database import deadline_for
from bot.reminders import (
    DIGEST,
    ReminderDeps,
    RoundResult,
    current_kind,
    digest,
    digest_sent,
    due_at,
    recover,
    remind_now,
    reminder_kinds,
    reminder_round,
)
from bot.settings import Settings
from reports.quarters import Quarter
from storage.db import current_session
from storage.models import ReportingPeriod
from storage.repositories import PeriodRepository

log = logging.getLogger(__name__)
T = TypeVar("T")

JOB_PREFIX = "reminder:"
DAILY_JOB = "periods:daily"
RECOVER_JOB = "reminders:recover"
REFRESH_JOB = "periods:refresh"
CATCH_UP_JOB = "reminders:catch_up"
BACKUP_JOB = "backup:nightly"
RECOVER_EVERY = timedelta(minutes=10)
EARLY = timedelta(minutes=1)  # a job firing earlier than its due time is stale
DIGEST_CATCH_UP = timedelta(days=7)  # a digest missed longer ago than this is not sent


def _detached(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call into APScheduler outside the caller's context variables.

    AsyncIOScheduler schedules its wake-ups with the caller's context, and every job it
    runs later inherits it: a rebuild from inside an update would hand that update's
    `current_session` to the jobs (and to the session middleware of their sends).
    """
    return contextvars.Context().run(function, *args, **kwargs)


def job_id(period_id: int, kind: str) -> str:
    """`reminder:12:before_7`."""
    return f"{JOB_PREFIX}{period_id}:{kind}"


# --- the jobs: module-level, given ids, opening their own sessions ---------------------


async def run_reminder(deps: ReminderDeps, period_id: int, kind: str) -> RoundResult | None:
    """A scheduled reminder (or digest) of a period, if the database still says it is due."""
    now = deps.clock()
    async with deps.sessionmaker() as session:
        period = await PeriodRepository(session).by_id(period_id)
    if period is None or period.status != "open":
        log.info("job %s: period closed or gone", job_id(period_id, kind))
        return None
    due = due_at(period.deadline, kind, deps.settings)
    if due is None or now < due - EARLY:
        log.info("job %s: not due at %s (due %s); skipped", job_id(period_id, kind), now, due)
        return None
    if kind == DIGEST:
        return await digest(deps, period_id, now=now)
    if kind != current_kind(period, now, deps.settings):
        log.info("job %s: superseded or past the deadline", job_id(period_id, kind))
        return None
    return await reminder_round(deps, period_id, kind, now=now)


async def run_backup(settings: Settings, now: datetime) -> Path | None:
    """The nightly copy of the SQLite database and the pruning of old copies; a failure
    is logged (the bot goes on) and the next night tries again."""
    database, folder = settings.sqlite_path(), settings.backup_folder()
    if database is None or folder is None:
        return None
    try:
        return await asyncio.to_thread(
            nightly, database, folder, settings.backup_keep, at=now.astimezone(settings.timezone)
        )
    except (BackupError, OSError):
        log.exception("nightly backup of %s into %s failed", database, folder)
        return None


async def run_recovery(deps: ReminderDeps) -> RoundResult:
    """Finish reminders left pending by a crash and retry passing failures."""
    return await recover(deps, now=deps.clock())


# --- the schedule --------------------------------------------------------------------


class ReminderScheduler:
    """APScheduler (AsyncIOScheduler, the settings' time zone) behind a small interface."""

    def __init__(self, deps: ReminderDeps) -> None:
        self.deps = deps
        self.settings: Settings = deps.settings
        self.scheduler = AsyncIOScheduler(
            timezone=deps.settings.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._stopping = False

    @classmethod
    def for_app(
        cls, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
    ) -> ReminderScheduler:
        return cls(ReminderDeps.create(bot, sessionmaker, settings))

    @property
    def enabled(self) -> bool:
        return self.settings.scheduler_enabled

    def workflow_data(self) -> dict[str, Any]:
        """For the Dispatcher: `remind_now(period_id, organisation_ids=None)` and
        `rebuild_schedule()`, both to be awaited."""
        return {"remind_now": self.remind_now, "rebuild_schedule": self.rebuild}

    async def start(
        self, *, catch_up_in_background: bool = True, refresh_every: timedelta | None = None
    ) -> None:
        """Make sure the periods exist, plan their reminders, send what was missed;
        with `refresh_every`, also rebuild the plan that often (for a scheduler process
        apart from the workers, whose deadline changes it does not hear of)."""
        if not self.enabled:
            await self.move_deadlines_off_days_off()  # what every process shows
            log.info("reminder scheduler disabled (SCHEDULER_ENABLED=false)")
            return
        await self.ensure_periods()
        _detached(self.scheduler.start)
        tz = self.settings.timezone
        self._add_job(
            self.daily,
            CronTrigger(hour=0, minute=5, timezone=tz),
            id=DAILY_JOB,
            replace_existing=True,
        )
        self._add_job(
            run_recovery,
            IntervalTrigger(seconds=RECOVER_EVERY.total_seconds(), timezone=tz),
            id=RECOVER_JOB,
            args=[self.deps],
            replace_existing=True,
        )
        if self.settings.backup_folder() is not None:
            self._add_job(
                self.nightly_backup,
                CronTrigger(
                    hour=self.settings.backup_time.hour,
                    minute=self.settings.backup_time.minute,
                    timezone=tz,
                ),
                id=BACKUP_JOB,
                replace_existing=True,
            )
        if refresh_every is not None:
            self._add_job(
                self.rebuild,
                IntervalTrigger(seconds=refresh_every.total_seconds(), timezone=tz),
                id=REFRESH_JOB,
                replace_existing=True,
            )
        await self.rebuild()
        if catch_up_in_background:
            self._add_job(self.catch_up, id=CATCH_UP_JOB, replace_existing=True)
        else:
            await self.catch_up()

    async def move_deadlines_off_days_off(self) -> list[tuple[ReportingPeriod, datetime]]:
        """Open periods whose deadline ahead falls on a day off in Russia (stored before
        deadlines kept to working days) move to the next working day, same time."""
        async with self.deps.sessionmaker() as session, session.begin():
            return await PeriodRepository(session).move_deadlines_off_days_off(
                self.deps.clock(), self.settings.timezone
            )

    async def ensure_periods(self) -> list[ReportingPeriod]:
        """The periods of the current quarter and of the one being collected, created open
        with the default deadline if missing; a stored deadline ahead on a day off moves to
        the next working day first (it decides which quarter is being collected)."""
        now = self.deps.clock()
        tz = self.settings.timezone
        current = Quarter.of(now.astimezone(tz).date())
        deadline = deadline_for(self.settings)
        async with self.deps.sessionmaker() as session, session.begin():
            repository = PeriodRepository(session)
            await repository.move_deadlines_off_days_off(now, tz)
            collected, _ = await repository.ensure_collecting(now, tz, deadline)
            periods = [collected]
            if (collected.year, collected.quarter) != (current.year, current.quarter):
                periods.append(await repository.ensure(current, deadline(current)))
        return sorted(periods, key=lambda period: (period.year, period.quarter))

    async def nightly_backup(self) -> Path | None:
        """BACKUP_TIME local: a copy of the database into BACKUP_DIR, BACKUP_KEEP kept."""
        return await run_backup(self.settings, self.deps.clock())

    async def daily(self) -> None:
        """00:05 local: the new quarter's period on its first day, and a fresh schedule."""
        await self.ensure_periods()
        await self.rebuild()

    async def rebuild(self) -> dict[str, datetime]:
        """Plan every reminder and digest of the open periods still in the future (fixed
        ids, replacing the old ones) and drop the jobs of periods no longer open.

        Inside an update (a coordinator moved a deadline) the periods are read through
        the update's own session, so the change is seen before it is committed.
        """
        if not self.enabled:
            return {}
        shared = current_session.get()
        if shared is not None:
            periods = await PeriodRepository(shared).open_periods()
        else:
            async with self.deps.sessionmaker() as session:
                periods = await PeriodRepository(session).open_periods()
        now = self.deps.clock()
        wanted: dict[str, tuple[datetime, int, str]] = {}
        for period in periods:
            try:
                planned = self._planned_jobs(period, now)
            except Exception:  # one impossible period must not stop the others (or the start)
                log.exception(
                    "period %s (%s-Q%s, deadline %s): no reminders can be planned; skipped",
                    period.id,
                    period.year,
                    period.quarter,
                    period.deadline,
                )
                continue
            wanted.update(planned)
        for job in self._reminder_jobs():
            if job.id not in wanted:
                self._remove(job.id)
        planned = {}
        for id_, (at, period_id, kind) in wanted.items():
            try:
                self._add_job(
                    run_reminder,
                    DateTrigger(run_date=at, timezone=self.settings.timezone),
                    id=id_,
                    name=id_,
                    args=[self.deps, period_id, kind],
                    replace_existing=True,
                )
            except Exception:  # a time APScheduler cannot plan: the other jobs still are
                log.exception("job %s at %s could not be planned; skipped", id_, at)
                continue
            planned[id_] = at
        log.info(
            "reminder schedule rebuilt: %s jobs for %s open periods", len(planned), len(periods)
        )
        return planned

    def _planned_jobs(
        self, period: ReportingPeriod, now: datetime
    ) -> dict[str, tuple[datetime, int, str]]:
        """A period's reminder and digest jobs still ahead: job id → (when, period, kind)."""
        jobs = {}
        for kind in [*reminder_kinds(self.settings), DIGEST]:
            at = due_at(period.deadline, kind, self.settings)
            if at is not None and at > now:
                jobs[job_id(period.id, kind)] = (at, period.id, kind)
        return jobs

    async def catch_up(self) -> list[RoundResult]:
        """What was missed while the bot was down: per open period the latest reminder if
        the deadline has not passed, the digest if never sent (within a week); then
        recovery of unfinished reminders.

        The latest reminder's round is run again even if it had gone out: the claimed
        rows make that a no-op for everyone reached, and reporters who joined since
        get it too.
        """
        now = self.deps.clock()
        async with self.deps.sessionmaker() as session:
            periods = await PeriodRepository(session).open_periods()
        results = []
        for period in periods:
            try:
                kind = current_kind(period, now, self.settings)
                at = due_at(period.deadline, DIGEST, self.settings)
            except Exception:  # an impossible deadline: the other periods still catch up
                log.exception(
                    "period %s (%s-Q%s, deadline %s): its reminders cannot be timed; skipped",
                    period.id,
                    period.year,
                    period.quarter,
                    period.deadline,
                )
                continue
            if kind is not None:
                results.append(await reminder_round(self.deps, period.id, kind, now=now))
            if (
                at is not None
                and at <= now < at + DIGEST_CATCH_UP
                and not await digest_sent(self.deps, period.id)
            ):
                results.append(await digest(self.deps, period.id, now=now))
        results.append(await recover(self.deps, now=now))
        return results

    async def remind_now(
        self, period_id: int, organisation_ids: Iterable[int] | None = None
    ) -> RoundResult:
        """/remind: nudge the missing ones of a period now (once an hour per organisation)."""
        return await remind_now(
            self.deps, period_id, now=self.deps.clock(), organisation_ids=organisation_ids
        )

    def planned(self) -> dict[str, datetime]:
        """Reminder job id → next run time (aware)."""
        return {
            job.id: job.next_run_time
            for job in self._reminder_jobs()
            if getattr(job, "next_run_time", None) is not None
        }

    async def shutdown(self) -> None:
        """Stop the jobs; a round cut short records what Telegram already accepted."""
        if self.scheduler.running and not self._stopping:
            self._stopping = True
            self.scheduler.shutdown(wait=False)  # cancels running jobs on the loop's next turn
            await asyncio.sleep(0)
        await self.deps.sender.wait_idle()

    def _add_job(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:
        return _detached(self.scheduler.add_job, func, *args, **kwargs)

    def _reminder_jobs(self) -> list[Job]:
        return [job for job in self.scheduler.get_jobs() if job.id.startswith(JOB_PREFIX)]

    def _remove(self, id_: str) -> None:
        try:
            _detached(self.scheduler.remove_job, id_)
        except JobLookupError:
            pass
