"""Several webhook workers' path (liveness set, heartbeats faked as in
tests/test_outbox_workers.py) on a pool of one connection (DB_POOL_SIZE=1, no overflow,
a short DB_POOL_TIMEOUT), through the real Dispatcher, on SQLite (one writer per process
anyway) and PostgreSQL (CI-gated): an update of a chat that is owed nothing looks at the
chat's outbox rows through its own session, so it never holds two connections at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.database import Storage
from bot.settings import Settings
from tests.conftest import COORDINATOR_ID, Clock
from tests.test_dialogue import join
from tests.test_outbox_workers import PLACE, FlakyTelegram, Heartbeats, postgres_settings, worker
from tests.tg import fsm_of, reach


@pytest.fixture(params=["sqlite", "postgresql"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "postgresql":
        base = await postgres_settings()
    else:
        base = Settings(
            _env_file=None,  # type: ignore[call-arg]
            bot_token=SecretStr("123456:TEST-token-for-recording-session-000"),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            coordinator_ids=[COORDINATOR_ID],
        )
    return base.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout": 0.5})


class Held:
    """How many of the engine's connections are checked out now, and at most."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.now = self.most = 0
        event.listen(engine.sync_engine, "checkout", self._out)
        event.listen(engine.sync_engine, "checkin", self._in)

    def _out(self, *_: Any) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    def _in(self, *_: Any) -> None:
        self.now -= 1


async def test_an_update_owed_nothing_holds_one_connection_on_the_workers_path(
    settings: Settings, app_storage: Storage, clock: Clock
) -> None:
    world, _, _ = worker(settings, app_storage, clock, FlakyTelegram(), Heartbeats(), "A")
    person = await join(world, 2501)
    await reach(person, "name")
    held = Held(app_storage.engine)

    replies = await person.send("Выставка")
    stored = await fsm_of(app_storage.sessionmaker, 2501)

    assert [reply.text for reply in replies] == [PLACE]
    assert held.most == 1
    assert stored is not None and stored.data["draft"]["name"] == "Выставка"
