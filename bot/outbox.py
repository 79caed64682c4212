"""The transactional outbox: what an update says to the person survives a crash.

Every message an update sends (`OWED`: sendMessage and the edits) is first written to the
`outbox` table in the update's own transaction, which is then committed (see
`CommitBeforeSending`); the request follows, and once Telegram answered the row is
deleted in a tiny transaction of its own. A row left behind (the process was killed or
stopped while the request was on its way, or Telegram stayed down longer than the
retries) is delivered once by `Outbox.deliver_owed`: at start before any update is
taken, and every OUTBOX_EVERY seconds for rows whose lease (OUTBOX_LEASE, counted from
when the row was written or last taken) has passed. Rows this process is sending right
now are skipped by the periodic pass; rows of other workers are protected by the lease.

A job (`job:<name>`) is work whose result is a message too large to keep: the coordinator's
report is recorded as "compile period X and send it to chat Y" and compiled again when
redone. Jobs get a longer lease (`job_lease`), since compiling and uploading take time.

What remains: if Telegram carried out a request but its answer never reached us (the
process died in between), the row is still here and the message is sent a second time.
No client can close that window: the Bot API has no idempotency key.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import utcnow
from storage.repositories.outbox import JOB_PREFIX, OutboxRepository, Owed, job_lease

log = logging.getLogger(__name__)

OWED = (SendMessage, EditMessageText, EditMessageReplyMarkup, EditMessageCaption)
_METHODS: dict[str, type[TelegramMethod[Any]]] = {
    method.__api_method__: method  # type: ignore[misc]
    for method in OWED
}
DEFAULT_LEASE = timedelta(seconds=150)  # longer than RetryRequests' minute of retries
MAX_ATTEMPTS = 8  # deliveries tried before a row is given up (and logged)
_TRANSIENT = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter)

Job = Callable[[Bot, int, dict[str, Any]], Awaitable[None]]


def payload_of(method: TelegramMethod[Any]) -> str:
    """The method's parameters as JSON, enough to rebuild it (`method_from`)."""
    return method.model_dump_json(exclude_defaults=True)


def method_from(name: str, payload: str) -> TelegramMethod[Any]:
    return _METHODS[name].model_validate_json(payload)


def _chat_of(method: TelegramMethod[Any]) -> int:
    chat_id = getattr(method, "chat_id", None)
    return chat_id if isinstance(chat_id, int) else 0  # "@channel" names: not ours to order


class Outbox:
    """The outbox of one process: the rows it is sending now, the jobs it can redo."""

    def __init__(self, lease: timedelta = DEFAULT_LEASE, *, every: float = 30.0) -> None:
        self.lease = lease
        self.every = every  # seconds between two passes of `keep_delivering`
        self.in_flight: set[int] = set()  # row ids this process is delivering right now
        self.jobs: dict[str, Job] = {}  # job name → how to redo it
        # Rows answered by Telegram, waiting to be deleted together (see `forget`).
        self._batch: list[int] = []
        self._batch_done: asyncio.Future[None] | None = None
        self._flushing = asyncio.Lock()

    def owes(self, method: TelegramMethod[Any]) -> bool:
        return isinstance(method, OWED)

    async def record(self, session: AsyncSession, bot: Bot, method: TelegramMethod[Any]) -> int:
        """The row for `method`, in the session's transaction (begun if none is open)."""
        now = utcnow()
        return await OutboxRepository(session).add(
            bot.id,
            _chat_of(method),
            method.__api_method__,
            payload_of(method),
            due_at=now + self.lease,
            now=now,
        )

    async def forget(self, session: AsyncSession, row_id: int) -> None:
        """Delete the row, and return once it is deleted; a failure is only logged (the
        message then goes out once more at the next delivery).

        Rows answered at about the same time are deleted together, in one transaction
        of their own (a group commit: while one batch is written, the next one gathers),
        so a busy bot pays one short transaction for many replies, not one each.
        """
        self._batch.append(row_id)
        if self._batch_done is None:
            self._batch_done = asyncio.get_running_loop().create_future()
        done = self._batch_done
        async with self._flushing:
            if done.done():
                return  # another reply's turn deleted this batch
            batch, self._batch, self._batch_done = self._batch, [], None
            try:
                async with AsyncSession(bind=session.bind) as own:
                    await OutboxRepository(own).done_all(batch)
                    await own.commit()
            except Exception:  # the person already has the messages; the log has the cause
                log.exception("could not mark outbox rows %s delivered", batch)
            finally:
                done.set_result(None)

    async def deliver_owed(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        everything: bool = False,
        now: datetime | None = None,
    ) -> int:
        """Deliver the rows whose lease has passed (`everything`: all of them, for a start
        when no other process can be sending), oldest first, each once; how many went out.

        A chat whose row fails for a while (Telegram down) keeps its later rows for the
        next pass, so its messages stay in order.
        """
        now = now or utcnow()
        due_by = None if everything else now
        held_chats: set[int] = set()
        delivered = last = 0
        while True:
            async with sessionmaker() as session:
                rows = await OutboxRepository(session).owed(due_by=due_by, after_id=last)
            if not rows:
                return delivered
            for row in rows:
                last = row.id
                if row.id in self.in_flight or row.chat_id in held_chats:
                    continue
                if not await self._take(sessionmaker, row, due_by, now):
                    continue
                self.in_flight.add(row.id)
                try:
                    done = await self._deliver(bot, sessionmaker, row)
                finally:
                    self.in_flight.discard(row.id)
                if done:
                    delivered += 1
                else:
                    held_chats.add(row.chat_id)

    async def keep_delivering(
        self, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        """`deliver_owed` every `self.every` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.deliver_owed(bot, sessionmaker)
            except Exception:  # the next round tries again; the log has the cause
                log.exception("outbox delivery round failed")

    async def _take(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        row: Owed,
        due_by: datetime | None,
        now: datetime,
    ) -> bool:
        lease = job_lease(self.lease) if row.method.startswith(JOB_PREFIX) else self.lease
        async with sessionmaker() as session:
            taken = await OutboxRepository(session).take(
                row.id, due_by=due_by, lease_until=now + lease
            )
            await session.commit()
        return taken

    async def _deliver(
        self, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], row: Owed
    ) -> bool:
        """Send (or redo) one row; False when it is kept for a later attempt."""
        if row.attempts >= MAX_ATTEMPTS:
            log.error("outbox row %s (%s to %s) given up", row.id, row.method, row.chat_id)
        else:
            try:
                await self._send(bot, row)
                log.info("outbox row %s (%s to %s) delivered", row.id, row.method, row.chat_id)
            except _TRANSIENT as error:
                log.warning("outbox row %s not delivered yet: %s", row.id, error)
                async with sessionmaker() as session:
                    await OutboxRepository(session).failed(row.id, str(error))
                    await session.commit()
                return False
            except TelegramAPIError as error:  # refused for good: trying again won't help
                log.warning("outbox row %s refused by Telegram, dropped: %s", row.id, error)
            except Exception:  # a job that failed: kept, tried again after its lease
                log.exception("outbox row %s (%s) failed", row.id, row.method)
                return False
        async with sessionmaker() as session:
            await OutboxRepository(session).done(row.id)
            await session.commit()
        return True

    async def _send(self, bot: Bot, row: Owed) -> None:
        if row.method.startswith(JOB_PREFIX):
            job = self.jobs.get(row.method.removeprefix(JOB_PREFIX))
            if job is None:
                raise LookupError(f"no job {row.method!r} in this process")
            await job(bot, row.chat_id, json.loads(row.payload))
            return
        method = method_from(row.method, row.payload)
        try:
            await bot(method)
        except TelegramAPIError as error:
            if "message is not modified" in str(error):
                return  # the edit had been made: nothing is owed
            raise
