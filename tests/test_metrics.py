"""/metrics: the Prometheus text format, scraped over HTTP and parsed, moving with a dialogue.

The webhook app (bot/webhook.py) and the METRICS_PORT server (long polling, the scheduler
process) serve the one registry of bot/metrics.py. A real dialogue through the Dispatcher
moves the update, Bot API, 429, retry, events-submitted and report-compile metrics.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bot import texts
from bot.app import build_bot, build_dispatcher, say_where_metrics_are, start_metrics
from bot.database import Storage
from bot.settings import Settings, StartupError
from bot.webhook import build_web_app
from tests.botapi_stub import BotApiStub
from tests.conftest import COORDINATOR_ID, Clock
from tests.e2e import BotProcess, Person, free_port
from tests.tg import RecordingSession, World, reach

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, labels) → value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over the samples carrying `labels` (and any others)."""
    wanted = set(labels.items())
    return sum(
        value for (found, have), value in samples.items() if found == name and wanted <= have
    )


class RateLimitedOnce(RecordingSession):
    """Telegram answers the first sendMessage with 429 (retry after 0 s), then as usual."""

    def __init__(self) -> None:
        super().__init__()
        self.limited = False

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if isinstance(method, SendMessage) and not self.limited:
            self.limited = True
            raise TelegramRetryAfter(method, "Too Many Requests: retry after 0", 0)
        return await super().make_request(bot, method, timeout)


@pytest.fixture
def webhook_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_url": "https://bot.example.org/tg/webhook",
            "webhook_secret": SecretStr("metrics-test-secret"),
        }
    )


@pytest.fixture
async def scraped(
    webhook_settings: Settings, app_storage: Storage, clock: Clock
) -> AsyncIterator[tuple[World, TestClient[Any, Any]]]:
    session = RateLimitedOnce()
    bot = build_bot(webhook_settings, session=session)
    dispatcher = build_dispatcher(webhook_settings, app_storage, clock=clock)
    world = World(dispatcher, bot, session)
    app = build_web_app(dispatcher, bot, webhook_settings, app_storage)
    async with TestClient(TestServer(app)) as client:
        yield world, client
    await bot.session.close()


async def _scrape(client: TestClient[Any, Any]) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return parse(await response.text())


async def test_the_webhook_app_serves_metrics_that_move_with_a_dialogue(
    scraped: tuple[World, TestClient[Any, Any]],
) -> None:
    world, client = scraped
    before = await _scrape(client)
    person = world.person(COORDINATOR_ID, "Ольга")

    await reach(person, "summary")
    saved = await person.press("✅ Отправить")
    await person.send("/report 2023-Q4")
    after = await _scrape(client)

    assert saved[-1].text.startswith("Мероприятие сохранено")
    assert person.documents()  # the report went out

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("bot_events_submitted_total", period="2023-Q4") == 1
    assert moved("bot_updates_total", type="message", router="handlers.report") >= 7
    assert moved("bot_updates_total", type="callback_query", outcome="handled") >= 3
    assert moved("bot_updates_total", outcome="failed") == 0
    assert moved("bot_update_seconds_count", type="message") >= 8
    assert moved("bot_api_requests_total", method="sendMessage", outcome="ok") >= 8
    assert moved("bot_api_requests_total", method="sendDocument", outcome="ok") == 1
    assert moved("bot_api_requests_total", method="sendMessage", outcome="rate_limited") == 1
    assert moved("bot_api_retries_total", method="sendMessage", reason="rate_limited") == 1
    assert moved("bot_report_compile_seconds_count", format="docx") == 1
    assert moved("bot_pool_wait_seconds_count", pool="database") >= 10
    assert total(after, "process_cpu_seconds_total") > 0


async def test_a_handled_an_unhandled_and_a_failing_update_are_told_apart(
    scraped: tuple[World, TestClient[Any, Any]],
) -> None:
    world, client = scraped
    person = world.person(COORDINATOR_ID, "Ольга")
    before = await _scrape(client)

    await person.send("/help")
    edited = person.message(text="Ольга Петрова")
    await world.feed_raw(Update(update_id=900, edited_message=edited))  # nobody handles it
    world.session.block(COORDINATOR_ID)  # the person blocked the bot: the reply gets 403
    await person.send("/help")
    after = await _scrape(client)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("bot_updates_total", type="message", outcome="handled") == 1
    assert moved("bot_updates_total", type="edited_message", outcome="unhandled") == 1
    assert moved("bot_updates_total", type="edited_message", router="none") == 1
    assert moved("bot_updates_total", type="message", outcome="blocked") == 1
    assert moved("bot_updates_total", outcome="failed") == 0
    assert moved("bot_api_requests_total", method="sendMessage", outcome="forbidden") == 1
    handled = {dict(labels)["router"] for (name, labels) in after if name == "bot_updates_total"}
    assert "handlers.common" in handled
    assert all("Ольга" not in str(labels) for (_, labels) in after)  # no names in labels


async def test_metrics_port_serves_the_registry_and_a_busy_port_is_one_russian_line(
    settings: Settings,
) -> None:
    port = free_port()
    runner = await start_metrics(settings.model_copy(update={"metrics_port": port}))
    assert runner is not None
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert response.status == 200
            samples = parse(await response.text())
        with pytest.raises(StartupError, match=f"порт метрик 127.0.0.1:{port}"):
            await start_metrics(settings.model_copy(update={"metrics_port": port}))
    finally:
        await runner.cleanup()

    names = {name for name, _ in samples}
    assert "process_cpu_seconds_total" in names
    assert "bot_pool_wait_seconds_count" in names or "bot_updates_total" in names


def test_a_webhook_worker_says_metrics_port_is_unused_and_where_metrics_are(
    webhook_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    given = webhook_settings.model_copy(update={"metrics_port": 9108, "webhook_port": 8443})

    with caplog.at_level(logging.WARNING, logger="bot.app"):
        say_where_metrics_are(webhook_settings)  # no METRICS_PORT: nothing to say
        say_where_metrics_are(given)

    assert [record.getMessage() for record in caplog.records] == [
        texts.METRICS_ON_WEBHOOK.format(port=9108, host="127.0.0.1", webhook_port=8443)
    ]
    assert "METRICS_PORT=9108 в режиме webhook не используется" in caplog.records[0].getMessage()


async def test_without_metrics_port_nothing_listens(settings: Settings) -> None:
    assert settings.metrics_port is None
    assert await start_metrics(settings) is None


async def test_long_polling_serves_metrics_on_metrics_port_counting_the_stubs_429(
    tmp_path: Path,
) -> None:
    """The real `python -m bot` (long polling) with METRICS_PORT, Telegram's 429 played by
    the Bot API stand-in: the retry and the 429 are on the scraped page."""
    port = free_port()
    async with BotApiStub() as stub:
        stub.add_chat(COORDINATOR_ID, first_name="Ольга")
        env = {"METRICS_PORT": str(port)}
        async with BotProcess(tmp_path, stub.url, coordinator_ids=[COORDINATOR_ID], env=env) as bot:
            await bot.while_running(stub.wait_for_polling(timeout=120))  # a slow machine
            stub.fail_next("sendMessage", status=HTTPStatus.TOO_MANY_REQUESTS, retry_after=1)
            reply = await Person(stub, bot, COORDINATOR_ID, "Ольга").send("/help")
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/metrics") as response,
            ):
                assert response.status == 200
                samples = parse(await response.text())

    assert reply.text is not None and reply.text.startswith("Как сообщить о мероприятии")
    limited = total(samples, "bot_api_requests_total", method="sendMessage", outcome="rate_limited")
    assert limited == 1
    assert total(samples, "bot_api_retries_total", method="sendMessage", reason="rate_limited") == 1
    assert total(samples, "bot_api_requests_total", method="getUpdates", outcome="ok") >= 1


def test_a_labelled_child_is_the_metrics_own_so_counts_through_either_add_up() -> None:
    from bot.metrics import API_REQUESTS, REGISTRY, labelled

    def count() -> float:
        labels = {"method": "testLabelled", "outcome": "ok"}
        return REGISTRY.get_sample_value("bot_api_requests_total", labels) or 0.0

    before = count()
    labelled(API_REQUESTS, "testLabelled", "ok").inc()
    API_REQUESTS.labels("testLabelled", "ok").inc()
    labelled(API_REQUESTS, "testLabelled", "ok").inc()

    assert labelled(API_REQUESTS, "testLabelled", "ok") is API_REQUESTS.labels("testLabelled", "ok")
    assert count() == before + 3
    assert labelled(API_REQUESTS, "testLabelled", "refused") is not labelled(
        API_REQUESTS, "testLabelled", "ok"
    )
