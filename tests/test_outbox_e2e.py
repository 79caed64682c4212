"""Telegram failing the message a dead worker owed a chat, against two real webhook
workers on one PostgreSQL database and one Redis (CI-gated), through the Bot API
stand-in: worker A is SIGKILLed after committing an answer, its reply (the place
question) on its way and never carried out; then the stand-in refuses every sendMessage
(429 with a retry_after past the minute of retries: flood control).

The person, still looking at the name question, writes the name again; it reaches B,
which cannot deliver the owed question: the update is neither failed nor handled, and a
notice is queued behind the question. B's delivery pass (every OUTBOX_EVERY = 0.5 s) keeps
failing it, for more passes than MAX_ATTEMPTS; then the stand-in recovers. The person gets
the question once, then the notice, and their next answer lands in the field asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from http import HTTPStatus

import pytest
import pytest_asyncio

from bot.outbox import MAX_ATTEMPTS
from tests.botapi_stub import Call, html_to_text
from tests.conftest import REDIS_URL, redis_db
from tests.e2e import pg_redis_workers
from tests.test_e2e import question
from tests.test_faults_workers import (
    COORDINATOR,
    NOT_TAKEN,
    Worker,
    Workers,
    finish_dialogue,
    killed_after_commit,
    post,
    reporter_at_name,
    stored_event,
    texts_of,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

REDIS_DB = redis_db(12)
FLOOD_WAIT = 120  # seconds of a 429's retry_after: past RetryRequests' minute, so not retried


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def workers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Workers]:
    async with pg_redis_workers(
        tmp_path_factory.mktemp,
        name="outbox_e2e",
        redis_url=f"{REDIS_URL}/{REDIS_DB}",
        coordinator=COORDINATOR,
        OUTBOX_EVERY="0.5",
    ) as up:
        a, b = (Worker(bot, hook) for bot, hook in up.started)
        yield Workers(up.stub, a, b, up.database_url)


def refused_question(user_id: int) -> Callable[[Call], bool]:
    """A sendMessage of the place question to `user_id` that the stand-in refused."""

    def check(call: Call) -> bool:
        return (
            call.is_("sendMessage")
            and call.status == HTTPStatus.TOO_MANY_REQUESTS
            and str(call.params.get("chat_id")) == str(user_id)
            and html_to_text(str(call.params.get("text"))) == question("place")
        )

    return check


async def test_an_owed_question_telegram_fails_for_long_comes_once_then_the_notice(
    workers: Workers,
) -> None:
    stub, b, user_id = workers.stub, workers.b, 3601
    await reporter_at_name(workers, user_id, "Нина")
    await killed_after_commit(workers, user_id, "Нина", "Выставка")
    stub.fail_next(
        "sendMessage", status=HTTPStatus.TOO_MANY_REQUESTS, retry_after=FLOOD_WAIT, count=10**6
    )
    sent_before = len(stub.sent(user_id))
    log = b.bot.log_mark()

    # The person still sees «name?» and writes the name again; it reaches B.
    retyped = await stub.push_message(user_id, "Выставка", first_name="Нина")
    status, _ = await b.bot.while_running(b.hook.post(retyped))
    after_retyped = texts_of(stub, user_id)[sent_before:]
    mark = 0
    for _ in range(MAX_ATTEMPTS + 2):  # B's passes keep trying it while Telegram refuses
        call = await b.bot.while_running(stub.wait_for(refused_question(user_id), after=mark))
        mark = call.index + 1
    before_recovery = stub.mark()
    stub.recover("sendMessage")
    await b.bot.while_running(
        stub.wait_for(
            lambda call: call.message is not None and call.message.text == NOT_TAKEN,
            after=before_recovery,
        )
    )
    shown = texts_of(stub, user_id)[sent_before:]
    after = await post(
        b, stub, await stub.push_message(user_id, "г. Минск", first_name="Нина"), user_id
    )
    await workers.restart_a()
    done = await finish_dialogue(workers, user_id, "Нина")

    assert status == 200
    assert after_retyped == []  # nothing got through while Telegram refused
    assert shown == [question("place"), NOT_TAKEN]  # the owed question once, then why
    assert after.text == question("dates")
    assert "Мероприятие сохранено" in done
    assert await stored_event(workers.database_url, "Выставка") == [
        ("Выставка", "г. Минск", "Открыта выставка.")
    ]
    sent = texts_of(stub, user_id)
    assert sent.count(question("place")) == 1
    assert sent.count(NOT_TAKEN) == 1
    assert "given up" not in b.bot.stderr(after=log)
    assert "Traceback" not in b.bot.stderr()
