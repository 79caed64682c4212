"""Two webhook workers' outboxes through the real Dispatcher, on one PostgreSQL database
(CI-gated), with their heartbeats faked (who is alive is set by hand; no Redis, no sleeps):

- a dead worker's owed question that Telegram will not take (502 past the retries) when
  the chat's next update comes: the update is neither failed nor handled, the person's
  text lands in no field, and once Telegram is back the person gets the question once,
  then the notice that their text was not saved; their next answer lands in the field
  asked;
- a worker whose event loop stalls past its heartbeat, while its reply waits to be sent
  again, is taken for dead; the worker that took its row sends it, and the stalled one,
  checking before it sends, does not: the question arrives once;
- of two workers that read a row alike, one gets it (the conditional UPDATE);
- the heartbeat knows since when its key has surely lived without a break.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramServerError
from aiogram.methods import GetMe, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Message, Update
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import texts
from bot.app import build_bot, build_dispatcher, build_outbox
from bot.database import Storage
from bot.outbox import Outbox
from bot.retry import RetryRequests
from bot.settings import Settings
from bot.workers import HEARTBEAT_MARGIN, HEARTBEAT_TTL, Heartbeat
from handlers.texts import Dialogue
from storage.db import create_engine
from storage.models import OutboxMessage, utcnow
from storage.repositories.outbox import OutboxRepository
from tests.conftest import COORDINATOR_ID, POSTGRES_URL, Clock, _reset_postgres, need_postgres
from tests.test_dialogue import join
from tests.test_outbox import Crash, CrashingSession
from tests.test_retry import FakeTime
from tests.tg import Person, RecordingSession, World, fsm_of, reach

STEP = Dialogue.STEP
PLACE = STEP.format(number=3) + Dialogue.ASK["place"]


@pytest.fixture
async def settings() -> Settings:
    """Several workers share PostgreSQL (on SQLite one process holds the one writer)."""
    return await postgres_settings()


async def postgres_settings() -> Settings:
    """The settings of workers on an emptied PostgreSQL database (skipped without one)."""
    need_postgres()
    engine = create_engine(POSTGRES_URL)
    try:
        await _reset_postgres(engine)
    finally:
        await engine.dispose()
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=SecretStr("123456:TEST-token-for-recording-session-000"),
        database_url=POSTGRES_URL,
        coordinator_ids=[COORDINATOR_ID],
    )


class Heartbeats:
    """The workers' heartbeats in Redis, faked: who is alive, and since when, by hand."""

    def __init__(self) -> None:
        self.now = 0.0  # the workers' monotonic clock
        self.unbroken: dict[str, float] = {}  # owner → since when its key surely lived

    def beat(self, owner: str) -> None:
        self.unbroken.setdefault(owner, self.now)

    def stall(self, owner: str) -> None:
        """The owner's event loop stalls past its TTL: its key is gone."""
        self.unbroken.pop(owner, None)
        self.now += HEARTBEAT_TTL + 1

    def of(self, owner: str) -> FakeHeartbeat:
        self.beat(owner)
        return FakeHeartbeat(self, owner)


class FakeHeartbeat:
    """One worker's view (bot.workers.Liveness)."""

    def __init__(self, heartbeats: Heartbeats, owner: str) -> None:
        self.heartbeats, self.owner = heartbeats, owner

    async def alive(self, owners: Iterable[str]) -> set[str]:
        return {o for o in owners if o == self.owner or o in self.heartbeats.unbroken}

    def clock(self) -> float:
        return self.heartbeats.now

    def unbroken_since(self) -> float | None:
        return self.heartbeats.unbroken.get(self.owner)


class FlakyTelegram(RecordingSession):
    """Telegram's side, answering 502 to every send while `down`, or to the next
    `fail_next` sends; failed tries are counted, not recorded (nobody saw them)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.fail_next = 0
        self.failed: list[str] = []

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if not isinstance(method, GetMe) and (self.down or self.fail_next):
            self.fail_next = max(self.fail_next - 1, 0)
            self.failed.append(getattr(method, "text", None) or method.__api_method__)
            raise TelegramServerError(method=method, message="Bad Gateway")
        return await super().make_request(bot, method, timeout)


def worker(
    settings: Settings,
    storage: Storage,
    clock: Clock,
    session: RecordingSession,
    heartbeats: Heartbeats,
    owner: str,
) -> tuple[World, Outbox, FakeTime]:
    """One webhook worker: its outbox (named `owner`), Bot and Dispatcher; its retries
    wait on a fake clock (the returned FakeTime), not the real one. (The routers join
    one Dispatcher at a time: the last worker built is the one fed updates.)"""
    outbox = build_outbox(settings, storage)
    outbox.owner = owner
    outbox.liveness = heartbeats.of(owner)
    bot = build_bot(settings, session=session, outbox=outbox)
    time = FakeTime()
    retry = next(m for m in bot.session.middleware if isinstance(m, RetryRequests))
    retry.clock, retry.sleep = time.clock, time.sleep
    world = World(build_dispatcher(settings, storage, clock=clock, outbox=outbox), bot, session)
    return world, outbox, time


async def rows(storage: Storage) -> list[OutboxMessage]:
    async with storage.sessionmaker() as session:
        found = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return list(found.all())


def written_at(world: World, person: Person, at: Any, text: str) -> Update:
    """The person's message dated `at` (Telegram's whole seconds)."""
    message = Message(
        message_id=next(world.ids), date=at, chat=person.chat, from_user=person.user, text=text
    )
    return Update(update_id=0, message=message)


async def answered_after_delivery(
    world: World, storage: Storage, person: Person, text: str
) -> list[Any]:
    """`text` from `person`, written a second after the latest owed message reached them
    (as a person reads the question, then answers); the replies."""
    delivered_at = max(
        row.delivered_at for row in await rows(storage) if row.delivered_at is not None
    )
    return await world.feed(
        person, written_at(world, person, delivered_at + timedelta(seconds=1), text)
    )


async def set_row(storage: Storage, row_id: int, **values: Any) -> None:
    """Change an outbox row's columns, as time or crashes would have."""
    async with storage.sessionmaker() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values)
        )
        await session.commit()


def texts_to(chat_id: int, *sessions: RecordingSession) -> list[str]:
    return [
        request.text
        for session in sessions
        for request in session.requests
        if isinstance(request, SendMessage) and int(request.chat_id) == chat_id
    ]


async def test_an_owed_question_telegram_will_not_take_comes_once_and_the_text_lands_nowhere(
    settings: Settings, app_storage: Storage, clock: Clock
) -> None:
    heartbeats = Heartbeats()
    a_session, b_session = CrashingSession(), FlakyTelegram()
    a, _, _ = worker(settings, app_storage, clock, a_session, heartbeats, "A")
    person = await join(a, 2301)
    await reach(person, "name")
    a_session.crash_on(SendMessage)  # A dies with the place question on its way
    with pytest.raises(Crash):
        await person.send("Выставка")
    heartbeats.stall("A")  # its key expires: A is dead
    b, b_outbox, _ = worker(settings, app_storage, clock, b_session, heartbeats, "B")
    b.update_ids = count(next(a.update_ids))  # Telegram's ids go on
    shown_before = texts_to(2301, a_session, b_session)

    b_session.down = True  # Telegram fails every send, past the retries
    retyped = written_at(b, b.person(2301), utcnow(), "Выставка")
    await b.feed_raw(retyped.model_copy(update={"update_id": 900}))
    await b.feed_raw(retyped.model_copy(update={"update_id": 900}))  # redelivered
    while_down = [(row.owner, row.delivered_at) for row in await rows(app_storage)]
    draft_while_down = await fsm_of(app_storage.sessionmaker, 2301)

    b_session.down = False  # Telegram is back: the delivery pass
    sent = await b_outbox.deliver_owed(b.bot, app_storage.sessionmaker)
    answer = await answered_after_delivery(b, app_storage, b.person(2301), "г. Минск")
    stored = await fsm_of(app_storage.sessionmaker, 2301)

    assert PLACE in b_session.failed  # tried, and failed, while Telegram was down
    assert while_down[-2:] == [("B", None), ("B", None)]  # the question and the notice, owed
    assert draft_while_down is not None and draft_while_down.data["draft"]["place"] is None
    assert sent == 2
    after = texts_to(2301, a_session, b_session)[len(shown_before) :]
    assert after[:2] == [PLACE, Dialogue.NOT_TAKEN]  # the question once, then why
    notice = next(r for r in b_session.requests if getattr(r, "text", None) == Dialogue.NOT_TAKEN)
    assert notice.reply_parameters is not None
    assert notice.reply_parameters.message_id == retyped.message.message_id  # type: ignore[union-attr]
    assert answer[-1].text.startswith(STEP.format(number=4))
    assert texts_to(2301, a_session, b_session).count(PLACE) == 1
    assert texts_to(2301, a_session, b_session).count(Dialogue.NOT_TAKEN) == 1
    assert stored is not None
    assert (stored.data["draft"]["name"], stored.data["draft"]["place"]) == ("Выставка", "г. Минск")
    assert [row for row in await rows(app_storage) if row.delivered_at is None] == []


async def test_a_command_while_the_owed_question_cannot_go_out_is_asked_again_after_it(
    settings: Settings, app_storage: Storage, clock: Clock
) -> None:
    heartbeats = Heartbeats()
    a_session, b_session = CrashingSession(), FlakyTelegram()
    a, _, _ = worker(settings, app_storage, clock, a_session, heartbeats, "A")
    person = await join(a, 2302)
    await reach(person, "name")
    a_session.crash_on(SendMessage)
    with pytest.raises(Crash):
        await person.send("Выставка")
    heartbeats.stall("A")
    b, b_outbox, _ = worker(settings, app_storage, clock, b_session, heartbeats, "B")
    b.update_ids = count(next(a.update_ids))

    b_session.down = True
    await b.person(2302).send("/cancel")
    b_session.down = False
    await b_outbox.deliver_owed(b.bot, app_storage.sessionmaker)
    stored = await fsm_of(app_storage.sessionmaker, 2302)

    assert texts_to(2302, b_session) == [PLACE, texts.OWED_NOT_HANDLED]
    assert stored is not None and stored.state is not None  # not cancelled: not handled


async def test_telegram_back_at_the_next_update_brings_the_question_then_each_notice_once(
    settings: Settings, app_storage: Storage, clock: Clock
) -> None:
    heartbeats = Heartbeats()
    a_session, b_session = CrashingSession(), FlakyTelegram()
    a, _, _ = worker(settings, app_storage, clock, a_session, heartbeats, "A")
    person = await join(a, 2304)
    await reach(person, "name")
    a_session.crash_on(SendMessage)
    with pytest.raises(Crash):
        await person.send("Выставка")
    heartbeats.stall("A")
    b, _, _ = worker(settings, app_storage, clock, b_session, heartbeats, "B")
    b.update_ids = count(next(a.update_ids))
    person = b.person(2304)

    b_session.down = True
    await person.send("Выставка")  # retyped, while Telegram fails
    b_session.down = False
    # Once more, before anything arrived; dated in whole seconds, as Telegram dates messages.
    now = datetime.now(UTC).replace(microsecond=0)
    again = await b.feed(person, written_at(b, person, now, "Выставка"))
    delivered_at = max(
        row.delivered_at for row in await rows(app_storage) if row.delivered_at is not None
    )
    answer = await b.feed(
        person, written_at(b, person, delivered_at + timedelta(seconds=1), "г. Минск")
    )
    stored = await fsm_of(app_storage.sessionmaker, 2304)

    # The question, the first text's notice (queued behind it), the second text's.
    assert [reply.text for reply in again] == [PLACE, Dialogue.NOT_TAKEN, Dialogue.NOT_TAKEN]
    assert texts_to(2304, b_session).count(PLACE) == 1
    assert answer[-1].text.startswith(STEP.format(number=4))
    assert stored is not None
    assert (stored.data["draft"]["name"], stored.data["draft"]["place"]) == ("Выставка", "г. Минск")


async def test_a_worker_stalled_past_its_heartbeat_does_not_send_the_row_another_took(
    settings: Settings, app_storage: Storage, clock: Clock
) -> None:
    heartbeats = Heartbeats()
    a_session, b_session = FlakyTelegram(), FlakyTelegram()
    b, b_outbox, _ = worker(settings, app_storage, clock, b_session, heartbeats, "B")
    a, a_outbox, a_time = worker(settings, app_storage, clock, a_session, heartbeats, "A")
    person = await join(a, 2303)
    await reach(person, "name")
    taken_by_b: list[int] = []

    async def stalled(seconds: float) -> None:
        """A's backoff before retrying: its loop stalls past the TTL; B, finding A dead,
        takes the row and sends it meanwhile."""
        a_time.now += seconds
        heartbeats.stall("A")
        taken_by_b.append(await b_outbox.deliver_owed(b.bot, app_storage.sessionmaker))

    retry = next(m for m in a.bot.session.middleware if isinstance(m, RetryRequests))
    retry.sleep = stalled
    a_session.fail_next = 1  # A's first try of the place question fails (502)
    replies = await person.send("Выставка")
    heartbeats.beat("A")  # A's loop runs again; its key is renewed
    later = utcnow() + timedelta(seconds=2)
    answer = await a.feed(a.person(2303), written_at(a, a.person(2303), later, "г. Минск"))
    stored = await fsm_of(app_storage.sessionmaker, 2303)

    assert a_session.failed == [PLACE]
    assert taken_by_b == [1]
    assert replies == []  # A sent nothing more: the row was B's
    assert texts_to(2303, a_session, b_session).count(PLACE) == 1  # once, by B
    assert texts_to(2303, b_session) == [PLACE]
    assert a_outbox.in_flight == set()
    assert answer[-1].text.startswith(STEP.format(number=4))
    assert stored is not None and stored.data["draft"]["place"] == "г. Минск"
    assert [row for row in await rows(app_storage) if row.delivered_at is None] == []


async def test_of_two_workers_that_read_a_row_alike_one_takes_it(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = utcnow()
    async with sessionmaker() as session:
        repo = OutboxRepository(session)
        row_id = await repo.add(1, 7, "sendMessage", "{}", due_at=now, owner="A")
        await session.commit()
        [seen] = await repo.owed(due_by=None)
        await session.commit()

    async def take(owner: str) -> bool:
        async with sessionmaker() as session:
            taken = await OutboxRepository(session).take(
                row_id,
                due_by=None,
                lease_until=now,
                owner=owner,
                seen_owner=seen.owner,
                seen_attempts=seen.attempts,
            )
            await session.commit()
            return taken

    by_a = await take("A")  # the owner, checking before it sends
    by_b = await take("B")  # a taker that found A dead, from the same reading

    assert (by_a, by_b) == (True, False)


class FakeRedis:
    """The two calls a heartbeat makes, on a dict."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    async def set(self, key: str, value: str, px: int) -> None:
        self.keys[key] = value

    async def delete(self, key: str) -> None:
        self.keys.pop(key, None)


async def test_a_heartbeat_knows_since_when_it_has_surely_lived_without_a_break() -> None:
    clock = FakeTime()
    heartbeat = Heartbeat(FakeRedis(), 1, "A", clock=clock.clock)

    await heartbeat._beat()
    first = heartbeat.unbroken_since()
    clock.now += HEARTBEAT_TTL / 4
    await heartbeat._beat()  # renewed in time
    renewed = heartbeat.unbroken_since()
    clock.now += HEARTBEAT_TTL - HEARTBEAT_MARGIN  # a stall: no renewal for a TTL
    stalled = heartbeat.unbroken_since()
    await heartbeat._beat()
    again = heartbeat.unbroken_since()
    await heartbeat.stop()

    assert first == renewed == 0.0
    assert stalled is None
    assert again == clock.now  # a new stretch: rows written before it are checked
    assert heartbeat.unbroken_since() is None
