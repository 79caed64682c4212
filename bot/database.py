"""Opening the database for the process: engine, migrations, settings applied.

Kept apart from bot/app.py so the command-line desk starts without importing aiogram.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import texts
from bot.settings import Settings, StartupError
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


def io_reason(error: OSError) -> str:
    """Why a file or a folder could not be used, in Russian."""
    if isinstance(error, PermissionError):
        return texts.REASON_NO_ACCESS
    if isinstance(error, IsADirectoryError):
        return texts.REASON_IS_FOLDER
    if isinstance(error, NotADirectoryError | FileExistsError):
        return texts.REASON_NOT_A_FOLDER
    return texts.REASON_OTHER


def _server_reason(error: BaseException) -> str:
    """Why a database or Redis server could not be reached, in Russian."""
    if isinstance(error, socket.gaierror):
        return texts.REASON_UNKNOWN_HOST
    if isinstance(error, ConnectionRefusedError):
        return texts.REASON_REFUSED
    if isinstance(error, TimeoutError):
        return texts.REASON_TIMEOUT
    message = str(getattr(error, "orig", None) or error)
    if found := re.search(r'database "([^"]+)" does not exist', message):
        return texts.REASON_NO_DATABASE.format(name=found[1])
    if found := re.search(r'role "([^"]+)" does not exist', message):
        return texts.REASON_NO_ROLE.format(name=found[1])
    if "password authentication failed" in message:
        return texts.REASON_BAD_PASSWORD
    if "refused" in message.lower():
        return texts.REASON_REFUSED
    return texts.REASON_REFUSED_BY_SERVER


def _where(url: str) -> str:
    """The server (host:port/database) or file of a URL, without user or password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    port = f":{parsed.port}" if parsed.port else ""
    database = f"/{parsed.database}" if parsed.database else ""
    return f"{parsed.host or 'localhost'}{port}{database}"


def pool_options(
    settings: Settings, *, read_only: bool = False, observed: bool = True
) -> dict[str, Any]:
    """The engine's pool under DB_POOL_SIZE, DB_MAX_OVERFLOW and DB_POOL_TIMEOUT, its waits
    observed (bot.metrics) unless `observed` is false. A SQLite file keeps its one writer
    connection per process (storage.db.create_engine): there only the timeout applies."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and settings.sqlite_path() is None:
        return {}  # in memory: SQLAlchemy's static pool of one connection
    options: dict[str, Any] = {"pool_timeout": settings.db_pool_timeout}
    if observed:
        from bot.metrics import PoolWaits

        name = "database_reader" if read_only else "database"
        options["pool_waited"] = PoolWaits(name, settings.pool_slow_wait)
    if url.get_backend_name() != "sqlite":
        options["pool_size"] = settings.db_pool_size
        options["max_overflow"] = settings.db_max_overflow
    return options


async def _connected_engine(url: str, **options: Any) -> AsyncEngine:
    """An engine that has connected once; a failure is one Russian `StartupError` line."""
    sqlite = make_url(url).get_backend_name() == "sqlite"
    engine: AsyncEngine | None = None
    try:
        engine = create_engine(url, **options)
        async with engine.connect():
            pass
        return engine
    except (OSError, DBAPIError) as error:
        if engine is not None:
            await engine.dispose()
        if sqlite:
            cause = error.orig if isinstance(error, DBAPIError) else error
            reason = io_reason(cause) if isinstance(cause, OSError) else texts.REASON_NO_ACCESS
            raise StartupError(
                texts.DATABASE_FILE_UNUSABLE.format(where=_where(url), reason=reason)
            ) from None
        raise StartupError(
            texts.DATABASE_UNREACHABLE.format(where=_where(url), reason=_server_reason(error))
        ) from None


async def check_redis(settings: Settings) -> None:
    """With REDIS_URL set, make sure Redis answers; else one Russian `StartupError` line."""
    if settings.redis_url is None:
        return
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(settings.redis_url, socket_connect_timeout=10)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        cause = error.__cause__ or error.__context__ or error
        reason = _server_reason(cause)
        if reason == texts.REASON_REFUSED_BY_SERVER and "refused" in str(error).lower():
            reason = texts.REASON_REFUSED
        where = _redis_where(settings.redis_url)
        raise StartupError(texts.REDIS_UNREACHABLE.format(where=where, reason=reason)) from None
    finally:
        await client.aclose()


def redis_pool(settings: Settings) -> Any:
    """The Redis connection pool of REDIS_URL: at most REDIS_MAX_CONNECTIONS, and a caller
    finding them all busy waits its turn (at most REDIS_POOL_TIMEOUT seconds) instead of
    failing, as redis-py's default pool does ("Too many connections"); each wait is
    observed (bot.metrics); an idle connection is handed out at once (bot/redis_pool.py)."""
    assert settings.redis_url is not None
    from bot.metrics import PoolWaits
    from bot.redis_pool import ReadyFirstPool

    return ReadyFirstPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout,
        waited=PoolWaits("redis", settings.pool_slow_wait),
    )


def _redis_where(url: str) -> str:
    """host:port/db of a Redis URL, without a password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname or 'localhost'}{port}{parts.path}"


BOOTSTRAP_TRIES = 3  # workers started together insert the same rows at most this often


async def _bootstrap(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """The spheres and the coordinators of the settings, in one transaction.

    Several workers started at once on a fresh database all insert them: the one that
    commits second violates a unique index (a sphere's name, a person's Telegram id).
    Its transaction is then tried again, and finds the rows the other one wrote."""
    for attempt in range(1, BOOTSTRAP_TRIES + 1):
        try:
            async with sessionmaker() as session, session.begin():
                await SphereRepository(session).sync(settings.spheres)
                await PersonRepository(session).bootstrap_coordinators(settings.coordinator_ids)
            return
        except IntegrityError:
            if attempt == BOOTSTRAP_TRIES:
                raise


async def open_storage(settings: Settings, *, observed: bool = True) -> Storage:
    """Engine, schema upgraded to head, spheres and coordinators from the settings.

    `observed`: the pools' waits go into the process's metrics (bot.metrics), which the
    bot and the scheduler serve; a command of the desk (`python -m bot import`), which
    serves none, opens it unobserved and loads no prometheus_client.
    A database that cannot be reached or opened is one Russian `StartupError` line."""
    engine = await _connected_engine(
        settings.database_url, **pool_options(settings, observed=observed)
    )
    await upgrade_database(engine)
    sessionmaker = create_sessionmaker(engine)
    await _bootstrap(sessionmaker, settings)
    if engine.dialect.name != "sqlite":
        return Storage(engine, sessionmaker, create_sessionmaker(engine, read_only=True))
    # SQLite: the writer engine has one connection per process; readers get their own pool.
    reader_engine = create_engine(
        settings.database_url,
        read_only=True,
        **pool_options(settings, read_only=True, observed=observed),
    )
    reader = create_sessionmaker(reader_engine, read_only=True)
    return Storage(engine, sessionmaker, reader, reader_engine)
