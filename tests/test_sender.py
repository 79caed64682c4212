"""The Sender: every message delivered once (or the person marked unreachable), within the
limits, against a fake Telegram that answers 429, 5xx, network errors and 403.

Time is virtual: the Sender's clock and sleep are a `VirtualTime`, so pacing is checked
exactly and a 30-second backoff takes no time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from collections.abc import AsyncGenerator, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, Message, User
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sender import BLOCKED, Outgoing, Sender
from handlers.keyboards import reminder_keyboard
from storage.models import Person, Reminder
from storage.repositories import ReminderRepository
from storage.repositories.reminders import RETRY_PREFIX
from tests import factories

T = TypeVar("T")
BOT_USER = User(id=42, is_bot=True, first_name="Отчёты", username="report_test_bot")
TOKEN = "123456:TEST-token-for-the-scripted-session-00"


class VirtualTime:
    """A clock that moves only when every task waits on it (a discrete-event loop)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + delay, next(self._order), future))
        await future

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine`, moving the clock to the next wake-up whenever all is quiet."""
        task = asyncio.ensure_future(coroutine)
        try:
            while not task.done():
                for _ in range(50):  # let every runnable task reach its next wait
                    await asyncio.sleep(0)
                if task.done():
                    break
                if self._sleepers:
                    at, _, future = heapq.heappop(self._sleepers)
                    self.now = max(self.now, at)
                    if not future.done():
                        future.set_result(None)
                else:
                    await asyncio.sleep(0.001)  # real I/O (the database) in flight
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.wait([task])
            raise
        return task.result()


@dataclass
class Request:
    at: float
    chat_id: int
    answer: str


@dataclass
class ScriptedSession(BaseSession):
    """Telegram that answers each chat's sendMessage from a script, then accepts.

    Script items: `"429:<retry_after>"`, `"500"`, `"502"`, `"network"`, `"403"`, `"400"`;
    after the script runs out every request is accepted. `always` answers forever.
    """

    clock: Any = None
    scripts: dict[int, list[str]] = field(default_factory=dict)
    always: dict[int, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    delivered: list[tuple[int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self._milestones: dict[int, asyncio.Event] = {}

    def reached(self, count: int) -> asyncio.Event:
        """Set once `count` messages have been delivered."""
        event = self._milestones.setdefault(count, asyncio.Event())
        if len(self.delivered) >= count:
            event.set()
        return event

    async def close(self) -> None:
        """Nothing to close."""

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        assert isinstance(method, SendMessage)
        chat_id = int(method.chat_id)
        script = self.scripts.get(chat_id, [])
        answer = self.always.get(chat_id) or (script.pop(0) if script else "ok")
        self.requests.append(Request(self.clock(), chat_id, answer))
        if answer == "network":
            raise TelegramNetworkError(method, "Request timeout error")
        if answer != "ok":
            return self._fail(bot, method, answer)
        self.delivered.append((chat_id, method.text))
        self.reached(len(self.delivered))
        return Message(  # type: ignore[return-value]
            message_id=next(self._ids),
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type="private"),
            from_user=BOT_USER,
            text=method.text,
        )

    def _fail(self, bot: Bot, method: TelegramMethod[TelegramType], answer: str) -> Any:
        status, _, retry_after = answer.partition(":")
        body: dict[str, Any] = {"ok": False, "error_code": int(status)}
        body["description"] = {
            "429": f"Too Many Requests: retry after {retry_after}",
            "403": "Forbidden: bot was blocked by the user",
            "400": "Bad Request: chat not found",
        }.get(status, "Internal Server Error")
        if retry_after:
            body["parameters"] = {"retry_after": int(retry_after)}
        return self.check_response(bot, method, int(status), json.dumps(body))

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""  # pragma: no cover

    def times(self, chat_id: int | None = None) -> list[float]:
        return [r.at for r in self.requests if chat_id is None or r.chat_id == chat_id]


@dataclass
class Setup:
    sessionmaker: async_sessionmaker[AsyncSession]
    time: VirtualTime
    session: ScriptedSession
    bot: Bot
    people: list[Person]
    period_id: int

    def sender(self, **options: Any) -> Sender:
        options.setdefault("rate_per_second", 30.0)
        options.setdefault("per_chat_interval", 1.0)
        return Sender(
            self.bot, self.sessionmaker, clock=self.time.clock, sleep=self.time.sleep, **options
        )

    async def claim(
        self, people: list[Person] | None = None, kind: str = "before_3"
    ) -> list[Outgoing]:
        people = self.people if people is None else people
        async with self.sessionmaker() as session, session.begin():
            claimed = await ReminderRepository(session).claim_many(
                self.period_id, kind, [(p.id, p.organisation_id) for p in people]
            )
        return [
            Outgoing(
                claimed[p.id], p.id, p.telegram_id, f"Напоминание {kind}", reminder_keyboard(1)
            )
            for p in people
        ]

    async def reminders(self) -> dict[int, Reminder]:
        async with self.sessionmaker() as session:
            rows = await session.scalars(select(Reminder))
            return {row.id: row for row in rows}

    async def person(self, person_id: int) -> Person:
        async with self.sessionmaker() as session:
            person = await session.get(Person, person_id)
            assert person is not None
            return person


@pytest.fixture
async def setup(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncGenerator[Setup, None]:
    time = VirtualTime()
    session = ScriptedSession(clock=time.clock)
    bot = Bot(TOKEN, session=session)
    async with sessionmaker() as db, db.begin():
        period = await factories.period(db)
        org = await factories.organisation(db)
        people = [await factories.person(db, org) for _ in range(6)]
    yield Setup(sessionmaker, time, session, bot, people, period.id)
    await bot.session.close()


async def test_it_delivers_each_message_once_through_429_5xx_and_network_errors(
    setup: Setup,
) -> None:
    a, b, c, d, e, f = (person.telegram_id for person in setup.people)
    setup.session.scripts = {
        a: ["429:3"],
        b: ["500", "502"],
        c: ["network", "network"],
        d: ["403"],
        f: ["400"],
    }
    outgoing = await setup.claim()

    report = await setup.time.run(setup.sender().deliver(outgoing))

    delivered = [chat for chat, _ in setup.session.delivered]
    assert sorted(delivered) == sorted([a, b, c, e])  # each once
    rows = await setup.reminders()
    by_chat = {item.chat_id: rows[item.reminder_id] for item in outgoing}
    assert {chat: row.status for chat, row in by_chat.items()} == {
        a: "sent",
        b: "sent",
        c: "sent",
        d: "failed",
        e: "sent",
        f: "failed",
    }
    assert [by_chat[chat].attempts for chat in (a, b, c, e)] == [2, 3, 3, 1]
    assert all(by_chat[chat].sent_at is not None for chat in (a, b, c, e))
    assert by_chat[d].error == BLOCKED
    assert by_chat[f].error is not None and by_chat[f].error.startswith("rejected")
    blocked = await setup.person(setup.people[3].id)
    assert blocked.active and blocked.unreachable_since is not None  # still a member
    assert (await setup.person(setup.people[0].id)).unreachable_since is None
    assert sorted(report.sent) == sorted(by_chat[chat].id for chat in (a, b, c, e))
    assert report.blocked == [setup.people[3].id]
    assert (report.rate_limited, report.retried) == (1, 4)


async def test_a_429_waits_its_retry_after_and_resends_the_same_message(setup: Setup) -> None:
    chat = setup.people[0].telegram_id
    setup.session.scripts = {chat: ["429:7", "429:2"]}
    outgoing = await setup.claim(setup.people[:1])

    await setup.time.run(setup.sender().deliver(outgoing))

    first, second, third = setup.session.times(chat)
    assert second - first >= 7
    assert third - second >= 2
    assert setup.session.delivered == [(chat, outgoing[0].text)]


async def test_network_errors_back_off_exponentially_then_leave_it_for_recovery(
    setup: Setup,
) -> None:
    chat = setup.people[0].telegram_id
    setup.session.always = {chat: "500"}
    outgoing = await setup.claim(setup.people[:1])
    sender = setup.sender(max_attempts=5, first_backoff=1.0, max_backoff=4.0)

    report = await setup.time.run(sender.deliver(outgoing))

    times = setup.session.times(chat)
    gaps = [round(later - earlier, 6) for earlier, later in itertools.pairwise(times)]
    assert gaps == [1.0, 2.0, 4.0, 4.0]
    row = (await setup.reminders())[outgoing[0].reminder_id]
    assert row.status == "failed" and row.error is not None
    assert row.error.startswith(RETRY_PREFIX)
    assert row.attempts == 5
    assert report.failed == {row.id: row.error}
    async with setup.sessionmaker() as session:
        unfinished = await ReminderRepository(session).unfinished(datetime.now(UTC))
    assert [r.id for r in unfinished] == [row.id]


async def test_it_gives_up_after_its_time_and_never_sends_late(setup: Setup) -> None:
    chat = setup.people[0].telegram_id
    setup.session.scripts = {chat: ["429:100"]}
    outgoing = await setup.claim(setup.people[:1])

    await setup.time.run(setup.sender(give_up_after=60).deliver(outgoing))

    assert len(setup.session.requests) == 1
    assert setup.time.now <= 60
    row = (await setup.reminders())[outgoing[0].reminder_id]
    assert (row.status, row.error) == ("failed", f"{RETRY_PREFIX}not sent in time")


async def test_it_paces_requests_to_the_global_rate(
    sessionmaker: async_sessionmaker[AsyncSession], setup: Setup
) -> None:
    async with sessionmaker() as session, session.begin():
        org = await factories.organisation(session)
        people = [await factories.person(session, org) for _ in range(40)]
    chat = people[5].telegram_id
    setup.session.scripts = {chat: ["429:1"]}
    outgoing = await setup.claim(people)

    sender = setup.sender(rate_per_second=10, max_in_flight=8, window_margin=0.05)

    await setup.time.run(sender.deliver(outgoing))

    times = setup.session.times()
    assert len(times) == 41
    assert all(later - earlier >= 0.1 - 1e-9 for earlier, later in itertools.pairwise(times))
    # Never more than 10 within 1.05 s: the 11th comes 1.05 s after the 1st.
    assert all(times[k + 10] - times[k] >= 1.05 - 1e-9 for k in range(len(times) - 10))
    assert times[-1] - times[0] == pytest.approx(4 * 1.05)  # 41 requests, no slot wasted
    assert sorted(c for c, _ in setup.session.delivered) == sorted(p.telegram_id for p in people)


async def test_it_spaces_messages_to_one_chat(setup: Setup) -> None:
    person = setup.people[0]
    outgoing = [
        *(await setup.claim([person], "before_7")),
        *(await setup.claim([person], "before_3")),
        *(await setup.claim([person], "before_1")),
    ]
    others = await setup.claim(setup.people[1:])

    await setup.time.run(
        setup.sender(rate_per_second=100, per_chat_interval=1.5).deliver([*outgoing, *others])
    )

    times = setup.session.times(person.telegram_id)
    assert [round(t - times[0], 6) for t in times] == [0.0, 1.5, 3.0]
    assert max(setup.session.times()) == times[-1]  # the other chats did not wait
    assert len(setup.session.delivered) == 8


async def test_the_pace_holds_across_deliveries(setup: Setup) -> None:
    sender = setup.sender(rate_per_second=2, per_chat_interval=0, window_margin=0)
    first = await setup.claim(setup.people[:3], "before_3")
    second = await setup.claim(setup.people[3:], "before_3")

    await setup.time.run(sender.deliver(first))
    await setup.time.run(sender.deliver(second))

    times = setup.session.times()
    assert [round(t, 6) for t in times] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


async def test_a_cancelled_delivery_records_what_telegram_accepted(setup: Setup) -> None:
    sender = setup.sender(rate_per_second=1, per_chat_interval=0, max_in_flight=1)
    outgoing = await setup.claim()
    task = asyncio.ensure_future(setup.time.run(sender.deliver(outgoing)))
    await setup.session.reached(2).wait()

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await sender.wait_idle()

    rows = await setup.reminders()
    sent = {row.id for row in rows.values() if row.status == "sent"}
    pending = {row.id for row in rows.values() if row.status == "pending"}
    assert len(sent) == len(setup.session.delivered) >= 2
    assert sent | pending == {item.reminder_id for item in outgoing}
