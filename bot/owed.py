"""What a chat is owed comes before its next update, and a text written before the person
saw it is not taken as the answer to it.

A message owed after a crash (bot/outbox.py) reaches the person late: at the restart,
or, with several webhook workers, when another worker finds that the worker which owed
it died. Meanwhile the person, still looking at the previous question, may have written
again (most likely: the same answer, retyped). Two middlewares keep that text out of
the next field:

- `OwedFirst` (after aiogram's FSM middleware, which holds the chat's lock, before the
  claim): delivers what a dead worker owed the chat, in order and once, and notes when
  the latest owed message reached the chat (`Outbox.settle_chat`, which looks through the
  update's own session: one statement when nothing is owed, no second connection). It
  runs before the claim so that a redelivered update (Telegram retrying the webhook the
  dead worker never answered) also brings the owed message, though the update itself is
  skipped.
  When Telegram fails that delivery (5xx, no connection, a timeout, past the retries),
  the owed row stays owed (this worker's now, due at once: the delivery pass retries it)
  and the update is neither failed nor handled: it is claimed, so a redelivery is
  skipped, and a message gets a notice queued behind the owed one in the outbox (a
  reply to the person's message: «не сохранено, ответьте на вопрос выше» in a dialogue,
  «не обработано, отправьте ещё раз» outside one, or for a command). So once Telegram
  is back the person gets the owed question, once, then the notice; their text is stored
  in no field, and no error reply repeats the question. The notice is recorded as queued
  behind the owed row (`Outbox.record(behind=...)`): if that row is given up or refused
  for good, the notice is dropped with it. A button press is dropped the
  same way, without a notice (the person presses again); `my_chat_member` is handled as
  usual.
  On PostgreSQL with several workers (the outbox has `liveness`), the common case costs
  no statement of its own: the claim (`UpdateMiddleware`, next) is asked, through the
  update's data (`OWED_LOOK`), to read in its own statement whether the chat is owed
  anything and when the latest owed message reached it (`claim_seeing_owed`: one
  statement, one round trip fewer per update). Nothing owed: that answer is the one
  `settle_chat` would have given, and the update goes on. Something owed: the claim
  raises `ChatOwed` before anything else runs; the update's transaction, which holds
  only the claim (the FSM step was read under the chat's lock, from Redis, or on the
  database's FSM storage read only), is rolled back, the claim undone, and the update
  goes the way described above, from the start: `settle_chat` delivers, then the claim
  is made again in a transaction of its own (skipped as a redelivery if it is one: the
  redelivered update still brings the owed message). So the rare case is exactly what it
  was; it pays the claim once more. On SQLite, or without `liveness` (one process:
  `settle_chat` answers from memory), nothing changes.
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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import ReplyParameters, TelegramObject, Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import texts
from bot.outbox import Outbox, OwedUndelivered, delivered_since
from bot.unsettled import chat_of
from handlers.texts import Dialogue
from storage.db import is_sqlite
from storage.repositories import ProcessedUpdateRepository

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
OWED_SEEN = "owed_delivered_at"  # the update's data: when the chat's owed message arrived
OWED_LOOK = "owed_look"  # the update's data: the claim is to look at the chat's outbox


@dataclass(frozen=True, slots=True)
class OwedLook:
    """What `OwedFirst` asks the claim to read along (`ProcessedUpdateRepository.
    claim_seeing_owed`): the chat's outbox, deliveries since `delivered_since` counted."""

    chat_id: int
    delivered_since: datetime


class ChatOwed(Exception):
    """Raised by the claim asked to look (`OWED_LOOK`) when the chat is owed a message:
    before the update goes any further, for `OwedFirst` to roll the claim back and
    deliver first."""

    def __init__(self, chat_id: int) -> None:
        super().__init__(f"chat {chat_id} is owed a message; the claim is undone")
        self.chat_id = chat_id


class OwedFirst(BaseMiddleware):
    """Delivers what the chat is owed by a dead worker before its update is handled.

    Registered right before `UpdateMiddleware` (bot/middlewares.py `install_middlewares`):
    on PostgreSQL with `liveness` that claim is what looks at the chat's outbox (`OWED_LOOK`,
    see the module's text), so nothing may stand between the two."""

    def __init__(self, outbox: Outbox, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.outbox = outbox
        self.sessionmaker = sessionmaker

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        bot: Bot | None = data.get("bot")
        chat = chat_of(event) if isinstance(event, Update) else None
        if chat is None or bot is None:
            return await handler(event, data)
        session: AsyncSession | None = data.get("session")
        if session is not None and self._claim_looks(session):
            # The claim reads the chat's outbox along (see the module's text); when it
            # finds something owed, it undoes nothing itself: rolled back here.
            data[OWED_LOOK] = OwedLook(chat, delivered_since())
            try:
                return await handler(event, data)
            except ChatOwed:
                await session.rollback()
            finally:
                data.pop(OWED_LOOK, None)
        try:
            seen = await self.outbox.settle_chat(bot, self.sessionmaker, chat, session)
        except OwedUndelivered as undelivered:
            if isinstance(event, Update) and event.my_chat_member is None:
                return await self._not_taken(event, data, bot, undelivered)
            seen = None
        if seen is not None:
            data[OWED_SEEN] = seen
        return await handler(event, data)

    def _claim_looks(self, session: AsyncSession) -> bool:
        """Whether the claim can tell what the chat is owed (PostgreSQL, several workers;
        without `liveness` `settle_chat` answers from memory, with no statement)."""
        return self.outbox.liveness is not None and not is_sqlite(session)

    async def _not_taken(
        self, update: Update, data: dict[str, Any], bot: Bot, undelivered: OwedUndelivered
    ) -> Any:
        """The update of a chat whose owed message Telegram would not take now: claimed,
        not handled; a message is answered (after the owed one, by the delivery pass)."""
        log.warning("%s; update %s not taken", undelivered, update.update_id)
        session: AsyncSession = data["session"]
        clock = data.get("clock")
        now = clock() if callable(clock) else None
        if not await ProcessedUpdateRepository(session).claim(bot.id, update.update_id, now=now):
            return UNHANDLED  # a redelivery: the first one was answered so
        message = update.message
        if message is None:
            return UNHANDLED
        state: FSMContext | None = data.get("state")
        sent = message.text or message.caption or ""
        in_dialogue = state is not None and await state.get_state() is not None
        notice = Dialogue.NOT_TAKEN if in_dialogue and not sent.startswith("/") else None
        reply = SendMessage(
            chat_id=message.chat.id,
            text=notice or texts.OWED_NOT_HANDLED,
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
        )
        await self.outbox.record(
            session, bot, reply, for_the_pass=True, behind=undelivered.waits_for
        )
        return UNHANDLED


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
