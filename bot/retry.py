"""Retrying the bot's requests while Telegram is briefly failing (429, 5xx, network).

aiogram retries only getUpdates. Without this a reply that hits a 429 or a 502 is lost:
the answer is saved (see CommitBeforeSending) but the person never sees the next question.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    GetMe,
    GetUpdates,
    Response,
    SendChatAction,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType

from bot.observing import retried

log = logging.getLogger(__name__)

# Requests that only stop a spinner or show "typing": not worth holding a transaction (and
# on SQLite the write lock) for; a failure is logged and treated as done.
_COSMETIC = (AnswerCallbackQuery, SendChatAction)


class RetryRequests(BaseRequestMiddleware):
    """429: wait `retry_after` and send again; 5xx and network errors: back off and retry.
    A 413 (a file too large for Telegram) is raised at once.

    Gives up (re-raising the last error) once the next wait would pass `give_up_after`
    seconds since the first try. getUpdates is left to aiogram's own polling loop.
    """

    def __init__(
        self,
        *,
        give_up_after: float = 60.0,
        first_backoff: float = 0.5,
        max_backoff: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.give_up_after = give_up_after
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self.sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, (GetUpdates, GetMe)):
            # aiogram's polling retries getUpdates; getMe is the start's first request,
            # retried by the start itself with one Russian line each (bot/app.py).
            return await make_request(bot, method)
        started, backoff = self.clock(), self.first_backoff
        while True:
            try:
                return await make_request(bot, method)
            except TelegramEntityTooLarge:
                raise  # a 413 (aiogram counts it as a network error): the same file fails again
            except TelegramRetryAfter as error:
                wait = float(error.retry_after)
                failure: Exception = error
            except (TelegramNetworkError, TelegramServerError) as error:
                wait, backoff = backoff, min(backoff * 2, self.max_backoff)
                failure = error
            if isinstance(method, _COSMETIC):
                log.warning("%s failed, not retried: %s", type(method).__name__, failure)
                return True  # type: ignore[return-value]  # what these methods return
            if self.clock() - started + wait > self.give_up_after:
                raise failure
            log.warning("%s failed (%s); retrying in %.1f s", type(method).__name__, failure, wait)
            retried(method.__api_method__, failure)
            await self.sleep(wait)
