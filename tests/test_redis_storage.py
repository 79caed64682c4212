"""REDIS_URL: aiogram's RedisStorage keeps the dialogue; a new Dispatcher continues it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

from bot.app import build_bot, build_dispatcher
from bot.database import Storage, open_storage
from bot.settings import Settings
from bot.workers import RenewedRedisIsolation
from tests.conftest import COORDINATOR_ID, REDIS_URL, Clock, need_redis, redis_db
from tests.tg import (
    RecordingSession,
    World,
    asked_their_names,
    fsm_rows,
    reach,
    stored_events,
    walk_on,
)

REDIS_DB = redis_db(15)  # a database of its own, emptied by each test


@pytest.fixture
async def redis_settings(settings: Settings, tmp_path: Path) -> AsyncIterator[Settings]:
    need_redis()
    url = f"{REDIS_URL}/{REDIS_DB}"
    redis = Redis.from_url(url)
    await redis.flushdb()
    await redis.aclose()
    yield settings.model_copy(update={"redis_url": url})


def _world(settings: Settings, storage: Storage, clock: Clock) -> World:
    session = RecordingSession()
    bot = build_bot(settings, session=session)
    return World(build_dispatcher(settings, storage, clock=clock), bot, session)


async def test_the_dispatcher_keeps_the_dialogue_in_redis_across_a_restart(
    redis_settings: Settings, clock: Clock
) -> None:
    storage = await open_storage(redis_settings)
    await asked_their_names(storage.sessionmaker, redis_settings.coordinator_ids)
    try:
        first = _world(redis_settings, storage, clock)
        assert isinstance(first.dispatcher.fsm.storage, RedisStorage)
        assert isinstance(first.dispatcher.fsm.events_isolation, RenewedRedisIsolation)
        await reach(first.person(COORDINATOR_ID, "Ольга"), "dates")
        assert await fsm_rows(storage.sessionmaker) == []  # the step is in Redis
        await first.dispatcher.fsm.close()
        await first.bot.session.close()

        second = _world(redis_settings, storage, clock)
        second.update_ids = iter(range(1000, 2000))  # new update ids after the "restart"
        person = second.person(COORDINATOR_ID, "Ольга")
        await walk_on(person, "dates")
        await person.press("✅ Отправить")
        await second.dispatcher.fsm.close()
        await second.bot.session.close()

        [event] = await stored_events(storage.sessionmaker)
    finally:
        await storage.close()
    assert event.name == "Выставка «Смоленск – Минск»"
    assert event.place == "г. Минск, Республика Беларусь"
    assert event.status == "submitted"
    assert str(event.start_date) == "2023-10-26"


async def test_keys_carry_the_bot_id_and_the_destiny(redis_settings: Settings) -> None:
    storage = await open_storage(redis_settings)
    try:
        dispatcher = build_dispatcher(redis_settings, storage)
        fsm = dispatcher.fsm.storage
        assert isinstance(fsm, RedisStorage)
        key_builder = fsm.key_builder
        await dispatcher.fsm.close()
    finally:
        await storage.close()
    assert key_builder.with_bot_id and key_builder.with_destiny  # type: ignore[attr-defined]
