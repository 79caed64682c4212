"""Webhook workers on PostgreSQL and Redis (CI-gated), as they run: the update's claim
also tells what its chat is owed (bot/owed.py), so the chat's outbox costs no statement
of its own when nothing is owed; when something is, the claim is undone and the update
goes the way it always went. Through the real Dispatcher, its FSM in Redis, heartbeats
faked (who is alive is set by hand):

- nothing owed: one statement fewer per update than the look of its own, and the same
  replies;
- a dead worker's question owed: it is delivered first, with the update's claim not in
  the database meanwhile, then the update is handled, once;
- Telegram failing that delivery: the update is claimed as `_not_taken` claims it (the
  undone claim is not in its way), its notice queued once, a redelivery skipped;
- the update the dead worker never answered, redelivered: the owed question comes, the
  update is not handled again;
- a text dated before an owed question's delivery is still not taken, the delivery's
  time read by the claim;
- the claim reads the chat's outbox as `OutboxRepository.of_chat` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from itertools import count
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.database import Storage
from bot.outbox import Outbox
from bot.owed import OwedFirst
from bot.settings import Settings
from bot.workers import PrefetchedRedisStorage
from handlers.texts import Dialogue
from storage.db import create_sessionmaker
from storage.models import ProcessedUpdate, utcnow
from storage.repositories import (
    OrganisationRepository,
    PersonRepository,
    ProcessedUpdateRepository,
)
from storage.repositories.outbox import OutboxRepository
from storage.repositories.updates import KEEP_PROCESSED, PRUNE_EVERY
from tests.conftest import Clock, emptied_redis, redis_db
from tests.test_dialogue import join
from tests.test_outbox import Crash, CrashingSession
from tests.test_outbox_workers import (
    PLACE,
    STEP,
    FlakyTelegram,
    Heartbeats,
    postgres_settings,
    rows,
    texts_to,
    worker,
    written_at,
)
from tests.tg import Person, World, reach

REDIS_DB = redis_db(11)  # this file's own, emptied by each test
DATES = STEP.format(number=4)


@pytest.fixture
async def settings() -> AsyncIterator[Settings]:
    """Workers on an emptied PostgreSQL database, their FSM in an emptied Redis."""
    url = await emptied_redis(REDIS_DB)
    base = await postgres_settings()
    yield base.model_copy(update={"redis_url": url})


# --- what ran ---------------------------------------------------------------------------


def of_chat(sql: str) -> bool:
    """`OutboxRepository.of_chat`'s SELECT: what `settle_chat` asks the database."""
    return sql.startswith("SELECT outbox.id, outbox.chat_id")


def claim_seeing_owed(sql: str) -> bool:
    return sql.startswith("WITH claim AS") and "chat_outbox" in sql


def plain_claim(sql: str) -> bool:
    """The claim (with the person, or alone) reading nothing of the outbox."""
    return (sql.startswith("WITH claim AS") and "chat_outbox" not in sql) or sql.startswith(
        "INSERT INTO processed_updates"
    )


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements run meanwhile (those on the driver too: `PgStatement` tells them)."""
    seen: list[str] = []

    def told(_connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(" ".join(sql.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", told)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", told)


async def claims_of(storage: Storage, update_id: int) -> int:
    async with storage.sessionmaker() as session:
        query = select(func.count()).where(ProcessedUpdate.update_id == update_id)
        return int(await session.scalar(query) or 0)


class WatchingTelegram(FlakyTelegram):
    """`FlakyTelegram`, noting for each message sent whether the update `watched` was
    claimed in the database at that moment (as another worker would see it)."""

    def __init__(self, storage: Storage) -> None:
        super().__init__()
        self.storage = storage
        self.watched: int | None = None
        self.claimed_while_sending: list[tuple[str, int]] = []

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if isinstance(method, SendMessage) and self.watched is not None:
            claims = await claims_of(self.storage, self.watched)
            self.claimed_while_sending.append((method.text, claims))
        return await super().make_request(bot, method, timeout)


async def draft_of(world: World, person: Person) -> tuple[str | None, dict[str, Any]]:
    """The person's step and draft, as stored in Redis."""
    context = world.dispatcher.fsm.get_context(world.bot, person.chat.id, person.user.id)
    data = await context.get_data()
    return await context.get_state(), data.get("draft", {})


async def closed(*worlds: World) -> None:
    for world in worlds:
        await world.dispatcher.storage.close()
        await world.bot.session.close()


async def owed_by_a_dead_worker(
    settings: Settings, storage: Storage, clock: Clock, user_id: int, session: FlakyTelegram
) -> tuple[World, World, Outbox, Update]:
    """Worker A dies with the place question on its way (the person's name of the event
    committed, the question owed); worker B (on `session`) takes the chat's next updates.
    B's outbox and the update A never answered are returned too."""
    heartbeats = Heartbeats()
    a_session = CrashingSession()
    a, _, _ = worker(settings, storage, clock, a_session, heartbeats, "A")
    assert isinstance(a.dispatcher.storage, PrefetchedRedisStorage)  # as the workers run
    person = await join(a, user_id)
    await reach(person, "name")
    a_session.crash_on(SendMessage)
    unanswered = Update(update_id=next(a.update_ids), message=person.message(text="Выставка"))
    with pytest.raises(Crash):
        await a.feed_raw(unanswered)
    heartbeats.stall("A")  # its key expires: A is dead
    b, b_outbox, _ = worker(settings, storage, clock, session, heartbeats, "B")
    b.update_ids = count(next(a.update_ids))  # Telegram's ids go on
    return a, b, b_outbox, unanswered


# --- the tests --------------------------------------------------------------------------


async def test_nothing_owed_the_claim_tells_it_one_statement_fewer_and_the_same_replies(
    settings: Settings, app_storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    heartbeats = Heartbeats()
    b, _, _ = worker(settings, app_storage, clock, FlakyTelegram(), heartbeats, "B")
    first, second = await join(b, 2501), await join(b, 2502)
    await reach(first, "name")
    await reach(second, "name")
    try:
        with statements(app_storage.engine) as merged:
            answered = await first.send("Выставка")
        # The same update the way main took it: `settle_chat`'s own look, then the claim.
        monkeypatch.setattr(OwedFirst, "_claim_looks", lambda _self, _session: False)
        with statements(app_storage.engine) as apart:
            answered_apart = await second.send("Выставка")
        drafts = [await draft_of(b, first), await draft_of(b, second)]
    finally:
        await closed(b)

    assert [m.text for m in answered] == [m.text for m in answered_apart] == [PLACE]
    [(state, draft), (state_apart, draft_apart)] = drafts
    draft.pop("token"), draft_apart.pop("token")  # each draft's own
    assert (state, draft) == (state_apart, draft_apart) and draft["name"] == "Выставка"
    assert len(merged) == len(apart) - 1
    assert [sql for sql in merged if claim_seeing_owed(sql)] == [merged[0]]  # the first
    assert not any(of_chat(sql) or plain_claim(sql) for sql in merged)  # settle's not run
    assert of_chat(apart[0]) and plain_claim(apart[1])
    assert merged[1:] == apart[2:]  # the rest alike


async def test_a_dead_workers_question_comes_first_then_the_update_is_handled_once(
    settings: Settings, app_storage: Storage, clock: Clock
) -> None:
    session = WatchingTelegram(app_storage)
    a, b, _, _ = await owed_by_a_dead_worker(settings, app_storage, clock, 2503, session)
    person = b.person(2503)
    # Written once the question was read (dated after its delivery, which comes first).
    answer = written_at(b, person, utcnow() + timedelta(seconds=5), "г. Минск")
    session.watched = next(b.update_ids)  # the id `feed` gives it
    b.update_ids = count(session.watched)
    try:
        with statements(app_storage.engine) as ran:
            replies = await b.feed(person, answer)
        state, draft = await draft_of(b, person)
        claims = await claims_of(app_storage, session.watched)
    finally:
        await closed(a, b)

    assert replies[0].text == PLACE  # the owed question first
    assert replies[-1].text.startswith(DATES)  # then the update, handled
    assert session.claimed_while_sending[0] == (PLACE, 0)  # the look's claim undone
    assert texts_to(2503, session).count(PLACE) == 1
    assert (draft["name"], draft["place"]) == ("Выставка", "г. Минск")
    assert state is not None and state.endswith(":dates")
    assert claims == 1
    # The claim that found the question owed, settle_chat's way, then the claim again.
    assert claim_seeing_owed(ran[0]) and of_chat(ran[1])
    assert len([sql for sql in ran if plain_claim(sql)]) == 1
    assert [row for row in await rows(app_storage) if row.delivered_at is None] == []


async def test_an_owed_question_telegram_fails_the_update_is_claimed_not_taken_once(
    settings: Settings, app_storage: Storage, clock: Clock
) -> None:
    session = FlakyTelegram()
    a, b, b_outbox, _ = await owed_by_a_dead_worker(settings, app_storage, clock, 2504, session)
    person = b.person(2504)
    session.down = True  # Telegram fails every send, past the retries
    retyped = written_at(b, person, utcnow(), "Выставка").model_copy(update={"update_id": 950})
    try:
        await b.feed_raw(retyped)
        await b.feed_raw(retyped)  # redelivered
        claims = await claims_of(app_storage, 950)
        left = [(row.method, row.delivered_at) for row in await rows(app_storage)]
        state, draft = await draft_of(b, person)
        session.down = False
        sent = await b_outbox.deliver_owed(b.bot, app_storage.sessionmaker)
    finally:
        await closed(a, b)

    assert PLACE in session.failed  # tried, and failed, before the update
    assert claims == 1  # by `_not_taken`: the look's claim did not stand in its way
    notices = [method for method, _ in left if method.startswith("notice:")]
    assert len(notices) == 1  # queued once: the redelivery was skipped
    assert state is not None and state.endswith(":place") and draft["place"] is None
    assert sent == 2
    assert texts_to(2504, session) == [PLACE, Dialogue.NOT_TAKEN]


async def test_the_update_the_dead_worker_never_answered_brings_the_owed_question_only(
    settings: Settings, app_storage: Storage, clock: Clock
) -> None:
    session = FlakyTelegram()
    a, b, _, unanswered = await owed_by_a_dead_worker(settings, app_storage, clock, 2505, session)
    person = b.person(2505)
    try:
        with statements(app_storage.engine) as ran:
            await b.feed_raw(unanswered)  # Telegram retries it, on B
        state, draft = await draft_of(b, person)
        claims = await claims_of(app_storage, unanswered.update_id)
    finally:
        await closed(a, b)

    assert texts_to(2505, session) == [PLACE]  # delivered; the update not handled again
    assert state is not None and state.endswith(":place")
    assert (draft["name"], draft["place"]) == ("Выставка", None)
    assert claims == 1  # A's, committed before its reply
    assert claim_seeing_owed(ran[0]) and of_chat(ran[1])  # owed: settle_chat's way
    assert len([sql for sql in ran if plain_claim(sql)]) == 1  # then skipped by the claim
    assert [row for row in await rows(app_storage) if row.delivered_at is None] == []


async def test_a_text_dated_before_the_owed_questions_delivery_is_not_taken(
    settings: Settings, app_storage: Storage, clock: Clock
) -> None:
    session = FlakyTelegram()
    a, b, b_outbox, _ = await owed_by_a_dead_worker(settings, app_storage, clock, 2506, session)
    person = b.person(2506)
    try:
        assert await b_outbox.deliver_owed(b.bot, app_storage.sessionmaker) == 1  # the pass
        [delivered_at] = [row.delivered_at for row in await rows(app_storage) if row.delivered_at]
        with statements(app_storage.engine) as ran:
            same_second = await b.feed(person, written_at(b, person, delivered_at, "Выставка"))
        later = delivered_at + timedelta(seconds=1)
        next_second = await b.feed(person, written_at(b, person, later, "г. Минск"))
        _, draft = await draft_of(b, person)
    finally:
        await closed(a, b)

    assert [reply.text for reply in same_second] == [Dialogue.NOT_TAKEN]
    assert claim_seeing_owed(ran[0])  # the delivery's time came with the claim
    assert not any(of_chat(sql) or plain_claim(sql) for sql in ran)
    assert next_second[-1].text.startswith(DATES)
    assert (draft["name"], draft["place"]) == ("Выставка", "г. Минск")


async def test_the_claim_reads_the_chats_outbox_as_of_chat_does(pg_engine: AsyncEngine) -> None:
    maker = create_sessionmaker(pg_engine)
    now = utcnow()
    since = now - timedelta(days=1)
    delivered = ((12, now - timedelta(hours=2)), (12, now), (13, since - timedelta(seconds=1)))
    async with maker() as session, session.begin():
        outbox = OutboxRepository(session)
        await outbox.add(1, 10, "job:report", "{}", due_at=now)  # a job: no question
        await outbox.add(1, 11, "sendMessage", "{}", due_at=now)  # owed
        await outbox.add(2, 12, "sendMessage", "{}", due_at=now)  # another bot's chat 12
        for chat, at in delivered:  # chat 13's too long ago
            await outbox.delivered(await outbox.add(1, chat, "sendMessage", "{}", due_at=now), at)
        organisation = await OrganisationRepository(session).get_or_add("Смоленский музей")
        await PersonRepository(session).add(5001, "Иванова Мария", organisation_id=organisation.id)
    found = {}
    async with maker() as session, session.begin():
        updates = ProcessedUpdateRepository(session)
        for chat in (10, 11, 12, 13, 14):
            seen = await updates.claim_seeing_owed(
                1, 100 + chat, None, chat, delivered_since=since, now=now
            )
            apart = await OutboxRepository(session).of_chat(1, chat, delivered_since=since)
            found[chat] = (seen.owed, seen.delivered_at), (bool(apart.owed), apart.delivered_at)
        sender = await updates.claim_seeing_owed(1, 200, 5001, 14, delivered_since=since)
        expected = await PersonRepository(session).snapshot(5001)
        again = await updates.claim_seeing_owed(1, 200, 5001, 14, delivered_since=since)
        owed = await updates.claim_seeing_owed(1, 201, 5001, 11, delivered_since=since)
    # Pruned on every PRUNE_EVERYth claim, as without the look.
    async with maker() as session, session.begin():
        old = now - KEEP_PROCESSED - timedelta(seconds=1)
        await ProcessedUpdateRepository(session).claim(1, 1, now=old)
    async with maker() as session, session.begin():
        pruning = await ProcessedUpdateRepository(session).claim_seeing_owed(
            1, PRUNE_EVERY, None, 14, delivered_since=since, now=now
        )
    async with maker() as session:
        kept = sorted(await session.scalars(select(ProcessedUpdate.update_id)))

    for chat, (merged, apart) in found.items():
        assert merged == apart, chat
    assert found[11][0] == (True, None)
    assert found[12][0] == (False, now)  # the latest of the chat's deliveries, this bot's
    assert found[10][0] == found[13][0] == found[14][0] == (False, None)
    assert sender.claimed and sender.person is not None and expected is not None
    columns = [column.key for column in expected.__table__.columns]
    assert [getattr(sender.person, c) for c in columns] == [getattr(expected, c) for c in columns]
    assert (again.claimed, again.person, again.owed) == (False, None, False)  # a redelivery
    assert (owed.claimed, owed.person, owed.owed) == (True, None, True)  # to be rolled back
    assert pruning.claimed
    assert kept == [110, 111, 112, 113, 114, 200, 201, PRUNE_EVERY]  # update 1 pruned
