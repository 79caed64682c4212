"""The real `python -m bot` process killed at every step of a dialogue, against the local Bot
API stand-in: after each SIGKILL the restarted process goes on at the step the person saw,
and the event is stored once with every answer.

One stub, one database and one dialogue: the process is killed and started again after
each step (a start costs about three seconds). Half of the kills come before the update
is confirmed to Telegram, so the restarted process is handed the same update again. (Kills
while a reply is on its way: tests/test_faults_outbox.py.)
"""

from __future__ import annotations

import re
import signal
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from handlers.texts import Dialogue
from reports.quarters import collecting_quarter
from tests.botapi_stub import BOT_USERNAME, BotApiStub, BotMessage
from tests.e2e import BotProcess, Person
from tests.test_e2e import SPHERE, first_line, quarter_label, question

pytestmark = pytest.mark.asyncio(loop_scope="module")

COORDINATOR, REPORTER, SECOND_REPORTER = 1001, 3101, 3102
LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(\S+)")
TIME_ZONE = ZoneInfo("Europe/Moscow")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[BotApiStub, BotProcess]]:
    async with BotApiStub() as stub:
        stub.add_chat(COORDINATOR, first_name="Ольга")
        bot = BotProcess(tmp_path_factory.mktemp("faults"), stub.url, coordinator_ids=[COORDINATOR])
        await bot.start()
        try:
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


async def test_a_dialogue_killed_after_every_step_stores_its_event_once(
    shared: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = shared
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    day = quarter.first_day.strftime("%d.%m.%Y")
    link = await Person(stub, bot, COORDINATOR, "Ольга").send("/neworg Музей")
    code = LINK.search(link.text or "")
    assert code is not None
    reporter = Person(stub, bot, REPORTER, "Мария")
    await reporter.send(f"/start {code.group(1)}")
    await reporter.send("Иванова Мария Петровна")
    await reporter.send("/new")
    start = stub.mark()
    # (what the person does, the first line of what they must see next)
    steps = [
        (lambda: reporter.press(SPHERE), question("name")),
        (lambda: reporter.send("Выставка"), question("place")),
        (lambda: reporter.send("г. Минск"), question("dates")),
        (lambda: reporter.send(day), None),  # the dates echoed for confirmation
        (lambda: reporter.press(Dialogue.YES), question("result")),
        (lambda: reporter.send("Открыта выставка."), question("participants")),
        (lambda: reporter.send("Гости, 18 человек"), question("period")),
        (
            lambda: reporter.press(quarter_label(quarter) + Dialogue.DEFAULT_MARK),
            None,  # the summary
        ),
        (lambda: reporter.press(Dialogue.SUBMIT), None),
    ]
    seen: list[BotMessage] = []

    for number, (act, expected) in enumerate(steps):
        log = bot.log_mark()
        reply = await act()
        seen.append(reply)
        if expected is not None:
            assert reply.text == expected, number
        assert reporter.last_update_id is not None
        # Killed once handled (its reply answered by Telegram, so no longer owed: kills
        # while a reply is on its way are tests/test_faults_outbox.py's) ...
        await bot.wait_until_handled(reporter.last_update_id, after=log)
        if number % 2 == 0:  # ... and, for half of them, confirmed to Telegram
            await bot.while_running(stub.wait_until_confirmed(reporter.last_update_id, after=start))
        assert await bot.kill() == -signal.SIGKILL
        await bot.start()

    assert seen[-1].text == Dialogue.SUBMITTED.format(period=quarter_label(quarter))
    assert stored(bot.database) == [
        ("Выставка", "г. Минск", "Открыта выставка.", "Гости, 18 человек", "submitted")
    ]
    # Every reply sent once: no step answered twice after a redelivered update.
    lines = [first_line(message.text) for message in stub.sent(REPORTER)]
    assert len(lines[-len(steps) :]) == len(set(lines[-len(steps) :]))
    assert "Traceback" not in bot.stderr()


async def test_telegram_failing_for_a_while_delays_replies_but_loses_nothing(
    shared: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = shared
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    coordinator = Person(stub, bot, COORDINATOR, "Ольга")
    link = await coordinator.send("/neworg Архив")
    code = LINK.search(link.text or "")
    assert code is not None
    reporter = Person(stub, bot, SECOND_REPORTER, "Пётр")
    await reporter.send(f"/start {code.group(1)}")
    await reporter.send("Петров Пётр Петрович")
    await reporter.send("/new")

    stub.fail_next("sendMessage", status=502, count=2)
    after_sphere = await reporter.press(SPHERE)
    stub.fail_next("sendMessage", status=429, retry_after=1)
    after_name = await reporter.send("Конференция")
    stub.fail_next("sendMessage", disconnect=True)
    after_place = await reporter.send("г. Астана")
    await reporter.send(quarter.first_day.strftime("%d.%m.%Y"))
    await reporter.press(Dialogue.YES)
    await reporter.send("Доклад.")
    await reporter.send("Учёные, 40 человек")
    await reporter.press(quarter_label(quarter) + Dialogue.DEFAULT_MARK)
    await reporter.press(Dialogue.SUBMIT)
    stub.fail_next("sendDocument", status=500)
    mark = stub.mark()
    await stub.push_message(COORDINATOR, f"/report {quarter.label}", first_name="Ольга")
    document = await bot.while_running(stub.wait_for_document(COORDINATOR, after=mark))

    assert after_sphere.text == question("name")
    assert after_name.text == question("place")
    assert after_place.text == question("dates")
    assert ("Конференция", "г. Астана", "Доклад.", "Учёные, 40 человек", "submitted") in stored(
        bot.database
    )
    assert document.document is not None
    lines = [first_line(message.text) for message in stub.sent(SECOND_REPORTER)]
    assert lines.count(question("place")) == 1  # each reply delivered once
    assert bot.running
    assert "Traceback" not in bot.stderr()
