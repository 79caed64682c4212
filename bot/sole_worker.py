"""Without Redis a webhook worker must be the only one on its database.

Several webhook workers share the work safely only through Redis (bot/workers.py): the
per-chat lock, and the heartbeats that tell a dead worker's outbox rows from a live one's.
Without Redis nothing would keep two updates of one chat on two workers apart, and a
worker would take another's rows on the lease alone. So a webhook worker without
REDIS_URL holds, for its whole life, a lock that a second one cannot take, and a second
one stops at start with one Russian line saying to set REDIS_URL:

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection of
  its own, kept open; PostgreSQL frees it when that connection ends, killed or not.
- SQLite: an exclusive `flock` on `bot.db.webhook.lock` beside the database; the kernel
  frees it when the process ends.

Long polling needs none of this: Telegram serves one poller per bot.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import texts
from bot.settings import StartupError

log = logging.getLogger(__name__)

_PG_LOCK = "SELECT pg_try_advisory_lock(hashtextextended(:key, 0))"
_PG_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(:key, 0))"


def _key(bot_id: int) -> str:
    return f"report-bot:webhook-without-redis:{bot_id}"


@contextlib.asynccontextmanager
async def sole_webhook_worker(engine: AsyncEngine, bot_id: int) -> AsyncIterator[None]:
    """Hold, for the block, the lock of the one webhook worker without Redis of `bot_id`
    on `engine`'s database; a `StartupError` when another worker holds it."""
    if engine.dialect.name == "postgresql":
        async with _postgres_lock(engine, _key(bot_id)):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # a database of this process alone
        return
    with _file_lock(Path(database).with_name(Path(database).name + ".webhook.lock")):
        yield


@contextlib.asynccontextmanager
async def _postgres_lock(engine: AsyncEngine, key: str) -> AsyncIterator[None]:
    connection = await engine.connect()
    try:
        locked = await connection.scalar(text(_PG_LOCK), {"key": key})
        await connection.commit()  # the lock is the session's: it outlives the transaction
        if not locked:
            raise StartupError(texts.SECOND_WEBHOOK_WORKER)
        log.info("the only webhook worker without Redis on this database")
        try:
            yield
        finally:
            try:
                await connection.scalar(text(_PG_UNLOCK), {"key": key})
                await connection.commit()
            except Exception:  # the connection is closed below: PostgreSQL frees it then
                log.exception("could not release the webhook worker's advisory lock")
                await connection.invalidate()
    finally:
        await connection.close()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StartupError(texts.SECOND_WEBHOOK_WORKER) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
