"""The memory of failed updates (bot/unsettled.py): in the process, and in Redis, where a
retry reaching another worker is recognised too. The dialogue-level cases (a retry after
the short error, saved or not) are in tests/test_error_reply.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from aiogram.types import CallbackQuery, Chat, Message, Update, User
from redis.asyncio import Redis

from bot.database import Storage, open_storage
from bot.settings import Settings
from bot.unsettled import (
    KEEP_PER_CHAT,
    KEEP_SECONDS,
    MEMORY_CHATS,
    MemoryUnsettled,
    RedisUnsettled,
    fingerprint,
    remember_failure,
)
from handlers.texts import Dialogue
from tests.conftest import REDIS_URL, Clock, need_redis, redis_db
from tests.test_dialogue import join
from tests.test_redis_storage import _world
from tests.tg import SPHERE, World, asked_their_names, fsm_rows, reach

REDIS_DB = redis_db(15)  # the tests' own database, emptied by each test that uses it
USER = User(id=7, is_bot=False, first_name="Иван")
BOT = 123456  # the id in the tests' bot token


def message(text: str | None = None, caption: str | None = None) -> Update:
    sent = Message(
        message_id=1,
        date=datetime(2023, 10, 1),
        chat=Chat(id=7, type="private"),
        from_user=USER,
        text=text,
        caption=caption,
    )
    return Update(update_id=1, message=sent)


def press(data: str) -> Update:
    callback = CallbackQuery(id="1", from_user=USER, chat_instance="c", data=data)
    return Update(update_id=1, callback_query=callback)


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_fingerprint_tells_what_was_sent_and_keeps_no_text() -> None:
    assert fingerprint(message("Выставка")) == fingerprint(message(caption="Выставка"))
    assert fingerprint(message("Выставка")) != fingerprint(message("Выставка "))
    assert fingerprint(message("sp:4")) != fingerprint(press("sp:4"))  # a text is no button
    assert fingerprint(message()) is None  # a sticker or a photo without a caption
    assert fingerprint(message("/help")) is None  # a command is never an answer
    assert "Выставка" not in (fingerprint(message("Выставка")) or "")
    assert fingerprint(Update(update_id=1)) is None


async def test_the_process_memory_keeps_the_latest_failures_of_a_chat_for_an_hour() -> None:
    ticks = Ticks()
    memory = MemoryUnsettled(clock=ticks)
    for update_id in range(1, KEEP_PER_CHAT + 3):
        await memory.remember(BOT, 7, update_id, f"f{update_id}")
    await memory.remember(BOT, 8, 100, "other")
    await memory.remember(BOT + 1, 7, 200, "another bot's")

    kept = await memory.recall(BOT, 7)
    ticks.now += KEEP_SECONDS + 1
    expired = await memory.recall(BOT, 7)
    await memory.forget(BOT, 8)

    assert [update_id for update_id, _ in kept] == list(range(3, KEEP_PER_CHAT + 3))
    assert expired == []
    assert await memory.recall(BOT, 8) == []


async def test_the_process_memory_is_bounded_by_the_oldest_chat() -> None:
    memory = MemoryUnsettled()
    for chat in range(MEMORY_CHATS + 1):
        await memory.remember(BOT, chat, chat, "f")

    assert await memory.recall(BOT, 0) == []  # pushed out
    assert await memory.recall(BOT, MEMORY_CHATS) == [(MEMORY_CHATS, "f")]


# --- Redis: the memory shared by the workers ------------------------------------------------


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    need_redis()
    client = Redis.from_url(f"{REDIS_URL}/{REDIS_DB}")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def test_redis_memory_is_seen_by_another_worker_and_expires(redis: Redis) -> None:
    first, second = RedisUnsettled(redis), RedisUnsettled(Redis.from_url(f"{REDIS_URL}/{REDIS_DB}"))
    try:
        for update_id in range(1, KEEP_PER_CHAT + 3):
            await first.remember(BOT, 7, update_id, f"f{update_id}")
        await first.remember(BOT + 1, 7, 200, "another bot's")

        seen = await second.recall(BOT, 7)
        ttl = await redis.ttl(f"fsm:{BOT}:unsettled:7")
        await second.forget(BOT, 7)

        assert seen == [(n, f"f{n}") for n in range(3, KEEP_PER_CHAT + 3)]
        assert 0 < ttl <= KEEP_SECONDS
        assert await first.recall(BOT, 7) == []
        assert await first.recall(BOT + 1, 7) == [(200, "another bot's")]
    finally:
        await second.redis.aclose()


async def test_under_the_chat_s_lock_the_memory_read_with_the_lock_answers(redis: Redis) -> None:
    from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey

    from bot.workers import PrefetchedRedisStorage, RenewedRedisIsolation

    builder = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
    storage = PrefetchedRedisStorage(redis, key_builder=builder)
    isolation = RenewedRedisIsolation(redis, builder, storage=storage)
    memory, other = RedisUnsettled(redis), RedisUnsettled(redis)
    await other.remember(BOT, 7, 41, "before the lock")  # another worker's failed update
    key = StorageKey(bot_id=BOT, chat_id=7, user_id=7)
    lranges = 0
    lrange = redis.lrange

    async def counted(*args: object, **options: object) -> object:
        nonlocal lranges
        lranges += 1
        return await lrange(*args, **options)  # type: ignore[arg-type]

    redis.lrange = counted  # type: ignore[method-assign]
    try:
        async with isolation.lock(key):
            seen = await memory.recall(BOT, 7)
            await memory.forget(BOT, 7)
            after_forget = await memory.recall(BOT, 7)
            await memory.remember(BOT, 7, 42, "in hand")  # not read with the lock: asked
            after_remember = await memory.recall(BOT, 7)
        assert await memory.recall(BOT, 7) == [(42, "in hand")]  # no lock: Redis itself
    finally:
        del redis.lrange

    assert seen == [(41, "before the lock")]
    assert after_forget == []
    assert after_remember == [(42, "in hand")]
    assert lranges == 2  # after the remember, and without the lock


def _worker(settings: Settings, storage: Storage, clock: Clock, first_id: int) -> World:
    """A worker's Dispatcher (one at a time: the routers belong to one Dispatcher)."""
    world = _world(settings, storage, clock)
    world.update_ids = iter(range(first_id, first_id + 900))
    return world


async def _stop(world: World) -> None:
    await world.dispatcher.fsm.close()
    await world.bot.session.close()


async def test_a_retry_reaching_another_worker_is_recognised_through_redis(
    settings: Settings, redis: Redis, clock: Clock
) -> None:
    redis_settings = settings.model_copy(update={"redis_url": f"{REDIS_URL}/{REDIS_DB}"})
    storage = await open_storage(redis_settings)
    await asked_their_names(storage.sessionmaker, redis_settings.coordinator_ids)
    try:
        first = _worker(redis_settings, storage, clock, 1)
        try:
            assert isinstance(first.dispatcher["unsettled"], RedisUnsettled)
            person = await join(first, 3001)
            await reach(person, "sphere")
            pressed = person.press_update(person.button_data(SPHERE))
            pressed = pressed.model_copy(update={"update_id": 900})
            await first.feed_raw(pressed)  # saved; say its reply failed and was not seen:
            await remember_failure(first.dispatcher["unsettled"], first.bot, pressed)
        finally:
            await _stop(first)

        second = _worker(redis_settings, storage, clock, 1000)
        try:
            data = pressed.callback_query.data or ""  # type: ignore[union-attr]
            retried = await second.person(3001).press_data(data)
        finally:
            await _stop(second)

        assert [reply.text for reply in retried] == [
            f"{Dialogue.ALREADY_SAVED}\n\n{Dialogue.STEP.format(number=2)}{Dialogue.ASK['name']}"
        ]
        assert await fsm_rows(storage.sessionmaker) == []  # the step is in Redis
        assert await redis.exists(f"fsm:{BOT}:unsettled:3001") == 0  # the memory is spent
    finally:
        await storage.close()


@pytest.mark.parametrize("failing", ["recall", "forget"])
async def test_the_memory_failing_leaves_the_update_handled_as_usual(
    world: World, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    person = await join(world, 3002)
    await reach(person, "name")
    memory = world.dispatcher["unsettled"]
    await memory.remember(world.bot.id, 3002, 1, "something else sent before")

    async def unreachable(*_: object) -> None:
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(memory, failing, unreachable)
    replies = await person.send("Выставка")

    assert [reply.text for reply in replies] == [
        f"{Dialogue.STEP.format(number=3)}{Dialogue.ASK['place']}"
    ]
