"""The reminder schedule under a controlled clock (time-machine): jobs at the right Moscow
times, moved by a deadline change, what a bot that was down sends when it comes back, and
two schedulers on one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from aiogram import Bot
from aiogram.methods import SendMessage
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.reminders import ReminderDeps
from bot.scheduler import (
    CATCH_UP_JOB,
    DAILY_JOB,
    RECOVER_JOB,
    ReminderScheduler,
    job_id,
    run_reminder,
)
from bot.settings import SettingsError, load_settings
from reports.quarters import Quarter
from storage.db import create_engine, create_sessionmaker, current_session
from storage.models import Person, Reminder, ReportingPeriod
from storage.repositories import PeriodRepository
from tests import factories
from tests.test_reminders import TOKEN, make_settings
from tests.tg import RecordingSession

MSK = ZoneInfo("Europe/Moscow")


def msk(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=MSK)


@dataclass
class World:
    period: ReportingPeriod
    silent_people: list[Person]
    coordinator: Person


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    """IV квартал 2023, stored as before deadlines kept to working days: 5 January 2024,
    18:00 Moscow, a holiday, which a start before it moves to Tuesday 9 January; one
    organisation silent, one reported, one coordinator."""
    async with sessionmaker() as session, session.begin():
        period = await factories.period(session)
        silent = await factories.organisation(session)
        reported = await factories.organisation(session)
        people = [await factories.person(session, silent) for _ in range(2)]
        await factories.person(session, reported)
        await factories.event(session, period_=period, org=reported)
        coordinator = await factories.person(session, role="coordinator")
    return World(period, people, coordinator)


@dataclass
class Process:
    """One running bot: a scheduler and the Telegram it talks to."""

    scheduler: ReminderScheduler
    session: RecordingSession

    def sent(self) -> list[SendMessage]:
        return [r for r in self.session.requests if isinstance(r, SendMessage)]

    def chats(self) -> list[int]:
        return sorted(int(message.chat_id) for message in self.sent())


@pytest.fixture
async def processes() -> AsyncIterator[Callable[[async_sessionmaker[AsyncSession]], Process]]:
    started: list[Process] = []

    def make(sessionmaker: async_sessionmaker[AsyncSession], **settings: Any) -> Process:
        session = RecordingSession()
        bot = Bot(TOKEN, session=session)
        deps = ReminderDeps.create(bot, sessionmaker, make_settings(**settings))
        process = Process(ReminderScheduler(deps), session)
        started.append(process)
        return process

    yield make
    for process in started:
        await process.scheduler.shutdown()


@pytest.fixture
def at(time_machine: time_machine.TimeMachineFixture) -> Callable[[str], datetime]:
    """Stop the clock at a Moscow time."""

    def move(text: str) -> datetime:
        moment = msk(text)
        time_machine.move_to(moment, tick=False)
        return moment

    return move


async def reminders(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[int, str]]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(Reminder).order_by(Reminder.id))
        return [(row.person_id, row.kind) for row in rows]


async def test_it_plans_each_reminder_and_the_digest_at_10_moscow_time(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, processes: Any, at: Any
) -> None:
    at("2023-12-01 12:00")
    bot = processes(sessionmaker)

    await bot.scheduler.start(catch_up_in_background=False)

    pid = world.period.id
    planned = bot.scheduler.planned()
    assert planned == {
        job_id(pid, "before_7"): msk("2024-01-02 10:00"),
        job_id(pid, "before_3"): msk("2024-01-06 10:00"),
        job_id(pid, "before_1"): msk("2024-01-08 10:00"),
        job_id(pid, "deadline"): msk("2024-01-09 10:00"),
        job_id(pid, "digest"): msk("2024-01-10 10:00"),
    }
    assert {str(when.tzinfo) for when in planned.values()} == {"Europe/Moscow"}
    jobs = {job.id for job in bot.scheduler.scheduler.get_jobs()}
    assert {DAILY_JOB, RECOVER_JOB} <= jobs
    assert bot.scheduler.scheduler.get_job(DAILY_JOB).next_run_time == msk("2023-12-02 00:05")
    assert bot.sent() == []


async def test_the_configured_days_and_times_are_used(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, processes: Any, at: Any
) -> None:
    at("2023-12-01 12:00")
    bot = processes(
        sessionmaker, reminder_days_before=[10, 2], reminder_time="09:30", digest_time="08:00"
    )

    await bot.scheduler.start(catch_up_in_background=False)

    pid = world.period.id
    assert bot.scheduler.planned() == {
        job_id(pid, "before_10"): msk("2023-12-30 09:30"),
        job_id(pid, "before_2"): msk("2024-01-07 09:30"),
        job_id(pid, "deadline"): msk("2024-01-09 09:30"),
        job_id(pid, "digest"): msk("2024-01-10 08:00"),
    }


async def test_a_moved_deadline_moves_the_jobs_and_a_closed_period_has_none(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, processes: Any, at: Any
) -> None:
    at("2023-12-01 12:00")
    bot = processes(sessionmaker)
    await bot.scheduler.start(catch_up_in_background=False)
    pid = world.period.id

    async with sessionmaker() as session, session.begin():
        period = await PeriodRepository(session).by_id(pid)
        assert period is not None
        await PeriodRepository(session).set_deadline(period, msk("2024-01-10 18:00"))
        token = current_session.set(session)  # as inside the /deadline handler's update
        try:
            inside_the_update = await bot.scheduler.rebuild()
        finally:
            current_session.reset(token)

    assert (
        bot.scheduler.planned()
        == inside_the_update
        == {
            job_id(pid, "before_7"): msk("2024-01-03 10:00"),
            job_id(pid, "before_3"): msk("2024-01-07 10:00"),
            job_id(pid, "before_1"): msk("2024-01-09 10:00"),
            job_id(pid, "deadline"): msk("2024-01-10 10:00"),
            job_id(pid, "digest"): msk("2024-01-11 10:00"),
        }
    )

    async with sessionmaker() as session, session.begin():
        period = await PeriodRepository(session).by_id(pid)
        assert period is not None
        await PeriodRepository(session).set_status(period, "closed")
    await bot.scheduler.rebuild()

    assert bot.scheduler.planned() == {}


async def test_a_job_sends_when_due_and_a_stale_one_does_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, processes: Any, at: Any
) -> None:
    at("2023-12-01 12:00")
    bot = processes(sessionmaker)
    await bot.scheduler.start(catch_up_in_background=False)
    job = bot.scheduler.scheduler.get_job(job_id(world.period.id, "before_7"))
    stale = bot.scheduler.scheduler.get_job(job_id(world.period.id, "before_3"))
    await bot.scheduler.shutdown()
    async with sessionmaker() as session, session.begin():  # moved, schedule not rebuilt
        period = await PeriodRepository(session).by_id(world.period.id)
        assert period is not None
        await PeriodRepository(session).set_deadline(period, msk("2024-01-10 18:00"))

    at("2024-01-03 10:00")
    result = await run_reminder(*job.args)
    at("2024-01-06 10:00")  # the old before_3 time: now 4 days before the deadline
    stale_result = await run_reminder(*stale.args)

    assert result is not None and result.kind == "before_7"
    assert stale_result is None
    assert bot.chats() == sorted(p.telegram_id for p in world.silent_people)


async def test_started_after_a_missed_reminder_it_sends_the_latest_one_once(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, processes: Any, at: Any
) -> None:
    at("2024-01-07 12:00")  # down since before 2 January: before_7 and before_3 missed
    first = processes(sessionmaker)

    await first.scheduler.start(catch_up_in_background=False)
    await first.scheduler.shutdown()
    at("2024-01-07 12:30")
    restarted = processes(sessionmaker)
    await restarted.scheduler.start(catch_up_in_background=False)

    silent = sorted(p.telegram_id for p in world.silent_people)
    assert first.chats() == silent
    assert all("3 дня" in message.text for message in first.sent())
    assert restarted.sent() == []
    assert sorted(kind for _, kind in await reminders(sessionmaker)) == ["before_3"] * 2
    pid = world.period.id
    assert set(restarted.scheduler.planned()) >= {
        job_id(pid, "before_1"),
        job_id(pid, "deadline"),
        job_id(pid, "digest"),
    }
    assert job_id(pid, "before_3") not in restarted.scheduler.planned()


async def test_by_default_the_catch_up_runs_in_the_background(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, processes: Any, at: Any
) -> None:
    at("2024-01-03 12:00")
    bot = processes(sessionmaker)
    done = asyncio.Event()

    def on_executed(event: JobExecutionEvent) -> None:
        if event.job_id == CATCH_UP_JOB:
            done.set()

    bot.scheduler.scheduler.add_listener(on_executed, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    await bot.scheduler.start()
    sent_before_it_ran = len(bot.sent())
    await asyncio.wait_for(done.wait(), timeout=10)

    assert sent_before_it_ran == 0
    assert bot.chats() == sorted(p.telegram_id for p in world.silent_people)


async def test_jobs_never_inherit_the_session_of_the_update_that_planned_them(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, processes: Any, at: Any
) -> None:
    at("2023-12-01 12:00")
    bot = processes(sessionmaker)
    await bot.scheduler.start(catch_up_in_background=False)
    seen: list[object] = []
    ran = asyncio.Event()

    async def probe() -> None:
        seen.append(current_session.get())
        ran.set()

    token = current_session.set(object())  # type: ignore[arg-type]  # inside an update
    try:
        bot.scheduler._add_job(probe, id="probe")
    finally:
        current_session.reset(token)
    await asyncio.wait_for(ran.wait(), timeout=10)

    assert seen == [None]


async def test_started_after_the_deadline_it_sends_no_reminder_and_the_digest_once(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, processes: Any, at: Any
) -> None:
    at("2024-01-10 12:00")  # past the deadline's working day (9 January) too
    first = processes(sessionmaker)

    await first.scheduler.start(catch_up_in_background=False)
    await first.scheduler.shutdown()
    at("2024-01-11 09:00")
    restarted = processes(sessionmaker)
    await restarted.scheduler.start(catch_up_in_background=False)

    assert first.chats() == [world.coordinator.telegram_id]
    assert "Не отчитались (1)" in first.sent()[0].text
    assert restarted.sent() == []
    assert await reminders(sessionmaker) == [(world.coordinator.id, "digest")]
    # The new quarter's period now exists, with its own reminders planned.
    async with sessionmaker() as session:
        q1 = await PeriodRepository(session).get(Quarter(2024, 1))
    assert q1 is not None and q1.deadline == msk("2024-04-05 18:00")
    assert restarted.scheduler.planned()[job_id(q1.id, "before_7")] == msk("2024-03-29 10:00")


async def test_two_schedulers_on_one_database_remind_each_person_once(
    engine: AsyncEngine, world: World, processes: Any, at: Any
) -> None:
    second_engine = create_engine(engine.url.render_as_string(hide_password=False))
    at("2024-01-08 11:00")  # the day before the (moved) deadline, after its reminder's hour
    one = processes(create_sessionmaker(engine))
    two = processes(create_sessionmaker(second_engine))

    try:
        await asyncio.gather(
            one.scheduler.start(catch_up_in_background=False),
            two.scheduler.start(catch_up_in_background=False),
        )
        at("2024-01-09 10:00")
        jobs = [
            process.scheduler.scheduler.get_job(job_id(world.period.id, "deadline"))
            for process in (one, two)
        ]
        await asyncio.gather(*(run_reminder(*job.args) for job in jobs))
    finally:
        await one.scheduler.shutdown()
        await two.scheduler.shutdown()
        await second_engine.dispose()

    silent = sorted(p.telegram_id for p in world.silent_people)
    assert sorted(one.chats() + two.chats()) == sorted(silent * 2)  # before_1, then deadline
    kinds = sorted(kind for _, kind in await reminders(create_sessionmaker(engine)))
    assert kinds == ["before_1", "before_1", "deadline", "deadline"]


async def test_the_daily_job_opens_the_new_quarter(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, processes: Any, at: Any
) -> None:
    at("2024-03-31 23:00")
    bot = processes(sessionmaker)
    await bot.scheduler.start(catch_up_in_background=False)
    at("2024-04-01 00:05")

    await bot.scheduler.daily()

    async with sessionmaker() as session:
        q2 = await PeriodRepository(session).get(Quarter(2024, 2))
    assert q2 is not None and q2.status == "open"
    assert q2.deadline == msk("2024-07-05 18:00")
    assert job_id(q2.id, "before_7") in bot.scheduler.planned()


async def test_a_disabled_scheduler_plans_nothing_but_remind_now_works(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, processes: Any, at: Any
) -> None:
    at("2023-12-20 12:00")
    bot = processes(sessionmaker, scheduler_enabled=False)

    await bot.scheduler.start()
    result = await bot.scheduler.workflow_data()["remind_now"](world.period.id)

    assert bot.scheduler.scheduler.get_jobs() == []
    assert await bot.scheduler.workflow_data()["rebuild_schedule"]() == {}
    assert result.sent == 2 and result.kind == "manual:2023-12-20T12"


def test_reminder_settings_are_read_and_checked() -> None:
    settings = load_settings(
        _env_file=None, reminder_days_before="1, 7;3", send_rate_per_second="25"
    )

    assert settings.reminder_days_before == [7, 3, 1]
    assert settings.send_rate_per_second == 25.0
    assert (settings.reminder_time.hour, settings.digest_time.hour) == (10, 10)
    with pytest.raises(SettingsError, match="REMINDER_DAYS_BEFORE"):
        load_settings(_env_file=None, reminder_days_before="0")
    with pytest.raises(SettingsError, match="SEND_PER_CHAT_INTERVAL"):
        load_settings(_env_file=None, send_per_chat_interval="-1")


def test_times_are_in_utc_in_the_database() -> None:
    assert msk("2024-01-05 18:00").astimezone(UTC) == factories.MOSCOW_DEADLINE


async def test_at_start_only_open_deadlines_still_to_come_leave_a_day_off(
    sessionmaker: async_sessionmaker[AsyncSession], processes: Any, at: Any
) -> None:
    async with sessionmaker() as session, session.begin():
        periods = PeriodRepository(session)
        ahead = await periods.ensure(Quarter(2026, 4), msk("2027-01-05 18:00"))  # a holiday
        past = await periods.ensure(Quarter(2025, 2), msk("2025-07-05 18:00"))  # a Saturday
        closed = await periods.ensure(Quarter(2026, 3), msk("2026-10-04 18:00"), status="closed")
        working = await periods.ensure(Quarter(2027, 1), msk("2027-04-06 12:00"))  # a Tuesday
    at("2026-12-01 12:00")
    bot = processes(sessionmaker, scheduler_enabled=False)  # a worker: the data is the same

    await bot.scheduler.start()

    async with sessionmaker() as session:
        deadlines = {
            period.id: (await PeriodRepository(session).by_id(period.id)).deadline  # type: ignore[union-attr]
            for period in (ahead, past, closed, working)
        }
    assert deadlines == {
        ahead.id: msk("2027-01-11 18:00"),  # the first working day after the holidays
        past.id: msk("2025-07-05 18:00"),  # history: its working day is past as well
        closed.id: msk("2026-10-04 18:00"),  # a closed period takes no changes
        working.id: msk("2027-04-06 12:00"),  # a coordinator's working day, kept
    }
