"""The real `python -m bot` process end to end, against the local Bot API stand-in.

Starting the process costs about three seconds (most of it importing aiogram), so the
tests share one process, its stub and its database where they can: each test makes its
own marks (`stub.mark()`, `bot.log_mark()`) and people, and a test that stops the process
leaves the next one to start it again. A test that needs other start-up conditions runs
its own.
"""

from __future__ import annotations

import re
import signal
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from docx import Document

from handlers.commands import COORDINATOR_COMMANDS, REPORTER_COMMANDS
from handlers.states import STEPS
from handlers.texts import Common, Desk, Dialogue, Join, Periods
from reports.quarters import Quarter, collecting_quarter
from tests.botapi_stub import BOT_USERNAME, BotApiStub, BotMessage, html_to_text
from tests.e2e import BotProcess, Person
from tests.factories import dates_prompt, help_shown

pytestmark = pytest.mark.asyncio(loop_scope="module")

COORDINATOR = 1001
STRANGER = 2002
REPORTER = 3003
SECOND_REPORTER = 3004
ABSENT_COORDINATOR = 4004  # in COORDINATOR_IDS, but has never written to the bot
BLOCKING_REPORTER = 3005  # blocks the bot after joining
BLOCKING_ORGANISATION = "Архив блокировок"
ORGANISATION = "Смоленский областной музей"
SPHERE = "Сотрудничество в сфере культуры и туризма"
LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(\S+)")
TIME_ZONE = ZoneInfo("Europe/Moscow")  # the bot's default TIMEZONE
GENITIVE_OF_QUARTER_START = {1: "января", 4: "апреля", 7: "июля", 10: "октября"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[BotApiStub, BotProcess]]:
    """One stub and one bot process (not started yet) for the tests of this module."""
    async with BotApiStub() as stub:
        # The coordinator has written to the bot before: Telegram refuses a chat's command
        # menu for a chat it has never seen, which is what the absent one (first, so the
        # refusal comes before a menu that must still be set) gets at every start.
        stub.add_chat(COORDINATOR, first_name="Ольга")
        bot = BotProcess(
            tmp_path_factory.mktemp("bot"),
            stub.url,
            coordinator_ids=[ABSENT_COORDINATOR, COORDINATOR],
        )
        try:
            yield stub, bot
        finally:
            await bot.kill()


@pytest_asyncio.fixture(loop_scope="module")
async def stub(shared: tuple[BotApiStub, BotProcess]) -> BotApiStub:
    return shared[0]


@pytest_asyncio.fixture(loop_scope="module")
async def bot(shared: tuple[BotApiStub, BotProcess]) -> BotProcess:
    """The shared process, started (and polling) if an earlier test left it stopped."""
    stub, bot = shared
    if not bot.running:
        mark = stub.mark()
        await bot.start()
        await bot.while_running(stub.wait_for_polling(after=mark))
    return bot


def question(step: str) -> str:
    """The question of a dialogue step as the person sees it (no current answer yet); the
    dates question's examples are of the quarter the process collects today."""
    asked = dates_prompt(datetime.now(UTC)) if step == "dates" else Dialogue.ASK[step]
    return html_to_text(Dialogue.STEP.format(number=STEPS.index(step) + 1) + asked)


def coordinator_help() -> str:
    """A coordinator's /help as the process shows it today."""
    return help_shown(datetime.now(UTC), coordinator=True)


def first_line(text: str | None) -> str:
    return (text or "").split("\n", 1)[0]


def quarter_label(quarter: Quarter) -> str:
    """`IV квартал 2026 года`, as the bot's buttons and captions print it."""
    return Dialogue.QUARTER.format(roman=quarter.roman, year=quarter.year)


def printed(day: date) -> str:
    """A quarter's first day as the report prints it: `1 октября 2026 года`."""
    return f"{day.day} {GENITIVE_OF_QUARTER_START[day.month]} {day.year} года"


async def join(stub: BotApiStub, bot: BotProcess, user_id: int, full_name: str) -> Person:
    """The coordinator gets a join link with /neworg; the person opens it, gives a name."""
    link = await Person(stub, bot, COORDINATOR, "Ольга").send(f"/neworg {ORGANISATION}")
    code = LINK.search(link.text or "")
    assert code is not None, link.text
    person = Person(stub, bot, user_id, full_name.split()[1])
    await person.send(f"/start {code.group(1)}")
    await person.send(full_name)
    return person


async def test_the_process_greets_a_coordinator_refuses_a_stranger_and_sets_the_menus(
    stub: BotApiStub, bot: BotProcess
) -> None:
    head, tail = Common.START_KNOWN.split("{name}")
    log = bot.log_mark()

    refusal = await Person(stub, bot, STRANGER, "Пётр").send("/start")
    coordinator = Person(stub, bot, COORDINATOR, "Ольга")
    asked = await coordinator.send("/start")  # a coordinator from the settings, unnamed
    named = await coordinator.send("Петрова Ольга Ивановна")
    greeting = await coordinator.send("/start")
    help_ = await coordinator.send("/help")

    assert refusal.text == html_to_text(Common.stranger(STRANGER))
    assert asked.text == Join.ASK_OWN_NAME
    assert named.text == Join.RENAMED.format(name="Петрова Ольга Ивановна")
    assert greeting.source is not None
    assert greeting.source.startswith(head) and greeting.source.endswith(tail)
    assert help_.source == coordinator_help()
    assert stub.my_commands() == list(REPORTER_COMMANDS)
    assert stub.my_commands({"type": "chat", "chat_id": COORDINATOR}) == list(COORDINATOR_COMMANDS)
    assert "Traceback" not in bot.stderr(after=log)


async def test_a_coordinator_who_never_wrote_to_the_bot_does_not_stop_its_start(
    stub: BotApiStub, bot: BotProcess
) -> None:
    this_run = stub.calls_of("getMe")[-1].index
    menus = stub.calls_of("setMyCommands", after=this_run)

    help_ = await Person(stub, bot, COORDINATOR, "Ольга").send("/help")

    [refused] = [
        call for call in menus if call.params["scope"].get("chat_id") == ABSENT_COORDINATOR
    ]
    assert refused.status == HTTPStatus.BAD_REQUEST
    assert refused.error == "Bad Request: chat not found"
    assert stub.calls_of("getUpdates", after=refused.index)
    assert help_.source == coordinator_help()
    assert stub.my_commands({"type": "chat", "chat_id": COORDINATOR}) == list(COORDINATOR_COMMANDS)
    assert bot.running
    assert "Traceback" not in bot.stderr()


async def test_a_reporter_who_blocked_the_bot_leaves_the_organisation_missing_and_marked(
    stub: BotApiStub, bot: BotProcess
) -> None:
    coordinator = Person(stub, bot, COORDINATOR, "Ольга")
    link = await coordinator.send(f"/neworg {BLOCKING_ORGANISATION}")
    code = LINK.search(link.text or "")
    assert code is not None, link.text
    reporter = Person(stub, bot, BLOCKING_REPORTER, "Анна")
    await reporter.send(f"/start {code.group(1)}")
    await reporter.send("Петрова Анна Ивановна")
    stub.block(BLOCKING_REPORTER)
    log = bot.log_mark()

    await coordinator.send("/remind")  # its reminder to the reporter meets a 403
    status = await coordinator.send("/status")

    [poll, *_] = reversed(stub.calls_of("getUpdates"))
    assert "my_chat_member" in poll.params["allowed_updates"]
    line = Periods.LINE_MISSING.format(name=BLOCKING_ORGANISATION) + Periods.LINE_NOBODY_REACHABLE
    assert html_to_text(line) in (status.text or "").split("\n")
    assert "Traceback" not in bot.stderr(after=log)


async def test_a_coordinator_who_never_wrote_gets_the_desk_menu_with_the_first_message(
    stub: BotApiStub, bot: BotProcess
) -> None:
    mark = stub.mark()
    absent = Person(stub, bot, ABSENT_COORDINATOR, "Анна")

    asked = await absent.send("/start")
    menu = await bot.while_running(
        stub.wait_for(
            lambda call: (
                call.is_("setMyCommands")
                and call.params.get("scope", {}).get("chat_id") == ABSENT_COORDINATOR
            ),
            after=mark,
        )
    )

    assert asked.text == Join.ASK_OWN_NAME
    assert menu.ok
    assert stub.my_commands({"type": "chat", "chat_id": ABSENT_COORDINATOR}) == list(
        COORDINATOR_COMMANDS
    )


async def test_a_dialogue_cut_by_sigkill_goes_on_at_its_step_and_reaches_the_docx(
    stub: BotApiStub, bot: BotProcess
) -> None:
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    day = quarter.first_day
    name = "Выставка «Смоленск & Минск» <2 зала>"
    place = "г. Минск, Республика Беларусь"
    result = "Открыта выставка.\nПодписано соглашение о сотрудничестве."
    participants = "Сотрудники музея, гости из Минска. Общее количество участников – 18 человек"
    start, log = stub.mark(), bot.log_mark()

    reporter = await join(stub, bot, REPORTER, "Иванова Мария Петровна")
    await reporter.send("/new")
    await reporter.press(SPHERE)
    await reporter.send(name)
    await reporter.send(place)
    confirm = await reporter.send(day.strftime("%d.%m.%Y"))
    assert reporter.last_update_id is not None
    await bot.while_running(stub.wait_until_confirmed(reporter.last_update_id, after=start))
    await bot.wait_until_handled(reporter.last_update_id, after=log)  # its reply not owed
    killed = await bot.kill()
    await bot.start()
    after_restart = await reporter.press(Dialogue.YES)  # on the question sent before the kill
    await reporter.send(result)
    period_question = await reporter.send(participants)
    summary = await reporter.press(quarter_label(quarter) + Dialogue.DEFAULT_MARK)
    submitted = await reporter.press(Dialogue.SUBMIT)
    mark = stub.mark()
    await stub.push_message(COORDINATOR, f"/report {quarter.label}", first_name="Ольга")
    sent = await bot.while_running(stub.wait_for_document(COORDINATOR, after=mark))

    assert killed == -signal.SIGKILL
    assert confirm.text == html_to_text(Dialogue.CONFIRM_DATES.format(dates=printed(day)))
    assert after_restart.text == question("result")
    assert period_question.text == question("period")
    assert first_line(summary.text) == html_to_text(Dialogue.SUMMARY_HEAD)
    assert f"Количество участников: 18\nКвартал: {quarter_label(quarter)}" in (summary.text or "")
    assert submitted.text == Dialogue.SUBMITTED.format(period=quarter_label(quarter))
    # Every update handed out once, every press answered once, every reply sent once.
    delivered = stub.delivered(after=start)
    assert len(delivered) == len(set(delivered))
    answers = stub.calls_of("answerCallbackQuery", after=start)
    assert len(answers) == 4 and all(call.ok for call in answers)
    assert [first_line(message.text) for message in stub.sent(REPORTER)] == [
        first_line(Join.ASK_NAME.format(organisation=ORGANISATION)),
        first_line(Join.WELCOME.format(name="Иванова Мария Петровна", organisation=ORGANISATION)),
        question("sphere"),
        question("name"),
        question("place"),
        question("dates"),
        first_line(confirm.text),
        question("result"),
        question("participants"),
        question("period"),
        first_line(summary.text),
        first_line(submitted.text),
    ]
    assert_report(
        sent,
        quarter,
        [SPHERE] * 6,  # the sphere's row, merged across the six columns
        ["1.", name, place, printed(day), result, participants],
    )
    assert "Traceback" not in bot.stderr(after=log)


def assert_report(sent: BotMessage, quarter: Quarter, *rows: list[str]) -> None:
    """The uploaded .docx: its name and caption, the quarter in its title, the table's rows
    under the header."""
    assert sent.document is not None
    assert sent.document.name == f"report_{quarter.year}_Q{quarter.quarter}.docx"
    events = sum(row[0].endswith(".") for row in rows)
    assert sent.text.split("\n")[0] == Desk.CAPTION.format(
        period=quarter_label(quarter), count=events
    )
    document = Document(BytesIO(sent.document.content))
    title = document.paragraphs[0].text
    assert title.endswith(f" в {quarter.roman} квартале {quarter.year} года"), title
    table = [[cell.text for cell in row.cells] for row in document.tables[0].rows]
    assert table[1:] == list(rows)


async def test_an_answer_whose_next_question_the_person_saw_survives_a_sigkill(
    stub: BotApiStub, bot: BotProcess
) -> None:
    day = collecting_quarter(datetime.now(UTC), TIME_ZONE).first_day
    reporter = await join(stub, bot, SECOND_REPORTER, "Петров Пётр Петрович")
    await reporter.send("/new")
    await reporter.press(SPHERE)
    await reporter.send("Круглый стол")
    mark = stub.mark()

    # Telegram shows the person the next question; the bot dies before it reads the answer.
    stub.hold_next("sendMessage")
    dates_question = await reporter.send("г. Минск")
    assert reporter.last_update_id is not None
    await bot.while_running(stub.wait_until_confirmed(reporter.last_update_id, after=mark))
    await bot.kill()
    restarted = stub.mark()
    await bot.start()
    # The reply was never confirmed to the bot: still owed, it is shown once more (the
    # one duplicate no client can avoid, bot/outbox.py).
    again = await bot.while_running(stub.wait_for_message(SECOND_REPORTER, after=restarted))
    reply = await reporter.send(day.strftime("%d.%m.%Y"))

    assert dates_question.text == again.text == question("dates")
    assert reply.text == html_to_text(Dialogue.CONFIRM_DATES.format(dates=printed(day)))


async def test_after_a_sigkill_the_restarted_bot_answers_each_message_exactly_once(
    stub: BotApiStub, bot: BotProcess
) -> None:
    start, log = stub.mark(), bot.log_mark()
    before = await stub.push_message(COORDINATOR, "/help")
    await bot.while_running(stub.wait_for_message(COORDINATOR, after=start))
    await bot.while_running(stub.wait_until_confirmed(before["update_id"], after=start))
    await bot.wait_until_handled(before["update_id"], after=log)  # its reply not owed
    killed = await bot.kill()

    mark = stub.mark()
    await bot.start()
    after = await stub.push_message(COORDINATOR, "/help")
    reply = await bot.while_running(stub.wait_for_message(COORDINATOR, after=mark))
    await bot.while_running(stub.wait_until_confirmed(after["update_id"], after=mark))
    stopped = await bot.terminate()

    assert killed == -signal.SIGKILL
    assert reply.source == coordinator_help()
    assert stub.delivered(after=mark) == [after["update_id"]]
    assert [call.params["text"] for call in stub.calls_of("sendMessage", after=mark)] == [
        coordinator_help()
    ]
    assert stub.pending_updates == []
    assert stopped == 0
    assert "Polling stopped" in bot.stderr(after=log)
    assert "Traceback" not in bot.stderr(after=log)


async def test_the_bot_waits_out_failing_and_rate_limited_get_me_then_polls(
    tmp_path: Path,
) -> None:
    async with BotApiStub() as stub:
        stub.fail_next("getMe", status=HTTPStatus.BAD_GATEWAY)
        stub.fail_next("getMe", status=HTTPStatus.TOO_MANY_REQUESTS, retry_after=1)
        async with BotProcess(tmp_path, stub.url) as bot:
            polling = await bot.while_running(stub.wait_for_polling())
            refusal = await Person(stub, bot, STRANGER, "Пётр").send("/start")
            alive = bot.running

    failed, limited, answered = stub.calls_of("getMe")[:3]
    assert failed.status == HTTPStatus.BAD_GATEWAY
    assert limited.status == HTTPStatus.TOO_MANY_REQUESTS
    assert answered.ok and answered.index < polling.index
    assert answered.at - limited.at >= 0.9  # retry_after=1 was honoured
    assert refusal.text == html_to_text(Common.stranger(STRANGER))
    assert alive
    assert "Traceback" not in bot.stderr()
