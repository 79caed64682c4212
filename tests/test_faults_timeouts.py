"""A Bot API request that times out on the bot's side, and the Bot API unreachable
(connection refused on its port) for a while, during a dialogue and during /report: against
the real `python -m bot` process, with TELEGRAM_REQUEST_TIMEOUT at 1.5 s, polling the local
Bot API stand-in. The requests are retried (bot/retry.py) until they get through, each
reply arrives once, nothing the person said is lost, the process never exits.

One stub, one process, a person per test; each fault is armed right before the step it
hits. Waits are on the stub's requests and the bot's log lines, never on the clock.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError
from docx import Document

from handlers.texts import Desk, Dialogue
from reports.quarters import Quarter, collecting_quarter
from tests.botapi_stub import BotApiStub, BotMessage
from tests.e2e import TEST_TOKEN, BotProcess, Person
from tests.test_botapi_stub import LocalSession
from tests.test_e2e import SPHERE, first_line, join, quarter_label, question
from tests.test_faults_outage import draft, stored

pytestmark = pytest.mark.asyncio(loop_scope="module")

COORDINATOR = 1001  # the coordinator of tests/test_e2e.py's `join`
TIMED_OUT, REPEATED, REFUSED, REPORTING = 3501, 3502, 3503, 3504
REQUEST_TIMEOUT = 1.5  # TELEGRAM_REQUEST_TIMEOUT of the process, seconds
TIME_ZONE = ZoneInfo("Europe/Moscow")
RESULT, PARTICIPANTS = "Прошли чтения.", "Читатели, 25 человек"
STEPS = ("name", "place", "dates", "result", "participants", "period")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[BotApiStub, BotProcess]]:
    async with BotApiStub() as stub:
        stub.add_chat(COORDINATOR, first_name="Ольга")
        bot = BotProcess(
            tmp_path_factory.mktemp("timeouts"),
            stub.url,
            coordinator_ids=[COORDINATOR],
            env={"TELEGRAM_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)},
        )
        mark = stub.mark()
        await bot.start()
        try:
            await bot.while_running(stub.wait_for_polling(after=mark))
            yield stub, bot
        finally:
            await bot.kill()


async def start_event(stub: BotApiStub, bot: BotProcess, user_id: int, full_name: str) -> Person:
    """A reporter, joined through a fresh link, who has chosen the sphere: the bot asks
    for the event's name."""
    reporter = await join(stub, bot, user_id, full_name)
    await reporter.send("/new")
    asked = await reporter.press(SPHERE)
    assert asked.text == question("name")
    return reporter


async def finish_event(reporter: Person, quarter: Quarter) -> BotMessage:
    """From the dates question to the submitted event; the last reply."""
    await reporter.send(quarter.first_day.strftime("%d.%m.%Y"))
    await reporter.press(Dialogue.YES)
    await reporter.send(RESULT)
    await reporter.send(PARTICIPANTS)
    await reporter.press(quarter_label(quarter) + Dialogue.DEFAULT_MARK)
    return await reporter.press(Dialogue.SUBMIT)


def times_submitted(bot: BotProcess, name: str, place: str) -> int:
    """How many submitted events have this name and place (and the usual other answers)."""
    return stored(bot.database).count((name, place, RESULT, PARTICIPANTS, "submitted"))


def questions_seen(stub: BotApiStub, user_id: int) -> dict[str, int]:
    """How many times the person was sent each step's question."""
    lines = [first_line(message.text) for message in stub.sent(user_id)]
    return {step: lines.count(first_line(question(step))) for step in STEPS}


def cannot_connect(stub: BotApiStub) -> str:
    """The start of aiohttp's "connection refused" for the stub's port, as the bot logs it."""
    return f"ClientConnectorError: Cannot connect to host {stub.url.removeprefix('http://')} "


async def test_the_stand_in_refuses_connections_while_paused_and_keeps_its_state() -> None:
    async with BotApiStub() as stub:
        stub.add_chat(1001, first_name="Анна")
        session = LocalSession(api=TelegramAPIServer.from_base(stub.url), timeout=1)
        async with Bot(TEST_TOKEN, session=session) as bot:
            url = stub.url
            release = stub.stall_next("sendMessage")
            with pytest.raises(TelegramNetworkError, match="Request timeout error"):
                await bot.send_message(1001, "Не дошло")
            await stub.pause()  # every connection cut: the stalled call is gone
            release.set()
            with pytest.raises(TelegramNetworkError, match="Cannot connect to host"):
                await bot.get_me()
            waiting = await stub.push_message(1001, "Пока бот не мог достучаться")
            await stub.resume()
            updates = await bot.get_updates(timeout=1)
            await bot.send_message(1001, "Дошло")

    assert stub.url == url  # the same port
    [stalled, sent] = stub.calls_of("sendMessage")
    assert (stalled.status, stalled.message) == (499, None)  # the bot gave up: never sent
    assert [update.update_id for update in updates] == [waiting["update_id"]]
    assert [message.text for message in stub.sent(1001)] == ["Дошло"]
    assert sent.ok


async def test_a_quiet_long_poll_outlasts_the_short_request_timeout(
    shared: tuple[BotApiStub, BotProcess],
) -> None:
    # aiogram gives getUpdates int(TELEGRAM_REQUEST_TIMEOUT + its poll's 10 s): a poll that
    # waits its whole length for nothing is answered, not cut as a timeout.
    stub, bot = shared
    mark, log = stub.calls_of("getUpdates")[-1].index, bot.log_mark()  # the poll under way

    poll = await bot.while_running(
        stub.wait_for(
            lambda call: call.is_("getUpdates") and call.ok and call.result == [],
            after=mark,
            timeout=30,
        )
    )
    lasted = time.monotonic() - poll.at

    waited = float(poll.params["timeout"])
    assert waited > REQUEST_TIMEOUT
    assert lasted > waited - 0.1  # it ran its whole length
    assert not [call for call in stub.calls_of("getUpdates", after=mark) if call.status == 499]
    assert "Failed to fetch updates" not in bot.stderr(after=log)
    assert bot.running


async def test_a_reply_that_times_out_is_sent_again_and_arrives_once(
    shared: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = shared
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    reporter = await start_event(stub, bot, TIMED_OUT, "Сидорова Анна Ивановна")
    mark, log = stub.mark(), bot.log_mark()

    # Telegram does not get to the reply: the bot's request times out and is sent again.
    release = stub.stall_next("sendMessage")
    after_name = await reporter.send("Выставка книг")
    release.set()  # Telegram reaching the abandoned request now carries out nothing
    [stalled, retried] = stub.calls_of("sendMessage", after=mark)
    await reporter.send("г. Гродно")
    submitted = await finish_event(reporter, quarter)

    assert after_name.text == question("place")
    assert (stalled.status, stalled.message) == (499, None)  # cut by the bot, never sent
    assert retried.ok and retried.message is after_name
    # Cut by TELEGRAM_REQUEST_TIMEOUT (not aiogram's 60 s), then retried after a backoff.
    assert REQUEST_TIMEOUT <= retried.at - stalled.at < REQUEST_TIMEOUT + 5
    assert "SendMessage failed (HTTP Client says - Request timeout error)" in bot.stderr(after=log)
    assert submitted.text == Dialogue.SUBMITTED.format(period=quarter_label(quarter))
    assert times_submitted(bot, "Выставка книг", "г. Гродно") == 1
    assert questions_seen(stub, TIMED_OUT) == dict.fromkeys(STEPS, 1)
    assert bot.running
    assert "Traceback" not in bot.stderr()


async def test_a_reply_sent_but_answered_after_the_timeout_is_seen_twice_and_stored_once(
    shared: tuple[BotApiStub, BotProcess],
) -> None:
    # The Bot API has no idempotency key: when Telegram sent the message but its answer
    # comes later than TELEGRAM_REQUEST_TIMEOUT, the bot cannot know it was sent and sends
    # it again. The question then appears twice; the answers are still stored once.
    stub, bot = shared
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    reporter = await start_event(stub, bot, REPEATED, "Кузнецова Вера Андреевна")
    await reporter.send("Круглый стол")
    mark = stub.mark()

    release = stub.hold_next("sendMessage")  # sent at once, its answer held back
    shown = await reporter.send("г. Брест")
    [held] = stub.calls_of("sendMessage", after=mark)
    again = await bot.while_running(stub.wait_for_message(REPEATED, after=held.index + 1))
    release.set()
    saved = draft(bot.database, REPEATED)
    submitted = await finish_event(reporter, quarter)

    assert shown.text == again.text == question("dates")
    assert held.error == "held, and the client went away before the answer"
    assert (saved["name"], saved["place"]) == ("Круглый стол", "г. Брест")
    assert submitted.text == Dialogue.SUBMITTED.format(period=quarter_label(quarter))
    assert times_submitted(bot, "Круглый стол", "г. Брест") == 1
    assert questions_seen(stub, REPEATED) == {**dict.fromkeys(STEPS, 1), "dates": 2}
    assert bot.running
    assert "Traceback" not in bot.stderr()


async def test_a_dialogue_survives_the_bot_api_refusing_connections_for_a_while(
    shared: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = shared
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    reporter = await start_event(stub, bot, REFUSED, "Орлова Нина Сергеевна")
    url = stub.url

    # (a) The port closes while the bot waits for updates; the person answers meanwhile.
    mark, log = stub.mark(), bot.log_mark()
    await stub.pause()
    await bot.while_running(bot.wait_for_log(cannot_connect(stub), after=log))
    answer = await stub.push_message(REFUSED, "Лекция о Смоленске", first_name="Нина")
    await stub.resume()
    after_name = await bot.while_running(stub.wait_for_message(REFUSED, after=mark))
    name_log = bot.stderr(after=log)

    # (b) The port closes while the reply is on its way: cut, then refused, then sent.
    mark, log = stub.mark(), bot.log_mark()
    stub.stall_next("sendMessage")
    await stub.push_message(REFUSED, "г. Витебск", first_name="Нина")
    cut = await bot.while_running(stub.wait_for(lambda call: call.is_("sendMessage"), after=mark))
    await stub.pause()
    await bot.while_running(
        bot.wait_for_log(
            "SendMessage failed (HTTP Client says - " + cannot_connect(stub), after=log
        )
    )
    await stub.resume()
    after_place = await bot.while_running(stub.wait_for_message(REFUSED, after=mark))
    submitted = await finish_event(reporter, quarter)

    assert stub.url == url  # reopened on the same port
    assert "Failed to fetch updates - TelegramNetworkError" in name_log
    assert "Connection established" in name_log  # aiogram's polling says it recovered
    assert after_name.text == question("place")
    assert stub.delivered().count(answer["update_id"]) == 1
    assert cut.status == 499 and cut.message is None
    assert after_place.text == question("dates")
    assert submitted.text == Dialogue.SUBMITTED.format(period=quarter_label(quarter))
    assert times_submitted(bot, "Лекция о Смоленске", "г. Витебск") == 1
    assert questions_seen(stub, REFUSED) == dict.fromkeys(STEPS, 1)
    assert bot.running
    assert "Traceback" not in bot.stderr()


async def test_report_survives_a_timed_out_upload_and_a_refused_connection(
    shared: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = shared
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    reporter = await start_event(stub, bot, REPORTING, "Белова Ирина Олеговна")
    await reporter.send("Вечер поэзии")
    await reporter.send("г. Могилёв")
    await finish_event(reporter, quarter)
    report = f"/report {quarter.label}"

    # (a) Telegram does not get to the upload in time: it times out and is sent again.
    mark, log = stub.mark(), bot.log_mark()
    release = stub.stall_next("sendDocument")
    await stub.push_message(COORDINATOR, report, first_name="Ольга")
    after_timeout = await bot.while_running(stub.wait_for_document(COORDINATOR, after=mark))
    release.set()
    cut_by_timeout = stub.calls_of("sendDocument", after=mark)
    timeout_log = bot.stderr(after=log)

    # (b) The port closes while the upload waits: cut, refused, then uploaded.
    mark, log = stub.mark(), bot.log_mark()
    stub.stall_next("sendDocument")
    await stub.push_message(COORDINATOR, report, first_name="Ольга")
    await bot.while_running(stub.wait_for(lambda call: call.is_("sendDocument"), after=mark))
    await stub.pause()
    await bot.while_running(
        bot.wait_for_log(
            "SendDocument failed (HTTP Client says - " + cannot_connect(stub), after=log
        )
    )
    await stub.resume()
    after_refusal = await bot.while_running(stub.wait_for_document(COORDINATOR, after=mark))
    cut_by_refusal = stub.calls_of("sendDocument", after=mark)

    assert "SendDocument failed (HTTP Client says - Request timeout error)" in timeout_log
    for (cut, delivered), sent in (
        (cut_by_timeout, after_timeout),
        (cut_by_refusal, after_refusal),
    ):
        assert (cut.status, cut.message) == (499, None)  # cut before Telegram got to it
        assert delivered.ok and delivered.message is sent
        assert_report_has(sent, quarter, "Вечер поэзии")
    assert sum(message.document is not None for message in stub.sent(COORDINATOR)) == 2
    assert bot.running
    assert "Traceback" not in bot.stderr()


def assert_report_has(sent: BotMessage, quarter: Quarter, event: str) -> None:
    """The upload is the quarter's .docx with its caption, and `event` is one of its rows."""
    assert sent.document is not None
    assert sent.document.name == f"report_{quarter.year}_Q{quarter.quarter}.docx"
    rows = [
        [cell.text for cell in row.cells]
        for row in Document(BytesIO(sent.document.content)).tables[0].rows[1:]
    ]
    events = [row for row in rows if row[0].endswith(".")]  # numbered rows; the rest: spheres
    assert sent.text.split("\n")[0] == Desk.CAPTION.format(
        period=quarter_label(quarter), count=len(events)
    )
    assert [row[1] for row in events].count(event) == 1
