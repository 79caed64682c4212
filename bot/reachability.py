"""A 403 from Telegram while handling an update: the chat refuses the bot's messages.

Registered as the first error handler (bot/app.py). The chat the refused request went to
is marked unreachable (`Person.unreachable_since`) in a transaction of its own; when that
is the chat of the update itself there is nobody to tell, and the update ends handled
(what it saved before replying is committed: see CommitBeforeSending). A 403 for another
chat, or for a request without a chat, goes on to the generic error handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramForbiddenError
from aiogram.methods import TelegramMethod
from aiogram.types import ErrorEvent
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.unsettled import chat_of
from storage.models import utcnow
from storage.repositories import PersonRepository

log = logging.getLogger(__name__)


def private_chat_of(method: TelegramMethod[object]) -> int | None:
    """The private chat (a person's Telegram id) a request was sent to, if any."""
    chat_id = getattr(method, "chat_id", None)
    if isinstance(chat_id, str) and chat_id.isdigit():
        chat_id = int(chat_id)
    return chat_id if isinstance(chat_id, int) and chat_id > 0 else None


async def on_forbidden(
    event: ErrorEvent,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Mark the refusing chat unreachable; the update is done if it was its own chat."""
    error = event.exception
    assert isinstance(error, TelegramForbiddenError)
    chat_id = private_chat_of(error.method)
    if chat_id is None:
        raise SkipHandler
    async with sessionmaker() as session, session.begin():
        await PersonRepository(session).mark_unreachable(telegram_id=chat_id, at=clock())
    log.info(
        "update %s: chat %s refuses the bot (%s); marked unreachable",
        event.update.update_id,
        chat_id,
        error.message,
    )
    if chat_id != chat_of(event.update):
        raise SkipHandler
    return True
