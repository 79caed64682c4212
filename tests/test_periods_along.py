"""PostgreSQL (CI-gated): the periods `PeriodRepository.collecting` reads are read along
with the update's claim, in its statement (storage/repositories/periods.py
`collecting_along`), so the dialogue's steps that ask which quarter is being collected
cost no statement of their own:

- read along, `collecting` answers as a read of its own does, running nothing; on both
  claims (`claim_with_person`, `claim_seeing_owed`) and with no periods at all;
- a period created, closed or given a new deadline in the transaction, a transaction
  after the claim's, or a `now` in another quarter: read anew;
- a period read along is not read again by id (`snapshot`); one that was not (an older
  quarter's, an unknown id), or one changed since, is;
- through the real Dispatcher, one process and webhook workers alike: the dates question
  and the dates typed, the period pressed and «Отправить» run no periods SELECT, and the
  replies (and the event filed) are the same as with reads of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.database import Storage
from bot.metrics import REGISTRY
from bot.observing import count_submissions
from bot.settings import Settings
from reports.quarters import Quarter
from storage.db import create_sessionmaker
from storage.models import ReportingPeriod
from storage.repositories import PeriodRepository, ProcessedUpdateRepository
from storage.repositories import periods as periods_module
from tests.conftest import Clock, emptied_redis, redis_db
from tests.test_dialogue import join
from tests.test_outbox_workers import FlakyTelegram, Heartbeats, postgres_settings, worker
from tests.test_owed_claim import statements
from tests.tg import RecordingSession, Step, World, reach, stored_events, stored_person

REDIS_DB = redis_db(11)  # emptied by each test that uses it
TZ = ZoneInfo("Europe/Moscow")
NOW = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)  # Q1 2024: Q4 2023 is the previous quarter
SINCE = NOW - timedelta(hours=1)


def deadline(day: int) -> datetime:
    return datetime(2024, 1, day, 18, 0, tzinfo=TZ)


def default_deadline(quarter: Quarter) -> datetime:
    return deadline(20)


def periods_read(ran: list[str]) -> list[str]:
    """The statements reading the periods (the claim reads them inside its own)."""
    return [sql for sql in ran if "reporting_periods" in sql and not sql.startswith("WITH claim")]


def columns(period: ReportingPeriod | None) -> tuple[Any, ...] | None:
    if period is None:
        return None
    return tuple(getattr(period, c.key) for c in ReportingPeriod.__table__.columns)


async def seeded(engine: AsyncEngine, *periods: tuple[int, int, int, str]) -> None:
    """Periods (year, quarter, deadline day in January 2024, status)."""
    async with create_sessionmaker(engine)() as session, session.begin():
        for year, quarter, day, status in periods:
            session.add(
                ReportingPeriod(year=year, quarter=quarter, deadline=deadline(day), status=status)
            )


async def collecting(session: AsyncSession, now: datetime = NOW) -> Any:
    found = await PeriodRepository(session).collecting(now, TZ, default_deadline, copies=True)
    return found.quarter, columns(found.period), [columns(p) for p in found.open_periods]


async def claimed_along(session: AsyncSession, update_id: int, *, seeing: bool = False) -> None:
    updates = ProcessedUpdateRepository(session)
    if seeing:
        seen = await updates.claim_seeing_owed(
            1, update_id, 5001, 42, delivered_since=SINCE, now=NOW, periods_in=TZ
        )
        assert seen.claimed and not seen.owed
    else:
        claimed, _ = await updates.claim_with_person(1, update_id, 5001, now=NOW, periods_in=TZ)
        assert claimed


@pytest.mark.parametrize("seeing", [False, True], ids=["claim_with_person", "claim_seeing_owed"])
@pytest.mark.parametrize(
    "periods",
    [
        [(2023, 3, 5, "open"), (2023, 4, 20, "open"), (2024, 1, 20, "open")],
        [(2023, 4, 20, "closed"), (2024, 1, 20, "open")],  # closed early: Q1 collected
        [(2023, 4, 5, "open")],  # its deadline passed: Q1, which has no period yet
        [],
    ],
    ids=["three-open", "previous-closed", "deadline-passed", "none"],
)
async def test_read_along_collecting_answers_as_its_own_read_running_nothing(
    pg_engine: AsyncEngine, periods: list[tuple[int, int, int, str]], seeing: bool
) -> None:
    await seeded(pg_engine, *periods)
    maker = create_sessionmaker(pg_engine)
    async with maker() as session, session.begin():
        expected = await collecting(session)
    async with maker() as session, session.begin():
        await claimed_along(session, 1, seeing=seeing)
        with statements(pg_engine) as ran:
            found = await collecting(session)
            again = await collecting(session)  # each time fresh copies of the same rows

    assert found == again == expected
    assert ran == []


async def test_a_redelivered_update_keeps_nothing(pg_engine: AsyncEngine) -> None:
    await seeded(pg_engine, (2023, 4, 20, "open"))
    async with create_sessionmaker(pg_engine)() as session, session.begin():
        await claimed_along(session, 1)
        claimed, _ = await ProcessedUpdateRepository(session).claim_with_person(
            1, 1, 5001, now=NOW, periods_in=TZ
        )
        assert not claimed
        with statements(pg_engine) as ran:
            await collecting(session)

    assert ran == []  # the first claim's rows, still this transaction's


async def test_a_period_changed_in_the_transaction_is_read_anew(pg_engine: AsyncEngine) -> None:
    await seeded(pg_engine, (2023, 4, 20, "open"))
    maker = create_sessionmaker(pg_engine)
    async with maker() as session, session.begin():
        await claimed_along(session, 1)
        repository = PeriodRepository(session)
        period = await repository.get(Quarter(2023, 4))
        assert period is not None
        await repository.set_status(period, "closed")
        with statements(pg_engine) as closed_ran:
            after_closing = await collecting(session)
        await claimed_along(session, 2)
        await repository.set_status(period, "open")
        await repository.set_deadline(period, deadline(5))  # passed at NOW: Q1 collected
        with statements(pg_engine) as moved_ran:
            after_moving = await collecting(session)
        await claimed_along(session, 3)
        created = await repository.ensure(Quarter(2024, 1), deadline(25))
        with statements(pg_engine) as created_ran:
            after_creating = await collecting(session)

    assert after_closing[0] == after_moving[0] == Quarter(2024, 1)
    assert after_closing[2] == [] and after_moving[2] == [columns(period)]
    assert after_creating[1] == columns(created)
    assert len(periods_read(closed_ran)) == len(periods_read(moved_ran)) == 1
    assert len(periods_read(created_ran)) == 1


async def test_another_transaction_or_quarter_reads_anew(pg_engine: AsyncEngine) -> None:
    await seeded(pg_engine, (2023, 4, 20, "open"))
    maker = create_sessionmaker(pg_engine)
    async with maker() as session:
        async with session.begin():
            await claimed_along(session, 1)
        await seeded(pg_engine, (2024, 1, 25, "open"))  # committed meanwhile
        async with session.begin():
            with statements(pg_engine) as next_ran:
                next_found = await collecting(session)
        async with session.begin():
            await claimed_along(session, 2)
            with statements(pg_engine) as later_ran:
                later = await collecting(session, NOW + timedelta(days=90))  # Q2: Q1 before

    assert [p[1] for p in next_found[2]] == [2023, 2024]  # not the first transaction's rows
    assert len(periods_read(next_ran)) == 1
    assert later[0] == Quarter(2024, 2) and len(periods_read(later_ran)) == 1


async def test_a_period_read_along_is_not_read_again_by_id(pg_engine: AsyncEngine) -> None:
    await seeded(pg_engine, (2023, 2, 5, "closed"), (2023, 4, 20, "open"), (2024, 1, 20, "open"))
    maker = create_sessionmaker(pg_engine)
    async with maker() as session, session.begin():
        ids = {p.quarter: p.id for p in await session.scalars(select(ReportingPeriod))}
        expected = {q: columns(await PeriodRepository(session).snapshot(i)) for q, i in ids.items()}
    async with maker() as session, session.begin():
        await claimed_along(session, 1)
        repository = PeriodRepository(session)
        with statements(pg_engine) as along_ran:
            along = [columns(await repository.snapshot(ids[q])) for q in (4, 1)]
        with statements(pg_engine) as apart_ran:
            older = columns(await repository.snapshot(ids[2]))  # not among the collected
            unknown = await repository.snapshot(max(ids.values()) + 1)
        period = await repository.by_id(ids[4])
        assert period is not None
        await repository.set_status(period, "closed")
        with statements(pg_engine) as changed_ran:
            changed = await repository.snapshot(ids[4])

    assert along == [expected[4], expected[1]] and along_ran == []
    assert older == expected[2] and unknown is None and len(periods_read(apart_ran)) == 2
    assert changed is not None and changed.status == "closed"
    assert len(periods_read(changed_ran)) == 1


# --- through the Dispatcher -----------------------------------------------------------


@pytest.fixture
async def settings() -> AsyncIterator[Settings]:
    """The bot on an emptied PostgreSQL database, its FSM in an emptied Redis."""
    url = await emptied_redis(REDIS_DB)
    base = await postgres_settings()
    yield base.model_copy(update={"redis_url": url})


@pytest.fixture(params=[False, True], ids=["one-process", "webhook-workers"])
async def world(
    request: pytest.FixtureRequest, settings: Settings, app_storage: Storage, clock: Clock
) -> AsyncIterator[World]:
    """The bot in one process, or as a webhook worker."""
    if request.param:
        world, _, _ = worker(settings, app_storage, clock, FlakyTelegram(), Heartbeats(), "B")
    else:
        from bot.app import build_bot, build_dispatcher

        session = RecordingSession()
        bot = build_bot(settings, session=session)
        world = World(build_dispatcher(settings, app_storage, clock=clock), bot, session)
    try:
        yield world
    finally:
        await world.dispatcher.storage.close()
        await world.bot.session.close()


def without_reading_along(monkeypatch: pytest.MonkeyPatch) -> None:
    """`collecting` and `snapshot` as they were: a read of their own, whatever the claim
    read (the submissions metric still takes its quarter from the claim's rows)."""
    monkeypatch.setattr(periods_module, "_along_rows", lambda _session, _previous: None)


async def answered(
    world: World, user_id: int, engine: AsyncEngine, state: str, *acts: Step
) -> tuple[list[str | None], list[str]]:
    """A new person brought to `state` of the walk, then `acts`: the texts of the
    replies to those and the statements they ran."""
    person = await join(world, user_id)
    await reach(person, state)
    with statements(engine) as ran:
        replies = [reply for act in acts for reply in await act(person)]
    return [reply.text for reply in replies], ran


def dates_answered(world: World, user_id: int, engine: AsyncEngine) -> Any:
    """The place answered (the dates question follows), the dates typed."""
    return answered(
        world,
        user_id,
        engine,
        "place",
        lambda person: person.send("г. Минск, Республика Беларусь"),
        lambda person: person.send("26-27 октября 2023"),
    )


async def test_the_dates_steps_run_no_periods_read_and_reply_the_same(
    world: World, app_storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    along, along_ran = await dates_answered(world, 2601, app_storage.engine)
    without_reading_along(monkeypatch)
    apart, apart_ran = await dates_answered(world, 2602, app_storage.engine)

    assert along == apart and len(along) == 2
    assert periods_read(along_ran) == []
    assert len(periods_read(apart_ran)) == 2  # the question's examples, the dates' quarter
    assert len(along_ran) == len(apart_ran) - 2


def filed_in_q4() -> float:
    return REGISTRY.get_sample_value("bot_events_submitted_total", {"period": "2023-Q4"}) or 0.0


def period_and_submit(world: World, user_id: int, engine: AsyncEngine) -> Any:
    """The period pressed (the summary follows), «Отправить»."""
    return answered(
        world,
        user_id,
        engine,
        "period",
        lambda person: person.press("IV квартал 2023 года"),
        lambda person: person.press("✅ Отправить"),
    )


async def test_the_period_and_submit_steps_run_no_periods_read_and_file_the_same(
    world: World, app_storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    count_submissions()  # the metric labels each event filed with its period's quarter
    submitted_before = filed_in_q4()
    along, along_ran = await period_and_submit(world, 2603, app_storage.engine)
    counted_along = filed_in_q4() - submitted_before
    without_reading_along(monkeypatch)
    apart, apart_ran = await period_and_submit(world, 2604, app_storage.engine)
    events = await stored_events(app_storage.sessionmaker)

    assert along == apart and len(along) == 2 and "IV квартал 2023 года" in str(along[1])
    assert periods_read(along_ran) == []
    assert len(periods_read(apart_ran)) == 3  # the pressed period, the summary's, the submit's
    assert len(along_ran) == len(apart_ran) - 3
    assert counted_along == 1 and filed_in_q4() - submitted_before == 2
    authors = [await stored_person(app_storage.sessionmaker, user) for user in (2603, 2604)]
    assert [(e.author_id, e.period.year, e.period.quarter, e.status) for e in events] == [
        (author.id, 2023, 4, "submitted") for author in authors if author is not None
    ]
    assert len({(e.name, e.place, e.start_date, e.end_date) for e in events}) == 1
