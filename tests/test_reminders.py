"""Reminder rounds and their storage, on both backends: who is reminded for each kind,
nobody twice (two rounds, a restart, two processes at once), the organisations that
reported or said "nothing" left alone, /remind once an hour, recovery after a crash."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardMarkup
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import build_bot
from bot.metrics import REGISTRY
from bot.reminders import (
    ReminderDeps,
    digest,
    due_at,
    manual_kind,
    recover,
    remind_now,
    reminder_round,
)
from bot.scheduler import ReminderScheduler, run_reminder
from bot.settings import Settings
from handlers.keyboards import NothingCb
from storage.db import create_engine, create_sessionmaker, current_session
from storage.models import FsmRecord, Organisation, Person, Reminder, ReportingPeriod
from storage.repositories import ReminderRepository, ReportingRepository
from storage.repositories.reminders import RETRY_PREFIX
from tests import factories
from tests.tg import RecordingSession

TOKEN = "123456:TEST-token-for-recording-session-000"
# Q4 2023: deadline 5 January 2024, 18:00 in Moscow (factories.MOSCOW_DEADLINE).
DEADLINE = factories.MOSCOW_DEADLINE
BEFORE_7 = datetime(2023, 12, 29, 7, 0, tzinfo=UTC)  # 10:00 in Moscow, 7 days before
BEFORE_3 = datetime(2024, 1, 2, 7, 0, tzinfo=UTC)
ON_THE_DAY = datetime(2024, 1, 5, 7, 0, tzinfo=UTC)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "bot_token": SecretStr(TOKEN),
        "send_rate_per_second": 1000.0,
        "send_per_chat_interval": 0.0,
    }
    return Settings(**(values | overrides))


@dataclass
class Telegram:
    """One process's view: its own Bot, recording session and Sender."""

    deps: ReminderDeps
    session: RecordingSession

    def sent(self) -> list[SendMessage]:
        return [r for r in self.session.requests if isinstance(r, SendMessage)]

    def chats(self) -> list[int]:
        return sorted(int(message.chat_id) for message in self.sent())


def telegram(sessionmaker: async_sessionmaker[AsyncSession], **settings: Any) -> Telegram:
    session = RecordingSession()
    bot = Bot(TOKEN, session=session)
    return Telegram(ReminderDeps.create(bot, sessionmaker, make_settings(**settings)), session)


def blocked_by(sessionmaker: async_sessionmaker[AsyncSession], person: Person) -> Telegram:
    """`telegram()` whose Telegram answers 403 (the bot was blocked) to messages to `person`."""
    tg = telegram(sessionmaker)
    make_request = tg.session.make_request

    async def refusing(bot: Bot, method: Any, timeout: int | None = None) -> Any:
        if isinstance(method, SendMessage) and method.chat_id == person.telegram_id:
            body = '{"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked"}'
            return tg.session.check_response(bot, method, 403, body)
        return await make_request(bot, method, timeout)

    tg.session.make_request = refusing  # type: ignore[method-assign]
    return tg


@dataclass
class World:
    period: ReportingPeriod
    silent: Organisation  # two active reporters, nothing filed
    reported: Organisation  # a submitted event
    nothing: Organisation  # said "nothing to report"
    drafting: Organisation  # only a draft: still missing
    silent_people: list[Person]
    drafting_person: Person
    inactive: Person
    coordinator: Person

    @property
    def missing_chats(self) -> list[int]:
        people = [*self.silent_people, self.drafting_person]
        return sorted(person.telegram_id for person in people)


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    async with sessionmaker() as session, session.begin():
        period = await factories.period(session)
        silent = await factories.organisation(session, "Музей <Смоленск> & Ко")
        reported = await factories.organisation(session)
        nothing = await factories.organisation(session)
        drafting = await factories.organisation(session)
        silent_people = [await factories.person(session, silent) for _ in range(2)]
        await factories.person(session, reported)
        said = await factories.person(session, nothing)
        drafting_person = await factories.person(session, drafting)
        inactive = await factories.person(session, drafting)
        inactive.active = False
        coordinator = await factories.person(session, drafting, role="coordinator")
        await factories.event(
            session, period_=period, org=reported, submitted_at=datetime(2023, 12, 1, tzinfo=UTC)
        )
        await factories.event(session, period_=period, org=drafting, status="draft")
        await ReportingRepository(session).say_nothing(nothing.id, period.id, said.id)
    return World(
        period,
        silent,
        reported,
        nothing,
        drafting,
        silent_people,
        drafting_person,
        inactive,
        coordinator,
    )


async def rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Reminder]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(Reminder).order_by(Reminder.id)))


# --- storage ------------------------------------------------------------------------


async def test_a_claim_is_made_once(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    person = world.silent_people[0]
    async with sessionmaker() as session, session.begin():
        first = await ReminderRepository(session).claim(
            person.id, world.period.id, "before_7", world.silent.id
        )
        again = await ReminderRepository(session).claim(
            person.id, world.period.id, "before_7", world.silent.id
        )
        other = await ReminderRepository(session).claim(
            person.id, world.period.id, "before_3", world.silent.id
        )

    assert first is not None and first.status == "pending" and first.attempts == 0
    assert again is None
    assert other is not None and other.id != first.id


async def test_concurrent_claims_split_the_people_between_them(
    engine: AsyncEngine, world: World
) -> None:
    second_engine = create_engine(engine.url.render_as_string(hide_password=False))
    makers = [create_sessionmaker(engine), create_sessionmaker(second_engine)]
    people = [(p.id, world.silent.id) for p in world.silent_people] + [
        (world.drafting_person.id, world.drafting.id)
    ]

    async def claim(maker: async_sessionmaker[AsyncSession]) -> dict[int, int]:
        async with maker() as session, session.begin():
            claimed = await ReminderRepository(session).claim_many(world.period.id, "x", people)
            await asyncio.sleep(0.05)  # hold the transaction while the other one tries
            return claimed

    try:
        first, second = await asyncio.gather(claim(makers[0]), claim(makers[1]))
    finally:
        await second_engine.dispose()

    assert not set(first) & set(second)
    assert set(first) | set(second) == {person_id for person_id, _ in people}


async def test_it_finds_the_missing_reporters_and_organisations(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessionmaker() as session:
        reporting = ReportingRepository(session)
        missing = await reporting.missing_reporters(world.period.id)
        only_silent = await reporting.missing_reporters(world.period.id, [world.silent.id])
        organisations = await reporting.missing_organisations(world.period.id)

    assert sorted(person.telegram_id for person, _ in missing) == world.missing_chats
    assert {organisation.id for _, organisation in missing} == {world.silent.id, world.drafting.id}
    assert [person.id for person, _ in only_silent] == [p.id for p in world.silent_people]
    assert {organisation.id for organisation in organisations} == {
        world.silent.id,
        world.drafting.id,
    }


async def test_nothing_to_report_is_said_once_and_can_be_withdrawn(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessionmaker() as session, session.begin():
        reporting = ReportingRepository(session)
        said_again = await reporting.say_nothing(world.nothing.id, world.period.id, None)
        withdrawn = await reporting.withdraw_nothing(world.nothing.id, world.period.id)
        withdrawn_again = await reporting.withdraw_nothing(world.nothing.id, world.period.id)
        still_said = await reporting.said_nothing(world.nothing.id, world.period.id)
        missing = await reporting.missing_organisations(world.period.id)

    assert (said_again, withdrawn, withdrawn_again, still_said) == (False, True, False, False)
    assert world.nothing.id in {organisation.id for organisation in missing}


async def test_org_status_counts_events_lateness_nothing_and_dialogues(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessionmaker() as session, session.begin():
        await factories.event(
            session,
            period_=world.period,
            org=world.reported,
            submitted_at=DEADLINE + timedelta(hours=1),
        )
        session.add_all(
            [
                FsmRecord(
                    key=f"fsm:42:{world.drafting_person.telegram_id}:"
                    f"{world.drafting_person.telegram_id}:default",
                    state="ReportStates:place",
                    data={},
                ),
                FsmRecord(
                    key=f"fsm:42:{world.silent_people[0].telegram_id}:"
                    f"{world.silent_people[0].telegram_id}:default",
                    state="JoinStates:name",
                    data={},
                ),
            ]
        )
    async with sessionmaker() as session:
        statuses = await ReportingRepository(session).org_status(world.period.id, DEADLINE)

    by_id = {status.organisation_id: status for status in statuses}
    assert set(by_id) == {world.silent.id, world.reported.id, world.nothing.id, world.drafting.id}
    assert [status.name for status in statuses] == sorted(status.name for status in statuses)
    reported, nothing = by_id[world.reported.id], by_id[world.nothing.id]
    silent, drafting = by_id[world.silent.id], by_id[world.drafting.id]
    assert (reported.submitted, reported.late, reported.missing) == (2, 1, False)
    assert (nothing.said_nothing, nothing.missing) == (True, False)
    assert (silent.reporters, silent.submitted, silent.drafts, silent.missing) == (2, 0, 0, True)
    assert (drafting.reporters, drafting.drafts, drafting.missing) == (1, 1, True)


# --- rounds -------------------------------------------------------------------------


async def test_a_round_reminds_every_reporter_of_each_missing_organisation(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    tg = telegram(sessionmaker)

    result = await reminder_round(tg.deps, world.period.id, "before_7", now=BEFORE_7)

    assert tg.chats() == world.missing_chats
    assert (result.claimed, result.sent, result.already) == (3, 3, 0)
    assert result.organisations == sorted([world.silent.id, world.drafting.id])
    to_silent = next(m for m in tg.sent() if m.chat_id == world.silent_people[0].telegram_id)
    assert "7 дней" in to_silent.text and "IV квартал 2023 года" in to_silent.text
    assert "05.01.2024 18:00" in to_silent.text
    assert "Музей &lt;Смоленск&gt; &amp; Ко" in to_silent.text
    assert isinstance(to_silent.reply_markup, InlineKeyboardMarkup)
    buttons = [b for row in to_silent.reply_markup.inline_keyboard for b in row]
    assert NothingCb(action="say", period=world.period.id).pack() in {
        b.callback_data for b in buttons
    }
    assert {row.status for row in await rows(sessionmaker)} == {"sent"}


async def test_the_deadline_day_reminder_says_so(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    tg = telegram(sessionmaker)

    await reminder_round(tg.deps, world.period.id, "deadline", now=ON_THE_DAY)

    assert tg.chats() == world.missing_chats
    assert all("последний день" in message.text for message in tg.sent())


async def test_nobody_is_reminded_twice_by_a_second_round_or_after_a_restart(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    first = telegram(sessionmaker)
    await reminder_round(first.deps, world.period.id, "before_3", now=BEFORE_3)
    restarted = telegram(sessionmaker)  # a new process: new Bot, Sender, session

    again = await reminder_round(first.deps, world.period.id, "before_3", now=BEFORE_3)
    after_restart = await reminder_round(restarted.deps, world.period.id, "before_3", now=BEFORE_3)

    assert first.chats() == world.missing_chats
    assert restarted.sent() == []
    assert (again.claimed, again.already) == (0, 3)
    assert (after_restart.claimed, after_restart.already) == (0, 3)


async def test_two_processes_sharing_one_database_remind_each_person_once(
    engine: AsyncEngine, world: World
) -> None:
    second_engine = create_engine(engine.url.render_as_string(hide_password=False))
    one = telegram(create_sessionmaker(engine))
    two = telegram(create_sessionmaker(second_engine))

    try:
        await asyncio.gather(
            reminder_round(one.deps, world.period.id, "before_1", now=ON_THE_DAY),
            reminder_round(two.deps, world.period.id, "before_1", now=ON_THE_DAY),
        )
    finally:
        await second_engine.dispose()

    assert sorted(one.chats() + two.chats()) == world.missing_chats


async def test_two_schedulers_started_by_mistake_remind_each_person_once(
    engine: AsyncEngine, world: World
) -> None:
    second_engine = create_engine(engine.url.render_as_string(hide_password=False))
    schedulers = []
    for sessionmaker in (create_sessionmaker(engine), create_sessionmaker(second_engine)):
        session = RecordingSession()
        deps = ReminderDeps.create(
            Bot(TOKEN, session=session), sessionmaker, make_settings(), clock=lambda: ON_THE_DAY
        )
        schedulers.append((ReminderScheduler(deps), session))

    try:
        # Both catch up at start, then both fire the deadline-day job.
        await asyncio.gather(*(scheduler.catch_up() for scheduler, _ in schedulers))
        await asyncio.gather(
            *(run_reminder(s.deps, world.period.id, "deadline") for s, _ in schedulers)
        )
    finally:
        await second_engine.dispose()

    chats = [
        int(request.chat_id)
        for _, session in schedulers
        for request in session.requests
        if isinstance(request, SendMessage)
    ]
    assert sorted(chats) == world.missing_chats


async def test_an_organisation_that_reports_is_not_reminded_again(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    tg = telegram(sessionmaker)
    await reminder_round(tg.deps, world.period.id, "before_7", now=BEFORE_7)
    async with sessionmaker() as session, session.begin():
        await factories.event(session, period_=world.period, org=world.silent)
        await ReportingRepository(session).say_nothing(world.drafting.id, world.period.id, None)
    later = telegram(sessionmaker)

    result = await reminder_round(later.deps, world.period.id, "before_3", now=BEFORE_3)

    assert later.sent() == []
    assert result.claimed == 0


async def test_before_reminders_stop_at_the_deadline_and_for_closed_periods(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    tg = telegram(sessionmaker)

    late = await reminder_round(tg.deps, world.period.id, "deadline", now=DEADLINE)
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(ReportingPeriod)
            .where(ReportingPeriod.id == world.period.id)
            .values(status="closed")
        )
    closed = await reminder_round(tg.deps, world.period.id, "before_7", now=BEFORE_7)

    assert tg.sent() == []
    assert late.reason == "deadline passed"
    assert closed.reason == "period closed or unknown"
    assert await rows(sessionmaker) == []


async def test_a_person_who_blocked_the_bot_is_skipped_from_then_on(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    blocked = world.silent_people[0]
    tg = blocked_by(sessionmaker, blocked)

    first = await reminder_round(tg.deps, world.period.id, "before_7", now=BEFORE_7)
    later = telegram(sessionmaker)
    second = await reminder_round(later.deps, world.period.id, "before_3", now=BEFORE_3)

    assert (first.sent, first.blocked) == (2, 1)
    assert blocked.telegram_id not in later.chats()
    assert second.claimed == 2


async def test_a_round_counts_reminders_sent_and_unreachable_in_the_metrics(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    blocked = world.silent_people[0]
    tg = blocked_by(sessionmaker, blocked)

    def counted(outcome: str) -> float:
        value = REGISTRY.get_sample_value("bot_reminders_total", {"outcome": outcome})
        return value or 0.0

    before = {outcome: counted(outcome) for outcome in ("sent", "failed", "unreachable")}
    result = await reminder_round(tg.deps, world.period.id, "before_7", now=BEFORE_7)
    moved = {outcome: counted(outcome) - before[outcome] for outcome in before}

    assert (result.sent, result.blocked) == (2, 1)
    assert moved == {"sent": 2, "failed": 0, "unreachable": 1}


async def test_remind_now_nudges_an_organisation_at_most_once_an_hour(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    at = datetime(2023, 12, 20, 7, 40, tzinfo=UTC)  # 10:40 in Moscow
    tg = telegram(sessionmaker)

    first = await remind_now(tg.deps, world.period.id, now=at, organisation_ids=[world.silent.id])
    same_hour = await remind_now(tg.deps, world.period.id, now=at + timedelta(minutes=10))
    next_hour = await remind_now(tg.deps, world.period.id, now=at + timedelta(minutes=30))
    an_hour_on = await remind_now(tg.deps, world.period.id, now=at + timedelta(minutes=61))

    assert first.kind == manual_kind(at, tg.deps.settings) == "manual:2023-12-20T10"
    assert first.sent == 2 and first.organisations == [world.silent.id]
    assert same_hour.organisations == [world.drafting.id]  # not nudged before
    assert same_hour.skipped_organisations == [world.silent.id]
    assert next_hour.sent == 0
    assert next_hour.skipped_organisations == sorted([world.silent.id, world.drafting.id])
    assert an_hour_on.organisations == [world.silent.id]  # the drafting one: 51 min ago
    chats = tg.chats()
    assert chats.count(world.silent_people[0].telegram_id) == 2
    assert chats.count(world.drafting_person.telegram_id) == 1
    assert "Координатор напоминает" in tg.sent()[0].text


async def test_a_round_started_inside_an_update_leaves_its_session_alone(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    class UpdateSession:  # what the session middleware would commit before a send
        commits = 0

        def in_transaction(self) -> bool:
            return True

        async def commit(self) -> None:
            self.commits += 1

    recording = RecordingSession()
    settings = make_settings()
    bot = build_bot(settings, session=recording)  # with the bot's session middleware
    deps = ReminderDeps.create(bot, sessionmaker, settings)
    update_session = UpdateSession()
    token = current_session.set(update_session)  # type: ignore[arg-type]
    try:
        result = await remind_now(deps, world.period.id, now=BEFORE_7)
    finally:
        current_session.reset(token)

    assert result.sent == 3
    assert update_session.commits == 0


async def test_the_digest_tells_each_coordinator_who_is_missing_once(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    tg = telegram(sessionmaker)
    morning_after = due_at(DEADLINE, "digest", tg.deps.settings)
    assert morning_after == datetime(2024, 1, 6, 7, 0, tzinfo=UTC)

    first = await digest(tg.deps, world.period.id, now=morning_after)
    again = await digest(telegram(sessionmaker).deps, world.period.id, now=morning_after)

    assert tg.chats() == [world.coordinator.telegram_id]
    text = tg.sent()[0].text
    assert "Не отчитались (2)" in text
    assert "Музей &lt;Смоленск&gt; &amp; Ко" in text and world.drafting.name in text
    assert world.reported.name not in text and world.nothing.name not in text
    assert tg.sent()[0].reply_markup is None
    assert (first.sent, again.claimed) == (1, 0)


# --- recovery -----------------------------------------------------------------------


async def claim_and_crash(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, kind: str, at: datetime
) -> list[int]:
    """Claims made by a process that died before sending."""
    people = [(p.id, world.silent.id) for p in world.silent_people]
    async with sessionmaker() as session, session.begin():
        claimed = await ReminderRepository(session).claim_many(
            world.period.id, kind, people, now=at
        )
    return sorted(claimed.values())


async def test_recovery_sends_what_a_crash_left_pending_once(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    await claim_and_crash(sessionmaker, world, "before_3", BEFORE_3)
    tg = telegram(sessionmaker)

    too_soon = await recover(tg.deps, now=BEFORE_3 + timedelta(minutes=5))
    result = await recover(tg.deps, now=BEFORE_3 + timedelta(minutes=20))
    again = await recover(telegram(sessionmaker).deps, now=BEFORE_3 + timedelta(hours=2))
    resumed = await reminder_round(tg.deps, world.period.id, "before_3", now=BEFORE_3)

    assert too_soon.claimed == 0  # its sender may still be at work
    assert result.sent == 2
    assert tg.chats() == world.missing_chats  # each once: two recovered, one resumed
    assert again.claimed == 0
    assert resumed.claimed == 1  # only the one nobody had claimed
    assert {row.status for row in await rows(sessionmaker)} == {"sent"}


async def test_two_recoveries_at_once_send_once(engine: AsyncEngine, world: World) -> None:
    await claim_and_crash(create_sessionmaker(engine), world, "before_3", BEFORE_3)
    second_engine = create_engine(engine.url.render_as_string(hide_password=False))
    one = telegram(create_sessionmaker(engine))
    two = telegram(create_sessionmaker(second_engine))
    now = BEFORE_3 + timedelta(minutes=20)

    try:
        await asyncio.gather(recover(one.deps, now=now), recover(two.deps, now=now))
    finally:
        await second_engine.dispose()

    assert sorted(one.chats() + two.chats()) == sorted(p.telegram_id for p in world.silent_people)


async def test_recovery_retries_passing_failures_and_drops_what_is_no_longer_useful(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    retry, refused = await claim_and_crash(sessionmaker, world, "before_7", BEFORE_7)
    async with sessionmaker() as session, session.begin():
        reminders = ReminderRepository(session)
        await reminders.mark_failed(retry, f"{RETRY_PREFIX}Internal Server Error", attempts=6)
        await reminders.mark_failed(refused, "rejected: Bad Request", attempts=1)
    tg = telegram(sessionmaker)

    result = await recover(tg.deps, now=BEFORE_7 + timedelta(minutes=1))
    after_deadline = await claim_and_crash(sessionmaker, world, "before_1", BEFORE_7)
    late = await recover(tg.deps, now=DEADLINE + timedelta(minutes=1))

    assert result.sent == 1 and len(tg.sent()) == 1
    by_id = {row.id: row for row in await rows(sessionmaker)}
    assert (by_id[retry].status, by_id[retry].attempts) == ("sent", 7)
    assert (by_id[refused].status, by_id[refused].error) == ("failed", "rejected: Bad Request")
    assert late.claimed == 0 and len(tg.sent()) == 1
    assert {by_id[i].error for i in after_deadline} == {"expired"}


async def test_recovery_skips_an_organisation_that_reported_meanwhile(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    await claim_and_crash(sessionmaker, world, "before_3", BEFORE_3)
    async with sessionmaker() as session, session.begin():
        await factories.event(session, period_=world.period, org=world.silent)
    tg = telegram(sessionmaker)

    result = await recover(tg.deps, now=BEFORE_3 + timedelta(minutes=20))

    assert (result.claimed, tg.sent()) == (0, [])
    assert {row.error for row in await rows(sessionmaker)} == {"reported"}


def test_a_digest_longer_than_a_message_names_how_many_more_and_points_to_status() -> None:
    from bot.reminders import MESSAGE_MAX, digest_text
    from tests.telegram_rules import check_request

    period = ReportingPeriod(
        id=1, year=2026, quarter=4, deadline=datetime(2027, 1, 11, 15, tzinfo=UTC), status="open"
    )
    long_name = "Областное государственное бюджетное учреждение культуры «Музей» " * 2
    missing = [Organisation(id=n, name=f"{long_name}№ {n}") for n in range(1, 81)]
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    text = digest_text(period, missing, settings)

    shown = text.count("• ")
    assert 0 < shown < 80
    last = text.splitlines()[-1]
    assert last.startswith(f"… и ещё {80 - shown} организац")
    assert last.endswith("полный список — /status 2026-Q4")
    assert len(text) <= MESSAGE_MAX
    check_request("sendMessage", {"chat_id": 1, "text": text, "parse_mode": "HTML"}, {})


async def test_authors_of_returned_events_are_reminded_once_naming_those_events(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessionmaker() as session, session.begin():
        author = await factories.person(session, world.reported)
        returned = await factories.event(
            session, period_=world.period, org=world.reported, author_id=author.id, name="<Лекция>"
        )
        returned.review, returned.review_comment = "returned", "Уточните даты."
        waiting = await factories.event(
            session, period_=world.period, org=world.reported, author_id=author.id
        )
    tg = telegram(sessionmaker)

    await reminder_round(tg.deps, world.period.id, "before_7", now=BEFORE_7)
    await reminder_round(tg.deps, world.period.id, "before_7", now=BEFORE_7)

    to_author = [m for m in tg.sent() if int(m.chat_id) == author.telegram_id]
    assert len(to_author) == 1
    assert f"• №{returned.id} «&lt;Лекция&gt;»" in to_author[0].text
    assert f"№{waiting.id}" not in to_author[0].text and "05.01.2024 18:00" in to_author[0].text
    markup = to_author[0].reply_markup
    assert isinstance(markup, InlineKeyboardMarkup)
    assert [b.callback_data for row in markup.inline_keyboard for b in row] == [
        f"ev:edit:{returned.id}"
    ]
    assert sorted(set(tg.chats()) - {author.telegram_id}) == world.missing_chats
    kinds = {row.kind for row in await rows(sessionmaker) if row.person_id == author.id}
    assert kinds == {"before_7:returned"}
