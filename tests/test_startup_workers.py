"""A second webhook worker without Redis on one database stops at start with one Russian
line saying to set REDIS_URL (bot/sole_worker.py); the real `python -m bot` processes.

On PostgreSQL (CI-gated) the first worker holds an advisory lock on a connection of its
own, on SQLite an exclusive lock file; a killed worker leaves neither behind, so the next
one starts.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text

from bot import texts
from bot.database import open_storage
from bot.settings import Settings
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_database
from storage.models import Person
from storage.repositories import PersonRepository
from tests.botapi_stub import BotApiStub
from tests.conftest import need_postgres
from tests.e2e import BotProcess, Webhook, free_port, fresh_postgres_database, webhook_env


def last_line(bot: BotProcess) -> str:
    stderr = bot.stderr()
    assert "Traceback" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_second_webhook_worker_without_redis_is_refused_with_one_line(
    tmp_path: Path, backend: str
) -> None:
    if backend == "postgresql":
        need_postgres()
        database_url = await fresh_postgres_database("sole_worker")
    else:
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    async with BotApiStub() as stub:
        workers = []
        for number in (1, 2):
            port = free_port()
            env = webhook_env(
                port,
                DATABASE_URL=database_url,
                SCHEDULER_ENABLED="false",
                WEBHOOK_REGISTER="true" if number == 1 else "false",
            )
            folder = tmp_path / f"worker{number}"
            folder.mkdir()
            workers.append((BotProcess(folder, stub.url, env=env), Webhook(port)))
        (first, first_hook), (second, second_hook) = workers
        try:
            await first.start()
            await first_hook.wait_until_up(first)
            await second.start()
            refused = await second.wait()
            refusal = last_line(second)
            assert await first.kill() == -signal.SIGKILL
            mark = second.log_mark()
            await second.start()  # the first one's lock went with it
            await second_hook.wait_until_up(second, after=mark)
        finally:
            await first.kill()
            await second.kill()

    assert refused == 2
    assert refusal == texts.SECOND_WEBHOOK_WORKER


async def test_workers_started_together_on_a_fresh_database_both_bootstrap_it() -> None:
    """Two workers insert the same coordinator from COORDINATOR_IDS at once: the second
    to commit hits the unique Telegram id, tries again and finds the first one's row
    (it exited with code 1 before)."""
    need_postgres()
    url = await fresh_postgres_database("bootstrap")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=SecretStr("123456:TEST-token-for-recording-session-000"),
        database_url=url,
        coordinator_ids=[555],
    )
    engine = create_engine(url)
    await upgrade_database(engine)
    try:
        async with create_sessionmaker(engine)() as first:
            await first.begin()
            await PersonRepository(first).bootstrap_coordinators([555])  # not committed yet
            second = asyncio.create_task(open_storage(settings))
            async with engine.connect() as watcher:  # the second waits on the unique index
                blocked = text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                while not await watcher.scalar(blocked):
                    assert not second.done(), second
                    # pg_stat_activity is read once per transaction (PostgreSQL caches
                    # it): a watcher that kept its first one would wait forever.
                    await watcher.rollback()
                    await asyncio.sleep(0.05)
            await first.commit()
        storage = await second
        await storage.close()
        async with create_sessionmaker(engine)() as session:
            people = list(await session.scalars(select(Person).where(Person.telegram_id == 555)))
    finally:
        await engine.dispose()

    assert [(person.role, person.active) for person in people] == [("coordinator", True)]
