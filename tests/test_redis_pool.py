"""The Redis pool (bot/redis_pool.py): an idle, clean connection is handed out and taken
back without redis-py's ceremony; whoever waits is woken as one comes back; a connection
with something unread or closed by the server is connected anew before it is handed out
(redis-py 8.1's own pool hands it out: the next command reads an old reply); with a
credential provider every checkout goes through redis-py. On the real Redis (skipped
outside CI without it).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import BlockingConnectionPool, Redis
from redis.credentials import UsernamePasswordCredentialProvider

from bot.database import redis_pool
from bot.metrics import REGISTRY
from bot.redis_pool import ReadyFirstPool
from bot.settings import Settings
from tests.conftest import REDIS_URL, need_redis, redis_db

URL = f"{REDIS_URL}/{redis_db(12)}"


class Ceremonies:
    """Counts the checkouts and releases that went through redis-py's own methods."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gets = 0
        self.releases = 0
        get, release = BlockingConnectionPool.get_connection, BlockingConnectionPool.release

        async def counted_get(pool: Any, *args: Any, **kwargs: Any) -> Any:
            self.gets += 1
            return await get(pool, *args, **kwargs)

        async def counted_release(pool: Any, connection: Any) -> None:
            self.releases += 1
            await release(pool, connection)

        monkeypatch.setattr(BlockingConnectionPool, "get_connection", counted_get)
        monkeypatch.setattr(BlockingConnectionPool, "release", counted_release)


@pytest.fixture
def ceremonies(monkeypatch: pytest.MonkeyPatch) -> Ceremonies:
    return Ceremonies(monkeypatch)


@pytest.fixture
async def key() -> AsyncIterator[str]:
    need_redis()
    name = f"test_redis_pool:{uuid.uuid4().hex}"
    yield name
    cleaner = Redis.from_url(URL)
    await cleaner.delete(name)
    await cleaner.aclose()


def _pool(max_connections: int = 2, **kwargs: Any) -> ReadyFirstPool:
    return ReadyFirstPool.from_url(URL, max_connections=max_connections, timeout=5, **kwargs)


@contextlib.asynccontextmanager
async def _client(pool: ReadyFirstPool) -> AsyncIterator[Redis]:
    """A client on `pool`; the pool's connections closed after (the client does not own it)."""
    client = Redis(connection_pool=pool)
    try:
        yield client
    finally:
        await client.aclose()
        await pool.disconnect()


async def test_an_idle_connection_is_handed_out_and_taken_back_without_redis_pys_ceremony(
    ceremonies: Ceremonies, key: str
) -> None:
    pool = _pool()
    async with _client(pool) as client:
        await client.set(key, "1")  # the first connection is made by redis-py
        assert (ceremonies.gets, ceremonies.releases) == (1, 0)
        for value in range(2, 12):
            await client.set(key, str(value))
        assert await client.get(key) == b"11"
        assert (ceremonies.gets, ceremonies.releases) == (1, 0)
        assert len(pool._available_connections) == 1 and not pool._in_use_connections


async def test_whoever_waits_is_woken_as_a_connection_comes_back_and_wakes_the_next(
    ceremonies: Ceremonies, key: str
) -> None:
    pool = _pool(max_connections=1)
    async with _client(pool) as client:
        await client.set(key, "0")
        held = await pool.get_connection()  # the only connection, taken at once
        served: list[str] = []

        async def wait_for_one(name: str) -> None:
            connection = await pool.get_connection()
            served.append(name)
            await pool.release(connection)

        first = asyncio.create_task(wait_for_one("first"))
        await asyncio.sleep(0)  # the first is waiting in redis-py's pool
        second = asyncio.create_task(wait_for_one("second"))
        await asyncio.sleep(0)
        assert served == [] and pool._waiting == 2
        await pool.release(held)  # through redis-py: it wakes the first waiter
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        assert served == ["first", "second"]  # the first woke the second as it gave it back
        assert pool._waiting == 0
        assert await client.incr(key) == 1  # the pool whole again, the fast path back
        assert len(pool._available_connections) == 1 and not pool._in_use_connections


async def test_a_connection_with_replies_unread_is_connected_anew_before_it_is_handed_out(
    ceremonies: Ceremonies, key: str
) -> None:
    pool = _pool(max_connections=1)
    async with _client(pool) as client:
        await client.set(key, "mine")
        connection = await pool.get_connection()
        await connection.send_command("GET", key)  # its reply never read
        await connection.send_command("PING")
        await asyncio.wait_for(_until_heard(connection), 5)
        await pool.release(connection)
        assert await client.get(key) == b"mine"  # from a new connection: not an old reply
        assert await client.set(key, "next") is True  # not the PING's «PONG»
        assert await client.get(key) == b"next"
        assert connection._reader._buffer == b"" and not connection._parser._reader.has_data()


async def test_a_connection_the_server_closed_is_made_anew(
    ceremonies: Ceremonies, key: str
) -> None:
    pool = _pool(max_connections=1)
    killer = Redis.from_url(URL)
    async with _client(pool) as client, contextlib.aclosing(killer):
        await client.set(key, "before")
        idle = pool._available_connections[-1]
        await client.client_setname("test-redis-pool-victim")
        assert await killer.client_kill_filter(_id=await client.client_id()) == 1
        await asyncio.wait_for(_until_heard(idle), 5)
        assert idle._reader.at_eof()
        assert await client.get(key) == b"before"
        assert idle.is_connected and not idle._reader.at_eof()  # connected anew
        assert len(pool._available_connections) == 1 and not pool._in_use_connections


async def test_with_a_credential_provider_every_checkout_goes_through_redis_py(
    ceremonies: Ceremonies, key: str
) -> None:
    pool = _pool(credential_provider=UsernamePasswordCredentialProvider())
    async with _client(pool) as client:
        for value in range(3):
            await client.set(key, str(value))
        assert (ceremonies.gets, ceremonies.releases) == (3, 3)


async def test_the_settings_pool_is_this_one_and_each_checkout_is_observed(key: str) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=SecretStr("123456:TEST-token-for-recording-session-000"),
        redis_url=URL,
        redis_max_connections=3,
        pool_slow_wait=60,
    )
    pool = redis_pool(settings)
    assert isinstance(pool, ReadyFirstPool) and pool.max_connections == 3
    before = _observed()
    async with _client(pool) as client:
        for value in range(4):
            await client.set(key, str(value))
        assert _observed() == before + 4  # the first by redis-py's path, three fast ones


def _observed() -> float:
    return REGISTRY.get_sample_value("bot_pool_wait_seconds_count", {"pool": "redis"}) or 0.0


async def _until_heard(connection: Any) -> None:
    """Until the server's bytes (or the end of the stream) reach the connection's reader,
    unread: asyncio's own wait for data, woken by the transport (no polling)."""
    reader = connection._reader
    if not reader._buffer and not reader.at_eof():
        await reader._wait_for_data("test")
