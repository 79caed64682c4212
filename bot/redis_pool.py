"""The Redis connection pool of REDIS_URL: redis-py's BlockingConnectionPool, waits timed,
and an idle connection handed out and taken back without its ceremony.

redis-py's `get_connection` takes the pool's condition and lock, starts a timeout, checks
its deprecated arguments, asks the connection to connect through its retry policy (a no-op
when it is connected) and records OpenTelemetry figures; `release` takes the lock and the
condition again and dispatches a release event (a re-authentication for streaming
credential providers). Each update takes a connection three times (bot/workers.py), and
this ceremony cost about as much as the exchanges themselves (bench/dialogue.py).

`ReadyFirstPool` hands out an idle connection synchronously when nothing calls for the
ceremony: nobody waits for a connection (redis-py's release wakes them), the pool is
not in a maintenance, no credential provider is configured (its re-authentication happens at
release), the protocol is RESP2 (RESP3 may push to an idle connection), and the connection
is connected with no reconnection asked for. One with something unread (a reply left by a
command given up half-way) is closed and connected anew first. A connection is taken back
the same way when nobody waits for one. Anything else goes
through redis-py's own methods, whose bookkeeping (`_available_connections`,
`_in_use_connections`) the fast path shares: both paths are the same pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError

# What the fast path relies on in redis-py's pool (its connections' parts: `_state`);
# without one of them (another redis-py), every checkout takes redis-py's own path.
_POOL_PARTS = ("_available_connections", "_in_use_connections", "connection_kwargs")


class ReadyFirstPool(BlockingConnectionPool):
    """BlockingConnectionPool whose waits are told to `waited` (seconds, timed_out=) and
    whose idle, clean connections are handed out and taken back at once (module doc)."""

    def __init__(
        self, *args: Any, waited: Callable[..., None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._waited = waited
        self._waiting = 0  # callers in redis-py's get_connection (its release wakes them)
        self._fast = (
            all(hasattr(self, part) for part in _POOL_PARTS)
            and self.connection_kwargs.get("credential_provider") is None
            and str(self.connection_kwargs.get("protocol") or 2) == "2"
        )

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        connection = await self._take_idle() if not args and not kwargs else None
        if connection is not None:
            if self._waited is not None:
                self._waited(0.0)
            return connection
        started = time.monotonic()
        self._waiting += 1
        try:
            connection = await super().get_connection(*args, **kwargs)
        except RedisConnectionError as error:  # "No connection available." at the timeout
            if self._waited is not None and isinstance(error.__cause__, TimeoutError):
                self._waited(time.monotonic() - started, timed_out=True)
            raise
        finally:
            self._waiting -= 1
        if self._waited is not None:
            self._waited(time.monotonic() - started)
        return connection

    async def release(self, connection: Any) -> None:
        if (
            self._fast
            and not self._waiting
            and not getattr(self, "_in_maintenance", False)
            and connection in self._in_use_connections
            and not connection.should_reconnect()
        ):
            self._in_use_connections.remove(connection)
            self._available_connections.append(connection)
            return
        await super().release(connection)

    async def _take_idle(self) -> Any:
        """The most recently used idle connection, taken, when it needs no ceremony; else
        None. One with something unread is closed and connected anew before it is handed
        out: redis-py 8.1's own check lets it through (its `maint_notifications_enabled()`
        is the truthy string "auto"), and the next command would read the old replies."""
        if not self._fast or self._waiting or getattr(self, "_in_maintenance", False):
            return None
        idle = self._available_connections
        if not idle:
            return None
        state = _state(idle[-1])
        if state is None:
            return None  # not connected, or parts unknown: redis-py's own path
        connection = idle.pop()
        self._in_use_connections.add(connection)
        if state == "dirty":
            try:
                await connection.disconnect()
                await connection.connect()
            except BaseException:
                await super().release(connection)
                raise
        return connection


def _state(connection: Any) -> str | None:
    """The connection's state. "clean": connected, no reconnection asked for, nothing
    unread; "dirty": connected, but a reply is left in its parser, or bytes (or the end
    of the stream) wait in its reader; None: not connected, a reconnection asked for, or
    a connection or parser whose parts are unknown here (another redis-py, or no hiredis)."""
    try:
        if not connection.is_connected or connection.should_reconnect():
            return None
        reader = connection._reader
        unread = connection._parser._reader.has_data() or reader._buffer or reader.at_eof()
    except AttributeError:
        return None
    return "dirty" if unread else "clean"
