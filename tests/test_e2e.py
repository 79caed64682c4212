"""The real `python -m bot` process end to end, against the local Bot API stand-in."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.commands import COORDINATOR_COMMANDS, REPORTER_COMMANDS
from handlers.texts import Common
from tests.botapi_stub import BotApiStub
from tests.e2e import BotProcess

COORDINATOR = 1001
STRANGER = 2002
COORDINATOR_HELP = Common.HELP_REPORTER + Common.HELP_COORDINATOR


@pytest.fixture
async def stub() -> AsyncIterator[BotApiStub]:
    async with BotApiStub() as stub:
        # The coordinator has written to the bot before: Telegram refuses a chat's
        # command menu for a chat it has never seen.
        stub.add_chat(COORDINATOR, first_name="Ольга")
        yield stub


async def test_the_process_greets_a_coordinator_refuses_a_stranger_and_sets_the_menus(
    stub: BotApiStub, tmp_path: Path
) -> None:
    head, tail = Common.START_KNOWN.split("{name}")

    async with BotProcess(tmp_path, stub.url, coordinator_ids=[COORDINATOR]) as bot:
        await stub.push_message(STRANGER, "/start", first_name="Пётр")
        refusal = await bot.while_running(stub.wait_for_message(STRANGER))
        mark = stub.mark()
        await stub.push_message(COORDINATOR, "/start", first_name="Ольга")
        greeting = await bot.while_running(stub.wait_for_message(COORDINATOR, after=mark))
        mark = stub.mark()
        await stub.push_message(COORDINATOR, "/help", first_name="Ольга")
        help_ = await bot.while_running(stub.wait_for_message(COORDINATOR, after=mark))

    assert refusal.text == Common.STRANGER
    assert greeting.source is not None
    assert greeting.source.startswith(head) and greeting.source.endswith(tail)
    assert help_.source == COORDINATOR_HELP
    assert stub.my_commands() == list(REPORTER_COMMANDS)
    assert stub.my_commands({"type": "chat", "chat_id": COORDINATOR}) == list(COORDINATOR_COMMANDS)
    assert "Traceback" not in bot.stderr()


async def test_after_a_sigkill_the_restarted_bot_answers_each_message_exactly_once(
    stub: BotApiStub, tmp_path: Path
) -> None:
    async with BotProcess(tmp_path, stub.url, coordinator_ids=[COORDINATOR]) as bot:
        before = await stub.push_message(COORDINATOR, "/help")
        await bot.while_running(stub.wait_for_message(COORDINATOR))
        await bot.while_running(stub.wait_until_confirmed(before["update_id"]))
        killed = await bot.kill()

        mark = stub.mark()
        await bot.start()
        after = await stub.push_message(COORDINATOR, "/help")
        reply = await bot.while_running(stub.wait_for_message(COORDINATOR, after=mark))
        await bot.while_running(stub.wait_until_confirmed(after["update_id"], after=mark))
        stopped = await bot.terminate()

    assert killed == -signal.SIGKILL
    assert reply.source == COORDINATOR_HELP
    assert stub.delivered(after=mark) == [after["update_id"]]
    assert [call.params["text"] for call in stub.calls_of("sendMessage", after=mark)] == [
        COORDINATOR_HELP
    ]
    assert stub.pending_updates == []
    assert stopped == 0
    assert "Polling stopped" in bot.stderr()
    assert "Traceback" not in bot.stderr()
