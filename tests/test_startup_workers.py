"""A second webhook worker without Redis on one database stops at start with one Russian
line saying to set REDIS_URL (bot/sole_worker.py); the real `python -m bot` processes.

On PostgreSQL (CI-gated) the first worker holds an advisory lock on a connection of its
own, on SQLite an exclusive lock file; a killed worker leaves neither behind, so the next
one starts.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bot import texts
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
