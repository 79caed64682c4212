"""Shared fixtures: a real database (SQLite file, and PostgreSQL where reachable)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import build_bot, build_dispatcher
from bot.database import Storage, open_storage
from bot.settings import Settings
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_database
from tests.tg import RecordingSession, World, asked_their_names

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURE = SHARED / "fixtures" / "report_2023_q4.json"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it answers on its port."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return None
    except OSError as error:
        return f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error})"


def need_postgres() -> None:
    """Skip (outside CI) or fail (in CI) when PostgreSQL is missing."""
    reason = postgres_unreachable()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture
def fixture_data() -> dict[str, Any]:
    """The 42 events of the reference report, from ../shared."""
    if not FIXTURE.exists():
        pytest.skip(f"reference fixture not found at {FIXTURE}")
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


async def _reset_postgres(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await upgrade_database(engine)
    else:
        engine = await _empty_postgres()
    yield engine
    await engine.dispose()


@pytest.fixture
async def pg_engine() -> AsyncIterator[AsyncEngine]:
    """A migrated, empty PostgreSQL database (skipped where PostgreSQL is not run)."""
    engine = await _empty_postgres()
    yield engine
    await engine.dispose()


async def _empty_postgres() -> AsyncEngine:
    """An engine on the tests' PostgreSQL database, its schema reset and migrated."""
    need_postgres()
    engine = create_engine(POSTGRES_URL)
    await _reset_postgres(engine)
    await upgrade_database(engine)
    return engine


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty SQLite file."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await upgrade_database(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


COORDINATOR_ID = 100
NOW = datetime(2023, 11, 20, 9, 0, tzinfo=UTC)  # collecting IV квартал 2023


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=SecretStr("123456:TEST-token-for-recording-session-000"),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        coordinator_ids=[COORDINATOR_ID],
    )


@pytest.fixture
async def app_storage(settings: Settings) -> AsyncIterator[Storage]:
    """The bot's database, its coordinator from COORDINATOR_IDS asked their name already
    (as in a bot in use; tests/test_first_run.py meets a coordinator at their first update)."""
    storage = await open_storage(settings)
    await asked_their_names(storage.sessionmaker, settings.coordinator_ids)
    yield storage
    await storage.close()


@pytest.fixture
async def world(settings: Settings, app_storage: Storage, clock: Clock) -> AsyncIterator[World]:
    """The real Dispatcher on a real SQLite file, Telegram replaced by a recording session."""
    session = RecordingSession()
    bot = build_bot(settings, session=session)
    yield World(build_dispatcher(settings, app_storage, clock=clock), bot, session)
    await bot.session.close()


@pytest.fixture(autouse=True)
def telegram_refusals_fail_the_test() -> Iterator[None]:
    """A request Telegram would refuse fails the test, unless the test expected it; so
    does a text sent with a `{placeholder}` never filled in, or HTML in a toast."""
    RecordingSession.opened.clear()
    yield
    sessions, RecordingSession.opened = RecordingSession.opened, []
    refused = [str(r) for session in sessions for r in session.unexpected_refusals()]
    assert not refused, "Telegram would have refused: " + "; ".join(refused)
    slips = [slip for session in sessions for slip in session.slips()]
    assert not slips, "; ".join(slips)


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
# Each test file that needs Redis empties a database of its own; TEST_REDIS_DB_SHIFT moves
# them all (e.g. to -6), so two suites on one machine never empty each other's databases.
REDIS_DB_SHIFT = int(os.environ.get("TEST_REDIS_DB_SHIFT", "0"))


def redis_db(number: int) -> int:
    """The Redis database a test file uses: its own number, moved by TEST_REDIS_DB_SHIFT."""
    return (number + REDIS_DB_SHIFT) % 16


def need_redis() -> None:
    """Skip (outside CI) or fail (in CI) when Redis is missing."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return
    except OSError as error:
        reason = f"Redis is not reachable at 127.0.0.1:6379 ({error})"
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


async def emptied_redis(db: int) -> str:
    """The URL of Redis database `db` (see `redis_db`), emptied; skipped or failed as
    `need_redis` says when Redis is missing."""
    from redis.asyncio import Redis

    need_redis()
    url = f"{REDIS_URL}/{db}"
    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()
    return url
