"""The quarter being collected follows the stored deadlines: a moved deadline keeps the
previous quarter collected (every default of the staff and of the coordinator follows it),
until it passes; a closed period is not collected; absurd deadlines are refused, and a
stored one whose schedule cannot be built is skipped at start, never fatal."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_bot, build_dispatcher
from bot.database import Storage
from bot.reminders import ReminderDeps
from bot.scheduler import ReminderScheduler, job_id, run_reminder
from bot.settings import Settings
from handlers.keyboards import NothingCb
from handlers.texts import Common, Dialogue, Nothing, Periods, Reminders
from reports.quarters import Quarter
from storage.db import create_engine
from storage.importer import import_events
from storage.migrate import upgrade_database
from storage.models import Event, NothingToReport, Organisation, ReportingPeriod
from storage.repositories import PeriodRepository
from tests.botapi_stub import BotApiStub, html_to_text
from tests.conftest import COORDINATOR_ID, Clock
from tests.e2e import BotProcess
from tests.e2e import Person as E2EPerson
from tests.test_dialogue import join
from tests.tg import Person, RecordingSession, World

MSK = ZoneInfo("Europe/Moscow")
Q4 = Quarter(2026, 4)
Q1 = Quarter(2027, 1)
Q4_TEXT = "IV квартал 2026 года"
Q1_TEXT = "I квартал 2027 года"
SPHERE = "Сотрудничество в сфере культуры и туризма"


def msk(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=MSK)


DECEMBER = msk("2026-12-20 12:00")  # the fourth quarter is being collected by any rule
JANUARY_12 = msk("2027-01-12 12:00")  # past the default deadline (11.01), before the moved one
AFTER_THE_MOVED = msk("2027-01-20 12:00")  # the moved deadline (19.01 18:00) has passed


@pytest.fixture
def clock() -> Clock:
    return Clock(DECEMBER)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=SecretStr("123456:TEST-token-for-recording-session-000"),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        coordinator_ids=[COORDINATOR_ID],
        send_rate_per_second=1000.0,
        send_per_chat_interval=0.0,
    )


@dataclass
class Wired:
    """The Dispatcher with the reminder scheduler wired in, as bot/app.py does."""

    world: World
    scheduler: ReminderScheduler

    @property
    def deps(self) -> ReminderDeps:
        return self.scheduler.deps


@pytest.fixture
async def bot(settings: Settings, app_storage: Storage, clock: Clock) -> AsyncIterator[Wired]:
    session = RecordingSession()
    telegram = build_bot(settings, session=session)
    dispatcher = build_dispatcher(settings, app_storage, clock=clock)
    deps = ReminderDeps.create(telegram, app_storage.sessionmaker, settings, clock=clock)
    scheduler = ReminderScheduler(deps)
    dispatcher.workflow_data.update(scheduler.workflow_data())
    yield Wired(World(dispatcher, telegram, session), scheduler)
    await scheduler.shutdown()
    await telegram.session.close()


@dataclass
class Moved:
    """December: the fourth quarter's deadline moved to 19.01.2027; two organisations."""

    bot: Wired
    desk: Person
    museum: Person
    theatre: Person
    q4: int
    q1: int


async def period_id(storage: Storage, quarter: Quarter) -> int:
    async with storage.sessionmaker() as session:
        period = await PeriodRepository(session).get(quarter)
    assert period is not None
    return period.id


@pytest.fixture
async def moved(bot: Wired, app_storage: Storage, clock: Clock) -> Moved:
    museum = await join(bot.world, 3001)
    theatre = await join(bot.world, 3002, "Смоленский театр")
    desk = bot.world.person(COORDINATOR_ID, "Координатор")
    clock.now = msk("2027-01-02 12:00")  # the scheduler's daily job has opened Q1 by now
    await bot.scheduler.ensure_periods()

    [reply] = await desk.send("/deadline 2026-Q4 19.01.2027")

    assert reply.text.startswith(
        Periods.DEADLINE_SET.format(
            period=Q4_TEXT, deadline="19.01.2027 18:00", previous="11.01.2027 18:00"
        )
    )
    return Moved(
        bot,
        desk,
        museum,
        theatre,
        await period_id(app_storage, Q4),
        await period_id(app_storage, Q1),
    )


async def nothing_said(storage: Storage) -> list[tuple[str, int]]:
    """(organisation name, period id) of every «Мероприятий не было»."""
    query = (
        select(Organisation.name, NothingToReport.period_id)
        .join(Organisation, Organisation.id == NothingToReport.organisation_id)
        .order_by(NothingToReport.id)
    )
    async with storage.sessionmaker() as session:
        return [(name, period) for name, period in (await session.execute(query)).all()]


async def reach_the_period_step(person: Person, dates: str) -> None:
    await person.send("/new")
    await person.press(SPHERE)
    await person.send("Выставка")
    await person.send("г. Смоленск")
    await person.send(dates)
    await person.press(Dialogue.YES)
    await person.send("Открыта выставка.")
    await person.send("Сотрудники музея, 12 человек")


# --- the scenario ----------------------------------------------------------------


async def test_on_12_january_nothing_is_stored_for_the_quarter_whose_deadline_was_moved(
    moved: Moved, app_storage: Storage, clock: Clock
) -> None:
    clock.now = JANUARY_12

    [offer] = await moved.museum.send("/nothing")
    await moved.museum.press(Reminders.NOTHING)
    [status] = await moved.desk.send("/status")

    assert offer.text == Nothing.OFFER.format(organisation="Смоленский музей", period=Q4_TEXT)
    assert await nothing_said(app_storage) == [("Смоленский музей", moved.q4)]
    assert status.text == "\n".join(
        [
            Periods.STATUS_HEAD.format(
                period=Q4_TEXT, deadline="19.01.2027 18:00", state=Periods.STATE_OPEN
            ),
            Periods.STATUS_SUMMARY.format(
                total=2, reported=0, events=0, late=0, nothing=1, missing=1, drafts=0
            ),
            Periods.STATUS_MISSING_HEAD,
            Periods.LINE_MISSING.format(name="Смоленский театр"),
            Periods.STATUS_NOTHING_HEAD,
            Periods.LINE_NOTHING.format(name="Смоленский музей"),
        ]
    )


async def test_the_moved_quarters_reminders_stop_for_whoever_said_nothing(
    moved: Moved, app_storage: Storage, clock: Clock
) -> None:
    clock.now = JANUARY_12
    await moved.museum.send("/nothing")
    await moved.museum.press(Reminders.NOTHING)
    clock.now = msk("2027-01-16 10:00")  # three days before the moved deadline
    museum_heard = len(moved.museum.replies())

    first = await run_reminder(moved.bot.deps, moved.q4, "before_3")
    reminded = moved.theatre.last_text()
    await moved.theatre.press(Reminders.NOTHING)  # the button under that reminder
    clock.now = msk("2027-01-18 10:00")
    second = await run_reminder(moved.bot.deps, moved.q4, "before_1")
    [status] = await moved.desk.send("/status")

    assert first is not None and first.sent == 1  # the theatre only, not the museum
    assert len(moved.museum.replies()) == museum_heard
    assert reminded.startswith(Reminders.BEFORE.split("{")[0]) and Q4_TEXT in reminded
    assert await nothing_said(app_storage) == [
        ("Смоленский музей", moved.q4),
        ("Смоленский театр", moved.q4),
    ]
    assert second is not None and second.sent == 0
    assert Periods.STATUS_MISSING_HEAD not in status.text


async def test_the_dialogue_defaults_to_the_moved_quarter_then_to_the_next(
    moved: Moved, clock: Clock
) -> None:
    clock.now = JANUARY_12
    await reach_the_period_step(moved.museum, "15 сентября 2026")  # no period of its own
    on_the_12th = moved.museum.labels()
    await moved.museum.send("/cancel")
    await moved.museum.press(Dialogue.DROP_YES)
    clock.now = AFTER_THE_MOVED
    await reach_the_period_step(moved.museum, "15 сентября 2026")

    assert on_the_12th[:2] == [Q4_TEXT + Dialogue.DEFAULT_MARK, Q1_TEXT]
    assert moved.museum.labels()[:2] == [Q4_TEXT, Q1_TEXT + Dialogue.DEFAULT_MARK]


async def test_dates_typed_without_a_year_take_the_year_being_collected(
    moved: Moved, clock: Clock
) -> None:
    clock.now = JANUARY_12
    await moved.museum.send("/new")
    await moved.museum.press(SPHERE)
    await moved.museum.send("Выставка")
    await moved.museum.send("г. Смоленск")

    [confirm] = await moved.museum.send("26-27 октября")

    assert "2026" in confirm.text and "2027" not in confirm.text


async def test_the_reminders_buttons_carry_the_moved_quarter(moved: Moved, clock: Clock) -> None:
    clock.now = msk("2027-01-18 10:00")

    await run_reminder(moved.bot.deps, moved.q4, "before_1")

    assert (
        moved.museum.button_data(Reminders.NOTHING)
        == NothingCb(action="say", period=moved.q4).pack()
    )
    assert Q4_TEXT in moved.museum.last_text()


# --- every coordinator's default, before and after the moved deadline -------------------


WHEN = pytest.mark.parametrize(
    ("now", "name"), [(JANUARY_12, Q4_TEXT), (AFTER_THE_MOVED, Q1_TEXT)], ids=["12jan", "20jan"]
)


@WHEN
async def test_status_defaults_to_the_quarter_being_collected(
    moved: Moved, clock: Clock, now: datetime, name: str
) -> None:
    clock.now = now

    [reply] = await moved.desk.send("/status")

    assert reply.text.split("\n")[0] == Periods.STATUS_HEAD.split("\n")[0].format(period=name)


@WHEN
async def test_nothing_defaults_to_the_quarter_being_collected(
    moved: Moved, clock: Clock, now: datetime, name: str
) -> None:
    clock.now = now

    [reply] = await moved.museum.send("/nothing")

    assert reply.text == Nothing.OFFER.format(organisation="Смоленский музей", period=name)


@WHEN
async def test_note_defaults_to_the_quarter_being_collected(
    moved: Moved, app_storage: Storage, clock: Clock, now: datetime, name: str
) -> None:
    clock.now = now

    [reply] = await moved.desk.send("/note В квартале состоялись три встречи.")

    assert reply.text == Periods.NOTE_ADDED.format(period=name)
    quarter = Q4 if name == Q4_TEXT else Q1
    async with app_storage.sessionmaker() as session:
        period = await PeriodRepository(session).get(quarter)
        assert period is not None
        assert [n.text for n in await PeriodRepository(session).notes(period.id)] == [
            "В квартале состоялись три встречи."
        ]


@WHEN
async def test_notes_defaults_to_the_quarter_being_collected(
    moved: Moved, clock: Clock, now: datetime, name: str
) -> None:
    clock.now = now

    [reply] = await moved.desk.send("/notes")

    assert reply.text == Periods.NOTES_EMPTY.format(period=name)


@WHEN
async def test_remind_defaults_to_the_quarter_being_collected(
    moved: Moved, clock: Clock, now: datetime, name: str
) -> None:
    clock.now = now

    [reply] = await moved.desk.send("/remind")

    assert reply.text == Periods.REMIND_DONE.format(period=name, organisations=2, people=2)
    assert name in moved.museum.last_text()


@WHEN
async def test_close_defaults_to_the_quarter_being_collected(
    moved: Moved, app_storage: Storage, clock: Clock, now: datetime, name: str
) -> None:
    clock.now = now

    [reply] = await moved.desk.send("/close")

    assert reply.text.startswith(Periods.CLOSED.format(period=name))
    async with app_storage.sessionmaker() as session:
        statuses = {
            (p.year, p.quarter): p.status for p in await PeriodRepository(session).recent(2)
        }
    closed = (2026, 4) if name == Q4_TEXT else (2027, 1)
    assert {key for key, status in statuses.items() if status == "closed"} == {closed}


@WHEN
async def test_report_marks_the_quarter_being_collected(
    moved: Moved, clock: Clock, now: datetime, name: str
) -> None:
    clock.now = now

    await moved.desk.send("/report")

    marked = [label for label in moved.desk.labels() if label.endswith(Dialogue.DEFAULT_MARK)]
    assert marked == [name + Dialogue.DEFAULT_MARK]


@WHEN
async def test_deadline_defaults_to_the_quarter_being_collected(
    moved: Moved, clock: Clock, now: datetime, name: str
) -> None:
    clock.now = now

    [reply] = await moved.desk.send("/deadline 20.04.2027")

    assert reply.text.startswith(f"Срок сдачи отчёта за {name}: 20.04.2027 18:00")


# --- closed periods ----------------------------------------------------------------------


async def test_a_quarter_closed_before_its_deadline_is_no_longer_collected(
    moved: Moved, clock: Clock
) -> None:
    clock.now = JANUARY_12

    [closed] = await moved.desk.send("/close")
    [offer] = await moved.museum.send("/nothing")
    [status] = await moved.desk.send("/status")
    [reopened] = await moved.desk.send("/reopen")
    [again] = await moved.museum.send("/nothing")

    assert closed.text.startswith(Periods.CLOSED.format(period=Q4_TEXT))
    assert offer.text == Nothing.OFFER.format(organisation="Смоленский музей", period=Q1_TEXT)
    assert status.text.startswith(f"<b>Сбор отчёта за {Q1_TEXT}</b>")
    assert reopened.text.startswith(Periods.REOPENED.format(period=Q4_TEXT))
    assert again.text == Nothing.OFFER.format(organisation="Смоленский музей", period=Q4_TEXT)


# --- absurd deadlines --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    ["/deadline 31.12.9999", "/deadline 2026-Q4 01.01.2028", "/deadline 31.12.9999 23:59"],
)
async def test_a_deadline_more_than_a_year_after_the_quarter_is_refused(
    moved: Moved, app_storage: Storage, clock: Clock, command: str
) -> None:
    clock.now = JANUARY_12

    [reply] = await moved.desk.send(command)

    assert reply.text == Periods.DEADLINE_TOO_LATE.format(period=Q4_TEXT, latest="31.12.2027")
    assert "9999" not in reply.text and "2028" not in reply.text
    async with app_storage.sessionmaker() as session:
        period = await PeriodRepository(session).by_id(moved.q4)
    assert period is not None and period.deadline == msk("2027-01-19 18:00")


async def test_a_deadline_a_year_after_the_quarter_is_accepted(moved: Moved, clock: Clock) -> None:
    clock.now = JANUARY_12

    [reply] = await moved.desk.send("/deadline 2026-Q4 31.12.2027 23:59")

    # 31 December 2027 is a day off (transferred from 3 January): the deadline moves past
    # the New Year holidays, even beyond the latest day one may type.
    assert reply.text.startswith(
        Periods.DEADLINE_DAY_OFF.format(day="31 декабря 2027 г.", moved="10 января 2028 г.")
        + Periods.DEADLINE_SET.format(
            period=Q4_TEXT, deadline="10.01.2028 23:59", previous="19.01.2027 18:00"
        )
    )


# --- a stored deadline on a day off ------------------------------------------------------


async def test_a_stored_deadline_on_a_day_off_moves_at_start_and_all_follow_the_working_day(
    bot: Wired, app_storage: Storage, clock: Clock
) -> None:
    async with app_storage.sessionmaker() as session, session.begin():
        # written by a bot older than the rule: 5 January 2027 is a New Year holiday
        await PeriodRepository(session).ensure(Q4, msk("2027-01-05 18:00"))
    museum = await join(bot.world, 3001)
    desk = bot.world.person(COORDINATOR_ID, "Координатор")
    clock.now = msk("2027-01-07 12:00")  # the stored deadline is past, its working day ahead

    await bot.scheduler.start(catch_up_in_background=False)  # as bot/app.py starts it
    caught_up = museum.last_text()  # the latest reminder missed (before_7), sent at start
    [status] = await desk.send("/status")
    [offer] = await museum.send("/nothing")
    q4 = await period_id(app_storage, Q4)
    planned = bot.scheduler.planned()
    clock.now = msk("2027-01-08 10:00")
    await run_reminder(bot.deps, q4, "before_3")

    assert "до 11.01.2027 18:00" in caught_up and Q4_TEXT in caught_up
    assert status.text.startswith(
        Periods.STATUS_HEAD.format(
            period=Q4_TEXT, deadline="11.01.2027 18:00", state=Periods.STATE_OPEN
        )
    )
    assert offer.text == Nothing.OFFER.format(organisation="Смоленский музей", period=Q4_TEXT)
    assert planned[job_id(q4, "before_3")] == msk("2027-01-08 10:00")
    assert planned[job_id(q4, "deadline")] == msk("2027-01-11 10:00")
    assert planned[job_id(q4, "digest")] == msk("2027-01-12 10:00")
    assert "осталось 3 дня — до 11.01.2027 18:00" in museum.last_text()


async def test_a_working_day_deadline_of_the_coordinator_is_kept_at_start(
    moved: Moved, app_storage: Storage, clock: Clock
) -> None:
    clock.now = JANUARY_12

    await moved.bot.scheduler.start(catch_up_in_background=False)  # a restart
    [status] = await moved.desk.send("/status")

    async with app_storage.sessionmaker() as session:
        period = await PeriodRepository(session).by_id(moved.q4)
    assert period is not None and period.deadline == msk("2027-01-19 18:00")
    assert status.text.startswith(
        Periods.STATUS_HEAD.format(
            period=Q4_TEXT, deadline="19.01.2027 18:00", state=Periods.STATE_OPEN
        )
    )
    assert moved.bot.scheduler.planned()[job_id(moved.q4, "deadline")] == msk("2027-01-19 10:00")


# --- a stored deadline no schedule can be built for -------------------------------------


async def test_a_period_with_an_impossible_deadline_is_skipped_and_the_rest_scheduled(
    bot: Wired, app_storage: Storage, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    clock.now = DECEMBER
    async with app_storage.sessionmaker() as session, session.begin():
        await session.execute(
            insert(ReportingPeriod).values(
                year=2026,
                quarter=3,
                deadline=datetime(9999, 12, 31, 20, 59, tzinfo=UTC),
                status="open",
                created_at=datetime(2026, 7, 1, tzinfo=UTC),
            )
        )
    caplog.set_level(logging.ERROR, logger="bot.scheduler")

    await bot.scheduler.start(catch_up_in_background=False)  # as bot/app.py starts it

    q3, q4 = await period_id(app_storage, Quarter(2026, 3)), await period_id(app_storage, Q4)
    planned = bot.scheduler.planned()
    assert job_id(q4, "before_7") in planned and job_id(q4, "digest") in planned
    assert not any(job.startswith(job_id(q3, "")) for job in planned)
    logged = [r for r in caplog.records if r.name == "bot.scheduler"]
    assert any(f"period {q3} (2026-Q3" in r.getMessage() for r in logged)


# --- the importer ------------------------------------------------------------------------


def document(label: str) -> dict[str, Any]:
    """An import file of one event in the quarter `label`."""
    quarter = Quarter.parse(label)
    return {
        "period": label,
        "events": [
            {
                "sphere": SPHERE,
                "name": f"Выставка {label}",
                "place": "г. Смоленск",
                "start": quarter.first_day.isoformat(),
                "result": "Открыта выставка.",
                "participants": "Сотрудники музея",
            }
        ],
    }


async def load(sessions: async_sessionmaker[AsyncSession], label: str, now: datetime) -> None:
    async with sessions() as session, session.begin():
        await import_events(
            session,
            document(label),
            default_organisation="Архив",
            deadline_of=lambda quarter: quarter.deadline(MSK),
            now=now,
            tz=MSK,
        )


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.scalars(select(ReportingPeriod))
        return {f"{row.year}-Q{row.quarter}": row.status for row in rows}


async def test_the_importer_creates_quarters_older_than_the_one_collected_closed(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session, session.begin():
        periods = PeriodRepository(session)
        await periods.ensure(Q4, msk("2027-01-19 18:00"))  # the moved deadline
        await periods.ensure(Quarter(2025, 2), msk("2025-07-05 18:00"))  # left open by hand

    for label in ("2023-Q4", "2026-Q3", "2026-Q4", "2027-Q1", "2025-Q2"):
        await load(sessionmaker, label, JANUARY_12)

    assert await statuses(sessionmaker) == {
        "2023-Q4": "closed",
        "2026-Q3": "closed",
        "2026-Q4": "open",  # still being collected
        "2027-Q1": "open",  # the current quarter
        "2025-Q2": "open",  # existed already: its status is the coordinator's
    }
    async with sessionmaker() as session:
        old = await PeriodRepository(session).get(Quarter(2023, 4))
    assert old is not None and old.closed_at is not None


async def test_once_the_collected_quarter_is_past_the_importer_creates_it_closed(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, "2026-Q4", AFTER_THE_MOVED)  # no period: the default deadline
    await load(sessionmaker, "2026-Q4", AFTER_THE_MOVED)  # run again: nothing changes

    assert await statuses(sessionmaker) == {"2026-Q4": "closed"}


async def test_imported_events_of_an_archived_quarter_are_accepted_those_still_collected_wait(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    for label in ("2023-Q4", "2027-Q1"):
        await load(sessionmaker, label, JANUARY_12)

    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(
                    ReportingPeriod.year,
                    Event.review,
                    Event.reviewed_at,
                    Event.review_since,
                    Event.submitted_at,
                ).join(ReportingPeriod)
            )
        ).all()
    by_year = {row.year: row for row in rows}
    archived, collected = by_year[2023], by_year[2027]
    assert archived.review == "accepted" and archived.reviewed_at is not None
    assert collected.review == "pending" and collected.reviewed_at is None
    # Waiting since they were filed: /review lists them in that order on every backend.
    assert collected.review_since == collected.submitted_at


async def test_the_real_process_starts_and_answers_with_such_a_period_in_the_database(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await upgrade_database(engine)
    async with engine.begin() as connection:
        await connection.execute(
            insert(ReportingPeriod).values(
                year=2026,
                quarter=3,
                deadline=datetime(9999, 12, 31, 20, 59, tzinfo=UTC),
                status="open",
                created_at=datetime(2026, 7, 1, tzinfo=UTC),
            )
        )
    await engine.dispose()

    async with BotApiStub() as stub, BotProcess(tmp_path, stub.url) as process:
        await process.while_running(stub.wait_for_polling())
        reply = await E2EPerson(stub, process, 3100, "Пётр").send("/start")
        await process.wait_for_log("no reminders can be planned; skipped")
        alive = process.running

    assert reply.text == html_to_text(Common.stranger(3100))
    assert alive
    assert "OverflowError" in process.stderr()  # logged with its traceback, not fatal
