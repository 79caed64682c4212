"""Webhook mode of the real `python -m bot` process: secret, health, redelivery, SIGTERM.

One process serves the module (each start costs about three seconds); the SIGTERM test
is last and stops it. Updates are built by the stub (which also answers the bot's calls)
and POSTed to the bot's webhook port, as Telegram would.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from tests.botapi_stub import BotApiStub
from tests.e2e import WEBHOOK_SECRET, BotProcess, Webhook, free_port, webhook_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

COORDINATOR = 1001


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[BotApiStub, BotProcess, Webhook]]:
    async with BotApiStub() as stub:
        stub.add_chat(COORDINATOR, first_name="Ольга")
        port = free_port()
        bot = BotProcess(
            tmp_path_factory.mktemp("webhook"),
            stub.url,
            coordinator_ids=[COORDINATOR],
            env=webhook_env(port, SHUTDOWN_TIMEOUT="20"),
            asked_their_names=True,  # each /help is answered with one message
        )
        webhook = Webhook(port)
        try:
            await bot.start()
            await webhook.wait_until_up(bot)
            yield stub, bot, webhook
        finally:
            await bot.kill()


async def _start_update(stub: BotApiStub, text: str = "/start") -> dict:
    """An update as Telegram would deliver it (the stub's queue is never polled here)."""
    return await stub.push_message(COORDINATOR, text, first_name="Ольга")


async def test_it_registers_the_webhook_with_its_secret_and_never_polls(
    shared: tuple[BotApiStub, BotProcess, Webhook],
) -> None:
    stub, bot, _ = shared

    [call] = stub.calls_of("setWebhook")

    assert call.params["url"] == "https://bot.example.org/tg/webhook"
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert "message" in call.params["allowed_updates"]
    assert "callback_query" in call.params["allowed_updates"]
    assert stub.calls_of("getUpdates") == []
    assert WEBHOOK_SECRET not in bot.stderr() + bot.stdout()


async def test_an_update_with_the_secret_is_handled_before_the_answer(
    shared: tuple[BotApiStub, BotProcess, Webhook],
) -> None:
    stub, bot, webhook = shared
    mark = stub.mark()
    update = await _start_update(stub, "/help")

    status, _ = await bot.while_running(webhook.post(update))

    assert status == 200
    [reply] = [call.message for call in stub.calls_of("sendMessage", after=mark)]
    assert reply is not None and reply.chat_id == COORDINATOR
    assert reply.text is not None and reply.text.startswith("Как сообщить о мероприятии")


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", WEBHOOK_SECRET + "x"])
async def test_a_request_without_the_right_secret_gets_401_and_is_not_handled(
    shared: tuple[BotApiStub, BotProcess, Webhook], secret: str | None
) -> None:
    stub, bot, webhook = shared
    mark, log = stub.mark(), bot.log_mark()
    update = await _start_update(stub)

    status, _ = await bot.while_running(webhook.post(update, secret=secret))
    # A later good update is handled and answered: the bad one would have been before it.
    good = await _start_update(stub)
    await webhook.post(good)

    assert status == 401
    assert f"Update id={update['update_id']} " not in bot.stderr(after=log)
    assert f"Update id={good['update_id']} is handled" in bot.stderr(after=log)
    assert len(stub.calls_of("sendMessage", after=mark)) == 1


async def test_a_redelivered_update_is_handled_once(
    shared: tuple[BotApiStub, BotProcess, Webhook],
) -> None:
    stub, bot, webhook = shared
    mark, log = stub.mark(), bot.log_mark()
    update = await _start_update(stub)

    first, _ = await bot.while_running(webhook.post(update))
    second, _ = await bot.while_running(webhook.post(update))

    assert (first, second) == (200, 200)
    assert len(stub.calls_of("sendMessage", after=mark)) == 1
    assert f"update {update['update_id']} of bot 123456 was already processed" in bot.stderr(
        after=log
    )


async def test_the_health_endpoint_answers_while_the_database_does(
    shared: tuple[BotApiStub, BotProcess, Webhook],
) -> None:
    _, bot, webhook = shared

    status, body = await bot.while_running(webhook.health())

    assert (status, body) == (200, {"status": "ok", "database": "ok"})


async def test_sigterm_stops_listening_and_finishes_the_update_in_flight(
    shared: tuple[BotApiStub, BotProcess, Webhook],
) -> None:
    stub, bot, webhook = shared
    mark, log = stub.mark(), bot.log_mark()
    release = stub.hold_next("sendMessage")  # the reply is sent, its answer held back
    update = await _start_update(stub)
    delivery = asyncio.create_task(webhook.post(update))
    await bot.while_running(stub.wait_for(lambda call: call.is_("sendMessage"), after=mark))

    bot.send_signal(signal.SIGTERM)
    await bot.while_running(bot.wait_for_log("finishing in-flight updates", after=log))
    with pytest.raises(aiohttp.ClientConnectionError):
        await webhook.health()  # no longer listening
    assert bot.running and not delivery.done()
    release.set()
    status, _ = await delivery
    code = await bot.terminate()

    assert status == 200
    assert code == 0
    assert f"Update id={update['update_id']} is handled" in bot.stderr(after=log)
