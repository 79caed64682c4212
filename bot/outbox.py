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

A row is kept while Telegram is merely down: a failure of Telegram's own (`_TRANSIENT`)
gives back the attempt its take counted. It is given up after MAX_ATTEMPTS takes that
ended otherwise, or GIVE_UP_AFTER after it was written (`_deliver` says why), and the
notices queued behind it (`notice:<row id>`, bot/owed.py) are dropped with it, as they are
when Telegram refuses it for good.

A job (`job:<name>`) is work whose result is a message too large to keep: the coordinator's
report is recorded as "compile period X and send it to chat Y" and compiled again when
redone. Jobs get a longer lease (`job_lease`), since compiling and uploading take time.

Which process holds a row: its `owner` (the id of the process that wrote or took it,
written before the commit). With several webhook workers (`liveness`, bot/workers.py),
a row whose owner's heartbeat is gone is an orphan, delivered at once by any worker (by
the next update of its chat first: bot/owed.py), and a live worker's row is never taken
by another, whatever its lease. Without Redis there is one process: the lease alone.

A row delivered by this pass, after its process died, is kept a day (DELIVERED_KEEP)
with `delivered_at`, Telegram's date of the message: a text the person typed before it
reached them is then not taken as the answer to it (bot/owed.py).

Taking a row is one conditional UPDATE (owner, lease and attempts as they were read):
of two workers that read a row alike, one gets it. A worker that may have been taken for
dead meanwhile (its event loop stalled past the heartbeat's TTL, bot/workers.py) claims
its row again the same way before each attempt to send it (`StillOwned`), and leaves a
row another worker took to that worker (`OwedElsewhere`).

What remains: if Telegram carried out a request but its answer never reached us (the
process died in between, or stalled in the middle of that very request long enough to be
taken for dead), the row is still here and the message is sent a second time. No client
can close that window: the Bot API has no idempotency key.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
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
from aiogram.methods.base import Response, TelegramType
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.workers import HEARTBEAT_TTL, Liveness, new_owner
from storage.models import utcnow
from storage.repositories.outbox import (
    JOB_PREFIX,
    NOTICE_PREFIX,
    ChatRows,
    OutboxRepository,
    Owed,
    done_all_apart,
    job_lease,
    notice_method,
)

log = logging.getLogger(__name__)

OWED = (SendMessage, EditMessageText, EditMessageReplyMarkup, EditMessageCaption)
_METHODS: dict[str, type[TelegramMethod[Any]]] = {
    method.__api_method__: method  # type: ignore[misc]
    for method in OWED
}
DELIVERED_KEEP = timedelta(days=1)  # Telegram keeps an update unconfirmed for a day
SETTLE_WAIT = HEARTBEAT_TTL + 2.0  # seconds a chat waits for a live worker's message
SETTLE_POLL = 0.2  # seconds between two looks meanwhile
MEMORY_CHATS = 10_000  # `delivered`: chats beyond this push out the oldest
DEFAULT_LEASE = timedelta(seconds=150)  # longer than RetryRequests' minute of retries
MAX_ATTEMPTS = 8  # takes (crashes, stalls, failed jobs) before a row is given up (logged)
GIVE_UP_AFTER = DELIVERED_KEEP  # a row still owed this long after it was written: given up
_TRANSIENT = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter)

Job = Callable[[Bot, int, dict[str, Any]], Awaitable[None]]
Opener = Callable[[], AsyncSession]


@dataclass(slots=True)
class Claim:
    """A row this process is sending: as it last took it, and when."""

    row_id: int
    attempts: int  # the row's `attempts` as this process last set them
    since: float  # the liveness clock just before the row was written or taken
    open: Opener  # a session of the row's database


SENDING: ContextVar[Claim | None] = ContextVar("outbox_sending", default=None)


class Delivery(enum.Enum):
    DELIVERED = "delivered"  # sent, or refused for good and dropped
    KEPT = "kept"  # kept for a later attempt (Telegram down, a job that failed)
    ELSEWHERE = "elsewhere"  # another worker took it meanwhile: its to send


def payload_of(method: TelegramMethod[Any]) -> str:
    """The method's parameters as JSON, enough to rebuild it (`method_from`)."""
    return method.model_dump_json(exclude_defaults=True)


def method_from(name: str, payload: str) -> TelegramMethod[Any]:
    if name.startswith(NOTICE_PREFIX):  # a notice is a sendMessage (`record(behind=...)`)
        return SendMessage.model_validate_json(payload)
    return _METHODS[name].model_validate_json(payload)


def _chat_of(method: TelegramMethod[Any]) -> int:
    chat_id = getattr(method, "chat_id", None)
    return chat_id if isinstance(chat_id, int) else 0  # "@channel" names: not ours to order


class Outbox:
    """The outbox of one process: the rows it is sending now, the jobs it can redo."""

    def __init__(
        self,
        lease: timedelta = DEFAULT_LEASE,
        *,
        every: float = 30.0,
        owner: str | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        self.lease = lease
        self.every = every  # seconds between two passes of `keep_delivering`
        self.owner = owner or new_owner()  # written into the rows this process holds
        self.liveness = liveness  # other workers (bot/workers.py); None: this one alone
        # Without `liveness`, this process delivers every orphan itself: chat → when the
        # latest one reached it (what the database has, loaded by `remember_deliveries`).
        self.delivered: OrderedDict[int, datetime] = OrderedDict()
        self.in_flight: set[int] = set()  # row ids this process is delivering right now
        self.jobs: dict[str, Job] = {}  # job name → how to redo it
        # Rows answered by Telegram, waiting to be deleted together (see `forget`).
        self._batch: list[int] = []
        self._batch_done: asyncio.Future[None] | None = None
        self._flushing = asyncio.Lock()

    def owes(self, method: TelegramMethod[Any]) -> bool:
        return isinstance(method, OWED)

    async def record(
        self,
        session: AsyncSession,
        bot: Bot,
        method: TelegramMethod[Any],
        *,
        for_the_pass: bool = False,
        behind: int | None = None,
    ) -> int:
        """The row for `method`, in the session's transaction (begun if none is open).

        `for_the_pass`: nobody sends it now; the next delivery pass (or the chat's next
        update) does, after the chat's earlier rows. `behind`: `method` (a sendMessage) is
        a notice about row `behind`, dropped with it if that row is given up."""
        now = utcnow()
        if behind is not None and not isinstance(method, SendMessage):
            raise TypeError("only a sendMessage can be a notice")
        return await OutboxRepository(session).add(
            bot.id,
            _chat_of(method),
            method.__api_method__ if behind is None else notice_method(behind),
            payload_of(method),
            due_at=now if for_the_pass else now + self.lease,
            now=now,
            owner=self.owner,
        )

    def claim(self, open_session: Opener) -> Claim | None:
        """Before a row is written: its claim (its id set once written), or None without
        other workers (nobody else can take it)."""
        if self.liveness is None:
            return None
        return Claim(0, 0, self.liveness.clock(), open_session)

    def _clock(self) -> float:
        return self.liveness.clock() if self.liveness is not None else 0.0

    async def still_mine(self, claim: Claim) -> bool:
        """Whether this process may send the claimed row now.

        Yes at once while its heartbeat has lived without a break since the row was
        written or taken (no other worker can have found it dead since). Otherwise the row
        is claimed again, as it was last taken (`OutboxRepository.take`): False when
        another worker took it meanwhile."""
        if self.liveness is None:
            return True
        unbroken = self.liveness.unbroken_since()
        if unbroken is not None and unbroken <= claim.since:
            return True
        since = self.liveness.clock()
        async with claim.open() as session:
            taken = await OutboxRepository(session).take(
                claim.row_id,
                due_by=None,
                lease_until=utcnow() + self.lease,
                owner=self.owner,
                seen_owner=self.owner,
                seen_attempts=claim.attempts,
            )
            await session.commit()
        if not taken:
            log.warning(
                "outbox row %s was taken by another worker while this one seemed dead; left to it",
                claim.row_id,
            )
            return False
        claim.attempts += 1
        claim.since = since
        return True

    async def forget(self, session: AsyncSession, row_id: int) -> None:
        """Delete the row, and return once it is deleted; a failure is only logged (the
        message then goes out once more at the next delivery).

        Rows answered at about the same time are deleted together, in one transaction
        of their own (a group commit: while one batch is written, the next one gathers),
        so a busy bot pays one short transaction for many replies, not one each; on
        PostgreSQL that is a single statement in autocommit, one round trip, tried once
        more on another connection if its own turns out closed by the server
        (`done_all_apart`).
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
                await done_all_apart(session.bind, batch)
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
        """Deliver the rows free to take (`everything`: all of them, for a start when no
        other process can be sending), oldest first, each once; how many went out.

        Free to take: with `liveness`, a row whose owner is dead, or this process's own
        past its lease; without, any row past its lease. A chat whose row fails for a
        while (Telegram down) or is another's keeps its later rows for the next pass, so
        its messages stay in order.
        """
        now = now or utcnow()
        due_by = None if everything else now
        held_chats: set[int] = set()
        delivered = last = 0
        while True:
            async with sessionmaker() as session:
                rows = await OutboxRepository(session).owed(
                    due_by=None if self.liveness is not None else due_by, after_id=last
                )
            if not rows:
                return delivered
            dead = await self._dead_owners(rows) if not everything else set()
            for row in rows:
                last = row.id
                if row.id in self.in_flight or row.chat_id in held_chats:
                    continue
                lease_by = None if everything or row.owner in dead else due_by
                if self.liveness is not None and lease_by is not None:
                    if row.owner not in (self.owner, None) or (row.due_at or now) > lease_by:
                        held_chats.add(row.chat_id)  # a live worker's, or not yet due
                        continue
                claim = await self._take(sessionmaker, row, lease_by, now)
                if claim is None:
                    held_chats.add(row.chat_id)
                    continue
                if await self._deliver_taken(bot, sessionmaker, row, claim) is Delivery.DELIVERED:
                    delivered += 1
                else:
                    held_chats.add(row.chat_id)

    async def _dead_owners(self, rows: list[Owed]) -> set[str]:
        if self.liveness is None:
            return set()
        owners = {row.owner for row in rows if row.owner is not None}
        return owners - await self.liveness.alive(owners)

    async def _deliver_taken(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        row: Owed,
        claim: Claim,
    ) -> Delivery:
        self.in_flight.add(row.id)
        token = SENDING.set(claim)
        try:
            return await self._deliver(bot, sessionmaker, row, claim)
        finally:
            SENDING.reset(token)
            self.in_flight.discard(row.id)

    async def settle_chat(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        chat_id: int,
        session: AsyncSession | None = None,
    ) -> datetime | None:
        """Before an update of `chat_id` is handled (its per-chat lock held): deliver what
        a dead worker owed the chat, in order and once, waiting (at most SETTLE_WAIT
        seconds) for a message a live worker is sending it; when the latest message owed
        after a crash reached the chat (None: none within DELIVERED_KEEP).

        Without `liveness` this process delivered every orphan at its start: the memory.
        A row that cannot be delivered now (Telegram down) stays owed, this process's,
        due at once for the delivery pass, and `OwedUndelivered` is raised: the update
        was written before the person saw what they are owed (bot/owed.py).

        `session`: the update's own. The common case, nothing owed, is one statement in
        its transaction (no second connection: on SQLite there is one writer, and a small
        pool would make every update wait). When something is owed, that transaction (only
        read so far) is committed first: the delivery commits in sessions of its own and
        may wait for Telegram, which no open transaction should. (On PostgreSQL the
        update's claim answers the common case instead, and this runs only when it found
        something owed: bot/owed.py.)
        """
        if self.liveness is None:
            return self.delivered.get(chat_id)
        rows: ChatRows | None = None
        if session is not None:
            rows = await self._chat_rows(session, bot, chat_id)
            if not rows.owed:
                return rows.delivered_at
            if session.in_transaction():
                await session.commit()
        give_up_at = time.monotonic() + SETTLE_WAIT
        while True:
            now = utcnow()
            if rows is None:
                async with sessionmaker() as own:
                    rows = await self._chat_rows(own, bot, chat_id)
            if not rows.owed:
                return rows.delivered_at
            row, delivered_at, rows = rows.owed[0], rows.delivered_at, None
            owner_dead = row.owner is not None and not await self.liveness.alive({row.owner})
            mine = row.owner in (self.owner, None) and row.id not in self.in_flight
            if owner_dead or mine:
                claim = await self._take(sessionmaker, row, None, now)
                if claim is not None:
                    outcome = await self._deliver_taken(bot, sessionmaker, row, claim)
                    if outcome is Delivery.KEPT:
                        raise OwedUndelivered(chat_id, row.id, row.behind or row.id)
                continue  # delivered, or taken by another worker meanwhile: look again
            if time.monotonic() >= give_up_at:
                log.warning(
                    "chat %s: row %s of live worker %s still undelivered; the update goes on",
                    chat_id,
                    row.id,
                    row.owner,
                )
                return delivered_at
            await asyncio.sleep(SETTLE_POLL)

    @staticmethod
    async def _chat_rows(session: AsyncSession, bot: Bot, chat_id: int) -> ChatRows:
        return await OutboxRepository(session).of_chat(
            bot.id, chat_id, delivered_since=delivered_since()
        )

    async def remember_deliveries(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """At start, without `liveness`: when the messages owed after earlier crashes
        reached their chats (a backlog of updates may follow)."""
        async with sessionmaker() as session:
            found = await OutboxRepository(session).deliveries(since=utcnow() - DELIVERED_KEEP)
        for chat_id, at in sorted(found.items(), key=lambda item: item[1]):
            self._remember(chat_id, at)

    def _remember(self, chat_id: int, at: datetime) -> None:
        self.delivered.pop(chat_id, None)
        self.delivered[chat_id] = at
        while len(self.delivered) > MEMORY_CHATS:
            self.delivered.popitem(last=False)

    async def keep_delivering(
        self, bot: Bot, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        """`deliver_owed` every `self.every` seconds, until cancelled; delivered rows are
        forgotten after DELIVERED_KEEP."""
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.deliver_owed(bot, sessionmaker)
                async with sessionmaker() as session:
                    await OutboxRepository(session).prune(
                        delivered_before=utcnow() - DELIVERED_KEEP
                    )
                    await session.commit()
            except Exception:  # the next round tries again; the log has the cause
                log.exception("outbox delivery round failed")

    async def _take(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        row: Owed,
        due_by: datetime | None,
        now: datetime,
    ) -> Claim | None:
        """Take the row as it was read; its claim, or None when another took it first."""
        lease = job_lease(self.lease) if row.is_job else self.lease
        since = self._clock()
        async with sessionmaker() as session:
            taken = await OutboxRepository(session).take(
                row.id,
                due_by=due_by,
                lease_until=now + lease,
                owner=self.owner,
                seen_owner=row.owner,
                seen_attempts=row.attempts,
            )
            await session.commit()
        return Claim(row.id, row.attempts + 1, since, sessionmaker) if taken else None

    async def _deliver(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        row: Owed,
        claim: Claim,
    ) -> Delivery:
        """Send (or redo) one row taken by this process (as `claim` says).

        A failure of Telegram's own (no connection, 5xx, 429: `_TRANSIENT`) gives the
        attempt back: while Telegram is merely down a row is kept however many passes it
        takes. Only takes that end otherwise (the process died or stalled while sending, a
        job failed) count towards MAX_ATTEMPTS. A row still owed GIVE_UP_AFTER (a day)
        after it was written is given up whatever the cause: by then Telegram has dropped
        the updates the person sent meanwhile (it keeps them a day), the person has been
        without an answer for a day, and a message Telegram fails for good with a 5xx
        would otherwise hold the chat's later messages (kept in order behind it) forever.
        A row given up or refused for good takes the notices queued behind it along
        (`record(behind=...)`): «ответьте на вопрос выше» must not come without the question.
        """
        too_old = row.created_at is not None and row.created_at < utcnow() - GIVE_UP_AFTER
        if row.attempts >= MAX_ATTEMPTS or too_old:
            log.error(
                "outbox row %s (%s to %s) given up after %s attempt(s)%s",
                row.id,
                row.method,
                row.chat_id,
                row.attempts,
                ", owed since " + row.created_at.isoformat() if too_old and row.created_at else "",
            )
        else:
            try:
                at = await self._send(bot, row)
                log.info("outbox row %s (%s to %s) delivered", row.id, row.method, row.chat_id)
            except OwedElsewhere:
                return Delivery.ELSEWHERE
            except _TRANSIENT as error:
                # Due again at once (for the next pass, or the chat's next update): the
                # row is this process's, and nobody is sending it now.
                log.warning("outbox row %s not delivered yet: %s", row.id, error)
                async with sessionmaker() as session:
                    await OutboxRepository(session).give_back(
                        row.id,
                        str(error),
                        owner=self.owner,
                        attempts=claim.attempts,
                        retry_at=utcnow(),
                    )
                    await session.commit()
                return Delivery.KEPT
            except TelegramAPIError as error:  # refused for good: trying again won't help
                log.warning("outbox row %s refused by Telegram, dropped: %s", row.id, error)
            except Exception:  # a job that failed: kept, tried again after its lease
                log.exception("outbox row %s (%s) failed", row.id, row.method)
                return Delivery.KEPT
            else:
                async with sessionmaker() as session:
                    await OutboxRepository(session).delivered(row.id, at)
                    await session.commit()
                if not row.is_job:
                    self._remember(row.chat_id, at)
                return Delivery.DELIVERED
        async with sessionmaker() as session:
            repository = OutboxRepository(session)
            await repository.done(row.id)
            notices = await repository.drop_notices_behind(row.id, row.chat_id)
            await session.commit()
        if notices:
            log.warning("outbox row %s: %s notice(s) behind it dropped too", row.id, notices)
        return Delivery.DELIVERED

    async def _send(self, bot: Bot, row: Owed) -> datetime:
        """Send (or redo) the row; the second it reached the chat (`_whole_second`)."""
        return _whole_second(await self._carry_out(bot, row))

    async def _carry_out(self, bot: Bot, row: Owed) -> datetime:
        """Send (or redo) the row; when it reached the chat, by Telegram's clock if the
        answer says (the clock of the person's messages' `date`), else by ours."""
        if row.is_job:
            job = self.jobs.get(row.method.removeprefix(JOB_PREFIX))
            if job is None:
                raise LookupError(f"no job {row.method!r} in this process")
            await job(bot, row.chat_id, json.loads(row.payload))
            return utcnow()
        method = method_from(row.method, row.payload)
        try:
            result = await bot(method)
        except TelegramAPIError as error:
            if "message is not modified" in str(error):
                return utcnow()  # the edit had been made: nothing is owed
            raise
        if isinstance(method, SendMessage) and isinstance(result, Message):
            return result.date
        if isinstance(result, Message) and result.edit_date is not None:
            return result.edit_date
        return utcnow()  # an edit's `date` is the message's first sending: not this


def delivered_since() -> datetime:
    """Deliveries after this count when a chat's next update comes (DELIVERED_KEEP)."""
    return utcnow() - DELIVERED_KEEP


def _whole_second(at: datetime) -> datetime:
    """Telegram's dates are whole seconds; ours are made so too, so that "delivered in
    second S" means the same whichever clock said it (bot/owed.py compares with `<=`)."""
    return at.replace(microsecond=0)


class StillOwned(BaseRequestMiddleware):
    """Before each attempt to send an outbox row (retries included), the row is still this
    process's (`Outbox.still_mine`); else `OwedElsewhere`, and nothing is sent."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        claim = SENDING.get()
        if claim is not None and not await self.outbox.still_mine(claim):
            raise OwedElsewhere(claim.row_id)
        return await make_request(bot, method)


class OwedElsewhere(Exception):
    """The row was taken by another worker (this one seemed dead): that one sends it."""

    def __init__(self, row_id: int) -> None:
        super().__init__(f"outbox row {row_id} is another worker's to send now")
        self.row_id = row_id


class OwedUndelivered(Exception):
    """A chat's owed message could not be delivered before its next update.

    `waits_for`: the row a notice about this update is queued behind (`Outbox.record`):
    the row itself, or, when it is a notice already, the row that one waits for."""

    def __init__(self, chat_id: int, row_id: int, waits_for: int | None = None) -> None:
        super().__init__(f"chat {chat_id}: outbox row {row_id} could not be delivered yet")
        self.row_id = row_id
        self.waits_for = row_id if waits_for is None else waits_for
