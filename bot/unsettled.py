"""Updates that failed without the bot knowing whether they were saved.

When the database goes away during an update's COMMIT, the COMMIT may have gone through
while its answer was lost. If the database stays away, the error reply cannot read the
stored step either, so it says «попробуйте ещё раз» (Common.ERROR). The person then sends
the same answer again, and had the first attempt been saved, that retry would land in the
next field of the form.

So the failed update is remembered per chat (`remember`, from the error handler): its id
and a fingerprint of what was sent (a hash: no text is kept). When the chat's next update
carries the same fingerprint, `SavedRetries` asks `processed_updates` whether the failed
update was in fact saved (its claim commits with it). If it was and the chat is in the
dialogue, the retry is not taken as an answer: the person is told the answer was already
saved and shown the step the dialogue is at. Otherwise the update is handled as usual.

The memory is the process's own (`MemoryUnsettled`) or, with REDIS_URL, shared by all
workers (`RedisUnsettled`), since the retry may reach another worker.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject, Update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.workers import held_unsettled, unsettled_key
from handlers.report import repeat_question
from handlers.texts import Dialogue
from storage.repositories import ProcessedUpdateRepository

log = logging.getLogger(__name__)

KEEP_SECONDS = 3600  # a retry comes within minutes; after an hour the memory is dropped
KEEP_PER_CHAT = 5  # the latest failed updates of a chat
MEMORY_CHATS = 10_000  # the process's memory: chats beyond this push out the oldest

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
Entry = tuple[int, str]  # update id, fingerprint


def chat_of(update: Update) -> int | None:
    """The private chat an update's reply goes to (None: not a message or a button)."""
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None:
        return update.callback_query.from_user.id
    return None


def fingerprint(update: Update) -> str | None:
    """What the person sent, hashed: the text or caption, or the button's data. None for a
    command (running one again does no harm, and it is never an answer of the form)."""
    if update.message is not None:
        sent = update.message.text or update.message.caption
        kind = "message"
        if sent is not None and sent.startswith("/"):
            return None
    elif update.callback_query is not None:
        sent, kind = update.callback_query.data, "button"
    else:
        return None
    if sent is None:
        return None
    return hashlib.sha256(f"{kind}\0{sent}".encode()).hexdigest()[:32]


class Unsettled(Protocol):
    """Failed updates by bot and chat (one Redis may serve several bots)."""

    async def remember(self, bot_id: int, chat_id: int, update_id: int, sent: str) -> None: ...

    async def recall(self, bot_id: int, chat_id: int) -> list[Entry]: ...

    async def forget(self, bot_id: int, chat_id: int) -> None: ...


class MemoryUnsettled:
    """In the process: enough for one bot process (polling, or one webhook worker)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._chats: OrderedDict[tuple[int, int], list[tuple[int, str, float]]] = OrderedDict()

    async def remember(self, bot_id: int, chat_id: int, update_id: int, sent: str) -> None:
        entries = self._chats.pop((bot_id, chat_id), [])
        entries.append((update_id, sent, self.clock() + KEEP_SECONDS))
        self._chats[bot_id, chat_id] = entries[-KEEP_PER_CHAT:]
        while len(self._chats) > MEMORY_CHATS:
            self._chats.popitem(last=False)

    async def recall(self, bot_id: int, chat_id: int) -> list[Entry]:
        if not self._chats:  # the usual case: nothing failed
            return []
        now = self.clock()
        entries = self._chats.get((bot_id, chat_id), ())
        return [(uid, sent) for uid, sent, until in entries if until > now]

    async def forget(self, bot_id: int, chat_id: int) -> None:
        self._chats.pop((bot_id, chat_id), None)


class RedisUnsettled:
    """In Redis, shared by the workers: a list per chat, expiring KEEP_SECONDS after the
    latest failure. While the update holds the chat's lock, the list read with the lock
    answers `recall` (bot/workers.py `RenewedRedisIsolation`): no round trip of its own."""

    def __init__(self, redis: Any, prefix: str = "fsm") -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, bot_id: int, chat_id: int) -> str:
        return unsettled_key(self.prefix, bot_id, chat_id)

    async def remember(self, bot_id: int, chat_id: int, update_id: int, sent: str) -> None:
        key = self._key(bot_id, chat_id)
        if (snapshot := held_unsettled(key)) is not None:
            snapshot.unsettled = None  # read from Redis again, should this update recall
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, f"{update_id}:{sent}")
            pipe.ltrim(key, -KEEP_PER_CHAT, -1)
            pipe.expire(key, KEEP_SECONDS)
            await pipe.execute()

    async def recall(self, bot_id: int, chat_id: int) -> list[Entry]:
        key = self._key(bot_id, chat_id)
        snapshot = held_unsettled(key)
        found = snapshot.unsettled if snapshot is not None else None
        if found is None:
            found = await self.redis.lrange(key, 0, -1)
        entries = []
        for raw in found:
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            update_id, _, sent = text.partition(":")
            entries.append((int(update_id), sent))
        return entries

    async def forget(self, bot_id: int, chat_id: int) -> None:
        key = self._key(bot_id, chat_id)
        await self.redis.delete(key)
        if (snapshot := held_unsettled(key)) is not None:
            snapshot.unsettled = []


async def remember_failure(unsettled: Unsettled | None, bot: Bot, update: Update) -> None:
    """Remember a failed update of a chat (the error handler's generic reply was sent)."""
    chat, sent = chat_of(update), fingerprint(update)
    if unsettled is None or chat is None or sent is None:
        return
    try:
        await unsettled.remember(bot.id, chat, update.update_id, sent)
    except Exception:  # Redis away too: the retry is handled as a new answer, as before
        log.exception("could not remember the failed update %s", update.update_id)


class SavedRetries(BaseMiddleware):
    """A chat's retry of a failed update that was in fact saved is answered with the
    current step instead of being taken as the next answer (see the module's text).

    Registered after the claim (`UpdateMiddleware`), inside the update's transaction.
    """

    def __init__(self, unsettled: Unsettled) -> None:
        self.unsettled = unsettled

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat = chat_of(event) if isinstance(event, Update) else None
        bot: Bot | None = data.get("bot")
        if chat is None or bot is None:
            return await handler(event, data)
        try:
            entries = await self.unsettled.recall(bot.id, chat)
        except Exception:  # Redis away: handle the update as usual
            log.exception("could not read the failed updates of chat %s", chat)
            entries = []
        if not entries:
            return await handler(event, data)
        assert isinstance(event, Update)
        if await self._retry_of_saved(event, entries, chat, data):
            await self._forget(bot.id, chat)
            return None
        result = await handler(event, data)
        await self._forget(bot.id, chat)  # handled as an answer: the memory is spent
        return result

    async def _forget(self, bot_id: int, chat: int) -> None:
        try:
            await self.unsettled.forget(bot_id, chat)
        except Exception:  # Redis away: the entries expire on their own
            log.exception("could not forget the failed updates of chat %s", chat)

    @staticmethod
    async def _retry_of_saved(
        update: Update, entries: list[Entry], chat: int, data: dict[str, Any]
    ) -> bool:
        """True when `update` repeats a failed update that was saved, and the current step
        was shown instead."""
        sent = fingerprint(update)
        # The failed update itself, redelivered, is claimed by now in this very transaction
        # (it was rolled back before): it is no retry, and handled as usual.
        same = [
            update_id
            for update_id, before in entries
            if sent is not None and before == sent and update_id != update.update_id
        ]
        bot: Bot | None = data.get("bot")
        session: AsyncSession | None = data.get("session")
        state: FSMContext | None = data.get("state")
        settings, clock = data.get("settings"), data.get("clock")
        if not same or None in (bot, session, state, settings, clock):
            return False
        assert bot is not None and session is not None and state is not None
        if not await ProcessedUpdateRepository(session).any_taken(bot.id, same):
            return False  # not saved: this is the answer, handled as usual
        shown = await repeat_question(
            bot, chat, state, session, settings, clock, notice=Dialogue.ALREADY_SAVED
        )
        if shown:
            log.info("chat %s repeated the saved update(s) %s; its step shown again", chat, same)
            if update.callback_query is not None:
                try:
                    await update.callback_query.answer()  # the spinner of the button pressed
                except Exception:  # the step is shown; a spinner that stops late is no failure
                    log.exception("could not answer the callback of chat %s", chat)
        return shown
