"""A burst on a pool of one connection: every update waits its turn, none fails.

Dozens of people file an event at the same time through the real Dispatcher while the
database pool (PostgreSQL) or the Redis pool holds a single connection. Each update must
get its turn: every person's event is stored, nobody is told «Произошла ошибка», and the
waits are counted in the metrics (bot_pool_slow_waits with POOL_SLOW_WAIT=0).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from aiogram import BaseMiddleware
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import TelegramObject
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_bot, build_dispatcher
from bot.database import Storage, open_storage
from bot.metrics import REGISTRY
from bot.settings import Settings
from handlers.texts import Common, Dialogue
from storage.db import create_engine
from storage.repositories import OrganisationRepository, PersonRepository
from tests.conftest import (
    COORDINATOR_ID,
    POSTGRES_URL,
    Clock,
    _reset_postgres,
    emptied_redis,
    need_postgres,
    redis_db,
)
from tests.tg import SPHERE, Person, RecordingSession, World, stored_events

REDIS_DB = redis_db(13)
PEOPLE = 40
FIRST_DAY = date(2023, 10, 2)  # each person's event on a day of its own: no lookalikes


def _slow_waits(pool: str) -> float:
    return REGISTRY.get_sample_value("bot_pool_slow_waits_total", {"pool": pool}) or 0.0


def _waits(pool: str) -> float:
    return REGISTRY.get_sample_value("bot_pool_wait_seconds_count", {"pool": pool}) or 0.0


async def _people(storage: Storage, world: World) -> list[Person]:
    """PEOPLE reporters of one organisation, as a join would leave them."""
    async with storage.sessionmaker() as session, session.begin():
        org = await OrganisationRepository(session).add("Смоленский областной музей")
        for number in range(PEOPLE):
            await PersonRepository(session).add(
                500_000 + number, f"Сотрудник Номер{number}", organisation_id=org.id
            )
    return [world.person(500_000 + number, f"Имя{number}") for number in range(PEOPLE)]


async def _file_event(person: Person, number: int) -> str:
    """The whole dialogue of one person, one update after the other; the last reply."""
    day = FIRST_DAY + timedelta(days=number)
    await person.send("/new")
    await person.press(SPHERE)
    await person.send(f"Выставка «Смоленск – Минск» {number}")
    await person.send(f"г. Минск, площадка {number}")
    await person.send(day.strftime("%d.%m.%Y"))
    await person.press("✔ Верно")
    await person.send("Открыта выставка.")
    await person.send("Сотрудники музея")
    await person.send("18")
    await person.press("IV квартал 2023 года")
    await person.press("✅ Отправить")
    return person.last_text()


def _error_replies(session: RecordingSession) -> list[str]:
    texts = [
        request.text
        for request in session.requests
        if isinstance(request, SendMessage | EditMessageText)
    ]
    return [
        text
        for text in texts
        if text == Common.ERROR or text.startswith(Dialogue.AFTER_ERROR.split(",")[0])
    ]


class _AtOnce(BaseMiddleware):
    """The updates being handled at this point (inside their turn), and the most at once."""

    def __init__(self) -> None:
        self.now = self.most = 0

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            return await handler(event, data)
        finally:
            self.now -= 1


async def _burst(
    settings: Settings, clock: Clock, *, inside: BaseMiddleware | None = None
) -> list[str]:
    """Every person files an event at once; the last replies. Asserts no error reply and
    one event per person. `inside`: an update middleware after all of the bot's."""
    storage = await open_storage(settings)
    session = RecordingSession()
    bot = build_bot(settings, session=session)
    dispatcher = build_dispatcher(settings, storage, clock=clock)
    if inside is not None:
        dispatcher.update.outer_middleware(inside)
    world = World(dispatcher, bot, session)
    if storage.engine.dialect.name == "postgresql":  # the pool is the one the settings ask
        pool = storage.engine.pool
        assert (pool.size(), pool._max_overflow) == (
            settings.db_pool_size,
            settings.db_max_overflow,
        )  # type: ignore[attr-defined]
    if settings.redis_url is not None:
        redis_pool = dispatcher.fsm.storage.redis.connection_pool  # type: ignore[attr-defined]
        assert redis_pool.max_connections == settings.redis_max_connections
    try:
        people = await _people(storage, world)
        last = await asyncio.gather(*(_file_event(p, n) for n, p in enumerate(people)))
        events = await stored_events(storage.sessionmaker)
    finally:
        await dispatcher.fsm.close()
        await bot.session.close()
        await storage.close()
    assert _error_replies(session) == []
    assert sorted(event.name for event in events) == sorted(
        f"Выставка «Смоленск – Минск» {number}" for number in range(PEOPLE)
    )
    assert len({event.author_id for event in events}) == PEOPLE
    assert all(event.status == "submitted" for event in events)
    return last


@pytest.fixture
async def postgres(settings: Settings) -> AsyncIterator[Settings]:
    need_postgres()
    engine: AsyncEngine = create_engine(POSTGRES_URL)
    await _reset_postgres(engine)
    await engine.dispose()
    yield settings.model_copy(update={"database_url": POSTGRES_URL})


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    yield await emptied_redis(REDIS_DB)


async def test_a_burst_on_one_postgresql_connection_loses_no_update(
    postgres: Settings, clock: Clock
) -> None:
    settings = postgres.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "pool_slow_wait": 0.0}
    )
    waits, slow = _waits("database"), _slow_waits("database")

    last = await _burst(settings, clock)

    assert all(text.startswith("Мероприятие сохранено") for text in last), set(last)
    assert _waits("database") - waits >= PEOPLE * 11  # each update got its connection
    assert _slow_waits("database") > slow


async def test_a_burst_on_one_redis_connection_loses_no_update(
    settings: Settings, redis_url: str, clock: Clock
) -> None:
    settings = settings.model_copy(
        update={"redis_url": redis_url, "redis_max_connections": 1, "pool_slow_wait": 0.0}
    )
    waits, slow = _waits("redis"), _slow_waits("redis")

    last = await _burst(settings, clock)

    assert all(text.startswith("Мероприятие сохранено") for text in last), set(last)
    assert _waits("redis") - waits >= PEOPLE * 11 * 2  # the lock and the step, at least
    assert _slow_waits("redis") > slow


async def test_a_burst_on_one_connection_of_each_loses_no_update(
    postgres: Settings, redis_url: str, clock: Clock
) -> None:
    settings = postgres.model_copy(
        update={
            "redis_url": redis_url,
            "db_pool_size": 1,
            "db_max_overflow": 0,
            "redis_max_connections": 1,
        }
    )

    last = await _burst(settings, clock)

    assert all(text.startswith("Мероприятие сохранено") for text in last), set(last)


async def test_at_most_updates_in_hand_are_handled_at_once_the_others_wait_their_turn(
    settings: Settings, clock: Clock
) -> None:
    settings = settings.model_copy(update={"updates_in_hand": 3})
    at_once, waits = _AtOnce(), _waits("updates")

    last = await _burst(settings, clock, inside=at_once)

    assert all(text.startswith("Мероприятие сохранено") for text in last), set(last)
    assert at_once.most == 3  # PEOPLE people at once, three updates in hand
    assert _waits("updates") - waits >= PEOPLE * 11  # each update's turn is measured


def _timeouts(pool: str) -> float:
    return REGISTRY.get_sample_value("bot_pool_timeouts_total", {"pool": pool}) or 0.0


async def test_past_db_pool_timeout_the_update_fails_politely_and_is_counted(
    postgres: Settings, clock: Clock
) -> None:
    settings = postgres.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout": 0.05}
    )
    storage = await open_storage(settings)
    session = RecordingSession()
    bot = build_bot(settings, session=session)
    world = World(build_dispatcher(settings, storage, clock=clock), bot, session)
    before = _timeouts("database")
    try:
        async with storage.engine.connect() as held:  # the pool's one connection, taken
            await held.execute(text("SELECT 1"))
            replies = await world.person(777, "Пётр").send("/start")
    finally:
        await bot.session.close()
        await storage.close()

    assert [reply.text for reply in replies] == [Common.ERROR]
    assert _timeouts("database") > before


async def test_past_redis_pool_timeout_the_update_fails_politely_and_is_counted(
    settings: Settings, redis_url: str, clock: Clock
) -> None:
    settings = settings.model_copy(
        update={"redis_url": redis_url, "redis_max_connections": 1, "redis_pool_timeout": 0.05}
    )
    storage = await open_storage(settings)
    session = RecordingSession()
    bot = build_bot(settings, session=session)
    dispatcher = build_dispatcher(settings, storage, clock=clock)
    world = World(dispatcher, bot, session)
    pool = dispatcher.fsm.storage.redis.connection_pool  # type: ignore[attr-defined]
    before = _timeouts("redis")
    try:
        held = await pool.get_connection()  # the pool's one connection, taken
        try:
            replies = await world.person(COORDINATOR_ID, "Ольга").send("/new")
        finally:
            await pool.release(held)
    finally:
        await dispatcher.fsm.close()
        await bot.session.close()
        await storage.close()

    assert [reply.text for reply in replies] == [Common.ERROR]
    assert _timeouts("redis") > before


async def test_on_sqlite_db_pool_timeout_bounds_the_wait_for_the_writer_connection(
    settings: Settings, clock: Clock
) -> None:
    # A SQLite file has one writer connection per process (storage.db.create_engine):
    # DB_POOL_TIMEOUT is how long a transaction waits for it (DB_POOL_SIZE and
    # DB_MAX_OVERFLOW are PostgreSQL's and do not apply).
    settings = settings.model_copy(
        update={"db_pool_size": 5, "db_max_overflow": 5, "db_pool_timeout": 0.05}
    )
    assert settings.sqlite_path() is not None
    storage = await open_storage(settings)
    session = RecordingSession()
    bot = build_bot(settings, session=session)
    world = World(build_dispatcher(settings, storage, clock=clock), bot, session)
    before = _timeouts("database")
    try:
        async with storage.engine.connect() as held:  # the process's writer connection
            await held.execute(text("SELECT 1"))
            replies = await world.person(777, "Пётр").send("/start")
        after = await world.person(777, "Пётр").send("/start")  # free again: handled
    finally:
        await bot.session.close()
        await storage.close()

    assert [reply.text for reply in replies] == [Common.ERROR]
    assert _timeouts("database") == before + 1
    assert after and after[-1].text != Common.ERROR
