"""Telegram "down" for a while during a dialogue, against the real `python -m bot` process
polling the local Bot API stand-in: replies are retried until they get through (once),
polling recovers from failing getUpdates, a slow answer is waited for, and nothing the
person said is lost.

One stub, one process, one dialogue; each fault is armed right before the step it hits.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from handlers.texts import Dialogue
from reports.quarters import collecting_quarter
from tests.botapi_stub import BOT_USERNAME, BotApiStub
from tests.e2e import BotProcess, Person
from tests.test_e2e import SPHERE, first_line, quarter_label, question

pytestmark = pytest.mark.asyncio(loop_scope="module")

COORDINATOR, REPORTER = 1001, 3301
LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(\S+)")
TIME_ZONE = ZoneInfo("Europe/Moscow")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[BotApiStub, BotProcess]]:
    async with BotApiStub() as stub:
        stub.add_chat(COORDINATOR, first_name="Ольга")
        bot = BotProcess(tmp_path_factory.mktemp("outage"), stub.url, coordinator_ids=[COORDINATOR])
        mark = stub.mark()
        await bot.start()
        try:
            await bot.while_running(stub.wait_for_polling(after=mark))
            yield stub, bot
        finally:
            await bot.kill()


def stored(database: Path) -> list[tuple[str, ...]]:
    with sqlite3.connect(database) as connection:
        return list(
            connection.execute(
                "SELECT name, place, result, participants, status FROM events ORDER BY id"
            )
        )


def draft(database: Path, user_id: int) -> dict[str, Any]:
    """The dialogue's draft as saved in the FSM storage of the person's private chat."""
    with sqlite3.connect(database) as connection:
        rows = list(connection.execute("SELECT key, data FROM fsm_states"))
    [data] = [data for key, data in rows if f":{user_id}:{user_id}:" in key]
    return json.loads(data)["draft"]


async def test_a_dialogue_survives_telegram_being_down_for_a_while(
    shared: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = shared
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    link = await Person(stub, bot, COORDINATOR, "Ольга").send("/neworg Библиотека")
    code = LINK.search(link.text or "")
    assert code is not None
    reporter = Person(stub, bot, REPORTER, "Анна")
    await reporter.send(f"/start {code.group(1)}")
    await reporter.send("Сидорова Анна Ивановна")
    await reporter.send("/new")
    await reporter.press(SPHERE)

    # (a) sendMessage: the connection dropped three times in a row, then it gets through.
    mark = stub.mark()
    stub.fail_next("sendMessage", disconnect=True, count=3)
    after_name = await reporter.send("Выставка книг")
    dropped = [call for call in stub.calls_of("sendMessage", after=mark) if call.status == 0]
    assert len(dropped) == 3
    assert after_name.text == question("place")
    assert draft(bot.database, REPORTER)["name"] == "Выставка книг"  # the answer is stored

    # (b) getUpdates: 502 three times; polling recovers and the next updates are answered.
    mark = stub.mark()
    stub.fail_next("getUpdates", status=502, count=3)
    # The long poll in progress takes this one; the polls after it fail.
    after_place = await reporter.send("г. Гродно")
    await bot.while_running(
        stub.wait_for(lambda call: call.is_("getUpdates") and call.status == 502, after=mark)
    )
    dates_mark = stub.mark()
    update = await stub.push_message(REPORTER, quarter.first_day.strftime("%d.%m.%Y"))
    echo = await bot.while_running(stub.wait_for_message(REPORTER, after=dates_mark))
    failed_polls = [call for call in stub.calls_of("getUpdates", after=mark) if call.status == 502]
    assert len(failed_polls) == 3
    assert after_place.text == question("dates")
    assert echo.buttons  # the dates echoed, with the buttons to confirm them
    assert update["update_id"] in stub.delivered(after=mark)
    await bot.while_running(stub.wait_until_confirmed(update["update_id"], after=mark))

    # (c) a slow answer: the reply is in the chat but its answer is held back (Telegram
    # slow to answer); the person answers the question they see meanwhile, and it is
    # handled while the first answer is still pending; nothing is sent twice.
    mark = stub.mark()
    release = stub.hold_next("sendMessage")
    await stub.press(REPORTER, Dialogue.YES, first_name="Анна")
    held = await bot.while_running(stub.wait_for_message(REPORTER, after=mark))
    assert held.text == question("result")
    after_result = await reporter.send("Прошли чтения.")
    assert not release.is_set()  # answered while the slow answer was still pending
    release.set()
    assert after_result.text == question("participants")

    await reporter.send("Читатели, 25 человек")
    await reporter.press(quarter_label(quarter) + Dialogue.DEFAULT_MARK)
    submitted = await reporter.press(Dialogue.SUBMIT)

    assert submitted.text == Dialogue.SUBMITTED.format(period=quarter_label(quarter))
    assert stored(bot.database) == [
        ("Выставка книг", "г. Гродно", "Прошли чтения.", "Читатели, 25 человек", "submitted")
    ]
    lines = [first_line(message.text) for message in stub.sent(REPORTER)]
    for step in ("name", "place", "dates", "result", "participants", "period"):
        assert lines.count(first_line(question(step))) == 1, step  # each reply sent once
    assert bot.running
    assert "Traceback" not in bot.stderr()
