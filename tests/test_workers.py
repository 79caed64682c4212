"""Two webhook workers on one PostgreSQL database and one Redis (CI-gated).

The updates of one whole dialogue land alternately on each worker; the event is stored
once with the right fields. An update delivered to both at once is handled once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from storage.db import create_engine, create_sessionmaker
from storage.models import Event
from tests.botapi_stub import BotApiStub
from tests.conftest import REDIS_URL, redis_db
from tests.e2e import BotProcess, Webhook, pg_redis_workers

pytestmark = pytest.mark.asyncio(loop_scope="module")

COORDINATOR = 1001
REDIS_DB = redis_db(14)
SPHERE = "Сотрудничество в сфере культуры и туризма"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def workers(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[BotApiStub, list[tuple[BotProcess, Webhook]], str]]:
    async with pg_redis_workers(
        tmp_path_factory.mktemp,
        name="workers",
        redis_url=f"{REDIS_URL}/{REDIS_DB}",
        coordinator=COORDINATOR,
    ) as up:
        yield up.stub, up.started, up.database_url


async def test_a_dialogue_alternating_between_two_workers_stores_one_event(
    workers: tuple[BotApiStub, list[tuple[BotProcess, Webhook]], str],
) -> None:
    stub, started, database_url = workers
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    turn = 0

    async def deliver(update: dict) -> str:
        nonlocal turn
        bot, webhook = started[turn % 2]
        turn += 1
        mark = stub.mark()
        status, _ = await bot.while_running(webhook.post(update))
        assert status == 200
        calls = stub.calls_of("sendMessage", after=mark) + stub.calls_of(
            "editMessageText", after=mark
        )
        assert calls, f"no reply to update {update['update_id']}:\n{stub.describe(after=mark)}"
        return calls[-1].message.text or ""  # type: ignore[union-attr]

    async def say(text_: str) -> str:
        return await deliver(await stub.push_message(COORDINATOR, text_, first_name="Ольга"))

    async def press(button: str) -> str:
        return await deliver(await stub.press(COORDINATOR, button, first_name="Ольга"))

    async def press_first() -> str:
        label = stub.last_markup(COORDINATOR)[0][0][0]
        return await press(label)

    await say("/new")
    await press(SPHERE)
    await say("Выставка «Два воркера»")
    await say("г. Минск, Республика Беларусь")
    await say(today.strftime("%d.%m.%Y"))
    await press("✔ Верно")
    await say("Открыта выставка.")
    await say("Сотрудники музея. Общее количество участников – 18 человек")
    await press_first()  # the default quarter
    done = await press("✅ Отправить")

    assert "Мероприятие сохранено" in done
    assert turn == 10
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            events = list(await session.scalars(select(Event).options(selectinload(Event.sphere))))
    finally:
        await engine.dispose()
    [event] = events  # on the schema `python -m bot migrate` made
    assert event.name == "Выставка «Два воркера»"
    assert event.place == "г. Минск, Республика Беларусь"
    assert event.start_date == today
    assert event.result == "Открыта выставка."
    assert event.participant_count == 18
    assert event.sphere.name == SPHERE
    assert event.status == "submitted"


async def test_an_update_delivered_to_both_workers_is_handled_once(
    workers: tuple[BotApiStub, list[tuple[BotProcess, Webhook]], str],
) -> None:
    stub, started, _ = workers
    mark = stub.mark()
    update = await stub.push_message(COORDINATOR, "/help", first_name="Ольга")

    statuses = await asyncio.gather(*(webhook.post(update) for _, webhook in started))

    assert [status for status, _ in statuses] == [200, 200]
    assert len(stub.calls_of("sendMessage", after=mark)) == 1
