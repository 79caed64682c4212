"""The real `python -m bot` process in WEBHOOK mode, killed at every step of a dialogue:
after each SIGKILL the restarted process goes on at the step the person saw, a redelivered
update (same update_id, as Telegram retries a webhook it got no 200 for) is handled once,
and the event is stored once with every answer.

One stub, one database, one webhook process and one dialogue. Updates are built by the
stub and POSTed to the bot's port, as Telegram would. Of the redelivered steps, some are
killed after the 200 (a redelivery Telegram makes anyway, e.g. the 200 got lost), some
while the update is in flight (the reply carried out, its answer held back: Telegram
never got a 200 and must redeliver).
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import pytest_asyncio

from bot import texts as bot_texts
from handlers.texts import Dialogue
from reports.quarters import collecting_quarter
from tests.botapi_stub import BOT_USERNAME, BotApiStub, BotMessage
from tests.e2e import BotProcess, Webhook, free_port, webhook_env
from tests.test_e2e import SPHERE, first_line, quarter_label, question

pytestmark = pytest.mark.asyncio(loop_scope="module")

COORDINATOR, REPORTER = 1001, 3201
LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(\S+)")
TIME_ZONE = ZoneInfo("Europe/Moscow")
ANSWERS = ("sendMessage", "editMessageText", "editMessageReplyMarkup", "sendDocument")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[BotApiStub, BotProcess, Webhook]]:
    async with BotApiStub() as stub:
        stub.add_chat(COORDINATOR, first_name="Ольга")
        port = free_port()
        bot = BotProcess(
            tmp_path_factory.mktemp("faults_webhook"),
            stub.url,
            coordinator_ids=[COORDINATOR],
            env=webhook_env(port),
        )
        webhook = Webhook(port)
        try:
            await bot.start()
            await webhook.wait_until_up(bot)
            yield stub, bot, webhook
        finally:
            await bot.kill()


def stored(database: Path) -> list[tuple[str, ...]]:
    with sqlite3.connect(database) as connection:
        return list(
            connection.execute(
                "SELECT name, place, result, participants, status FROM events ORDER BY id"
            )
        )


class WebhookPerson:
    """Someone in a private chat with the bot, whose updates are POSTed to the webhook."""

    def __init__(
        self, stub: BotApiStub, bot: BotProcess, webhook: Webhook, user_id: int, name: str
    ) -> None:
        self.stub, self.bot, self.webhook = stub, bot, webhook
        self.user_id, self.first_name = user_id, name

    async def message(self, text: str) -> dict[str, Any]:
        return await self.stub.push_message(self.user_id, text, first_name=self.first_name)

    async def button(self, label: str) -> dict[str, Any]:
        return await self.stub.press(self.user_id, label, first_name=self.first_name)

    async def deliver(self, update: dict[str, Any]) -> BotMessage:
        """POST `update`; 200 and the first message the bot sent to the chat for it."""
        mark = self.stub.mark()
        status, body = await self.bot.while_running(self.webhook.post(update))
        assert status == 200, body
        return await self.bot.while_running(self.stub.wait_for_message(self.user_id, after=mark))

    async def send(self, text: str) -> BotMessage:
        return await self.deliver(await self.message(text))


async def restart(bot: BotProcess, webhook: Webhook) -> None:
    """SIGKILL (the process must really be killed) and start again until it listens."""
    assert await bot.kill() == -signal.SIGKILL
    log = bot.log_mark()
    await bot.start()
    await webhook.wait_until_up(bot, after=log)


async def test_a_webhook_dialogue_killed_after_every_step_stores_its_event_once(
    shared: tuple[BotApiStub, BotProcess, Webhook],
) -> None:
    stub, bot, webhook = shared
    quarter = collecting_quarter(datetime.now(UTC), TIME_ZONE)
    day = quarter.first_day.strftime("%d.%m.%Y")
    coordinator = WebhookPerson(stub, bot, webhook, COORDINATOR, "Ольга")
    link = await coordinator.send("/neworg Музей")
    code = LINK.search(link.text or "")
    assert code is not None
    reporter = WebhookPerson(stub, bot, webhook, REPORTER, "Мария")
    await reporter.send(f"/start {code.group(1)}")
    await reporter.send("Иванова Мария Петровна")
    await reporter.send("/new")
    # (the update the person makes, the first line of what they must see next)
    steps: list[tuple[Callable[[], Awaitable[dict[str, Any]]], str | None]] = [
        (lambda: reporter.button(SPHERE), question("name")),
        (lambda: reporter.message("Выставка"), question("place")),
        (lambda: reporter.message("г. Минск"), question("dates")),
        (lambda: reporter.message(day), None),  # the dates echoed for confirmation
        (lambda: reporter.button(Dialogue.YES), question("result")),
        (lambda: reporter.message("Открыта выставка."), question("participants")),
        (lambda: reporter.message("Гости, 18 человек"), question("period")),
        (
            lambda: reporter.button(quarter_label(quarter) + Dialogue.DEFAULT_MARK),
            None,  # the summary
        ),
        (lambda: reporter.button(Dialogue.SUBMIT), None),
    ]
    seen: list[BotMessage] = []
    redelivered: list[int] = []

    for number, (make, expected) in enumerate(steps):
        update = await make()
        update_id = update["update_id"]
        if number % 4 == 2:
            # Killed in flight: the reply is in the chat, its answer held back; the POST
            # never gets its 200, so Telegram delivers the update again after the restart.
            mark = stub.mark()
            release = stub.hold_next("sendMessage")
            delivery = asyncio.create_task(webhook.post(update))
            reply = await bot.while_running(stub.wait_for_message(REPORTER, after=mark))
            await restart(bot, webhook)
            release.set()  # nobody is waiting for it any more
            with pytest.raises(aiohttp.ClientError):
                await delivery  # the connection died with the process: no 200
        else:
            reply = await reporter.deliver(update)
            await restart(bot, webhook)
        seen.append(reply)
        if expected is not None:
            assert reply.text == expected, number
        if number % 2 == 0:  # Telegram redelivers the same update to the new process
            mark, log = stub.mark(), bot.log_mark()
            status, body = await bot.while_running(webhook.post(update))
            assert status == 200, (number, body)
            assert [call for call in stub.calls[mark:] if call.method in ANSWERS] == [], number
            assert f"update {update_id} of bot 123456 was already processed" in bot.stderr(
                after=log
            ), number
            redelivered.append(update_id)

    assert len(redelivered) == 5
    assert bot.stdout().count(bot_texts.STARTED_WEBHOOK) == len(steps) + 1  # each start, once up
    assert seen[-1].text == Dialogue.SUBMITTED.format(period=quarter_label(quarter))
    assert stored(bot.database) == [
        ("Выставка", "г. Минск", "Открыта выставка.", "Гости, 18 человек", "submitted")
    ]
    # Every reply sent once: no step answered twice after a redelivered update.
    lines = [first_line(message.text) for message in stub.sent(REPORTER)]
    assert len(lines[-len(steps) :]) == len(set(lines[-len(steps) :]))
    assert "Traceback" not in bot.stderr()
