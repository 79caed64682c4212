"""What `Outbox.forget` sends the database once Telegram answered: on PostgreSQL each batch
of rows is one DELETE in autocommit (one round trip: no BEGIN, no COMMIT) on a pooled
connection that goes back to the pool idle, a connection the server closed is invalidated
and the batch deleted once more on another, a failure after that only logged; on SQLite
the batch is a transaction of its own, as before. PostgreSQL tests are CI-gated."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.outbox import Outbox
from storage.db import create_engine, create_sessionmaker
from storage.models import OutboxMessage
from storage.repositories.outbox import OutboxRepository
from tests.conftest import POSTGRES_URL

AT = datetime(2023, 11, 20, 12, 30, tzinfo=UTC)


@dataclass
class Wire:
    """What the engine's connections send the server (asyncpg's query logger: every query,
    BEGIN and COMMIT included), as (backend pid, query, its parameters), and the
    connections given back to the pool closed (they must be invalidated instead)."""

    sent: list[tuple[int, str, tuple[Any, ...]]] = field(default_factory=list)
    returned_closed: list[int] = field(default_factory=list)

    def watch(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "connect", self._connected)
        event.listen(engine.sync_engine, "checkin", self._checked_in)

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        pid = driver.get_server_pid()
        driver.add_query_logger(lambda query: self.sent.append((pid, query.query, query.args)))

    def _checked_in(self, dbapi_connection: Any, _record: Any) -> None:
        # None: invalidated (its connection closed, a new one made at its next checkout).
        if dbapi_connection is not None and dbapi_connection.driver_connection.is_closed():
            self.returned_closed.append(dbapi_connection.driver_connection.get_server_pid())


@pytest.fixture
async def pooled(pg_engine: AsyncEngine) -> AsyncIterator[tuple[AsyncEngine, Wire]]:
    """An engine of one pooled connection on the migrated PostgreSQL database, watched."""
    engine = create_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
    wire = Wire()
    wire.watch(engine)
    yield engine, wire
    await engine.dispose()


async def rows(engine: AsyncEngine, count: int) -> tuple[list[int], int]:
    """`count` outbox rows written, and the backend pid of the connection that wrote them."""
    async with create_sessionmaker(engine)() as session, session.begin():
        outbox = OutboxRepository(session)
        ids = [
            await outbox.add(1, 42, "sendMessage", "{}", due_at=AT, now=AT) for _ in range(count)
        ]
        pid = int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)
    return ids, pid


async def left(engine: AsyncEngine) -> list[int]:
    async with create_sessionmaker(engine)() as session:
        return list(await session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))


async def backend(pid: int) -> tuple[Any, ...] | None:
    """What the server says of backend `pid` (its state, whether a transaction is open),
    asked on a connection of its own (it also lets the query loggers' calls run)."""
    admin = create_engine(POSTGRES_URL)
    try:
        async with admin.connect() as connection:
            found = await connection.execute(
                text("SELECT state, xact_start IS NOT NULL FROM pg_stat_activity WHERE pid = :p"),
                {"p": pid},
            )
            row = found.one_or_none()
            return None if row is None else tuple(row)
    finally:
        await admin.dispose()


async def terminate(pid: int) -> None:
    admin = create_engine(POSTGRES_URL)
    try:
        async with admin.connect() as connection:
            # Waits (up to 5 s) until the backend is gone, as after a restart.
            assert await connection.scalar(text(f"SELECT pg_terminate_backend({pid}, 5000)"))
    finally:
        await admin.dispose()


async def forget(engine: AsyncEngine, outbox: Outbox, *row_ids: int) -> None:
    """The rows forgotten as the replies' middleware does: one `forget` each, at once."""
    async with AsyncSession(bind=engine) as update_session:
        await asyncio.gather(*(outbox.forget(update_session, row) for row in row_ids))


async def test_on_postgresql_a_batch_is_one_statement_and_its_connection_stays_idle(
    pooled: tuple[AsyncEngine, Wire],
) -> None:
    engine, wire = pooled
    ids, pid = await rows(engine, 5)
    outbox = Outbox()
    await forget(engine, outbox, ids[0])  # the connection learns DELETE's int[] type first
    await backend(pid)
    wire.sent.clear()

    await forget(engine, outbox, *ids[1:4])  # answered together: the 2nd one's DELETE...
    state = await backend(pid)  # ...runs while the 3rd and 4th gather behind it
    sent = list(wire.sent)
    remaining = await left(engine)
    async with create_sessionmaker(engine)() as session:
        reused = await session.scalar(text("SELECT pg_backend_pid()"))

    assert [(pid_, " ".join(query.split())[:30], args) for pid_, query, args in sent] == [
        (pid, "DELETE FROM outbox WHERE outbo", ([ids[1]],)),
        (pid, "DELETE FROM outbox WHERE outbo", ([ids[2], ids[3]],)),
    ]  # no BEGIN, no COMMIT, and no ROLLBACK as the pool takes the connection back
    assert state == ("idle", False)  # not "idle in transaction"
    assert remaining == ids[4:]
    assert reused == pid and not wire.returned_closed


async def test_on_postgresql_a_batch_whose_connection_the_server_closed_is_deleted_on_another(
    pooled: tuple[AsyncEngine, Wire],
) -> None:
    engine, wire = pooled
    ids, pid = await rows(engine, 2)
    await terminate(pid)
    wire.sent.clear()

    await forget(engine, Outbox(), ids[0])
    remaining = await left(engine)
    async with create_sessionmaker(engine)() as session:
        now = await session.scalar(text("SELECT pg_backend_pid()"))
    anew = [query for pid_, query, _ in wire.sent if pid_ != pid]

    assert remaining == ids[1:]
    assert now != pid and not wire.returned_closed  # invalidated, never handed out again
    deletes = [query for query in anew if query.startswith("DELETE FROM outbox")]
    assert len(deletes) == 1 and anew[0] == "BEGIN;" and "COMMIT;" in anew  # pinged first


async def test_on_postgresql_a_batch_failing_twice_is_only_logged(
    pooled: tuple[AsyncEngine, Wire], caplog: pytest.LogCaptureFixture
) -> None:
    engine, wire = pooled
    ids, _ = await rows(engine, 1)
    deletes: list[str] = []

    def cut(connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.startswith("DELETE FROM outbox"):
            deletes.append(sql)
            connection.connection.driver_connection.terminate()  # lost as it is sent

    event.listen(engine.sync_engine, "before_cursor_execute", cut)
    with caplog.at_level(logging.ERROR, logger="bot.outbox"):
        await forget(engine, Outbox(), ids[0])  # returns: the person has the message
    event.remove(engine.sync_engine, "before_cursor_execute", cut)

    assert len(deletes) == 2  # tried once more, on another connection, and no more
    assert "could not mark outbox rows" in caplog.text
    assert await left(engine) == ids  # owed still: it goes out once more at the next pass
    assert not wire.returned_closed


async def test_on_sqlite_a_batch_is_a_transaction_of_its_own(sqlite_engine: AsyncEngine) -> None:
    transactions: list[str] = []
    event.listen(sqlite_engine.sync_engine, "begin", lambda _c: transactions.append("BEGIN"))
    event.listen(sqlite_engine.sync_engine, "commit", lambda _c: transactions.append("COMMIT"))
    async with create_sessionmaker(sqlite_engine)() as session, session.begin():
        outbox = OutboxRepository(session)
        ids = [await outbox.add(1, 42, "sendMessage", "{}", due_at=AT, now=AT) for _ in range(3)]
    transactions.clear()

    await forget(sqlite_engine, Outbox(), ids[0])

    assert transactions == ["BEGIN", "COMMIT"]
    assert await left(sqlite_engine) == ids[1:]
