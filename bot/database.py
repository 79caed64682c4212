"""Opening the database for the process: engine, migrations, settings applied.

Kept apart from bot/app.py so the command-line desk starts without importing aiogram.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from reports.quarters import Quarter
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_database
from storage.repositories import PersonRepository, SphereRepository


@dataclass(frozen=True, slots=True)
class Storage:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    reader: async_sessionmaker[AsyncSession]  # read-only sessions (the report compiler)
    reader_engine: AsyncEngine | None = None  # SQLite: the readers' own engine

    async def close(self) -> None:
        await self.engine.dispose()
        if self.reader_engine is not None:
            await self.reader_engine.dispose()


def deadline_for(settings: Settings) -> Callable[[Quarter], datetime]:
    """The default deadline of a quarter under these settings."""
    return settings.default_deadline


async def open_storage(settings: Settings) -> Storage:
    """Engine, schema upgraded to head, spheres and coordinators from the settings."""
    engine = create_engine(settings.database_url)
    await upgrade_database(engine)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        await SphereRepository(session).sync(settings.spheres)
        await PersonRepository(session).bootstrap_coordinators(settings.coordinator_ids)
    if engine.dialect.name != "sqlite":
        return Storage(engine, sessionmaker, create_sessionmaker(engine, read_only=True))
    # SQLite: the writer engine has one connection per process; readers get their own pool.
    reader_engine = create_engine(settings.database_url, read_only=True)
    reader = create_sessionmaker(reader_engine, read_only=True)
    return Storage(engine, sessionmaker, reader, reader_engine)
