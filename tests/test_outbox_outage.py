"""A long Telegram outage on the several-workers path, through the real Dispatcher on one
PostgreSQL database (CI-gated; heartbeats faked as in tests/test_outbox_workers.py):

- Telegram down for more delivery passes than MAX_ATTEMPTS: the owed question is kept
  (a failure of Telegram's own gives its attempt back), and once Telegram is back the
  person gets it once, then the notice that their text was not saved; the text is in no
  field, and the next answer lands in the field asked;
- a row given up (owed longer than a day) or refused for good (the person blocked the
  bot) takes the notice queued behind it along: nobody is told to answer a question that
  never came;
- a row taken MAX_ATTEMPTS times without an answer (crashes, stalls) is still given up.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from aiogram.methods import SendMessage

from bot.database import Storage
from bot.outbox import GIVE_UP_AFTER, MAX_ATTEMPTS, Outbox
from bot.settings import Settings
from handlers.texts import Dialogue
from storage.models import utcnow
from tests.conftest import Clock
from tests.test_dialogue import join
from tests.test_outbox import Crash, CrashingSession
from tests.test_outbox_workers import (
    PLACE,
    STEP,
    FlakyTelegram,
    Heartbeats,
    answered_after_delivery,
    postgres_settings,
    rows,
    set_row,
    texts_to,
    worker,
)
from tests.tg import World, fsm_of, reach


@pytest.fixture
async def settings() -> Settings:
    return await postgres_settings()


async def owed_after_a_crash(
    settings: Settings, storage: Storage, clock: Clock, user_id: int
) -> tuple[World, FlakyTelegram, Outbox]:
    """Worker A dies with the place question on its way; worker B, on a Telegram that
    fails every send, gets the person's retyped name: not taken, a notice queued. B."""
    heartbeats = Heartbeats()
    a_session, b_session = CrashingSession(), FlakyTelegram()
    a, _, _ = worker(settings, storage, clock, a_session, heartbeats, "A")
    person = await join(a, user_id)
    await reach(person, "name")
    a_session.crash_on(SendMessage)
    with pytest.raises(Crash):
        await person.send("Выставка")
    heartbeats.stall("A")
    b, b_outbox, _ = worker(settings, storage, clock, b_session, heartbeats, "B")
    b.update_ids = count(next(a.update_ids))
    b_session.down = True
    await b.person(user_id).send("Выставка")  # retyped: not taken, a notice behind the question
    return b, b_session, b_outbox


async def test_an_outage_longer_than_max_attempts_passes_keeps_the_question_and_its_notice(
    settings: Settings,
    app_storage: Storage,
    clock: Clock,
) -> None:
    b, b_session, b_outbox = await owed_after_a_crash(settings, app_storage, clock, 2401)
    failed_before = len(b_session.failed)

    for _ in range(MAX_ATTEMPTS + 3):  # Telegram down: every pass fails the question
        assert await b_outbox.deliver_owed(b.bot, app_storage.sessionmaker) == 0
    tried = [text for text in b_session.failed[failed_before:] if text == PLACE]
    attempts = [row.attempts for row in await rows(app_storage) if row.delivered_at is None]
    b_session.down = False
    sent = await b_outbox.deliver_owed(b.bot, app_storage.sessionmaker)
    answer = await answered_after_delivery(b, app_storage, b.person(2401), "г. Минск")
    stored = await fsm_of(app_storage.sessionmaker, 2401)

    assert len(tried) >= MAX_ATTEMPTS + 3  # every pass tried it (with its retries)
    assert attempts[-2:] == [0, 0]  # every take given back: nothing counts towards giving up
    assert sent == 2
    assert texts_to(2401, b_session) == [PLACE, Dialogue.NOT_TAKEN, answer[-1].text]
    assert answer[-1].text.startswith(STEP.format(number=4))
    assert stored is not None
    assert (stored.data["draft"]["name"], stored.data["draft"]["place"]) == ("Выставка", "г. Минск")
    assert [row for row in await rows(app_storage) if row.delivered_at is None] == []


async def test_a_question_owed_longer_than_a_day_is_given_up_with_its_notice(
    settings: Settings,
    app_storage: Storage,
    clock: Clock,
) -> None:
    b, b_session, b_outbox = await owed_after_a_crash(settings, app_storage, clock, 2402)
    question, notice = [row for row in await rows(app_storage) if row.delivered_at is None]
    await set_row(
        app_storage, question.id, created_at=utcnow() - GIVE_UP_AFTER - timedelta(minutes=1)
    )

    b_session.down = False
    sent = await b_outbox.deliver_owed(b.bot, app_storage.sessionmaker)

    assert notice.method == f"notice:{question.id}"
    assert sent == 1  # the question, given up; the notice went with it
    assert texts_to(2402, b_session) == []
    assert await rows(app_storage) == []


async def test_a_question_refused_for_good_takes_its_notice_along(
    settings: Settings,
    app_storage: Storage,
    clock: Clock,
) -> None:
    b, b_session, b_outbox = await owed_after_a_crash(settings, app_storage, clock, 2403)
    b_session.down = False
    b_session.block(2403)  # the person blocked the bot meanwhile: 403 for every send

    sent = await b_outbox.deliver_owed(b.bot, app_storage.sessionmaker)

    assert sent == 1
    assert [refused.method.text for refused in b_session.refused] == [PLACE]  # type: ignore[attr-defined]
    assert await rows(app_storage) == []


async def test_a_row_taken_max_attempts_times_is_given_up_with_its_notice(
    settings: Settings,
    app_storage: Storage,
    clock: Clock,
) -> None:
    b, b_session, b_outbox = await owed_after_a_crash(settings, app_storage, clock, 2404)
    question, _ = [row for row in await rows(app_storage) if row.delivered_at is None]
    await set_row(app_storage, question.id, attempts=MAX_ATTEMPTS)  # as after MAX_ATTEMPTS crashes

    b_session.down = False
    sent = await b_outbox.deliver_owed(b.bot, app_storage.sessionmaker)

    assert sent == 1
    assert texts_to(2404, b_session) == []
    assert await rows(app_storage) == []
