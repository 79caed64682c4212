"""Storage: migrations, SQLite concurrency settings and the repositories, on both backends."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from reports.model import DEFAULT_SPHERES
from reports.quarters import Quarter
from storage.db import InlineSqliteConnection, SqliteStatement, create_engine, create_sessionmaker
from storage.migrate import HEAD, alembic_config, upgrade_database
from storage.models import Base, Event, Organisation, Person, ReportingPeriod, Sphere
from storage.report_source import DatabaseReportSource, PeriodNotFound
from storage.repositories import (
    EventRepository,
    OrganisationRepository,
    PeriodRepository,
    PersonRepository,
    SphereRepository,
)
from tests import factories

REGION = "исполнительными органами Смоленской области и подведомственными им учреждениями"


async def test_it_creates_every_table_and_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        diff = await connection.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
        )

    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    assert diff == []


async def test_it_upgrades_an_upgraded_database_without_change(engine: AsyncEngine) -> None:
    await upgrade_database(engine)

    async with engine.connect() as connection:
        version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_it_runs_sqlite_in_wal_mode_with_one_writer_connection_in_the_loop(
    sqlite_engine: AsyncEngine,
) -> None:
    async with sqlite_engine.connect() as connection:
        mode = await connection.scalar(text("PRAGMA journal_mode"))
        timeout = await connection.scalar(text("PRAGMA busy_timeout"))
        foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
        driver = (await connection.get_raw_connection()).driver_connection

    assert mode == "wal"
    # No busy timeout in the event loop: a locked database is waited for in aiosqlite's
    # thread (tests/test_faults_db.py), and the process's writers take turns on one
    # connection instead of meeting SQLite's lock.
    assert timeout == 0
    assert isinstance(driver, InlineSqliteConnection)
    assert sqlite_engine.pool.size() == 1
    assert foreign_keys == 1


async def test_a_read_only_sqlite_engine_waits_in_its_threads(tmp_path: Path) -> None:
    reader = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", read_only=True)
    try:
        async with reader.connect() as connection:
            timeout = await connection.scalar(text("PRAGMA busy_timeout"))
            driver = (await connection.get_raw_connection()).driver_connection
    finally:
        await reader.dispose()

    assert timeout >= 5000
    assert driver is not None and not isinstance(driver, InlineSqliteConnection)


async def test_many_writers_at_once_do_not_hit_database_is_locked(engine: AsyncEngine) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        org = await factories.organisation(session)
        period = await factories.period(session)
        sphere = await factories.sphere(session)

    async def report(number: int) -> None:
        async with sessionmaker() as session, session.begin():
            # Read, then write: the pattern that deadlocks deferred SQLite transactions.
            await PeriodRepository(session).get(Quarter(2023, 4))
            await factories.event(
                session, period_=period, org=org, sphere_=sphere, name=f"Событие {number}"
            )

    await asyncio.gather(*(report(n) for n in range(40)))

    async with sessionmaker() as session:
        names = set(await session.scalars(select(Event.name)))
    assert names == {f"Событие {n}" for n in range(40)}


async def test_it_creates_a_period_once_even_when_asked_concurrently(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    deadline = datetime(2024, 1, 5, 15, tzinfo=UTC)

    async def ensure() -> int:
        async with sessionmaker() as session, session.begin():
            return (await PeriodRepository(session).ensure(Quarter(2023, 4), deadline)).id

    ids = await asyncio.gather(*(ensure() for _ in range(10)))

    async with sessionmaker() as session:
        periods = list(await session.scalars(select(ReportingPeriod)))
    assert len(periods) == 1
    assert set(ids) == {periods[0].id}
    assert periods[0].deadline == deadline
    assert periods[0].status == "open"


async def test_a_quarter_has_one_period_by_constraint(session: AsyncSession) -> None:
    deadline = datetime(2024, 1, 5, 15, tzinfo=UTC)
    session.add(ReportingPeriod(year=2023, quarter=4, deadline=deadline))
    session.add(ReportingPeriod(year=2023, quarter=4, deadline=deadline))

    with pytest.raises(IntegrityError):
        await session.flush()


async def test_it_keeps_the_configured_sphere_order_and_retires_dropped_ones(
    session: AsyncSession,
) -> None:
    spheres = SphereRepository(session)
    await spheres.sync(DEFAULT_SPHERES)

    active = await spheres.sync(["Сотрудничество в сфере здравоохранения", DEFAULT_SPHERES[0]])

    assert [s.name for s in active] == [
        "Сотрудничество в сфере здравоохранения",
        DEFAULT_SPHERES[0],
    ]
    retired = await spheres.by_name(DEFAULT_SPHERES[5])
    assert retired is not None and retired.active is False
    again = await spheres.sync(DEFAULT_SPHERES)
    assert [s.name for s in again] == list(DEFAULT_SPHERES)


async def test_it_bootstraps_coordinators_from_settings(session: AsyncSession) -> None:
    people = PersonRepository(session)
    org = await factories.organisation(session)
    reporter = await people.add(555, "Иванова Мария Петровна", organisation_id=org.id)
    await people.set_active(reporter, False)

    await people.bootstrap_coordinators([555, 777])
    await people.bootstrap_coordinators([555, 777])

    coordinators = await people.coordinators()
    assert [p.telegram_id for p in coordinators] == [555, 777]
    assert coordinators[0].full_name == "Иванова Мария Петровна"
    assert coordinators[0].active is True


async def test_it_stores_aware_utc_times_on_every_backend(session: AsyncSession) -> None:
    event = await factories.event(session)
    await session.commit()

    session.expunge_all()
    loaded = await EventRepository(session).get(event.id)

    assert loaded is not None
    assert loaded.submitted_at is not None and loaded.submitted_at.tzinfo is not None
    assert loaded.submitted_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert loaded.created_at <= loaded.submitted_at


async def test_it_submits_a_draft_once_and_deletes_by_marking(session: AsyncSession) -> None:
    events = EventRepository(session)
    draft = await factories.event(session, status="draft")
    assert draft.submitted_at is None

    await events.submit(draft)
    first = draft.submitted_at
    await events.submit(draft)

    assert draft.status == "submitted"
    assert draft.submitted_at == first
    await events.delete(draft)
    assert (await events.get(draft.id)).status == "deleted"  # type: ignore[union-attr]


async def test_the_database_refuses_an_end_before_the_start(session: AsyncSession) -> None:
    event = await factories.event(session)
    event.end_date = date(2023, 10, 1)

    with pytest.raises(IntegrityError):
        await session.flush()


async def test_the_report_holds_only_submitted_events_of_its_period(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session, session.begin():
        await SphereRepository(session).sync(DEFAULT_SPHERES)
        q4 = await factories.period(session)
        q3 = await factories.period(session, Quarter(2023, 3))
        sport = await factories.sphere(session, "Сотрудничество в сфере спорта")
        culture = await factories.sphere(session, "Сотрудничество в сфере культуры и туризма")
        await factories.event(session, period_=q4, sphere_=sport, name="Турнир")
        await factories.event(session, period_=q4, sphere_=culture, name="Выставка")
        await factories.event(session, period_=q4, sphere_=culture, name="Черновик", status="draft")
        deleted = await factories.event(session, period_=q4, sphere_=culture, name="Удалено")
        await EventRepository(session).delete(deleted)
        await factories.event(session, period_=q3, sphere_=culture, name="Сентябрь")
        periods = PeriodRepository(session)
        await periods.add_note(q4.id, "Вторая заметка")
        first = await periods.add_note(q4.id, "Первая заметка")
        first.position = -1

    report = await DatabaseReportSource(sessionmaker, REGION).load_report(Quarter(2023, 4))

    assert [group.sphere for group in report.groups] == [
        "Сотрудничество в сфере культуры и туризма",
        "Сотрудничество в сфере спорта",
    ]
    assert [row.cells[1] for group in report.groups for row in group.rows] == [
        "Выставка",
        "Турнир",
    ]
    assert report.notes == ("Первая заметка", "Вторая заметка")
    assert report.title.endswith("в IV квартале 2023 года")


async def test_a_period_that_does_not_exist_is_reported_as_such(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    source = DatabaseReportSource(sessionmaker, REGION)

    with pytest.raises(PeriodNotFound) as caught:
        await source.load_report(Quarter(2031, 1))

    assert caught.value.quarter == Quarter(2031, 1)


async def test_it_removes_only_a_note_of_the_same_period(session: AsyncSession) -> None:
    periods = PeriodRepository(session)
    q4 = await factories.period(session)
    q3 = await factories.period(session, Quarter(2023, 3))
    note = await periods.add_note(q4.id, "Заметка")

    assert await periods.remove_note(q3.id, note.id) is False
    assert await periods.remove_note(q4.id, note.id) is True
    assert await periods.notes(q4.id) == []


async def test_statements_run_on_the_sqlite_driver_store_what_sqlalchemy_stores(
    sqlite_engine: AsyncEngine,
) -> None:
    from storage import fsm
    from storage.models import FsmRecord
    from storage.repositories import updates

    at = datetime(2023, 11, 20, 12, 30, 15, 123456, tzinfo=UTC)
    data = {"draft": {"name": "Выставка «Смоленск – Минск»", "count": 18, "dates": None}}
    row = {"state": "ReportStates:place", "data": data, "updated_at": at}
    maker = create_sessionmaker(sqlite_engine)
    async with maker() as session, session.begin():
        await session.execute(fsm._UPSERTS["sqlite"], {"key": "by-sqlalchemy", **row})
        await fsm._SQLITE_UPSERT.run(session, {"key": "by-driver", **row})
        await session.execute(
            updates._CLAIMS["sqlite"], {"bot_id": 1, "update_id": 1, "created_at": at}
        )
        first = await updates._SQLITE_CLAIM.run(
            session, {"bot_id": 1, "update_id": 2, "created_at": at}
        )
        again = await updates._SQLITE_CLAIM.run(
            session, {"bot_id": 1, "update_id": 2, "created_at": at}
        )
        read = await fsm._SQLITE_SELECT.fetch(session, {"key": "by-sqlalchemy"})
        missing = await fsm._SQLITE_SELECT.fetch(session, {"key": "nobody"})
    async with maker() as session:
        stored = (
            await session.execute(
                text("SELECT state, data, updated_at FROM fsm_states ORDER BY key")
            )
        ).all()
        claims = (await session.execute(text("SELECT created_at FROM processed_updates"))).all()
        record = await session.get(FsmRecord, "by-driver")
        await fsm._SQLITE_DELETE.run(session, {"key": "by-driver"})
        await session.commit()
        left = (await session.execute(text("SELECT key FROM fsm_states"))).scalars().all()

    assert stored[0] == stored[1]  # the same text in the file, byte for byte
    assert claims[0] == claims[1]
    assert (first, again) == (1, 0)  # inserted, then skipped as already claimed
    assert read == [("ReportStates:place", data)] and missing == []
    assert record is not None and (record.data, record.updated_at) == (data, at)
    assert left == ["by-sqlalchemy"]


async def test_a_statement_failing_on_the_sqlite_driver_raises_as_sqlalchemy_would(
    sqlite_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError, StatementError

    from storage.repositories import updates

    claim = {"bot_id": 1, "update_id": 1, "created_at": datetime(2023, 11, 20, tzinfo=UTC)}
    maker = create_sessionmaker(sqlite_engine)
    original = InlineSqliteConnection._execute

    async def failing(self: InlineSqliteConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if args and "processed_updates" in str(args[0]):
            raise sqlite3.OperationalError("disk I/O error")
        return await original(self, fn, *args, **kwargs)

    async with maker() as session:
        monkeypatch.setattr(InlineSqliteConnection, "_execute", failing)
        with pytest.raises(OperationalError, match="disk I/O error"):
            await updates._SQLITE_CLAIM.run(session, claim)
        monkeypatch.setattr(InlineSqliteConnection, "_execute", original)
        await session.rollback()

    async with maker() as session:  # the connection under the transaction closes
        connection = await session.connection()
        await (await connection.get_raw_connection()).driver_connection.close()
        with pytest.raises(StatementError, match="no active connection"):
            await updates._SQLITE_CLAIM.run(session, claim)
        assert connection.invalidated  # the pool makes a new one for the next transaction
    async with maker() as session, session.begin():
        assert await updates._SQLITE_CLAIM.run(session, claim) == 1


async def test_a_person_snapshot_holds_the_stored_columns_outside_the_session(
    session: AsyncSession,
) -> None:
    people = PersonRepository(session)
    organisation = await OrganisationRepository(session).get_or_add("Смоленский музей")
    added = await people.add(5001, "Иванова Мария", organisation_id=organisation.id)
    await people.set_active(added, False)
    await session.commit()

    snapshot = await people.snapshot(5001)
    loaded = await people.by_telegram_id(5001)

    columns = [column.key for column in Person.__table__.c]
    assert snapshot is not None and loaded is not None
    assert [getattr(snapshot, key) for key in columns] == [getattr(loaded, key) for key in columns]
    assert snapshot.active is False and snapshot.created_at.tzinfo is not None
    assert inspect(snapshot).detached and snapshot not in session
    assert await people.snapshot(5002) is None


def _columns(row: Any, model: Any) -> list[Any]:
    return [getattr(row, column.key) for column in model.__table__.c]


async def test_a_detached_copy_is_what_the_constructor_and_make_transient_to_detached_make(
    session: AsyncSession,
) -> None:
    from sqlalchemy.orm import make_transient_to_detached

    from storage.db import detached

    values = {
        "id": 7,
        "telegram_id": 5001,
        "full_name": "Иванова Мария",
        "organisation_id": None,
        "role": "reporter",
        "active": True,
        "created_at": datetime(2023, 11, 20, tzinfo=UTC),
        "unreachable_since": None,
        "erased_at": None,
    }
    made = Person(**values)
    make_transient_to_detached(made)
    copy = detached(Person, values.items())

    made_state, copy_state = inspect(made), inspect(copy)
    assert _columns(copy, Person) == _columns(made, Person)
    assert copy_state.key == made_state.key == (Person, (7,), None)
    assert copy_state.detached and copy not in session
    assert copy_state.expired_attributes == made_state.expired_attributes
    assert copy_state.unloaded == made_state.unloaded == {"organisation"}
    assert copy_state.committed_state == made_state.committed_state == {}
    assert not copy_state.modified and not made_state.modified
    copy.unreachable_since = datetime(2023, 11, 21, tzinfo=UTC)  # a handler marks its copy
    assert copy_state.modified and copy not in session  # nothing stored changes


async def test_period_copies_hold_what_the_orm_loads_and_what_was_committed_last(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The periods the dialogue reads straight on the driver (`copies`, `snapshot`) are the
    rows the ORM loads, read anew each time: a period closed meanwhile is seen closed."""
    from zoneinfo import ZoneInfo

    msk = ZoneInfo("Europe/Moscow")
    now = datetime(2023, 11, 20, 9, tzinfo=UTC)  # IV квартал 2023 is collected

    def deadline(quarter: Quarter) -> datetime:
        return datetime(2030, 1, 1, tzinfo=UTC)

    async with sessionmaker() as session, session.begin():
        periods = PeriodRepository(session)
        third = await periods.ensure(Quarter(2023, 3), datetime(2023, 10, 10, tzinfo=UTC))
        fourth = await periods.ensure(Quarter(2023, 4), datetime(2024, 1, 10, tzinfo=UTC))
        await periods.set_status(third, "closed")

    async def both(session: AsyncSession) -> tuple[Any, Any]:
        periods = PeriodRepository(session)
        return (
            await periods.collecting(now, msk, deadline),
            await periods.collecting(now, msk, deadline, copies=True),
        )

    async with sessionmaker() as session, session.begin():
        loaded, copied = await both(session)
        assert copied.quarter == loaded.quarter == Quarter(2023, 4)
        assert copied.period is not None and loaded.period is not None
        assert _columns(copied.period, ReportingPeriod) == _columns(loaded.period, ReportingPeriod)
        assert [p.id for p in copied.open_periods] == [p.id for p in loaded.open_periods]
        assert inspect(copied.period).detached and copied.period is not loaded.period
        snapshot = await PeriodRepository(session).snapshot(fourth.id)
        assert snapshot is not None and inspect(snapshot).detached
        assert _columns(snapshot, ReportingPeriod) == _columns(loaded.period, ReportingPeriod)
        assert await PeriodRepository(session).snapshot(fourth.id + 100) is None
        current, open_now = await PeriodRepository(session).ensure_collecting(
            now, msk, deadline, copies=True
        )
        assert current.id == fourth.id and [p.id for p in open_now] == [fourth.id]

    async with sessionmaker() as session, session.begin():  # another worker closes it
        periods = PeriodRepository(session)
        stored = await periods.by_id(fourth.id)
        assert stored is not None
        await periods.set_status(stored, "closed")

    async with sessionmaker() as session, session.begin():
        loaded, copied = await both(session)
        assert copied.open_periods == loaded.open_periods == []
        snapshot = await PeriodRepository(session).snapshot(fourth.id)
        assert snapshot is not None and snapshot.status == "closed"


async def test_sphere_copies_hold_what_the_orm_loads_and_what_was_committed_last(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session, session.begin():
        active = await SphereRepository(session).sync(DEFAULT_SPHERES)

    async with sessionmaker() as session, session.begin():
        spheres = SphereRepository(session)
        assert await spheres.active_choices() == [(s.id, s.name) for s in active]
        loaded = await spheres.get(active[3].id)
        copy = await spheres.snapshot(active[3].id)
        assert copy is not None and loaded is not None and copy is not loaded
        assert _columns(copy, Sphere) == _columns(loaded, Sphere)
        assert inspect(copy).detached and copy not in session
        assert await spheres.snapshot(active[-1].id + 100) is None

    async with sessionmaker() as session, session.begin():  # a worker started with fewer
        await SphereRepository(session).sync(DEFAULT_SPHERES[:2])

    async with sessionmaker() as session, session.begin():
        spheres = SphereRepository(session)
        assert await spheres.active_choices() == [(s.id, s.name) for s in active[:2]]
        retired = await spheres.snapshot(active[3].id)
        assert retired is not None and retired.active is False


async def test_a_dedup_key_is_taken_when_by_dedup_key_finds_its_event(
    session: AsyncSession,
) -> None:
    museum = await factories.organisation(session, "Смоленский музей")
    other = await factories.organisation(session, "Смоленская библиотека")
    await factories.event(session, org=museum, dedup_key="abc", status="deleted")
    await session.commit()
    events = EventRepository(session)

    for organisation_id, key in ((museum.id, "abc"), (other.id, "abc"), (museum.id, "abd")):
        found = await events.by_dedup_key(organisation_id, key)
        assert await events.dedup_key_taken(organisation_id, key) is (found is not None)
    assert await events.dedup_key_taken(museum.id, "abc")  # whatever the event's status


# --- the start's shortcuts: a fresh file from the models, no Alembic at head ------------


def _schema(connection: sa.Connection) -> dict[str, Any]:
    """Every table as SQLite reflects it: columns in order, keys, indexes, checks, rows
    of data a migration may have written (alembic_version included)."""
    inspector = inspect(connection)
    schema: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        columns = [
            (c["name"], str(c["type"]), c["nullable"], c["default"], c.get("primary_key"))
            for c in inspector.get_columns(table)
        ]
        schema[table] = {
            "columns": columns,
            "primary_key": inspector.get_pk_constraint(table),
            "foreign_keys": sorted(
                (
                    fk["name"] or "",
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(
                (c["name"], " ".join(c["sqltext"].split()))
                for c in inspector.get_check_constraints(table)
            ),
            "rows": sorted(map(tuple, connection.execute(sa.text(f'SELECT * FROM "{table}"')))),
        }
    return schema


async def test_a_fresh_sqlite_file_gets_the_schema_every_migration_builds(
    tmp_path: Path,
) -> None:
    fresh = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    stepwise = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'stepwise.db'}")

    def migrate(connection: sa.Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    try:
        await upgrade_database(fresh)
        async with stepwise.begin() as connection:
            await connection.run_sync(migrate)
        async with fresh.connect() as one, stepwise.connect() as other:
            created, migrated = await one.run_sync(_schema), await other.run_sync(_schema)
    finally:
        await fresh.dispose()
        await stepwise.dispose()

    assert created == migrated
    assert created["alembic_version"]["rows"] == [(HEAD,)]


def test_the_head_the_start_compares_with_is_alembics() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


async def test_a_database_at_head_is_not_handed_to_alembic(
    sqlite_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("Alembic ran on a database at head")

    monkeypatch.setattr(command, "upgrade", refused)

    await upgrade_database(sqlite_engine)

    async with sqlite_engine.connect() as connection:
        version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    assert version == HEAD


async def test_a_database_behind_head_is_upgraded_by_alembic(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")

    def migrate_to(connection: sa.Connection, revision: str) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(migrate_to, "0012_outbox_owner")

        await upgrade_database(engine)

        async with engine.connect() as connection:
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            columns = await connection.run_sync(
                lambda c: {column["name"] for column in inspect(c).get_columns("events")}
            )
    finally:
        await engine.dispose()
    assert version == HEAD
    assert "review" in columns


async def test_driver_statements_run_in_the_transaction_of_the_moment(
    sqlite_engine: AsyncEngine,
) -> None:
    """The driver connection kept for a transaction is never used after it ends: a
    statement of the next transaction begins that transaction (BEGIN IMMEDIATE), and one
    rolled back with its transaction leaves nothing behind."""
    from storage.db import driver_of

    insert = SqliteStatement(
        sa.insert(Organisation.__table__).values(
            name=sa.bindparam("name"), created_at=sa.bindparam("at")
        )
    )
    maker = create_sessionmaker(sqlite_engine)
    at = datetime(2023, 11, 20, tzinfo=UTC)
    async with maker() as session:
        async with session.begin():
            first = await driver_of(session)
            assert await driver_of(session) == first  # kept while the transaction lasts
            await insert.run(session, {"name": "Kept", "at": at})
        assert not session.in_transaction()
        await insert.run(session, {"name": "Rolled back", "at": at})
        assert session.in_transaction()  # begun anew, not run on the old one's entry
        await session.rollback()
        async with session.begin():
            names = list(await session.scalars(select(Organisation.name)))
    assert names == ["Kept"]
