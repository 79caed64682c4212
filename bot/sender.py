"""Sending claimed reminders within Telegram's limits, each marked sent as soon as it is.

The Sender gets messages whose reminder rows are already claimed (`pending`, see
storage.repositories.reminders) and:

- paces requests globally (`rate_per_second`, no bursts: one request every 1/rate s, and
  never more than `rate` of them within any `1 s + window_margin`, so that requests
  arriving a little unevenly still stay under a per-second limit) and per chat
  (`per_chat_interval` between two messages to one chat), with a bounded number of
  requests in flight;
- on 429 waits the answer's `retry_after` and sends the same message again (the global
  pace is kept: it is what keeps 429s rare, and one slow chat must not stall the round);
- on a network error or a 5xx retries with exponential backoff, up to `max_attempts`;
- on 403 (the person blocked the bot, or left Telegram) marks the person unreachable
  (`Person.unreachable_since`: still a member, their organisation still expected to
  report) and the reminder failed `blocked`; other refusals (400) fail the reminder for
  good;
- marks each reminder `sent` right after Telegram accepted it (a writer task batches the
  marks that pile up while it writes, so the database keeps pace with the sending).

A message that still fails after its attempts, or is not sent within `give_up_after`
seconds of `deliver()` being called, is marked failed with a retryable error and left to
recovery (bot/reminders.recover), never dropped. Call `deliver()` right after claiming:
recovery takes over pending rows only well after `give_up_after` (RECOVER_AFTER), so a row
is never in the hands of two senders.

One caveat no client can remove: a network error after Telegram received the request
(a timeout on the answer) looks like one before it; the retry may then deliver twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextvars import Context
from dataclasses import dataclass, field
from datetime import datetime

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.observing import retried
from storage.models import utcnow
from storage.repositories import PersonRepository, ReminderRepository
from storage.repositories.reminders import RETRY_PREFIX

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

BLOCKED = "blocked"
GIVE_UP_AFTER = 300.0  # seconds a deliver() keeps trying; recovery waits much longer
MAX_IN_FLIGHT = 100  # aiogram's AiohttpSession keeps at most 100 connections
WINDOW_MARGIN = 0.03  # seconds added to the one-second window for uneven arrival


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One claimed reminder to send."""

    reminder_id: int
    person_id: int
    chat_id: int
    text: str
    reply_markup: InlineKeyboardMarkup | None = None


@dataclass(slots=True)
class DeliveryReport:
    """What became of the messages of one deliver()."""

    sent: list[int] = field(default_factory=list)  # reminder ids Telegram accepted
    blocked: list[int] = field(default_factory=list)  # person ids now unreachable
    failed: dict[int, str] = field(default_factory=dict)  # reminder id → error
    requests: int = 0
    rate_limited: int = 0  # 429 answers
    retried: int = 0  # network errors and 5xx retried


@dataclass(frozen=True, slots=True)
class _Outcome:
    item: Outgoing
    attempts: int
    status: str  # "sent", "blocked", "failed"
    error: str | None = None


class Sender:
    """Delivers claimed reminders; one instance per process keeps the pace across rounds."""

    def __init__(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        rate_per_second: float = 30.0,
        per_chat_interval: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        max_in_flight: int | None = None,
        max_attempts: int = 6,
        first_backoff: float = 1.0,
        max_backoff: float = 30.0,
        give_up_after: float = GIVE_UP_AFTER,
        window_margin: float = WINDOW_MARGIN,
        wall_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.interval = 1.0 / rate_per_second
        self.per_chat_interval = per_chat_interval
        self.clock = clock
        self.sleep = sleep
        if max_in_flight is None:  # half a second of requests: room for a slow Telegram
            max_in_flight = min(MAX_IN_FLIGHT, max(16, math.ceil(rate_per_second / 2)))
        self.max_in_flight = max(1, max_in_flight)
        self.max_attempts = max(1, max_attempts)
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.give_up_after = give_up_after
        self.window_margin = window_margin
        self.wall_clock = wall_clock  # when a person was found unreachable
        self._next_slot = -math.inf  # the clock time of the next free global slot
        # The latest `rate` slots: the next one comes a second (and the margin) after the first.
        self._recent: deque[float] = deque(maxlen=max(1, math.floor(rate_per_second)))
        self._chat_free_at: dict[int, float] = {}  # when a chat may get its next message
        self._writers: set[asyncio.Task[None]] = set()  # recording outcomes of deliveries

    async def deliver(self, outgoing: Sequence[Outgoing]) -> DeliveryReport:
        """Send every message once (or fail it for recovery); returns what happened."""
        report = DeliveryReport()
        if not outgoing:
            return report
        give_up_at = self.clock() + self.give_up_after
        queue: asyncio.Queue[Outgoing] = asyncio.Queue()
        for item in outgoing:
            queue.put_nowait(item)
        outcomes: asyncio.Queue[_Outcome | None] = asyncio.Queue()
        chat_locks: dict[int, asyncio.Lock] = {}
        # Workers and writer run outside the caller's context: a round started from an
        # update must not touch (or let the session middleware commit) its session.
        writer = asyncio.create_task(self._write(outcomes, report), context=Context())
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)
        workers = [
            asyncio.create_task(
                self._work(queue, outcomes, chat_locks, give_up_at, report), context=Context()
            )
            for _ in range(min(self.max_in_flight, len(outgoing)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            outcomes.put_nowait(None)
            # Even when cancelled (shutdown), record what Telegram has accepted so far.
            await asyncio.shield(writer)
        self._forget_idle_chats()
        return report

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the outcomes of every delivery (cancelled ones too) are recorded."""
        if self._writers:
            await asyncio.wait(set(self._writers), timeout=timeout)

    async def _work(
        self,
        queue: asyncio.Queue[Outgoing],
        outcomes: asyncio.Queue[_Outcome | None],
        chat_locks: dict[int, asyncio.Lock],
        give_up_at: float,
        report: DeliveryReport,
    ) -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            lock = chat_locks.setdefault(item.chat_id, asyncio.Lock())
            outcomes.put_nowait(await self._send(item, lock, give_up_at, report))

    async def _send(
        self, item: Outgoing, lock: asyncio.Lock, give_up_at: float, report: DeliveryReport
    ) -> _Outcome:
        """Send one message until Telegram accepts it, refuses it, or we give up."""
        attempts, failures, backoff = 0, 0, self.first_backoff
        while True:
            async with lock:
                await self._wait_turn(item.chat_id)
                if self.clock() >= give_up_at:
                    return _Outcome(item, attempts, "failed", f"{RETRY_PREFIX}not sent in time")
                attempts += 1
                report.requests += 1
                try:
                    await self.bot.send_message(
                        item.chat_id, item.text, reply_markup=item.reply_markup
                    )
                except TelegramRetryAfter as error:
                    report.rate_limited += 1
                    retried("sendMessage", error)
                    wait = float(error.retry_after)
                    log.info("429 for chat %s: retrying after %s s", item.chat_id, wait)
                except TelegramForbiddenError as error:
                    log.info("chat %s refuses the bot (%s)", item.chat_id, error.message)
                    return _Outcome(item, attempts, "blocked", BLOCKED)
                except (TelegramNetworkError, TelegramServerError) as error:
                    failures += 1
                    if failures >= self.max_attempts:
                        log.warning("giving up on chat %s for now: %s", item.chat_id, error)
                        return _Outcome(item, attempts, "failed", f"{RETRY_PREFIX}{error}")
                    report.retried += 1
                    retried("sendMessage", error)
                    wait, backoff = backoff, min(backoff * 2, self.max_backoff)
                    log.info("chat %s: %s; retrying in %s s", item.chat_id, error, wait)
                except TelegramAPIError as error:
                    log.warning("Telegram refused a reminder to chat %s: %s", item.chat_id, error)
                    return _Outcome(item, attempts, "failed", f"rejected: {error}")
                except Exception as error:  # an answer we cannot read: recovery tries again
                    log.exception("sending a reminder to chat %s failed", item.chat_id)
                    error_text = f"{RETRY_PREFIX}{type(error).__name__}: {error}"
                    return _Outcome(item, attempts, "failed", error_text)
                else:
                    return _Outcome(item, attempts, "sent")
            await self.sleep(min(wait, max(give_up_at - self.clock(), 0.0)))

    async def _wait_turn(self, chat_id: int) -> None:
        """Wait for the chat's spacing, then take the next global slot and wait for it."""
        now = self.clock()
        free_at = self._chat_free_at.get(chat_id, -math.inf)
        if free_at > now:
            await self.sleep(free_at - now)
        now = self.clock()
        slot = max(now, self._next_slot)
        if len(self._recent) == self._recent.maxlen:
            slot = max(slot, self._recent[0] + 1.0 + self.window_margin)
        self._recent.append(slot)
        self._next_slot = slot + self.interval
        if slot > now:
            await self.sleep(slot - now)
        self._chat_free_at[chat_id] = max(slot, self.clock()) + self.per_chat_interval

    def _forget_idle_chats(self) -> None:
        now = self.clock()
        if len(self._chat_free_at) > 10_000:
            self._chat_free_at = {c: t for c, t in self._chat_free_at.items() if t > now}

    async def _write(
        self, outcomes: asyncio.Queue[_Outcome | None], report: DeliveryReport
    ) -> None:
        """Record outcomes as they come; what piled up during one write goes in the next."""
        done = False
        while not done:
            batch = [await outcomes.get()]
            while not outcomes.empty():
                batch.append(outcomes.get_nowait())
            if None in batch:
                done = True
            await self._record([outcome for outcome in batch if outcome is not None], report)

    async def _record(self, batch: list[_Outcome], report: DeliveryReport) -> None:
        if not batch:
            return
        async with self.sessionmaker() as session, session.begin():
            reminders = ReminderRepository(session)
            sent_by_attempts: dict[int, list[int]] = {}
            blocked: list[int] = []
            for outcome in batch:
                if outcome.status == "sent":
                    sent_by_attempts.setdefault(outcome.attempts, []).append(
                        outcome.item.reminder_id
                    )
                    continue
                assert outcome.error is not None
                await reminders.mark_failed(
                    outcome.item.reminder_id, outcome.error, attempts=outcome.attempts
                )
                if outcome.status == "blocked":
                    blocked.append(outcome.item.person_id)
            await PersonRepository(session).mark_unreachable(
                person_ids=blocked, at=self.wall_clock()
            )
            for attempts, ids in sent_by_attempts.items():
                await reminders.mark_sent(ids, attempts=attempts)
        for outcome in batch:
            if outcome.status == "sent":
                report.sent.append(outcome.item.reminder_id)
            elif outcome.status == "blocked":
                report.blocked.append(outcome.item.person_id)
                report.failed[outcome.item.reminder_id] = BLOCKED
            else:
                report.failed[outcome.item.reminder_id] = outcome.error or "failed"
