"""Retrying the bot's requests: 429 waits retry_after, 5xx and network errors back off."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BufferedInputFile

from bot.retry import RetryRequests
from tests.telegram_rules import MAX_UPLOAD
from tests.tg import RecordingSession


class FlakySession(RecordingSession):
    """Fails the first `failures` requests with the given errors, then answers."""

    def __init__(self, failures: list[Exception]) -> None:
        super().__init__()
        self.failures = failures

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if self.failures:
            self.requests.append(method)
            raise self.failures.pop(0)
        return await super().make_request(bot, method, timeout)  # records it too


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _bot(failures: list[Exception], time: FakeTime, **options: Any) -> tuple[Bot, FlakySession]:
    session = FlakySession(failures)
    session.middleware(RetryRequests(clock=time.clock, sleep=time.sleep, **options))
    return Bot("123456:TEST-token-for-the-retry-tests-0000", session=session), session


def _send() -> SendMessage:
    return SendMessage(chat_id=7, text="Шаг 2 из 7")


def _retry_after(seconds: int) -> TelegramRetryAfter:
    return TelegramRetryAfter(method=_send(), message="Too Many Requests", retry_after=seconds)


async def test_a_429_waits_its_retry_after_and_sends_the_same_message_again() -> None:
    time = FakeTime()
    bot, session = _bot([_retry_after(3), _retry_after(2)], time)

    message = await bot(_send())

    assert message.text == "Шаг 2 из 7"
    assert time.waits == [3.0, 2.0]
    assert [r.text for r in session.requests] == ["Шаг 2 из 7"] * 3  # type: ignore[attr-defined]


async def test_server_and_network_errors_back_off_exponentially() -> None:
    time = FakeTime()
    failures: list[Exception] = [
        TelegramServerError(method=_send(), message="Bad Gateway"),
        TelegramNetworkError(method=_send(), message="Connection refused"),
        TelegramServerError(method=_send(), message="Internal Server Error"),
    ]
    bot, session = _bot(failures, time)

    await bot(_send())

    assert time.waits == [0.5, 1.0, 2.0]
    assert len(session.requests) == 4


async def test_it_gives_up_after_its_time_and_raises_the_last_error() -> None:
    time = FakeTime()
    failures: list[Exception] = [
        TelegramServerError(method=_send(), message="Bad Gateway") for _ in range(20)
    ]
    bot, _ = _bot(failures, time, give_up_after=10.0)

    with pytest.raises(TelegramServerError):
        await bot(_send())

    assert sum(time.waits) <= 10.0
    assert time.waits == [0.5, 1.0, 2.0, 4.0]


async def test_a_failed_callback_answer_is_not_retried_and_does_not_fail_the_update() -> None:
    time = FakeTime()
    bot, session = _bot([_retry_after(5)], time)

    result = await bot(AnswerCallbackQuery(callback_query_id="1"))

    assert result is True
    assert time.waits == []
    assert len(session.requests) == 1


async def test_a_file_too_large_for_telegram_is_not_retried() -> None:
    time = FakeTime()
    document = SendDocument(
        chat_id=7, document=BufferedInputFile(b"x" * (MAX_UPLOAD + 1), filename="report.docx")
    )
    bot, session = _bot([], time)

    with session.expect_refusal(), pytest.raises(TelegramEntityTooLarge):
        await bot(document)

    assert time.waits == []
    assert len(session.refused) == 1  # asked once: the same file fails again
