"""Alembic, driven from code: the app upgrades the database to head at start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_ID = 7_240_113  # any constant: serialises concurrent upgrades on PostgreSQL


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at our migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` in one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)
