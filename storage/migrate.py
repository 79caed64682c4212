"""Alembic, driven from code: the app upgrades the database to head at start.

Most starts find the schema at head already, and a short command (`python -m bot import`)
pays for every module it loads: the revision in `alembic_version` is compared with
`HEAD` first, and Alembic (its script directory, every migration module) is loaded only
when there is something to do. A fresh, empty SQLite file gets the models' schema
straight from their tables (no copy of the metadata, no check per table) and is stamped
at `HEAD`, the schema every migration in turn would have built (tests/test_storage.py
compares the two routes, and `HEAD` with Alembic's).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable

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
# (table, column) → "table (column)" it references, while create_fresh runs
_inline_targets: ContextVar[Mapping[tuple[str, str], str]] = ContextVar(
    "inline_targets", default=MappingProxyType({})
)


@compiles(CreateColumn, "sqlite")
def _column_with_inline_references(element: CreateColumn, compiler: Any, **kw: Any) -> str:
    text = compiler.visit_create_column(element, **kw)
    column = element.element
    target = _inline_targets.get().get((column.table.name, column.name))
    return f"{text} REFERENCES {target}" if text and target else text


def create_fresh(connection: Connection) -> None:
    """The models' schema in an empty SQLite database, stamped at `HEAD`: each table and
    its indexes, as `create_all` would emit them, but the foreign keys of
    `_INLINE_REFERENCES` inline on their columns (the models' metadata is not changed)."""
    from storage.models import Base

    inline: dict[tuple[str, str], str] = {}
    left_out = set()
    for table_name, column_name in _INLINE_REFERENCES:
        (key,) = Base.metadata.tables[table_name].c[column_name].foreign_keys
        inline[table_name, column_name] = f"{key.column.table.name} ({key.column.name})"
        left_out.add(key.constraint)
    token = _inline_targets.set(inline)
    try:
        for table in Base.metadata.sorted_tables:
            kept = [key for key in table.foreign_key_constraints if key not in left_out]
            connection.execute(CreateTable(table, include_foreign_key_constraints=kept))
            for index in sorted(table.indexes, key=lambda index: str(index.name)):
                connection.execute(CreateIndex(index))
    finally:
        _inline_targets.reset(token)
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
