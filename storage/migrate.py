"""Alembic, driven from code: the app upgrades the database to head at start.

Most starts find the schema at head already, and a short command (`python -m bot import`)
pays for every module it loads: the revision in `alembic_version` is compared with
`HEAD` first, and Alembic (its script directory, every migration module) is loaded only
when there is something to do. A fresh, empty SQLite file gets the models' schema in
one `create_all` and is stamped at `HEAD`, the schema every migration in turn would
have built (tests/test_storage.py compares the two routes, and `HEAD` with Alembic's).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, MetaData, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateColumn

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "0013_review"  # the newest migration's revision (kept equal to Alembic's head)
_PG_LOCK_ID = 7_240_113  # any constant: serialises concurrent upgrades on PostgreSQL


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at our migrations (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def current_revision(connection: Connection) -> str | None:
    """The revision the database is stamped with; None for a database Alembic never saw."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    found = list(versions)
    return found[0] if len(found) == 1 else None


# Columns a migration added to an existing SQLite table (ALTER TABLE ADD COLUMN) with an
# inline, unnamed REFERENCES instead of a named table constraint: created the same way
# here, so a later migration dropping the column in place works on both routes.
_INLINE_REFERENCES = {("events", "reviewed_by_id")}
_INLINE = "inline_references"  # Column.info key read by the SQLite column compiler below


@compiles(CreateColumn, "sqlite")
def _column_with_inline_references(element: CreateColumn, compiler: Any, **kw: Any) -> str:
    text = compiler.visit_create_column(element, **kw)
    target = element.element.info.get(_INLINE)
    return f"{text} REFERENCES {target}" if text and target else text


def create_fresh(connection: Connection) -> None:
    """The models' schema in an empty database, stamped at `HEAD`."""
    from storage.models import Base

    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    if connection.dialect.name == "sqlite":
        for table_name, column_name in _INLINE_REFERENCES:
            table = metadata.tables[table_name]
            column = table.c[column_name]
            (key,) = column.foreign_keys
            table.constraints.discard(key.constraint)
            table.foreign_keys.discard(key)
            column.foreign_keys.discard(key)
            target = key.column
            column.info[_INLINE] = f"{target.table.name} ({target.name})"
    metadata.create_all(connection, checkfirst=False)  # the caller found no table at all
    connection.execute(
        text(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD})


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    if revision in ("head", HEAD):
        if current_revision(connection) == HEAD:
            return
        if connection.dialect.name == "sqlite" and not inspect(connection).get_table_names():
            create_fresh(connection)
            return
    _alembic_upgrade(connection, revision)


def _alembic_upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` in one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)
