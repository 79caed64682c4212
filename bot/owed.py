"""What a chat is owed comes before its next update, and a text written before the person
saw it is not taken as the answer to it.

A message owed after a crash (bot/outbox.py) reaches the person late: at the restart,
or, with several webhook workers, when another worker finds that the worker which owed
it died. Meanwhile the person, still looking at the previous question, may have written
again (most likely: the same answer, retyped). Two middlewares keep that text out of
the next field:

- `OwedFirst` (after aiogram's FSM middleware, which holds the chat's lock, before the
  claim): delivers what a dead worker owed the chat, in order and once, and notes when
  the latest owed message reached the chat (`Outbox.settle_chat`). It runs before the
  claim so that a redelivered update (Telegram retrying the webhook the dead worker never
  answered) also brings the owed message, though the update itself is skipped.
- `TypedBeforeOwed` (after the claim): a message (not a command) whose Telegram `date` is
  not later than that moment, from a person in a dialogue, is answered with
  `Dialogue.NOT_TAKEN` instead of being handled; the claim is saved with that reply.

Why `<=`: Telegram's `date` is whole seconds, and the delivery's time is Telegram's own
date of the message delivered (same clock, same resolution). A message dated in the very
second of the delivery may have been written just before it or just after; nobody reads a
question and types an answer within one second, so the same second counts as "before".
Erring that way costs a person one retyped answer; erring the other way would store their
answer in the wrong field.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject, Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import Outbox
from bot.unsettled import chat_of
from handlers.texts import Dialogue

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
OWED_SEEN = "owed_delivered_at"  # the update's data: when the chat's owed message arrived


class OwedFirst(BaseMiddleware):
    """Delivers what the chat is owed by a dead worker before its update is handled."""

    def __init__(self, outbox: Outbox, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.outbox = outbox
        self.sessionmaker = sessionmaker

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        bot: Bot | None = data.get("bot")
        chat = chat_of(event) if isinstance(event, Update) else None
        if chat is not None and bot is not None:
            seen = await self.outbox.settle_chat(bot, self.sessionmaker, chat)
            if seen is not None:
                data[OWED_SEEN] = seen
        return await handler(event, data)


class TypedBeforeOwed(BaseMiddleware):
    """A text written before the chat's owed question arrived is not taken as its answer."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        seen: datetime | None = data.get(OWED_SEEN)
        message = event.message if isinstance(event, Update) else None
        if seen is None or message is None or message.date > seen:
            return await handler(event, data)
        sent = message.text or message.caption or ""
        state: FSMContext | None = data.get("state")
        bot: Bot | None = data.get("bot")
        if sent.startswith("/") or state is None or bot is None:
            return await handler(event, data)
        if await state.get_state() is None:  # no question asked: nothing to mistake it for
            return await handler(event, data)
        log.info(
            "chat %s: a message of %s written before the owed message of %s; not taken",
            message.chat.id,
            message.date.isoformat(),
            seen.isoformat(),
        )
        await bot.send_message(message.chat.id, Dialogue.NOT_TAKEN)
        return None
