"""The real `python -m bot` process stopped or killed while a reply is on its way to
Telegram (the stand-in holding it), in polling and webhook mode: after the restart the
person sees the question of the step stored, once, and their next answer lands in the
field asked; a report lost mid-upload arrives after the restart; «Отправить» pressed again
meanwhile is answered with the saved event.

The points held: the request reached Telegram but was not carried out (`stall_next`: the
same as not sent), and carried out with its answer lost (`hold_next`: the one duplicate
no client can avoid, bot/outbox.py). SIGTERM while a reply is held waits for it
(SHUTDOWN_TIMEOUT), or, past that, leaves it owed.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import pytest_asyncio
from docx import Document

from handlers.texts import Dialogue
from reports.quarters import collecting_quarter
from tests.botapi_stub import BOT_USERNAME, BotApiStub, Call, html_to_text
from tests.e2e import BotProcess, Person, Webhook, free_port, webhook_env
from tests.test_e2e import SPHERE, quarter_label, question

pytestmark = pytest.mark.asyncio(loop_scope="module")

COORDINATOR = 1001
LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(\S+)")
TIME_ZONE = ZoneInfo("Europe/Moscow")
SHUTDOWN_TIMEOUT = "4"  # seconds a stopping process gives a held reply


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def polling(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[BotApiStub, BotProcess]]:
    async with BotApiStub() as stub:
        stub.add_chat(COORDINATOR, first_name="Ольга")
        bot = BotProcess(
            tmp_path_factory.mktemp("outbox"),
            stub.url,
            coordinator_ids=[COORDINATOR],
            env={"SHUTDOWN_TIMEOUT": SHUTDOWN_TIMEOUT},
        )
        await bot.start()
        try:
            yield stub, bot
        finally:
            await bot.kill()


def fsm_draft(database: Path, user_id: int) -> tuple[str | None, dict[str, Any]]:
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT state, data FROM fsm_states WHERE key LIKE ?", (f"%:{user_id}:{user_id}:%",)
        ).fetchone()
    assert row is not None
    return row[0], json.loads(row[1]).get("draft", {})


def owed_rows(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        query = "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"  # delivered: kept a day
        return int(connection.execute(query).fetchone()[0])


def events(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as connection:
        return list(connection.execute("SELECT name, status FROM events ORDER BY id"))


def shown(stub: BotApiStub, chat_id: int, text: str) -> int:
    """How many messages showing `text` the chat has received."""
    return [message.text for message in stub.sent(chat_id)].count(text)


async def reporter_at_name(stub: BotApiStub, bot: BotProcess, user_id: int, name: str) -> Person:
    """A member of staff, joined, at the dialogue's second step (the name is asked)."""
    link = await Person(stub, bot, COORDINATOR, "Ольга").send(f"/neworg Музей {user_id}")
    code = LINK.search(link.text or "")
    assert code is not None
    person = Person(stub, bot, user_id, name)
    await person.send(f"/start {code.group(1)}")
    await person.send(f"Иванова {name} Петровна")
    await person.send("/new")
    log = bot.log_mark()
    assert (await person.press(SPHERE)).text == question("name")
    # Until its row is gone: a kill before that would (rightly) send «name?» once more.
    assert person.last_update_id is not None
    await bot.wait_until_handled(person.last_update_id, after=log)
    return person


async def answered(bot: BotProcess, person: Person, text: str) -> Any:
    """`person.send(text)`, returning once the update is handled (its reply's row gone)."""
    log = bot.log_mark()
    reply = await person.send(text)
    assert person.last_update_id is not None
    await bot.wait_until_handled(person.last_update_id, after=log)
    return reply


def is_reply_to(chat_id: int, method: str = "sendMessage") -> Any:
    return lambda call: call.is_(method) and str(call.params.get("chat_id")) == str(chat_id)


async def held_reply(
    stub: BotApiStub, bot: BotProcess, person: Person, text: str, *, carried_out: bool
) -> tuple[asyncio.Event, Call]:
    """Send `text`; return once the bot's reply is at Telegram, held there (`carried_out`:
    in the chat, its answer kept from the bot; else not carried out at all)."""
    mark = stub.mark()
    release = stub.hold_next("sendMessage") if carried_out else stub.stall_next("sendMessage")
    await stub.push_message(person.user_id, text, first_name=person.first_name)
    call = await bot.while_running(stub.wait_for(is_reply_to(person.user_id), after=mark))
    if carried_out:
        await bot.while_running(stub.wait_for_message(person.user_id, after=mark))
    return release, call


@pytest.mark.parametrize("carried_out", [False, True], ids=["not-carried-out", "answer-lost"])
async def test_killed_while_a_reply_is_held_the_restart_shows_the_step_stored(
    polling: tuple[BotApiStub, BotProcess], carried_out: bool
) -> None:
    stub, bot = polling
    user_id = 3301 + int(carried_out)
    person = await reporter_at_name(stub, bot, user_id, "Мария")
    release, _ = await held_reply(stub, bot, person, "Выставка", carried_out=carried_out)

    assert await bot.kill() == -signal.SIGKILL
    release.set()  # nobody waits for it any more: a stalled call is never carried out
    mark = stub.mark()
    await bot.start()
    delivered = await bot.while_running(stub.wait_for_message(user_id, after=mark))
    after_restart = await answered(bot, person, "г. Минск")
    state, draft = fsm_draft(bot.database, user_id)

    assert delivered.text == question("place")
    # Once; twice only when Telegram had shown it and its answer died with the process.
    assert shown(stub, user_id, question("place")) == (2 if carried_out else 1)
    assert after_restart.text == question("dates")
    assert state == "ReportStates:dates"
    assert (draft["name"], draft["place"]) == ("Выставка", "г. Минск")
    assert owed_rows(bot.database) == 0
    assert "Traceback" not in bot.stderr()


async def test_a_text_written_while_the_bot_was_down_is_not_taken_for_the_owed_question(
    polling: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = polling
    person = await reporter_at_name(stub, bot, 3307, "Ирина")
    release, _ = await held_reply(stub, bot, person, "Выставка", carried_out=False)
    assert await bot.kill() == -signal.SIGKILL
    release.set()
    # Still seeing «name?», the person writes the name again; Telegram keeps it (backlog).
    retyped = await stub.push_message(3307, "Выставка", first_name="Ирина")

    log = bot.log_mark()
    await bot.start()
    await bot.wait_until_handled(retyped["update_id"], after=log)
    shown = [message.text for message in stub.sent(3307)][-2:]
    after_restart = await answered(bot, person, "г. Минск")
    state, draft = fsm_draft(bot.database, 3307)

    assert shown == [question("place"), html_to_text(Dialogue.NOT_TAKEN)]
    assert after_restart.text == question("dates")
    assert state == "ReportStates:dates"
    assert (draft["name"], draft["place"]) == ("Выставка", "г. Минск")
    assert shown_count(stub, 3307) == (1, 1)
    assert owed_rows(bot.database) == 0
    assert "Traceback" not in bot.stderr()


def shown_count(stub: BotApiStub, chat_id: int) -> tuple[int, int]:
    """How often the chat saw the place question and the «not taken» notice."""
    return shown(stub, chat_id, question("place")), shown(
        stub, chat_id, html_to_text(Dialogue.NOT_TAKEN)
    )


async def test_sigterm_while_a_reply_is_held_waits_for_it_then_exits(
    polling: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = polling
    person = await reporter_at_name(stub, bot, 3303, "Анна")
    release, call = await held_reply(stub, bot, person, "Выставка", carried_out=False)
    log = bot.log_mark()

    bot.send_signal(signal.SIGTERM)
    await bot.while_running(bot.wait_for_log("update(s) in hand (at most", after=log))
    release.set()  # Telegram gets to it while the process is stopping
    code = await bot.wait(timeout=30)
    await bot.start()
    after_restart = await answered(bot, person, "г. Минск")

    assert code == 0
    assert call.ok  # carried out, and answered before the process exited
    assert shown(stub, 3303, question("place")) == 1
    assert after_restart.text == question("dates")
    assert fsm_draft(bot.database, 3303)[1]["place"] == "г. Минск"
    assert owed_rows(bot.database) == 0


async def test_sigterm_with_a_reply_held_past_the_timeout_leaves_it_owed_for_the_restart(
    polling: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = polling
    person = await reporter_at_name(stub, bot, 3304, "Олег")
    release, _ = await held_reply(stub, bot, person, "Выставка", carried_out=False)
    log = bot.log_mark()

    bot.send_signal(signal.SIGTERM)
    code = await bot.wait(timeout=30)  # SHUTDOWN_TIMEOUT passes with the reply still held
    release.set()
    owed = owed_rows(bot.database)
    mark = stub.mark()
    await bot.start()
    delivered = await bot.while_running(stub.wait_for_message(3304, after=mark))
    after_restart = await answered(bot, person, "г. Минск")

    assert code == 0
    assert "stopping with 1 update(s) unfinished" in bot.stderr(after=log)
    assert owed == 1
    assert delivered.text == question("place")
    assert shown(stub, 3304, question("place")) == 1
    assert after_restart.text == question("dates")


async def test_a_report_killed_mid_upload_arrives_after_the_restart_once(
    polling: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = polling
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    person = await reporter_at_name(stub, bot, 3305, "Пётр")
    for act in (
        lambda: person.send("Конференция"),
        lambda: person.send("г. Астана"),
        lambda: person.send(quarter.first_day.strftime("%d.%m.%Y")),
        lambda: person.press(Dialogue.YES),
        lambda: person.send("Доклад."),
        lambda: person.send("Учёные, 40 человек"),
        lambda: person.press(quarter_label(quarter) + Dialogue.DEFAULT_MARK),
        lambda: person.press(Dialogue.SUBMIT),
    ):
        await act()
    mark = stub.mark()
    release = stub.stall_next("sendDocument")
    await stub.push_message(COORDINATOR, f"/report {quarter.label}", first_name="Ольга")
    await bot.while_running(stub.wait_for(is_reply_to(COORDINATOR, "sendDocument"), after=mark))

    assert await bot.kill() == -signal.SIGKILL
    release.set()
    await bot.start()
    document = await bot.while_running(stub.wait_for_document(COORDINATOR, after=mark))
    await answered(bot, person, "/help")  # the restart is past its start: nothing more comes

    assert document.document is not None
    assert document.document.name == f"report_{quarter.year}_Q{quarter.quarter}.docx"
    table_text = [
        cell.text
        for table in Document(BytesIO(document.document.content)).tables
        for row in table.rows
        for cell in row.cells
    ]
    assert "Конференция" in " ".join(table_text)
    delivered = [call for call in stub.calls_of("sendDocument", after=mark) if call.ok]
    assert len(delivered) == 1
    assert owed_rows(bot.database) == 0


async def test_submit_pressed_again_after_a_lost_confirmation_is_told_the_event_is_saved(
    polling: tuple[BotApiStub, BotProcess],
) -> None:
    stub, bot = polling
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    person = await reporter_at_name(stub, bot, 3306, "Вера")
    for act in (
        lambda: person.send("Форум «Память»"),
        lambda: person.send("г. Минск"),
        lambda: person.send(quarter.first_day.strftime("%d.%m.%Y")),
        lambda: person.press(Dialogue.YES),
        lambda: person.send("Доклад."),
        lambda: person.send("Гости, 18 человек"),
        lambda: person.press(quarter_label(quarter) + Dialogue.DEFAULT_MARK),
    ):
        await act()
    mark = stub.mark()
    release = stub.stall_next("sendMessage")
    await stub.press(3306, Dialogue.SUBMIT, first_name="Вера")
    await bot.while_running(stub.wait_for(is_reply_to(3306), after=mark))

    assert await bot.kill() == -signal.SIGKILL
    release.set()
    await stub.press(3306, Dialogue.SUBMIT, first_name="Вера")  # no confirmation: again
    await bot.start()
    again = await bot.while_running(
        stub.wait_for_message(3306, html_to_text(Dialogue.SAVED_ALREADY), after=mark)
    )

    submitted = html_to_text(Dialogue.SUBMITTED.format(period=quarter_label(quarter)))
    texts = [message.text or "" for message in stub.sent(3306)]
    assert texts.count(submitted) == 1  # the lost confirmation, delivered at the start
    assert texts.index(submitted) < texts.index(again.text or "")
    assert "Форум «Память»" in (again.text or "")
    assert events(bot.database)[-1:] == [("Форум «Память»", "submitted")]
    assert [name for name, _ in events(bot.database)].count("Форум «Память»") == 1
    alerts = [c.params.get("text") for c in stub.calls_of("answerCallbackQuery", after=mark)]
    assert not any(alert and "устарел" in str(alert) for alert in alerts)


# --- webhook mode ------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def webhook(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[BotApiStub, BotProcess, Webhook]]:
    async with BotApiStub() as stub:
        stub.add_chat(COORDINATOR, first_name="Ольга")
        port = free_port()
        # One worker: nobody else can be sending its rows, so no lease to wait for.
        env = webhook_env(
            port, SHUTDOWN_TIMEOUT=SHUTDOWN_TIMEOUT, OUTBOX_LEASE="0", OUTBOX_EVERY="600"
        )
        bot = BotProcess(
            tmp_path_factory.mktemp("outbox_webhook"),
            stub.url,
            coordinator_ids=[COORDINATOR],
            env=env,
        )
        hook = Webhook(port)
        try:
            await bot.start()
            await hook.wait_until_up(bot)
            yield stub, bot, hook
        finally:
            await bot.kill()


async def post_and_wait(
    stub: BotApiStub, bot: BotProcess, hook: Webhook, update: dict[str, Any]
) -> Any:
    mark = stub.mark()
    status, body = await bot.while_running(hook.post(update))
    assert status == 200, body
    return await bot.while_running(stub.wait_for_message(update_chat(update), after=mark))


def update_chat(update: dict[str, Any]) -> int:
    if "message" in update:
        return int(update["message"]["chat"]["id"])
    return int(update["callback_query"]["from"]["id"])


async def webhook_reporter(
    stub: BotApiStub, bot: BotProcess, hook: Webhook, user_id: int, name: str
) -> None:
    link = await post_and_wait(
        stub, bot, hook, await stub.push_message(COORDINATOR, f"/neworg Архив {user_id}")
    )
    code = LINK.search(link.text or "")
    assert code is not None
    for text in (f"/start {code.group(1)}", f"Петрова {name} Ивановна", "/new"):
        await post_and_wait(stub, bot, hook, await stub.push_message(user_id, text))
    reply = await post_and_wait(stub, bot, hook, await stub.press(user_id, SPHERE))
    assert reply.text == question("name")


@pytest.mark.parametrize("stop", ["kill", "term"])
async def test_a_webhook_worker_stopped_while_a_reply_is_held_shows_the_step_stored(
    webhook: tuple[BotApiStub, BotProcess, Webhook], stop: str
) -> None:
    stub, bot, hook = webhook
    user_id = 3401 if stop == "kill" else 3402
    await webhook_reporter(stub, bot, hook, user_id, "Нина")
    mark = stub.mark()
    release = stub.stall_next("sendMessage")
    update = await stub.push_message(user_id, "Выставка")
    delivery = asyncio.create_task(hook.post(update))
    call = await bot.while_running(stub.wait_for(is_reply_to(user_id), after=mark))

    if stop == "kill":
        assert await bot.kill() == -signal.SIGKILL
        release.set()
        with pytest.raises(aiohttp.ClientError):
            await delivery  # no 200: Telegram will deliver the update again
        status = None
    else:
        log = bot.log_mark()
        bot.send_signal(signal.SIGTERM)
        await bot.while_running(bot.wait_for_log("stopping: finishing in-flight", after=log))
        release.set()
        status, _ = await delivery  # answered before the worker went away
        assert await bot.wait(timeout=30) == 0
    log = bot.log_mark()
    await bot.start()
    await hook.wait_until_up(bot, after=log)
    redelivered = await bot.while_running(hook.post(update))  # Telegram retries it
    after_restart = await post_and_wait(
        stub, bot, hook, await stub.push_message(user_id, "г. Минск")
    )
    state, draft = fsm_draft(bot.database, user_id)

    assert redelivered[0] == 200
    assert status in (None, 200)
    assert call.ok == (stop == "term")
    assert shown(stub, user_id, question("place")) == 1
    assert after_restart.text == question("dates")
    assert state == "ReportStates:dates"
    assert (draft["name"], draft["place"]) == ("Выставка", "г. Минск")
    assert owed_rows(bot.database) == 0
    assert "Traceback" not in bot.stderr()
