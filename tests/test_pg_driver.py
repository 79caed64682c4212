"""PostgreSQL: the statements run straight on asyncpg (storage.db `PgStatement`) store and
read what SQLAlchemy does, fail as SQLAlchemy would, and the pool hands out no connection
the server closed (`ping_by_beginning`). CI-gated like the other PostgreSQL tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, IntegrityError, PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine, create_sessionmaker
from storage.repositories import (
    OrganisationRepository,
    PersonRepository,
    ProcessedUpdateRepository,
)
from storage.repositories.outbox import OutboxRepository
from tests.conftest import POSTGRES_URL

AT = datetime(2023, 11, 20, 12, 30, 15, 123456, tzinfo=UTC)


async def test_the_claim_and_the_person_read_with_it_are_what_sqlalchemy_reads(
    pg_engine: AsyncEngine,
) -> None:
    from storage.repositories import updates

    maker = create_sessionmaker(pg_engine)
    async with maker() as session, session.begin():
        organisation = await OrganisationRepository(session).get_or_add("Смоленский музей")
        await PersonRepository(session).add(5001, "Иванова Мария", organisation_id=organisation.id)
    async with maker() as session, session.begin():
        await session.execute(
            updates._CLAIMS["postgresql"], {"bot_id": 1, "update_id": 1, "created_at": AT}
        )
        first = await updates._PG_CLAIM.run(
            session, {"bot_id": 1, "update_id": 2, "created_at": AT}
        )
        again = await updates._PG_CLAIM.run(
            session, {"bot_id": 1, "update_id": 2, "created_at": AT}
        )
        repository = ProcessedUpdateRepository(session)
        taken, person = await repository.claim_with_person(1, 3, 5001, now=AT)
        retaken, nobody = await repository.claim_with_person(1, 3, 5001, now=AT)
        stranger = await repository.claim_with_person(1, 4, 9999, now=AT)
        expected = await PersonRepository(session).snapshot(5001)
    async with maker() as session:
        claims = (
            await session.execute(
                text("SELECT update_id, created_at FROM processed_updates ORDER BY update_id")
            )
        ).all()

    assert (first, again) == (1, 0)  # inserted, then skipped as already claimed
    assert claims == [(1, AT), (2, AT), (3, AT), (4, AT)]
    assert taken and person is not None and expected is not None
    columns = [column.key for column in person.__table__.columns]
    assert [getattr(person, c) for c in columns] == [getattr(expected, c) for c in columns]
    assert (person.full_name, person.organisation_id) == ("Иванова Мария", organisation.id)
    assert (retaken, nobody) == (False, None)  # a redelivery: nobody looked up
    assert stranger == (True, None)  # claimed; no such person


async def test_outbox_rows_written_and_read_on_the_driver_are_the_orms(
    pg_engine: AsyncEngine,
) -> None:
    maker = create_sessionmaker(pg_engine)
    async with maker() as session, session.begin():
        outbox = OutboxRepository(session)
        ids = [
            await outbox.add(1, 42, "sendMessage", '{"text": "Вопрос"}', due_at=AT, now=AT)
            for _ in range(3)
        ]
        await outbox.add(1, 42, "job:report", "{}", due_at=AT, now=AT)  # a job: not the chat's
        await outbox.add(1, 43, "sendMessage", "{}", due_at=AT, now=AT, owner="w:1")
    async with maker() as session:
        rows = await OutboxRepository(session).of_chat(1, 42, delivered_since=AT - timedelta(1))
        orm = await OutboxRepository(session).owed(due_by=None)
    async with maker() as session, session.begin():
        await OutboxRepository(session).done_all(ids[:2])
    async with maker() as session:
        left = await OutboxRepository(session).of_chat(1, 42, delivered_since=AT)

    assert [row.id for row in rows.owed] == ids and rows.delivered_at is None
    assert rows.owed == [row for row in orm if row.id in ids]  # every field alike
    assert rows.owed[0].created_at == AT and rows.owed[0].payload == '{"text": "Вопрос"}'
    assert [row.id for row in left.owed] == ids[2:]


async def test_a_statement_failing_on_the_driver_raises_as_sqlalchemy_would(
    pg_engine: AsyncEngine,
) -> None:
    from storage.repositories import updates

    maker = create_sessionmaker(pg_engine)
    claim = {"bot_id": 1, "update_id": 1, "created_at": None}  # NOT NULL
    async with maker() as session:
        with pytest.raises(IntegrityError) as refused:
            await updates._PG_CLAIM.run(session, claim)
        assert "created_at" in str(refused.value)
        assert "parameters hidden" in str(refused.value)  # never the values
        await session.rollback()

    seen: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(pg_engine.sync_engine, "before_cursor_execute", statement)
    claim["created_at"] = AT
    async with maker() as session:
        connection = await session.connection()
        await (await connection.get_raw_connection()).driver_connection.close()
        with pytest.raises(DBAPIError) as gone:
            await updates._PG_CLAIM.run(session, claim)
        assert gone.value.connection_invalidated and connection.invalidated
    event.remove(pg_engine.sync_engine, "before_cursor_execute", statement)
    async with maker() as session, session.begin():  # the pool made a new connection
        assert await updates._PG_CLAIM.run(session, claim) == 1

    assert seen and seen[0].startswith("INSERT INTO processed_updates")  # events are told


async def test_a_connection_the_server_closed_between_transactions_is_replaced(
    pg_engine: AsyncEngine,
) -> None:
    maker = create_sessionmaker(pg_engine)
    async with maker() as session:
        old = await session.scalar(text("SELECT pg_backend_pid()"))
    async with maker() as session:
        assert await session.scalar(text("SELECT pg_backend_pid()")) == old  # pooled
    admin = create_engine(POSTGRES_URL)
    try:
        async with admin.connect() as connection:
            # Waits (up to 5 s) until the backend is gone, as after a restart.
            assert await connection.scalar(text(f"SELECT pg_terminate_backend({old}, 5000)"))
    finally:
        await admin.dispose()
    async with maker() as session:
        new = await session.scalar(text("SELECT pg_backend_pid()"))

    assert new != old  # replaced when handed out, before the statement


async def test_driver_statements_run_in_the_transaction_of_the_moment(
    pg_engine: AsyncEngine,
) -> None:
    """The connection kept for a transaction (storage.db `_connection_of`) is never used
    after the transaction ends, nor once it is invalidated: a statement of the next
    transaction begins that one, and one rolled back with it leaves nothing behind."""
    from storage.repositories import updates

    def claim(update_id: int) -> dict[str, Any]:
        return {"bot_id": 1, "update_id": update_id, "created_at": AT}

    maker = create_sessionmaker(pg_engine)
    async with maker() as session:
        async with session.begin():
            assert await updates._PG_CLAIM.run(session, claim(1)) == 1
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            assert await updates._PG_CLAIM.run(session, claim(2)) == 1  # the same transaction
        assert not session.in_transaction()
        assert await updates._PG_CLAIM.run(session, claim(3)) == 1
        assert session.in_transaction()  # begun anew, not run on the old one's entry
        await session.rollback()

        await updates._PG_CLAIM.run(session, claim(4))  # its connection kept, then lost
        await (await (await session.connection()).get_raw_connection()).driver_connection.close()
        with pytest.raises(DBAPIError) as gone:
            await updates._PG_CLAIM.run(session, claim(5))
        assert gone.value.connection_invalidated
        with pytest.raises(PendingRollbackError):  # as SQLAlchemy says, not the closed one's
            await updates._PG_CLAIM.run(session, claim(5))
        await session.rollback()
        async with session.begin():  # a new connection, not the closed one kept before
            assert await updates._PG_CLAIM.run(session, claim(6)) == 1
            assert await session.scalar(text("SELECT pg_backend_pid()")) != pid
    async with maker() as session:
        claimed = list(await session.scalars(text("SELECT update_id FROM processed_updates")))

    assert sorted(claimed) == [1, 2, 6]
