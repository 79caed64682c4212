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

Each row names its `owner`, the process that wrote or last took it. A worker whose owner
is no longer alive has its rows taken over at once, lease or not: with Redis every
process keeps a heartbeat key there (`RedisLiveness`, refreshed every third of
OUTBOX_ALIVE, deleted at a clean exit), and a polling process is the only one there is
(`sole`), so every other owner is a previous run. Without either (a webhook worker
without Redis) only the lease tells.

A chat's next update is where it matters most: the person still sees the previous
question and types again. `UpdateMiddleware` learns from the update's claim (one statement)
whether anything is owed to the chat; if so, `settle_chat` delivers it first, under the
chat's lock: rows of a dead owner (or this process's, not in flight) at once, while a live
owner's row in flight is waited for (at most OUTBOX_ALIVE seconds). A text the person sent
while a message was still owed to them was written without it, so it is not taken as the
answer to the question that message asks (see `UpdateMiddleware`).

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
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

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
from storage.repositories.outbox import FENCE, JOB_PREFIX, OutboxRepository, Owed, job_lease

log = logging.getLogger(__name__)

OWED = (SendMessage, EditMessageText, EditMessageReplyMarkup, EditMessageCaption)
_METHODS: dict[str, type[TelegramMethod[Any]]] = {
    method.__api_method__: method  # type: ignore[misc]
    for method in OWED
}
DEFAULT_LEASE = timedelta(seconds=150)  # longer than RetryRequests' minute of retries
DEFAULT_ALIVE = 10.0  # seconds a heartbeat lasts: a process silent that long is dead
SETTLE_POLL = 0.2  # seconds between two looks at a chat's rows a live owner is sending
FENCE_KEEP = timedelta(minutes=10)  # a fence outlives any message typed before it


def _second(moment: datetime) -> datetime:
    """Telegram dates messages in whole seconds: a fence too (a message of that very second
    counts as written after it)."""
    return moment.replace(microsecond=0)


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


def process_name() -> str:
    """A name no other process shares: host, pid and a random tail (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class Liveness(Protocol):
    """Which processes are alive: each keeps its heartbeat while it runs."""

    async def beat(self, owner: str) -> None: ...

    async def alive(self, owner: str) -> bool: ...

    async def gone(self, owner: str) -> None: ...


class RedisLiveness:
    """Heartbeats in Redis: a key per process expiring `alive_for` seconds after its beat."""

    def __init__(
        self, redis: Any, alive_for: float = DEFAULT_ALIVE, prefix: str = "outbox"
    ) -> None:
        self.redis = redis
        self.alive_for = alive_for
        self.prefix = prefix

    def _key(self, owner: str) -> str:
        return f"{self.prefix}:alive:{owner}"

    async def beat(self, owner: str) -> None:
        await self.redis.set(self._key(owner), b"1", px=max(int(self.alive_for * 1000), 1))

    async def alive(self, owner: str) -> bool:
        return bool(await self.redis.exists(self._key(owner)))

    async def gone(self, owner: str) -> None:
        await self.redis.delete(self._key(owner))


class Outbox:
    """The outbox of one process: the rows it is sending now, the jobs it can redo."""

    def __init__(
        self,
        lease: timedelta = DEFAULT_LEASE,
        *,
        every: float = 30.0,
        owner: str | None = None,
        liveness: Liveness | None = None,
        sole: bool = False,
        alive_for: float = DEFAULT_ALIVE,
    ) -> None:
        self.lease = lease
        self.every = every  # seconds between two passes of `keep_delivering`
        self.owner = owner or process_name()  # written into the rows this process takes
        self.liveness = liveness  # others' heartbeats (Redis); None: not known
        self.sole = sole  # no other process can be sending (polling): other owners are dead
        self.alive_for = alive_for  # seconds: the heartbeat's life, the longest wait for it
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
            owner=self.owner,
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
        """Deliver the rows whose lease has passed or whose owner is dead (`everything`:
        all of them, for a start when no other process can be sending), oldest first, each
        once; how many went out.

        A chat whose row fails for a while (Telegram down) keeps its later rows for the
        next pass, so its messages stay in order.
        """
        now = now or utcnow()
        due_by = None if everything else now
        held_chats: set[int] = set()
        dead: dict[str | None, bool] = {}
        delivered = last = 0
        while True:
            async with sessionmaker() as session:
                rows = await OutboxRepository(session).owed(due_by=None, after_id=last)
            if not rows:
                return delivered
            for row in rows:
                last = row.id
                if row.method == FENCE:
                    if row.due_at is not None and row.due_at <= now:
                        async with sessionmaker() as session:
                            await OutboxRepository(session).done(row.id)
                            await session.commit()
                    continue
                if row.id in self.in_flight or row.chat_id in held_chats:
                    continue
                if due_by is not None and row.due_at is not None and row.due_at > due_by:
                    if row.owner not in dead:
                        dead[row.owner] = bool(await self._dead(row.owner))
                    if not dead[row.owner]:
                        held_chats.add(row.chat_id)  # its later rows wait too: in order
                        continue
                    taken = await self._take(sessionmaker, row, None, now, taking_over=True)
                else:
                    taken = await self._take(sessionmaker, row, due_by, now)
                if not taken:
                    continue
                if await self._deliver_taken(bot, sessionmaker, row):
                    delivered += 1
                else:
                    held_chats.add(row.chat_id)

    async def settle_chat(
        self, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], chat_id: int
    ) -> datetime | None:
        """Deliver what is owed to the chat before its next update is handled: rows of a
        dead owner (or this process's, not in flight) at once, in order; a row a live
        process is sending is waited for, at most `alive_for` seconds (by then its owner
        sent it or is found dead).

        The chat's fence: since when the person can have seen what was owed (None: nothing
        was owed, nor delivered to them after a crash lately)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.alive_for + SETTLE_POLL
        fence: datetime | None = None
        waited = False
        while True:
            async with sessionmaker() as session:
                rows = await OutboxRepository(session).owed(due_by=None, chat=(bot.id, chat_id))
            for row in rows:
                if row.method == FENCE and row.created_at is not None:
                    fence = max(fence or row.created_at, row.created_at)
            rows = [row for row in rows if row.method != FENCE]
            if not rows:
                if waited:  # a live owner sent it meanwhile
                    fence = max(fence or _second(utcnow()), _second(utcnow()))
                return fence
            for row in rows:
                if row.id in self.in_flight:
                    break  # this process is sending it: its update ends soon
                if row.owner != self.owner:
                    dead = await self._dead(row.owner)
                    if dead is None:  # no heartbeats to tell: the lease decides, as before
                        return fence
                    if not dead:
                        break  # a live worker is sending it (or keeps it for a retry)
                if not await self._take(sessionmaker, row, None, utcnow(), taking_over=True):
                    break  # taken by another worker meanwhile: look again
                if not await self._deliver_taken(bot, sessionmaker, row):
                    return _second(utcnow())  # Telegram failing: the periodic pass goes on
            else:
                continue  # all delivered (each leaving its fence): look once more
            if loop.time() >= give_up:
                log.warning("chat %s: owed messages still in flight; update handled", chat_id)
                return _second(utcnow())  # it reaches the person later than this text
            waited = True
            await asyncio.sleep(SETTLE_POLL)

    async def _dead(self, owner: str | None) -> bool | None:
        """Whether the process `owner` is gone (its rows anyone's to deliver); None when
        nothing tells (a webhook worker without Redis: only the lease)."""
        if owner == self.owner:
            return False
        if owner is None or self.sole:
            return True  # a previous run (or a version that recorded no owners)
        if self.liveness is None:
            return None
        try:
            return not await self.liveness.alive(owner)
        except Exception:  # Redis away: the lease decides, as without it
            log.exception("could not tell whether %s is alive", owner)
            return None

    async def keep_beating(self) -> None:
        """The heartbeat, every third of `alive_for` seconds, until cancelled."""
        if self.liveness is None:
            return
        while True:
            await asyncio.sleep(self.alive_for / 3)
            try:
                await self.liveness.beat(self.owner)
            except Exception:  # the next beat tries again; the log has the cause
                log.exception("outbox heartbeat failed")

    async def _deliver_taken(
        self, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], row: Owed
    ) -> bool:
        self.in_flight.add(row.id)
        try:
            return await self._deliver(bot, sessionmaker, row)
        finally:
            self.in_flight.discard(row.id)

    async def keep_delivering(
        self, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        """`deliver_owed` every `self.every` seconds, until cancelled. With heartbeats the
        first pass comes once a previous run's heartbeat has expired (a quick restart)."""
        wait = min(self.every, self.alive_for + 1) if self.liveness is not None else self.every
        while True:
            await asyncio.sleep(wait)
            wait = self.every
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
        *,
        taking_over: bool = False,
    ) -> bool:
        lease = job_lease(self.lease) if row.method.startswith(JOB_PREFIX) else self.lease
        async with sessionmaker() as session:
            taken = await OutboxRepository(session).take(
                row.id,
                due_by=due_by,
                lease_until=now + lease,
                owner=self.owner,
                taking_over=taking_over,
                from_owner=row.owner,
            )
            await session.commit()
        return taken

    async def _deliver(
        self, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], row: Owed
    ) -> bool:
        """Send (or redo) one row; False when it is kept for a later attempt."""
        fence_at: datetime | None = None
        if row.attempts >= MAX_ATTEMPTS:
            log.error("outbox row %s (%s to %s) given up", row.id, row.method, row.chat_id)
        else:
            try:
                started = _second(utcnow())
                await self._send(bot, row)
                log.info("outbox row %s (%s to %s) delivered", row.id, row.method, row.chat_id)
                if not row.method.startswith(JOB_PREFIX):
                    fence_at = started
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
            if fence_at is None:
                await OutboxRepository(session).done(row.id)
            else:
                await OutboxRepository(session).fenced(
                    row.id, at=fence_at, keep_until=fence_at + FENCE_KEEP
                )
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
