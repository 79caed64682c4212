"""Two real webhook workers on PostgreSQL and Redis (CI-gated): worker 1 is killed while the
reply to a person's answer is on its way to Telegram; the person, still seeing the previous
question, types again, and the update lands on worker 2. Worker 2 delivers the question
owed first (once worker 1's heartbeat is gone, not after OUTBOX_LEASE), does not take the
retyped text as the next answer, and the person's next answer lands in the field asked.

Redis database: TEST_OUTBOX_REDIS_DB (10 by default; tests/test_workers.py uses 14). The
PostgreSQL database is TEST_POSTGRES_URL's own, emptied first.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import text

from handlers.texts import Dialogue
from storage.db import create_engine
from tests.botapi_stub import BotApiStub, html_to_text
from tests.conftest import POSTGRES_URL, REDIS_URL, _reset_postgres, need_postgres, need_redis
from tests.e2e import BotProcess, Webhook, free_port, webhook_env
from tests.test_e2e import question
from tests.test_faults_outbox import (
    COORDINATOR,
    is_reply_to,
    post_and_wait,
    shown,
    webhook_reporter,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

REDIS_DB = int(os.environ.get("TEST_OUTBOX_REDIS_DB", "10"))
REPORTER = 3501
Workers = tuple[BotApiStub, list[tuple[BotProcess, Webhook]], str]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def workers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Workers]:
    need_postgres()
    need_redis()
    engine = create_engine(POSTGRES_URL)
    try:
        await _reset_postgres(engine)
    finally:
        await engine.dispose()
    redis_url = f"{REDIS_URL}/{REDIS_DB}"
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    async with BotApiStub() as stub:
        stub.add_chat(COORDINATOR, first_name="Ольга")
        migrate = BotProcess(
            tmp_path_factory.mktemp("migrate"),
            stub.url,
            env={"DATABASE_URL": POSTGRES_URL},
            args=["migrate"],
        )
        await migrate.start()
        assert await migrate.wait() == 0, migrate.log(tail=40)
        started = []
        try:
            for number in (1, 2):
                port = free_port()
                env = webhook_env(
                    port,
                    DATABASE_URL=POSTGRES_URL,
                    REDIS_URL=redis_url,
                    SCHEDULER_ENABLED="false",
                    WEBHOOK_REGISTER="true" if number == 1 else "false",
                    OUTBOX_ALIVE="2",  # a killed worker is found dead within 2 s
                    OUTBOX_EVERY="600",  # no periodic pass meanwhile: the update does it
                )
                bot = BotProcess(
                    tmp_path_factory.mktemp(f"worker{number}"),
                    stub.url,
                    coordinator_ids=[COORDINATOR],
                    env=env,
                )
                started.append((bot, Webhook(port)))
            for bot, _ in started:
                await bot.start()
            for bot, webhook in started:
                await webhook.wait_until_up(bot)
            yield stub, started, redis_url
        finally:
            for bot, _ in started:
                await bot.kill()


async def owed_rows() -> int:
    engine = create_engine(POSTGRES_URL)
    try:
        async with engine.connect() as connection:
            return int(
                (
                    await connection.execute(
                        text("SELECT count(*) FROM outbox WHERE method != 'fence'")
                    )
                ).scalar_one()
            )
    finally:
        await engine.dispose()


async def draft_in_redis(redis_url: str, user_id: int) -> dict[str, Any]:
    redis = Redis.from_url(redis_url)
    try:
        [key] = [k async for k in redis.scan_iter(f"fsm:*:{user_id}:{user_id}:*:data")]
        return json.loads(await redis.get(key))["draft"]
    finally:
        await redis.aclose()


async def test_a_worker_killed_mid_reply_the_other_delivers_it_before_the_retyped_text(
    workers: Workers,
) -> None:
    stub, started, redis_url = workers
    (first, first_hook), (second, second_hook) = started
    await webhook_reporter(stub, first, first_hook, REPORTER, "Нина")
    mark = stub.mark()
    release = stub.stall_next("sendMessage")
    delivery = asyncio.create_task(first_hook.post(await stub.push_message(REPORTER, "Выставка")))
    await first.while_running(stub.wait_for(is_reply_to(REPORTER), after=mark))

    assert await first.kill() == -signal.SIGKILL  # committed, the question of the place owed
    release.set()
    with pytest.raises(aiohttp.ClientError):
        await delivery
    owed_after_kill = await owed_rows()
    # No reply came: typed again, while worker 1 was dying (the stand-in dates it now; it
    # is dated back so a delivery within the same second cannot make it look later).
    retype = await stub.push_message(REPORTER, "Выставка", date=int(time.time()) - 2)
    status, _ = await second.while_running(second_hook.post(retype))
    not_taken = html_to_text(Dialogue.NOT_TAKEN)
    await second.while_running(stub.wait_for_message(REPORTER, not_taken, after=mark))
    after_retype = [message.text for message in stub.sent(REPORTER)][-2:]
    answer = await post_and_wait(
        stub, second, second_hook, await stub.push_message(REPORTER, "г. Минск")
    )
    draft = await draft_in_redis(redis_url, REPORTER)

    assert owed_after_kill == 1
    assert status == 200
    assert after_retype == [question("place"), not_taken]  # the owed question first
    assert shown(stub, REPORTER, question("place")) == 1
    assert answer.text == question("dates")
    assert (draft["name"], draft["place"]) == ("Выставка", "г. Минск")
    assert await owed_rows() == 0
    assert "Traceback" not in second.stderr()
