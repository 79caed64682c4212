"""REDIS_URL: aiogram's RedisStorage keeps the dialogue; a new Dispatcher continues it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.methods import SendMessage
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.lock import Lock
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import workers
from bot.app import build_bot, build_dispatcher
from bot.database import Storage, open_storage
from bot.middlewares import CommitBeforeSending
from bot.settings import Settings
from bot.workers import PrefetchedRedisStorage, RenewedRedisIsolation
from storage.db import current_session
from tests.conftest import COORDINATOR_ID, REDIS_URL, Clock, need_redis, redis_db
from tests.tg import (
    Person,
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


class RedisTrips:
    """Round trips to Redis made by this process, with their commands: each write of
    commands to a connection's stream is one (a pipeline's, a single command's, or the
    commands the chat's lock sends on the connection it holds), read back from the bytes
    written."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.trips: list[tuple[str, ...]] = []
        self.counting = False
        writelines = asyncio.StreamWriter.writelines

        def written(writer: asyncio.StreamWriter, chunks: Any) -> None:
            chunks = list(chunks)
            names = tuple(_name(args) for args in _commands(chunks))
            if self.counting and names[0] not in SETUP:  # a new connection's, not a trip
                self.trips.append(names)
            writelines(writer, chunks)

        monkeypatch.setattr(asyncio.StreamWriter, "writelines", written)

    @contextmanager
    def count(self) -> Iterator[list[tuple[str, ...]]]:
        self.trips = []
        self.counting = True
        try:
            yield self.trips
        finally:
            self.counting = False


SETUP = {"HELLO", "AUTH", "SELECT", "CLIENT"}  # what redis-py sends as it connects


def _commands(packed: Any) -> list[list[bytes]]:
    """The commands in bytes sent to Redis (RESP arrays of bulk strings)."""
    data = packed.encode() if isinstance(packed, str) else packed
    if not isinstance(data, bytes):
        data = b"".join(bytes(chunk) for chunk in data)
    commands, at = [], 0
    while at < len(data):
        end = data.index(b"\r\n", at)
        assert data[at : at + 1] == b"*", data[at : at + 20]
        count, at, parts = int(data[at + 1 : end]), end + 2, []
        for _ in range(count):
            end = data.index(b"\r\n", at)
            size = int(data[at + 1 : end])
            parts.append(data[end + 2 : end + 2 + size])
            at = end + 2 + size + 2
        commands.append(parts)
    return commands


def _name(args: Any) -> str:
    name = args[0].decode().upper() if isinstance(args[0], bytes) else str(args[0]).upper()
    flags = {arg.upper() for arg in args[1:] if isinstance(arg, bytes) and len(arg) < 3}
    return f"{name} NX" if name == "SET" and b"NX" in flags else name


send_packed_command = AbstractConnection.send_packed_command


async def _not_this_way(*_: Any, **__: Any) -> None:
    raise AssertionError("a command sent through redis-py's send_packed_command")


async def test_a_dialogue_step_takes_three_redis_round_trips_and_one_lock_try(
    redis_settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = RedisTrips(monkeypatch)
    storage = await open_storage(redis_settings)
    try:
        world = _world(redis_settings, storage, clock)
        person = world.person(COORDINATOR_ID, "Ольга")
        await reach(person, "place")

        # The lock's exchanges go straight to its connection's stream (bot/workers.py
        # `_exchange`), not through redis-py's per-command path (a task per write).
        monkeypatch.setattr(AbstractConnection, "send_packed_command", _not_this_way)
        with trips.count() as step:
            sent = await person.send("г. Минск, Республика Беларусь")  # the place: the dates next
        monkeypatch.setattr(AbstractConnection, "send_packed_command", send_packed_command)
        with trips.count() as walk:
            await walk_on(person, "dates")  # six more updates, texts and buttons
        await world.dispatcher.fsm.close()
        await world.bot.session.close()
    finally:
        await storage.close()

    # The lock taken with the chat's state and data and its failed updates
    # (bot/unsettled.py) read in its round trip (aiogram's RedisStorage with
    # RedisEventIsolation: a lock try, a GET of the state, a GET of the data, then the
    # writes), the new data and state written together before the reply, the lock released.
    assert step == [("SET NX", "MGET", "LRANGE"), ("SET", "SET"), ("EVALSHA",)]
    assert "Шаг 4 из 7" in sent[-1].text
    updates = 6
    assert len(walk) <= 3 * updates
    assert not any(trip == ("LRANGE",) for trip in walk)  # read with the lock
    assert sum(trip.count("SET NX") for trip in walk) == updates  # one lock try each
    assert not any(trip == ("GET",) for trip in walk)  # every read came with the lock


async def _lock_and_pool(world: World, redis_settings: Settings) -> tuple[bool, int]:
    """Whether the coordinator's chat lock is still in Redis; connections still in use."""
    fsm = world.dispatcher.fsm.storage
    assert isinstance(fsm, RedisStorage)
    key = StorageKey(bot_id=world.bot.id, chat_id=COORDINATOR_ID, user_id=COORDINATOR_ID)
    locked = bool(await fsm.redis.exists(fsm.key_builder.build(key, "lock")))
    return locked, len(fsm.redis.connection_pool._in_use_connections)


@asynccontextmanager
async def _at_place(settings: Settings, clock: Clock) -> AsyncIterator[tuple[World, Person]]:
    """The coordinator asked the place of a report, on the Redis of `settings`; all closed
    at the end."""
    storage = await open_storage(settings)
    try:
        world = _world(settings, storage, clock)
        person = world.person(COORDINATOR_ID, "Ольга")
        await reach(person, "place")
        yield world, person
        await world.dispatcher.fsm.close()
        await world.bot.session.close()
    finally:
        await storage.close()


def _on_write(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    act: Callable[[asyncio.StreamWriter], None],
    *,
    after: bool = False,
) -> list[asyncio.StreamWriter]:
    """`act` called with the stream the first command `name` (as `_name` says it) is
    written to, just before it is written (`after`: just after); the streams it got."""
    writelines = asyncio.StreamWriter.writelines
    seen: list[asyncio.StreamWriter] = []

    def watching(writer: asyncio.StreamWriter, chunks: Any) -> None:
        chunks = list(chunks)
        first = not seen and any(_name(args) == name for args in _commands(chunks))
        if first and not after:
            seen.append(writer)
            act(writer)
        writelines(writer, chunks)
        if first and after:
            seen.append(writer)
            act(writer)

    monkeypatch.setattr(asyncio.StreamWriter, "writelines", watching)
    return seen


def _lost(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()  # the connection lost


def _held_writes(commands: list[Any]) -> bool:
    """The commands of an update's held FSM writes (not the lock's SET NX)."""
    return bool(commands[0][0] == "SET" and "NX" not in commands[0])


def _isolation(
    settings: Settings,
) -> tuple[Redis, DefaultKeyBuilder, PrefetchedRedisStorage, RenewedRedisIsolation]:
    """A Redis client of `settings`, the app's key builder, FSM storage and chat lock on it."""
    redis = Redis.from_url(settings.redis_url or "")
    builder = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
    fsm = PrefetchedRedisStorage(redis, key_builder=builder)
    return redis, builder, fsm, RenewedRedisIsolation(redis, builder, storage=fsm)


@contextmanager
def _in_a_session() -> Iterator[AsyncSession]:
    """A session published as the update's (only its `info`: where held writes wait)."""
    session = AsyncSession()
    token = current_session.set(session)
    try:
        yield session
    finally:
        current_session.reset(token)


async def test_a_connection_lost_in_the_lock_s_release_the_lock_is_released_all_the_same(
    redis_settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with _at_place(redis_settings, clock) as (world, person):
        cut = _on_write(monkeypatch, "EVALSHA", _lost)  # as the release goes out
        sent = await person.send("г. Минск, Республика Беларусь")
        monkeypatch.undo()
        after = await _lock_and_pool(world, redis_settings)
        then = await person.send("26.10.2023")  # the next step finds the one saved

    assert cut and "Шаг 4 из 7" in sent[-1].text
    assert after == (False, 0)  # released through redis-py's Lock; no connection kept
    assert "a Redis connection failed" in caplog.text
    assert "had expired" not in caplog.text
    assert "26 октября 2023 года" in then[-1].text


async def test_a_release_script_redis_forgot_is_loaded_again_and_the_lock_released(
    redis_settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with _at_place(redis_settings, clock) as (world, person):
        # The release script is known to Redis by now.
        make_request = RecordingSession.make_request
        fsm = world.dispatcher.fsm.storage
        assert isinstance(fsm, RedisStorage)

        async def forgetting(session: RecordingSession, bot: Any, method: Any, **kw: Any) -> Any:
            if isinstance(method, SendMessage):
                await fsm.redis.script_flush()  # as a restarted Redis would have
            return await make_request(session, bot, method, **kw)

        monkeypatch.setattr(RecordingSession, "make_request", forgetting)
        sent = await person.send("г. Минск, Республика Беларусь")
        monkeypatch.undo()
        after = await _lock_and_pool(world, redis_settings)

    assert "Шаг 4 из 7" in sent[-1].text
    assert after == (False, 0)
    assert "had expired" not in caplog.text


async def test_an_update_cancelled_mid_exchange_gives_its_connection_back(
    redis_settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _at_place(redis_settings, clock) as (world, person):
        waiting = asyncio.Event()
        drain = asyncio.StreamWriter.drain
        stalled = _on_write(monkeypatch, "EVALSHA", lambda _writer: None)  # the release

        async def stalling(writer: asyncio.StreamWriter) -> None:
            if stalled and writer is stalled[0] and not waiting.is_set():
                waiting.set()
                await asyncio.get_running_loop().create_future()  # drained never
            await drain(writer)

        monkeypatch.setattr(asyncio.StreamWriter, "drain", stalling)
        update = asyncio.create_task(person.send("г. Минск, Республика Беларусь"))
        await waiting.wait()
        update.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await update
        monkeypatch.undo()
        after = await _lock_and_pool(world, redis_settings)

    # The release was written before its drain stalled: Redis ran it.
    assert stalled and after == (False, 0)


async def test_a_lock_taken_by_an_exchange_whose_reply_was_lost_is_known_as_ours(
    redis_settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _at_place(redis_settings, clock) as (world, person):
        # Sent, so Redis takes the lock for this update, and its reply lost.
        lost = _on_write(monkeypatch, "SET NX", _lost, after=True)
        waited: list[Any] = []
        acquire = Lock.acquire

        async def acquiring(lock: Lock, *args: Any, **options: Any) -> bool:
            waited.append(lock.name)  # the slow way: the lock taken for another's
            return await acquire(lock, *args, **options)

        monkeypatch.setattr(Lock, "acquire", acquiring)
        sent = await person.send("г. Минск, Республика Беларусь")
        monkeypatch.undo()
        after = await _lock_and_pool(world, redis_settings)

    assert lost and waited == []
    assert "Шаг 4 из 7" in sent[-1].text
    assert after == (False, 0)


async def test_a_write_made_while_the_held_writes_are_on_their_way_is_sent_after_them(
    redis_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis, builder, fsm, isolation = _isolation(redis_settings)
    key = StorageKey(bot_id=1, chat_id=4244, user_id=4244)
    exchange = workers._exchange
    meanwhile: list[str] = []

    async def with_a_write_meanwhile(connection: Any, commands: list[Any]) -> list[Any]:
        if not meanwhile and _held_writes(commands):  # the held writes, on their way
            meanwhile.append("B")
            await fsm.set_state(key, "B")  # another task of the update, inheriting it
        return await exchange(connection, commands)

    try:
        with _in_a_session() as session:
            async with isolation.lock(key):
                await fsm.set_state(key, "A")
                monkeypatch.setattr(workers, "_exchange", with_a_write_meanwhile)
                await workers.send_held_writes(session)
                monkeypatch.undo()
        stored = await redis.get(builder.build(key, "state"))
    finally:
        await redis.aclose()

    assert meanwhile == ["B"] and stored == b"B"


async def test_an_update_waiting_for_the_chat_s_lock_reads_what_the_holder_wrote(
    redis_settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock_waited = asyncio.Event()
    acquire = Lock.acquire

    async def waits(lock: Lock, *args: Any, **options: Any) -> bool:
        lock_waited.set()
        return await acquire(lock, *args, **options)

    monkeypatch.setattr(Lock, "acquire", waits)
    storage = await open_storage(redis_settings)
    try:
        world = _world(redis_settings, storage, clock)
        person = world.person(COORDINATOR_ID, "Ольга")
        await reach(person, "place")
        fsm = world.dispatcher.fsm
        key = StorageKey(bot_id=world.bot.id, chat_id=COORDINATOR_ID, user_id=COORDINATOR_ID)
        isolation = fsm.events_isolation
        assert isinstance(isolation, RenewedRedisIsolation)

        async with isolation.lock(key):  # another worker's update of the chat, in hand
            waiting = asyncio.create_task(person.send("г. Минск, Республика Беларусь"))
            await lock_waited.wait()  # its first try failed: it waits for the lock
            await fsm.storage.set_state(key, None)  # the holder ends the dialogue meanwhile
            await fsm.storage.set_data(key, {})
        await waiting
        await fsm.close()
        await world.bot.session.close()
    finally:
        await storage.close()

    # Not the step read before the lock was free: the holder's (no dialogue), so the
    # text is not taken as the place of a report.
    assert "Шаг 4 из 7" not in person.last_text()


async def test_the_new_step_is_in_redis_before_the_reply_and_after_a_failed_update(
    redis_settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = await open_storage(redis_settings)
    try:
        world = _world(redis_settings, storage, clock)
        person = world.person(COORDINATOR_ID, "Ольга")
        await reach(person, "place")
        fsm = world.dispatcher.fsm.storage
        assert isinstance(fsm, RedisStorage)
        key = StorageKey(bot_id=world.bot.id, chat_id=COORDINATOR_ID, user_id=COORDINATOR_ID)

        async def in_redis() -> tuple[str, str | None]:
            state = await fsm.redis.get(fsm.key_builder.build(key, "state"))
            data = json.loads(await fsm.redis.get(fsm.key_builder.build(key, "data")))
            return state.decode(), data["draft"].get("place")

        seen: list[tuple[str, str | None]] = []
        make_request = RecordingSession.make_request

        async def looking(session: RecordingSession, bot: Any, method: Any, **kw: Any) -> Any:
            if isinstance(method, SendMessage):
                seen.append(await in_redis())  # what a crash at this moment would leave
            return await make_request(session, bot, method, **kw)

        monkeypatch.setattr(RecordingSession, "make_request", looking)
        await person.send("г. Минск, Республика Беларусь")
        monkeypatch.undo()

        async def failing(*_: Any, **__: Any) -> None:
            raise RuntimeError("the database went away")  # after the handler wrote the step

        monkeypatch.setattr(CommitBeforeSending, "__call__", failing)
        await person.send("26.10.2023")
        after_failure = await in_redis()
        monkeypatch.undo()
        await world.dispatcher.fsm.close()
        await world.bot.session.close()
    finally:
        await storage.close()

    assert seen == [("ReportStates:dates", "г. Минск, Республика Беларусь")]
    # Written before the reply could be sent, so held writes are sent all the same (Redis
    # has no rollback: as when each write went at once).
    assert after_failure[0] != "ReportStates:dates"


async def test_an_update_cancelled_while_its_last_writes_go_out_still_releases_its_lock(
    redis_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis, builder, fsm, isolation = _isolation(redis_settings)
    key = StorageKey(bot_id=1, chat_id=4245, user_id=4245)
    exchange = workers._exchange
    stalled = asyncio.Event()

    async def stalling(connection: Any, commands: list[Any]) -> list[Any]:
        if _held_writes(commands) and not stalled.is_set():  # the writes held to the end
            stalled.set()
            await asyncio.get_running_loop().create_future()  # answered never
        return await exchange(connection, commands)

    async def update() -> None:
        async with isolation.lock(key):
            await fsm.set_state(key, "A")  # held: sent as the lock is let go

    monkeypatch.setattr(workers, "_exchange", stalling)
    try:
        with _in_a_session():
            task = asyncio.create_task(update())
            await stalled.wait()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        monkeypatch.undo()
        locked = await redis.exists(builder.build(key, "lock"))
    finally:
        await redis.aclose()

    assert locked == 0  # released (and so no longer renewed), not left to its TTL


async def test_a_lock_taken_with_a_read_redis_refused_is_given_back(
    redis_settings: Settings,
) -> None:
    redis, builder, _fsm, isolation = _isolation(redis_settings)
    key = StorageKey(bot_id=1, chat_id=4246, user_id=4246)
    try:
        # The chat's list of failed updates is not a list: its LRANGE is refused.
        await redis.set(workers.unsettled_key("fsm", key.bot_id, key.chat_id), "not a list")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            async with isolation.lock(key):
                pass
        locked = await redis.exists(builder.build(key, "lock"))
    finally:
        await redis.aclose()

    assert locked == 0


async def _two_chats_at_once(
    redis_settings: Settings,
) -> tuple[Redis, DefaultKeyBuilder, list[str | None], list[int]]:
    """Two chats' updates taking their locks at once (each chat's state stored before),
    each reading its state under its lock; what each read, and whether each lock was left
    in Redis after."""
    redis, builder, fsm, isolation = _isolation(redis_settings)
    keys = [StorageKey(bot_id=1, chat_id=chat, user_id=chat) for chat in (4251, 4252)]
    for key, state in zip(keys, ("ReportStates:place", "ReportStates:dates"), strict=True):
        await redis.set(builder.build(key, "state"), state)

    async def update(key: StorageKey) -> str | None:
        with _in_a_session():
            async with isolation.lock(key):
                return await fsm.get_state(key)

    read = list(await asyncio.gather(*(update(key) for key in keys)))
    left = [await redis.exists(builder.build(key, "lock")) for key in keys]
    return redis, builder, read, left


async def test_two_chats_locks_taken_at_once_share_their_round_trips(
    redis_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = RedisTrips(monkeypatch)
    with trips.count() as made:
        redis, _builder, read, left = await _two_chats_at_once(redis_settings)
    await redis.aclose()

    # Asked for in the same turn of the event loop: one write for both takes, one for
    # both releases (bot/workers.py `_Gathering`); each update got its own replies.
    takes = ("SET NX", "MGET", "LRANGE")
    assert [trip for trip in made if trip[0] in ("SET NX", "EVALSHA")] == [
        takes + takes,
        ("EVALSHA", "EVALSHA"),
    ]
    assert read == ["ReportStates:place", "ReportStates:dates"]
    assert left == [0, 0]


async def test_a_connection_lost_under_a_gathered_exchange_each_update_goes_on_alone(
    redis_settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cut = _on_write(monkeypatch, "SET NX", _lost, after=True)  # both takes sent, replies lost
    redis, _builder, read, left = await _two_chats_at_once(redis_settings)
    await redis.aclose()

    # Each went on through the client and knew the lock the lost exchange took as its own.
    assert len(cut) == 1 and "a Redis connection failed" in caplog.text
    assert read == ["ReportStates:place", "ReportStates:dates"]
    assert left == [0, 0]
    assert "had expired" not in caplog.text


async def test_an_exchange_whose_asker_was_cancelled_before_it_went_out_is_left_out(
    redis_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = RedisTrips(monkeypatch)
    redis = Redis.from_url(redis_settings.redis_url or "")
    pool = redis.connection_pool
    try:
        await redis.ping()  # a connection made, outside the count
        with trips.count() as made:
            first = asyncio.create_task(workers._exchange_on(pool, [("SET", "first", "1")]))
            second = asyncio.create_task(workers._exchange_on(pool, [("SET", "second", "2")]))
            await asyncio.sleep(0)  # the first gathers this turn's exchanges, the second joined
            second.cancel()
            assert await first == [b"OK"]  # raw replies: no callbacks applied
            with pytest.raises(asyncio.CancelledError):
                await second
        stored = [await redis.get("first"), await redis.exists("second")]
    finally:
        await redis.aclose()

    assert made == [("SET",)]
    assert stored == [b"1", 0]
