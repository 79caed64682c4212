"""The database failing under the bot: SQLite locked by another writer, PostgreSQL dropping
the bot's connections, and 500 people submitting at once on both backends."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from pydantic import SecretStr
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from bot.app import build_bot, build_dispatcher
from bot.database import Storage, open_storage
from bot.settings import Settings
from handlers.draft import Draft
from handlers.texts import Common, Dialogue
from storage import db
from storage.fsm import SqlAlchemyStorage
from storage.models import Event
from storage.repositories import OrganisationRepository, PersonRepository, SphereRepository
from tests import factories
from tests.conftest import COORDINATOR_ID, POSTGRES_URL, Clock, need_postgres
from tests.test_dialogue import join
from tests.tg import SPHERE, RecordingSession, World, fsm_of, reach, stored_events

SHORT_BUSY_TIMEOUT_MS = 300
PEOPLE = 500


def make_settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=SecretStr("123456:TEST-token-for-recording-session-000"),
        database_url=database_url,
        coordinator_ids=[COORDINATOR_ID],
    )


async def open_world(settings: Settings, clock: Clock) -> tuple[World, Storage]:
    storage = await open_storage(settings)
    session = RecordingSession()
    bot = build_bot(settings, session=session)
    return World(build_dispatcher(settings, storage, clock=clock), bot, session), storage


@contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another writer holding SQLite's write lock until the block ends (or it commits)."""
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO counters (name, value) VALUES ('other-writer', 1)")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.rollback()
        other.close()


def on_write_begin(storage: Storage) -> asyncio.Event:
    """Set when the bot next asks SQLite for the write lock (BEGIN IMMEDIATE)."""
    asked = asyncio.Event()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            asked.set()

    event.listen(storage.engine.sync_engine, "before_cursor_execute", before)
    return asked


async def snapshot(storage: Storage, user_id: int) -> tuple[str | None, dict[str, Any]]:
    row = await fsm_of(storage.sessionmaker, user_id)
    return (row.state, row.data) if row else (None, {})


# --- SQLite locked by another writer --------------------------------------------------------


async def test_an_update_waits_for_a_lock_released_within_the_busy_timeout(
    world: World, app_storage: Storage, settings: Settings
) -> None:
    person = await join(world, 1501)
    await reach(person, "name")
    path = Path(settings.database_url.split("///", 1)[1])
    asked = on_write_begin(app_storage)

    with write_lock(path) as other:
        asked.clear()
        answer = asyncio.create_task(person.send("Выставка"))
        await asyncio.wait_for(asked.wait(), 10)
        other.commit()  # released while the bot waits for it
        replies = await asyncio.wait_for(answer, 10)

    assert [reply.text for reply in replies] == [
        Dialogue.STEP.format(number=3) + Dialogue.ASK["place"]
    ]
    state, data = await snapshot(app_storage, 1501)
    assert state == "ReportStates:place"
    assert data["draft"]["name"] == "Выставка"


@pytest.fixture
async def short_timeout_world(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clock: Clock
) -> AsyncIterator[tuple[World, Storage, Path]]:
    """A world whose SQLite gives up waiting for the write lock after 0.3 s."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", SHORT_BUSY_TIMEOUT_MS)
    path = tmp_path / "short.db"
    world, storage = await open_world(make_settings(f"sqlite+aiosqlite:///{path}"), clock)
    yield world, storage, path
    await world.bot.session.close()
    await storage.close()


@pytest.mark.parametrize("state", ["name", "dates_confirm", "summary"])
async def test_a_lock_held_past_the_busy_timeout_tells_the_person_and_writes_nothing(
    short_timeout_world: tuple[World, Storage, Path], state: str
) -> None:
    world, storage, path = short_timeout_world
    person = await join(world, 1502)
    await reach(person, state)
    act = {
        "name": lambda: person.send("Выставка"),
        "dates_confirm": lambda: person.press("✔ Верно"),
        "summary": lambda: person.press(Dialogue.SUBMIT),
    }[state]
    before = await snapshot(storage, 1502)

    with write_lock(path):
        replies = await act()
    after = await snapshot(storage, 1502)
    retried = await act()

    assert [reply.text for reply in replies] == [Common.ERROR]
    assert after == before
    assert await stored_events(storage.sessionmaker) == [] or state == "summary"
    assert retried and retried[-1].text != Common.ERROR
    events = await stored_events(storage.sessionmaker)
    assert len(events) == (1 if state == "summary" else 0)


# --- PostgreSQL dropping the bot's connections -------------------------------------------


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own (other suites reset the shared one)."""
    need_postgres()
    name = f"faults_{os.getpid()}"
    admin = db.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            await connection.execute(text(f"CREATE DATABASE {name}"))
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


@pytest.fixture
async def pg_world(pg_url: str, clock: Clock) -> AsyncIterator[tuple[World, Storage]]:
    world, storage = await open_world(make_settings(pg_url), clock)
    yield world, storage
    await world.bot.session.close()
    await storage.close()


async def terminate_backends(storage: Storage) -> int:
    """pg_terminate_backend on every other connection to the database, as a restart does."""
    engine = db.create_engine(storage.engine.url.render_as_string(hide_password=False))
    try:
        async with engine.connect() as connection:
            killed = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await engine.dispose()
    return int(killed or 0)


async def test_postgresql_terminating_the_bots_connections_between_updates_loses_nothing(
    pg_world: tuple[World, Storage],
) -> None:
    world, storage = pg_world
    person = await join(world, 1503)
    await reach(person, "name")

    assert await terminate_backends(storage) >= 1
    [place_question] = await person.send("Выставка")
    await terminate_backends(storage)
    [dates_question] = await person.send("г. Минск")

    assert place_question.text.endswith(Dialogue.ASK["place"])
    assert dates_question.text.endswith(Dialogue.ASK["dates"])
    state, data = await snapshot(storage, 1503)
    assert state == "ReportStates:dates"
    assert (data["draft"]["name"], data["draft"]["place"]) == ("Выставка", "г. Минск")


# --- 500 people at once ---------------------------------------------------------------------


async def seed_people_at_participants(world: World, storage: Storage) -> list[int]:
    """500 reporters of 10 organisations, each with a draft that lacks only participants."""
    fsm = SqlAlchemyStorage(storage.sessionmaker)
    async with storage.sessionmaker() as session, session.begin():
        period = await factories.period(session)
        sphere = await SphereRepository(session).by_name(SPHERE)
        assert sphere is not None
        organisations = [
            await OrganisationRepository(session).add(f"Учреждение {n}") for n in range(10)
        ]
        people = PersonRepository(session)
        for n in range(PEOPLE):
            await people.add(20_000 + n, f"Сотрудник {n}", organisation_id=organisations[n % 10].id)
    async with storage.sessionmaker() as session, session.begin():
        token = db.current_session.set(session)  # every draft in one transaction
        try:
            await seed_drafts(world, fsm, sphere.id, period.id)
        finally:
            db.current_session.reset(token)
    return [20_000 + n for n in range(PEOPLE)]


async def seed_drafts(world: World, fsm: SqlAlchemyStorage, sphere_id: int, period_id: int) -> None:
    for n in range(PEOPLE):
        draft = Draft.new()
        draft.sphere_id, draft.period_id, draft.editing = sphere_id, period_id, True
        draft.name, draft.place, draft.result = f"Событие {n}", f"Место {n}", f"Итог {n}"
        draft.dates = {"start": "2023-10-26", "end": "2023-10-26", "precision": "day"}
        key = StorageKey(bot_id=world.bot.id, chat_id=20_000 + n, user_id=20_000 + n)
        await fsm.set_state(key, "ReportStates:participants")
        await fsm.set_data(key, {"draft": draft.dump()})


async def five_hundred_report_at_once(world: World, storage: Storage) -> None:
    ids = await seed_people_at_participants(world, storage)

    async def report(user_id: int) -> list[str]:
        person = world.person(user_id)
        n = user_id - 20_000
        replies = await person.send(f"Участники {n}, {n + 1} человек")
        assert replies[-1].reply_markup is not None, [r.text for r in replies]
        replies += await person.press(Dialogue.SUBMIT)
        return [reply.text for reply in replies]

    results = await asyncio.gather(*(report(user_id) for user_id in ids))

    for texts in results:
        assert texts[-1] == Dialogue.SUBMITTED.format(period="IV квартал 2023 года"), texts
    events = await stored_events(storage.sessionmaker)
    assert len(events) == PEOPLE
    async with storage.sessionmaker() as session:
        authors = dict((await session.execute(select(Event.id, Event.author_id))).all())
        people = dict((await session.execute(text("SELECT id, telegram_id FROM people"))).all())
        assert await session.scalar(select(func.count(func.distinct(Event.dedup_key)))) == PEOPLE
    seen = set()
    for stored in events:
        n = people[authors[stored.id]] - 20_000
        seen.add(n)
        assert (stored.name, stored.place, stored.result) == (
            f"Событие {n}",
            f"Место {n}",
            f"Итог {n}",
        )
        assert (stored.participants, stored.participant_count) == (
            f"Участники {n}, {n + 1} человек",
            n + 1,
        )
        assert stored.organisation.name == f"Учреждение {n % 10}"
    assert seen == set(range(PEOPLE))


async def test_five_hundred_people_reporting_at_once_on_sqlite(
    world: World, app_storage: Storage
) -> None:
    await five_hundred_report_at_once(world, app_storage)


async def test_five_hundred_people_reporting_at_once_on_postgresql(
    pg_world: tuple[World, Storage],
) -> None:
    await five_hundred_report_at_once(*pg_world)
