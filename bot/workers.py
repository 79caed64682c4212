"""Several webhook workers on one Redis: who is alive, and a per-chat lock that a dead
worker does not keep.

- `Heartbeat`: each worker has an id (`new_owner`, written into the outbox rows it holds)
  and a Redis key `<prefix>:<bot id>:worker:<id>` that lives HEARTBEAT_TTL seconds and is
  renewed every HEARTBEAT_EVERY. A worker whose key is gone (SIGKILL, a power cut, a
  stop) is dead: the rows it held are orphans, delivered by whoever comes next (bot/owed.py,
  bot/outbox.py). `alive` answers for the others.
- `RenewedRedisIsolation`: aiogram's per-chat lock (the updates of one chat one after the
  other, across workers), held with a short TTL (LOCK_TTL) that the holder renews while
  the update is in hand. aiogram's own RedisEventIsolation takes a 60-second lock: a worker
  killed mid-update would keep the chat waiting for a minute.
- `PrefetchedRedisStorage`: aiogram's RedisStorage, which reads the chat's state and data
  in the lock's own round trip: the lock is taken with `SET NX` and the two keys are read
  by an `MGET` sent after it on the same connection (Redis runs them in order, so the
  reads happen under the lock), and the update's later reads of that chat are answered
  from what was read, kept up to date by its writes (held, and sent together before the
  bot says anything or the update's transaction commits). These exchanges and the
  lock's release are written to a pooled connection as plain commands (`_exchange`),
  together with the other updates' exchanges asked for in the same turn of the event
  loop (`_Gathering`).
  A lock that must be waited for is taken as before, and then nothing is prefetched.
  The same round trip reads the chat's failed updates (`bot/unsettled.py`, an LRANGE):
  its middleware would otherwise ask Redis for them in every update, inside the update's
  database transaction. An entry is remembered before the person is told of the failure
  (bot/app.py `_on_error`), so the retry that matters always finds it prefetched.

Both rely on the workers' clocks only through Redis's TTLs. A worker whose event loop
stalls longer than a TTL (it should not: nothing blocks it) is taken for dead, and another
worker may take the rows it holds. The heartbeat therefore knows since when its key has
surely lived without a break (`unbroken_since`, counted conservatively from before each
renewal was sent): before each attempt to send a row (bot/outbox.py `still_mine`) the
worker checks that the row was written or taken within that unbroken stretch, and if not
(a stall, Redis away) it claims the row again in the database, conditionally, before
sending; a row another worker took meanwhile is left to it. What remains is a stall in the
middle of an HTTP call: the request already left, so the message may go out twice, and the
log says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Protocol

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, KeyBuilder, StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from storage.db import current_session

try:
    from hiredis import pack_command
except ImportError:  # pragma: no cover - hiredis is a dependency; redis-py packs then
    pack_command = None

log = logging.getLogger(__name__)

HEARTBEAT_TTL = 10.0  # seconds a worker's key outlives its last renewal
HEARTBEAT_EVERY = HEARTBEAT_TTL / 4  # a renewal every so often: three may fail in a row
HEARTBEAT_MARGIN = 1.0  # seconds of the TTL this worker does not count on (`unbroken_since`)
LOCK_TTL = 10.0  # seconds a per-chat lock outlives its last renewal (renewed every 1/4)
LOCK_POLL = 0.05  # seconds between two tries of a waiting worker


def new_owner() -> str:
    """An id for this process's run: host, pid and a random part (a restart gets a new one)."""
    host = socket.gethostname()[:16]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Liveness(Protocol):
    """Which of the given workers are alive; since when this one surely has been."""

    async def alive(self, owners: Iterable[str]) -> set[str]: ...

    def clock(self) -> float:
        """The clock of `unbroken_since` (monotonic seconds)."""
        ...

    def unbroken_since(self) -> float | None:
        """Since when (by `clock`) this worker's own liveness has surely held without a
        break up to now; None when it may have lapsed (others may take it for dead)."""
        ...


class Heartbeat:
    """This worker's key in Redis, renewed until `stop`; `alive` for the others."""

    def __init__(
        self,
        redis: Any,
        bot_id: int,
        owner: str,
        prefix: str = "fsm",
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.owner = owner
        self.clock = clock
        self._prefix = f"{prefix}:{bot_id}:worker:"
        self._task: asyncio.Task[None] | None = None
        # The key surely lives until `_fresh_until`, and has without a break since
        # `_unbroken_since` (None: never set, or it may have expired in between).
        self._fresh_until = -math.inf
        self._unbroken_since: float | None = None

    def _key(self, owner: str) -> str:
        return self._prefix + owner

    async def start(self) -> None:
        """Set the key now (a failure here fails the start), then keep renewing it."""
        await self._beat()
        self._task = asyncio.create_task(self._keep_beating())

    async def stop(self) -> None:
        """Stop renewing and delete the key: what this worker still holds is orphaned at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._fresh_until, self._unbroken_since = -math.inf, None
        try:
            await self.redis.delete(self._key(self.owner))
        except Exception:  # the key expires on its own within HEARTBEAT_TTL
            log.exception("could not delete the heartbeat of worker %s", self.owner)

    async def _beat(self) -> None:
        sent = self.clock()  # the key's new lifetime starts after this, when Redis sets it
        await self.redis.set(self._key(self.owner), "1", px=int(HEARTBEAT_TTL * 1000))
        answered = self.clock()  # ... and before this
        if self._unbroken_since is None or answered >= self._fresh_until:
            self._unbroken_since = answered  # it may have been gone until this renewal
        self._fresh_until = sent + HEARTBEAT_TTL - HEARTBEAT_MARGIN

    def unbroken_since(self) -> float | None:
        """Since when this worker's key has surely lived without a break up to now (a
        stalled event loop or an unanswered renewal breaks it); None: it may be gone now."""
        if self.clock() >= self._fresh_until:
            return None
        return self._unbroken_since

    async def _keep_beating(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            try:
                await self._beat()
            except Exception:  # tried again shortly; others take us for dead after the TTL
                log.exception("could not renew the heartbeat of worker %s", self.owner)

    async def alive(self, owners: Iterable[str]) -> set[str]:
        """The workers among `owners` whose key lives (this one always does). Redis away:
        all of them, so that no live worker's message is sent by another."""
        others = sorted({owner for owner in owners if owner != self.owner})
        found = {self.owner} if self.owner in owners else set()
        if not others:
            return found
        try:
            values = await self.redis.mget([self._key(owner) for owner in others])
        except Exception:
            log.exception("could not read the workers' heartbeats; taken as alive")
            return found | set(others)
        return found | {owner for owner, value in zip(others, values, strict=True) if value}


@dataclass(slots=True)
class _Snapshot:
    """A chat's state and data (raw JSON) as read under its lock, then as written since;
    `live` while the lock is held (a task started meanwhile inherits it, then drops it)."""

    state: str | None
    data: str | None
    live: bool = True
    # The chat's failed updates (bot/unsettled.py) as read with the lock: their key, and
    # the raw entries (None: not read, or changed since).
    unsettled_key: str | None = None
    unsettled: list[Any] | None = None
    # Writes not yet sent to Redis (see `PrefetchedRedisStorage`): by whom, for which key.
    storage: PrefetchedRedisStorage | None = None
    key: StorageKey | None = None
    state_written: bool = False
    data_written: bool = False
    # The lock's token, and the pool its writes and release go through as plain commands
    # (see `RenewedRedisIsolation`).
    token: bytes | None = None
    pool: Any = None


# The chats whose lock this update holds, with what was read with it (see `lock`).
_held: ContextVar[dict[StorageKey, _Snapshot] | None] = ContextVar("fsm_held", default=None)


def unsettled_key(prefix: str, bot_id: int, chat_id: int) -> str:
    """The Redis list of a chat's failed updates (bot/unsettled.py `RedisUnsettled`)."""
    return f"{prefix}:{bot_id}:unsettled:{chat_id}"


def held_unsettled(key: str) -> _Snapshot | None:
    """The snapshot of a chat this update holds the lock of, if it read the list `key`."""
    for snapshot in (_held.get() or {}).values():
        if snapshot.live and snapshot.unsettled_key == key and snapshot.unsettled is not None:
            return snapshot
    return None


def _text(value: Any) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _snapshot(key: StorageKey) -> _Snapshot | None:
    held = _held.get()
    snapshot = held.get(key) if held is not None else None
    return snapshot if snapshot is not None and snapshot.live else None


PENDING = "fsm_redis_pending"  # Session.info: the snapshots with writes not yet sent


class PrefetchedRedisStorage(RedisStorage):
    """aiogram's RedisStorage; while this update holds a chat's lock, that chat's state
    and data come from what was read with the lock (see the module's text).

    Its writes of that chat are held and sent together, in one round trip instead of one
    each: before the update's database transaction commits (a `before_commit` listener:
    Redis holds the new step before the database holds the claim and the reply owed, as
    when each write went at once), before the bot sends anything (`send_held_writes`,
    bot/middlewares.py `CommitBeforeSending`), and at the latest before the lock is
    released (whatever the update's outcome: Redis has no rollback, a write made before
    a failure stays made). Nobody else reads the chat's keys meanwhile: every update of
    the chat waits for its lock.
    """

    async def get_state(self, key: StorageKey) -> str | None:
        snapshot = _snapshot(key)
        if snapshot is None:
            return await super().get_state(key)
        return snapshot.state

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        snapshot = _snapshot(key)
        if snapshot is None:
            return await super().get_data(key)
        raw = snapshot.data
        return {} if raw is None else dict(self.json_loads(raw))  # a fresh copy each time

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        snapshot = _snapshot(key)
        if snapshot is None or not self._hold(snapshot, key):
            await super().set_state(key, state)
            if snapshot is None:
                return
        else:
            snapshot.state_written = True
        snapshot.state = state.state if isinstance(state, State) else state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        snapshot = _snapshot(key)
        if snapshot is None or not isinstance(data, dict) or not self._hold(snapshot, key):
            await super().set_data(key, data)
            if snapshot is None:
                return
        else:
            snapshot.data_written = True
        snapshot.data = self.json_dumps(data) if data else None

    def _hold(self, snapshot: _Snapshot, key: StorageKey) -> bool:
        """Hold the snapshot's writes for the update's session (False: none is open, or
        the snapshot belongs to another storage: written at once)."""
        session = current_session.get()
        if session is None or snapshot.storage not in (None, self):
            return False
        snapshot.storage, snapshot.key = self, key
        pending: list[_Snapshot] = session.info.setdefault(PENDING, [])
        if snapshot not in pending:
            pending.append(snapshot)
        return True

    def _queue_writes(self, pipe: Any, snapshot: _Snapshot) -> None:
        """The snapshot's held writes, as aiogram's RedisStorage makes them, into `pipe`."""
        for command in self._write_commands(snapshot):
            pipe.execute_command(*command)
        snapshot.state_written = snapshot.data_written = False

    def _write_commands(self, snapshot: _Snapshot) -> list[tuple[Any, ...]]:
        """The snapshot's held writes as Redis commands (`SET name value [EX ttl]`, or
        `DEL name` for a value cleared), as aiogram's RedisStorage makes them."""
        assert snapshot.key is not None
        held = (
            ("state", snapshot.state_written, snapshot.state, self.state_ttl),
            ("data", snapshot.data_written, snapshot.data, self.data_ttl),
        )
        commands: list[tuple[Any, ...]] = []
        for part, written, value, ttl in held:
            if not written:
                continue
            name = self.key_builder.build(snapshot.key, part)
            if value is None:
                commands.append(("DEL", name))
            elif ttl is None:
                commands.append(("SET", name, value))
            else:
                seconds = int(ttl.total_seconds()) if isinstance(ttl, timedelta) else ttl
                commands.append(("SET", name, value, "EX", seconds))
        return commands


async def send_writes(snapshots: list[_Snapshot]) -> None:
    """Send the writes held for `snapshots` (see `PrefetchedRedisStorage`), one round trip
    per Redis client."""
    by_storage: dict[int, tuple[PrefetchedRedisStorage, list[_Snapshot]]] = {}
    for snapshot in snapshots:
        if snapshot.storage is None or not (snapshot.state_written or snapshot.data_written):
            continue
        if snapshot.pool is not None:
            # No longer held from here: a write made while they are on their way (by a
            # task that inherited the snapshot) is held anew and sent after them.
            written = snapshot.state_written, snapshot.data_written
            commands = snapshot.storage._write_commands(snapshot)
            snapshot.state_written = snapshot.data_written = False
            if await _exchange_on(snapshot.pool, commands):
                continue
            snapshot.state_written |= written[0]  # not sent: through the client below
            snapshot.data_written |= written[1]
        by_storage.setdefault(id(snapshot.storage), (snapshot.storage, []))[1].append(snapshot)
    for storage, held in by_storage.values():
        async with storage.redis.pipeline(transaction=False) as pipe:
            for snapshot in held:
                storage._queue_writes(pipe, snapshot)
            await pipe.execute()


async def _exchange_on(
    pool: Any, commands: list[tuple[Any, ...]], *, errors: bool = False
) -> list[Any] | None:
    """`commands` sent on a connection of `pool` in one write, their replies read in
    order (`_exchange`), the connection back in the pool at once; None when the
    connection failed (the caller tries once more through redis-py's client, on a
    connection of the pool that is made anew when need be).
    An error reply is raised once all replies are read (with `errors`, returned in its
    place), so the connection stays in step either way.

    The exchanges that updates ask for on the same pool in one turn of the event loop go
    out together (`_Gathering`): one write and one read for all of them, as one update's
    commands stay next to each other, in order. The connection is held for the exchange
    only, never while an update does anything else: an update needing Redis meanwhile
    (another chat's state, the heartbeats) finds the pool as it was, even at
    REDIS_MAX_CONNECTIONS=1."""
    replies = await _Gathering.exchange(pool, commands)
    if replies is not None and not errors:
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
    return replies


class _Gathering:
    """The exchanges asked for on one pool during one turn of the event loop.

    The first to ask waits for the turn's end (`asyncio.sleep(0)`: every task ready in
    this turn runs first), then sends its own commands and those of everyone who joined
    in one `_exchange` and hands each its replies. At capacity about 2.5 exchanges share
    a turn (bench/dialogue.py: a round trip each, and most of its cost, the system
    calls); alone, an exchange waits one turn. An exchange whose asker was cancelled
    before it went out is left out; when the connection fails or the sender is cancelled,
    each asker gets None, as for a failed exchange of its own (it goes on through the
    client, which recognises a lock it took)."""

    # By id of the pool: an entry lives for one turn of its loop (and is only joined from
    # that loop, for that very pool: an abandoned loop's entry is replaced).
    _open: ClassVar[dict[int, _Gathering]] = {}

    def __init__(self, pool: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.pool, self.loop = pool, loop
        self.joined: list[tuple[list[tuple[Any, ...]], asyncio.Future[list[Any] | None]]] = []

    @classmethod
    async def exchange(cls, pool: Any, commands: list[tuple[Any, ...]]) -> list[Any] | None:
        loop = asyncio.get_running_loop()
        gathering = cls._open.get(id(pool))
        if gathering is not None and gathering.pool is pool and gathering.loop is loop:
            future: asyncio.Future[list[Any] | None] = loop.create_future()
            gathering.joined.append((commands, future))
            return await future
        gathering = cls._open[id(pool)] = cls(pool, loop)
        try:
            await asyncio.sleep(0)
        finally:
            if cls._open.get(id(pool)) is gathering:
                del cls._open[id(pool)]
        return await gathering._send(pool, commands)

    async def _send(self, pool: Any, commands: list[tuple[Any, ...]]) -> list[Any] | None:
        joined = [(asked, future) for asked, future in self.joined if not future.done()]
        replies: list[Any] | None = None
        try:
            connection = await pool.get_connection()
            try:
                everything = [*commands, *(command for asked, _ in joined for command in asked)]
                replies = await _exchange(connection, everything)
            except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError) as error:
                log.warning("a Redis connection failed (%s); going on through the client", error)
            finally:
                await pool.release(connection)
        finally:
            at = len(commands)
            for asked, future in joined:
                if not future.done():
                    future.set_result(None if replies is None else replies[at : at + len(asked)])
                at += len(asked)
        return replies[: len(commands)] if replies is not None else None


async def _exchange(connection: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """`commands` written to a redis-py connection at once and their replies read (an
    error reply in its place, as redis-py's parser gives it).

    Packed by hiredis (in C; as redis-py's own packer would, in Python), written and read
    through the connection's own writer and parser, under one timeout of the connection's
    `socket_timeout` for the whole exchange: redis-py's `send_packed_command` and
    `read_response` would add a task for the write (`asyncio.wait_for`) and a timeout per
    reply, which cost as much as the rest. Whatever goes wrong, the connection is closed
    first, as redis-py does, so it never goes back to the pool with replies unread. A
    redis-py without these parts (`_writer`, `_read_response_from_parser`) is used
    through its public methods."""
    writer = getattr(connection, "_writer", None)
    parse = getattr(connection, "_read_response_from_parser", None)
    if writer is None or parse is None or not connection.is_connected:
        return await _exchange_publicly(connection, commands)
    if pack_command is not None:
        chunks = [pack_command(command) for command in commands]
    else:
        chunks = connection.pack_commands(commands)
    try:
        async with asyncio.timeout(connection.socket_timeout):
            writer.writelines(chunks)
            await writer.drain()
            return [await parse() for _ in commands]
    except BaseException:
        await connection.disconnect(nowait=True)
        raise


async def _exchange_publicly(connection: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """`_exchange` through redis-py's public methods (they connect when need be)."""
    await connection.send_packed_command(connection.pack_commands(commands), False)
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(await connection.read_response())
        except ResponseError as error:
            replies.append(error)
    return replies


class _Renewal:
    """Renews a lock every `every` seconds (`renew`) until stopped: a timer, and a task
    only when a renewal is due (most updates end long before their first renewal).

    Stopping is a flag checked after each renewal as well as a cancellation: redis-py can
    swallow a CancelledError that arrives while a command waits (its pool's timeout), and
    a loop relying on it alone renewed a finished update's lock forever, its chat locked
    and its update never ending (found by bench/dialogue.py)."""

    def __init__(self, renew: Callable[[], Awaitable[Any]], every: float, name: str) -> None:
        self._renew = renew
        self._every = every
        self._name = name
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._done = False
        self._timer = self._loop.call_later(every, self._due)

    def _due(self) -> None:
        if not self._done:
            self._task = self._loop.create_task(self._once())

    async def _once(self) -> None:
        try:
            await self._renew()
        except Exception:  # lost: another worker may take the chat; the log says so
            log.exception("could not renew the lock %s", self._name)
            return
        if not self._done:
            self._timer = self._loop.call_later(self._every, self._due)

    async def stop(self) -> None:
        self._done = True
        self._timer.cancel()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:  # the renewal's, unless the update's own
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise


async def send_held_writes(session: Any) -> None:
    """Send the FSM writes the session's update holds (before it commits or says anything)."""
    pending = session.info.pop(PENDING, None)
    if pending:
        await send_writes(pending)


@event.listens_for(Session, "before_commit")
def _send_before_commit(session: Session) -> None:
    """The held FSM writes go to Redis before the transaction commits (in the
    AsyncSession's greenlet, so they may be awaited here)."""
    pending = session.info.pop(PENDING, None)
    if pending:
        await_only(send_writes(pending))


class RenewedRedisIsolation(BaseEventIsolation):
    """aiogram's per-chat Redis lock with a short TTL, renewed while the update is in hand.

    Given the `storage` (a `PrefetchedRedisStorage` with the same key builder), the first
    try to take the lock also reads the chat's state and data, in one round trip. That
    exchange, the update's held writes and the release go to a connection of the
    client's pool as plain commands written at once (`SET NX`, `MGET`, `LRANGE`;
    `SET`/`DEL`; the release as redis-py's Lock makes it, its Lua script by `EVALSHA`):
    no pipeline object, no Lock object, no task per write (`_exchange`), which was most of
    redis-py's Python per update. An exchange whose connection fails is tried once more
    through redis-py's client (the lock's value read as well: a lock the lost exchange
    took is known as ours). A lock that must be waited for is taken, renewed and released
    by redis-py's Lock, as before; renewals are due from a timer (`_Renewal`), so an
    update that ends within LOCK_TTL / 4 starts no task for them; they stop, and the lock
    is released, even when the update is cancelled while its last writes go out. The
    `storage` must be on the same Redis client: its keys are read in the lock's exchange.
    """

    def __init__(
        self,
        redis: Any,
        key_builder: KeyBuilder,
        ttl: float = LOCK_TTL,
        storage: PrefetchedRedisStorage | None = None,
    ) -> None:
        self.redis = redis
        self.key_builder = key_builder
        self.ttl = ttl
        self.storage = storage
        self._release_script: Any = None  # redis-py's Script of its Lock's release

    @contextlib.asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        name = self.key_builder.build(key, "lock")
        snapshot = await self._take_and_read(name, key)
        lock: Any = None
        if snapshot is None:
            lock = self._redis_lock(name)
            await lock.acquire()  # another update of the chat holds it: wait our turn
        renewal = _Renewal(self._renewer(name, snapshot, lock), self.ttl / 4, name)
        held = dict(_held.get() or {})
        held.pop(key, None)  # one inherited from another update's context: not ours
        if snapshot is not None:
            held[key] = snapshot
        token = _held.set(held)
        unsent: BaseException | None = None
        try:
            yield None
        finally:
            _held.reset(token)
            try:
                if snapshot is not None:
                    snapshot.live = False
                    try:  # what the update wrote, whatever its outcome, before the release
                        await send_writes([snapshot])
                    except Exception as error:  # the update fails, once its lock is released
                        unsent = error
            finally:  # even cancelled meanwhile: no renewal outlives the update
                try:
                    await renewal.stop()
                finally:
                    await self._release(name, snapshot, lock)
            if unsent is not None:
                raise unsent

    def _redis_lock(self, name: str, token: bytes | None = None) -> Any:
        """redis-py's Lock of `name` (holding `token`, when the lock was taken by us)."""
        lock = self.redis.lock(name=name, timeout=self.ttl, sleep=LOCK_POLL)
        if token is not None:
            lock.local.token = token
        return lock

    def _renewer(
        self, name: str, snapshot: _Snapshot | None, lock: Any
    ) -> Callable[[], Awaitable[Any]]:
        """What renews the lock: redis-py's Lock (`reacquire`), made when first needed."""
        made: list[Any] = [lock] if lock is not None else []

        async def renew() -> Any:
            if not made:
                assert snapshot is not None
                made.append(self._redis_lock(name, snapshot.token))
            return await made[0].reacquire()

        return renew

    async def _release(self, name: str, snapshot: _Snapshot | None, lock: Any) -> None:
        """Release the lock (as redis-py's Lock does, by its Lua script; through the Lock
        itself when that fails); a lock expired meanwhile is only logged."""
        released: Any = None
        lost = False  # an exchange whose reply was lost: Redis may have run it
        if snapshot is not None:
            script = self._script()
            replies = await _exchange_on(
                snapshot.pool, [("EVALSHA", script.sha, 1, name, snapshot.token)], errors=True
            )
            lost = replies is None
            released = replies[0] if replies else None
            if isinstance(released, Exception):  # NOSCRIPT (a restarted Redis): below
                released = None
            if released is None:
                lock = self._redis_lock(name, snapshot.token)
        if released is None:
            try:
                await lock.release()
                released = 1
            except LockError:
                released = 0
        if not released and lost:
            log.info("the lock %s was released by an exchange whose reply was lost", name)
        elif not released:  # expired meanwhile (see `_Renewal`): nothing to release
            log.warning("the lock %s had expired before its update ended", name)

    def _script(self) -> Any:
        if self._release_script is None:
            from redis.asyncio.lock import Lock

            self._release_script = self.redis.register_script(Lock.LUA_RELEASE_SCRIPT)
        return self._release_script

    async def _take_and_read(self, name: str, key: StorageKey) -> _Snapshot | None:
        """Try the lock once (`SET NX`, as redis-py's Lock does) and, in the same round
        trip, read the chat's state, data and failed updates; None when the lock is
        another's."""
        if self.storage is None:
            return None
        token = os.urandom(16).hex().encode()  # as unique as redis-py's uuid1 token
        builder = self.storage.key_builder
        failed = unsettled_key(getattr(builder, "prefix", "fsm"), key.bot_id, key.chat_id)
        commands: list[tuple[Any, ...]] = [
            ("SET", name, token, "NX", "PX", int(self.ttl * 1000)),
            ("MGET", builder.build(key, "state"), builder.build(key, "data")),
            ("LRANGE", failed, 0, -1),
        ]
        pool = self.redis.connection_pool
        replies = await _exchange_on(pool, commands, errors=True)
        if replies is None:
            # The connection failed, perhaps after Redis ran the SET NX: once more through
            # the client, and the lock's value read too, so that a lock taken by the lost
            # exchange is known as ours (the SET NX alone would take it for another's).
            async with self.redis.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                pipe.get(name)
                *replies, holder = await pipe.execute(raise_on_error=False)
            if not replies[0] and holder == token:
                replies[0] = True
        taken, read, entries = replies
        error = next((reply for reply in replies if isinstance(reply, Exception)), None)
        if error is not None:  # a reply Redis refused: the lock, if taken, not kept
            if taken and not isinstance(taken, Exception):
                with contextlib.suppress(LockError):
                    await self._redis_lock(name, token).release()
            raise error
        if not taken:
            return None
        state, data = read
        return _Snapshot(
            _text(state),
            _text(data),
            unsettled_key=failed,
            unsettled=entries,
            token=token,
            pool=pool,
        )

    async def close(self) -> None:
        pass
