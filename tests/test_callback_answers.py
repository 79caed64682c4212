"""Callback answers wait for the transaction's end: a slow Telegram never holds the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.app import build_bot, build_dispatcher
from bot.database import Storage
from bot.settings import Settings
from handlers.report import Conversation
from handlers.texts import Dialogue
from tests.conftest import Clock
from tests.test_dialogue import join
from tests.tg import RecordingSession, World, fsm_of, reach

STEP = Dialogue.STEP


class SlowAnswers(RecordingSession):
    """answerCallbackQuery hangs until `release` is set (Telegram slow to answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.answer_waiting = asyncio.Event()

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if isinstance(method, AnswerCallbackQuery) and not self.release.is_set():
            self.answer_waiting.set()
            await self.release.wait()
        return await super().make_request(bot, method, timeout)


@pytest.fixture
async def slow_world(
    settings: Settings, app_storage: Storage, clock: Clock
) -> AsyncIterator[tuple[World, SlowAnswers]]:
    session = SlowAnswers()
    session.release.set()  # answer at once while the people get ready
    bot = build_bot(settings, session=session)
    yield World(build_dispatcher(settings, app_storage, clock=clock), bot, session), session
    session.release.set()
    await bot.session.close()


async def test_a_hanging_callback_answer_holds_nobody_else_and_comes_after_the_reply(
    slow_world: tuple[World, SlowAnswers], app_storage: Storage
) -> None:
    world, session = slow_world
    anna = await join(world, 1701)
    boris = await join(world, 1702)
    await reach(anna, "dates_confirm")
    await reach(boris, "name")

    answered = len(anna.answers())
    session.release.clear()
    press = asyncio.create_task(anna.press("✔ Верно"))
    await asyncio.wait_for(session.answer_waiting.wait(), 10)
    # Anna's answer is saved and her next question sent while Telegram keeps her spinner.
    anna_row = await fsm_of(app_storage.sessionmaker, 1701)
    asked_anna = isinstance(world.session.requests[-1], SendMessage)
    # Boris is not held up by Anna's hanging request (SQLite has one writer connection).
    boris_replies = await asyncio.wait_for(boris.send("Выставка"), 10)
    session.release.set()
    anna_replies = await asyncio.wait_for(press, 10)

    assert anna_row is not None and anna_row.state == "ReportStates:result"
    assert asked_anna
    assert [reply.text for reply in boris_replies] == [
        STEP.format(number=3) + Dialogue.ASK["place"]
    ]
    assert [reply.text for reply in anna_replies] == [
        STEP.format(number=5) + Dialogue.ASK["result"]
    ]
    assert len(anna.answers()) == answered + 1


async def test_a_callback_answer_of_a_failed_update_is_still_sent(
    world: World, app_storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = await join(world, 1703)
    await reach(anna, "dates_confirm")
    answered = len(anna.answers())

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database gone")

    monkeypatch.setattr(Conversation, "ask", broken)
    await anna.press("✔ Верно")

    assert len(anna.answers()) == answered + 1
    row = await fsm_of(app_storage.sessionmaker, 1703)
    assert row is not None and row.state == "ReportStates:dates_confirm"
