"""People who block the bot and come back, through the real Dispatcher on both backends.

A 403 (a reminder, the digest, a reply) or a `my_chat_member` update turning `kicked`
marks the chat unreachable: the person stays a member, their organisation stays missing
in /status and the digest, reminders skip them, their draft is not «заполняют». A message,
a button or unblocking makes them reachable again; one a coordinator deactivated stays
refused.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiogram.methods import SendMessage
from aiogram.types import ChatMemberBanned, ChatMemberMember, ChatMemberUpdated, Update, User
from alembic import command
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.database import Storage
from bot.reminders import ReminderDeps, digest, recover, remind_now, reminder_round
from bot.settings import Settings
from handlers.texts import Common, Desk, Periods, Reminders
from storage.db import create_engine
from storage.migrate import alembic_config, upgrade_database
from storage.models import Organisation, Reminder, ReportingPeriod, Sphere, UTCDateTime
from storage.models import Person as PersonRow
from storage.repositories import ReminderRepository
from tests.conftest import COORDINATOR_ID, POSTGRES_URL, Clock, _reset_postgres, need_postgres
from tests.test_desk import coordinator
from tests.test_dialogue import join
from tests.test_periods_desk import period_of
from tests.tg import BOT_USER, Person, World, fsm_of, reach, stored_person

BEFORE_7 = datetime(2023, 12, 29, 7, 0, tzinfo=UTC)  # 10:00 in Moscow, 7 days before
BEFORE_3 = datetime(2024, 1, 2, 7, 0, tzinfo=UTC)
MORNING_AFTER = datetime(2024, 1, 6, 7, 0, tzinfo=UTC)  # the digest's time
BLOCKED_AT = datetime(2023, 11, 21, 8, 30, tzinfo=UTC)  # 21.11.2023 11:30 in Moscow
MUSEUM, THEATRE = "Смоленский музей", "Смоленский театр"
AT = {"created_at": datetime(2023, 10, 1, tzinfo=UTC)}


@pytest.fixture(params=["sqlite", "postgresql"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """The bot's settings on a fresh SQLite file or an emptied PostgreSQL database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    if request.param == "postgresql":
        need_postgres()
        engine = create_engine(POSTGRES_URL)
        await _reset_postgres(engine)
        await engine.dispose()
        url = POSTGRES_URL
    yield Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=SecretStr("123456:TEST-token-for-recording-session-000"),
        database_url=url,
        coordinator_ids=[COORDINATOR_ID],
        send_rate_per_second=1000.0,
        send_per_chat_interval=0.0,
    )


def deps(world: World, storage: Storage, settings: Settings, clock: Clock) -> ReminderDeps:
    """Reminder rounds through the world's Bot (its recording session, its blocked chats)."""
    return ReminderDeps.create(world.bot, storage.sessionmaker, settings, clock=clock)


def membership(person: Person, kicked: bool, at: datetime) -> Update:
    """The `my_chat_member` update Telegram sends when the person blocks the bot (the bot
    is `kicked` from their chat) or unblocks it (a `member` again)."""
    bot = User(id=BOT_USER.id, is_bot=True, first_name=BOT_USER.first_name)
    banned, member = ChatMemberBanned(user=bot, until_date=0), ChatMemberMember(user=bot)
    return Update(
        update_id=0,
        my_chat_member=ChatMemberUpdated(
            chat=person.chat,
            from_user=person.user,
            date=at,
            old_chat_member=member if kicked else banned,
            new_chat_member=banned if kicked else member,
        ),
    )


async def blocks(person: Person, at: datetime = BLOCKED_AT) -> list[SendMessage]:
    """The person blocks the bot: Telegram refuses sends and tells the bot so."""
    person.world.session.blocked.add(person.user.id)
    return await person.world.feed(person, membership(person, True, at))


async def unblocks(person: Person, at: datetime = BLOCKED_AT) -> list[SendMessage]:
    """The person unblocks the bot (or presses «Перезапустить»)."""
    person.world.session.blocked.discard(person.user.id)
    return await person.world.feed(person, membership(person, False, at))


async def unreachable_since(storage: Storage, telegram_id: int) -> datetime | None:
    stored = await stored_person(storage.sessionmaker, telegram_id)
    assert stored is not None
    return stored.unreachable_since


async def reminders_of(storage: Storage, telegram_id: int) -> list[tuple[str, str]]:
    """(kind, status) of every reminder claimed for the person."""
    stored = await stored_person(storage.sessionmaker, telegram_id)
    assert stored is not None
    async with storage.sessionmaker() as session:
        rows = await session.scalars(
            select(Reminder).where(Reminder.person_id == stored.id).order_by(Reminder.id)
        )
        return [(row.kind, row.status) for row in rows]


async def status_text(world: World) -> str:
    [reply] = await coordinator(world).send("/status")
    return reply.text


def test_the_dispatcher_asks_telegram_for_my_chat_member_updates(world: World) -> None:
    assert "my_chat_member" in world.dispatcher.resolve_used_update_types()


# --- a reminder refused with 403 ---------------------------------------------------------


async def test_a_reminder_refused_with_403_leaves_the_organisation_missing_and_visible(
    world: World, app_storage: Storage, settings: Settings, clock: Clock
) -> None:
    museum = await join(world, 1601, MUSEUM)
    theatre = await join(world, 1602, THEATRE)
    await status_text(world)  # the period being collected exists from here on
    period = await period_of(app_storage)
    world.session.blocked.add(museum.user.id)  # blocked, and Telegram has not told the bot
    clock.now = BEFORE_7

    first = await reminder_round(
        deps(world, app_storage, settings, clock), period.id, "before_7", now=BEFORE_7
    )
    status = await status_text(world)
    clock.now = BEFORE_3
    second = await reminder_round(
        deps(world, app_storage, settings, clock), period.id, "before_3", now=BEFORE_3
    )
    clock.now = MORNING_AFTER
    await digest(deps(world, app_storage, settings, clock), period.id, now=MORNING_AFTER)

    assert (first.sent, first.blocked) == (1, 1)
    stored = await stored_person(app_storage.sessionmaker, museum.user.id)
    assert stored is not None and stored.active and stored.unreachable_since == BEFORE_7
    assert (
        Periods.STATUS_SUMMARY.format(
            total=2, reported=0, events=0, late=0, nothing=0, missing=2, drafts=0
        )
        in status
    )
    assert Periods.STATUS_UNREACHABLE.format(people=1) in status.split("\n")
    assert Periods.LINE_MISSING.format(name=MUSEUM) + Periods.LINE_NOBODY_REACHABLE in status.split(
        "\n"
    )
    assert Periods.LINE_MISSING.format(name=THEATRE) in status.split("\n")
    # The next round skips the unreachable person: not even tried.
    assert (second.claimed, second.sent, second.blocked) == (1, 1, 0)
    assert await reminders_of(app_storage, museum.user.id) == [("before_7", "failed")]
    assert [kind for kind, _ in await reminders_of(app_storage, theatre.user.id)] == [
        "before_7",
        "before_3",
    ]
    lines = coordinator(world).last_text().split("\n")  # the digest
    assert Reminders.DIGEST_MISSING.format(count=2) in lines
    assert Reminders.DIGEST_LINE.format(organisation=MUSEUM) + Reminders.DIGEST_UNREACHABLE in lines
    assert Reminders.DIGEST_LINE.format(organisation=THEATRE) in lines


async def test_an_organisation_with_one_reporter_left_is_reminded_through_that_one(
    world: World, app_storage: Storage, settings: Settings, clock: Clock
) -> None:
    gone = await join(world, 1611, MUSEUM)
    staying = await join(world, 1612, MUSEUM)
    await blocks(gone)
    status = await status_text(world)
    period = await period_of(app_storage)

    result = await reminder_round(
        deps(world, app_storage, settings, clock), period.id, "before_7", now=BEFORE_7
    )

    line = Periods.LINE_MISSING.format(name=MUSEUM) + Periods.LINE_UNREACHABLE.format(
        unreachable=1, reporters=2
    )
    assert line in status.split("\n")
    assert (result.claimed, result.sent, result.blocked) == (1, 1, 0)
    assert len(staying.replies()) > 0 and "Напоминание" in staying.last_text()
    assert await reminders_of(app_storage, gone.user.id) == []


async def test_recovery_does_not_resend_to_a_person_found_unreachable_meanwhile(
    world: World, app_storage: Storage, settings: Settings, clock: Clock
) -> None:
    museum = await join(world, 1613, MUSEUM)
    await status_text(world)
    period = await period_of(app_storage)
    stored = await stored_person(app_storage.sessionmaker, museum.user.id)
    assert stored is not None
    async with app_storage.sessionmaker() as session, session.begin():  # a crash before sending
        await ReminderRepository(session).claim(
            stored.id, period.id, "before_7", stored.organisation_id, now=BEFORE_7
        )
    await blocks(museum)
    before = len(world.session.requests)

    result = await recover(deps(world, app_storage, settings, clock), now=BEFORE_7.replace(hour=9))

    assert result.claimed == 0 and len(world.session.requests) == before
    async with app_storage.sessionmaker() as session:
        [row] = await session.scalars(select(Reminder))
    assert (row.status, row.error) == ("failed", "unreachable")


async def test_remind_names_the_organisations_nobody_could_be_reminded_in(
    world: World, app_storage: Storage, settings: Settings, clock: Clock
) -> None:
    museum = await join(world, 1614, MUSEUM)
    theatre = await join(world, 1615, THEATRE)
    await blocks(museum)
    reminders = deps(world, app_storage, settings, clock)

    async def now(period_id: int, organisation_ids: object = None) -> object:
        return await remind_now(reminders, period_id, now=clock())

    world.dispatcher["remind_now"] = now

    [reply] = await coordinator(world).send("/remind")

    assert reply.text == "\n".join(
        [
            Periods.REMIND_DONE.format(period="IV квартал 2023 года", organisations=1, people=1),
            Periods.REMIND_UNREACHABLE,
            f"• {MUSEUM}",
        ]
    )
    assert "Координатор напоминает" in theatre.last_text()
    assert await reminders_of(app_storage, museum.user.id) == []


# --- my_chat_member ----------------------------------------------------------------------


async def test_blocking_and_unblocking_the_bot_is_shown_in_people(
    world: World, app_storage: Storage
) -> None:
    museum = await join(world, 1621, MUSEUM)
    desk = coordinator(world)

    said_on_block = await blocks(museum)
    [while_blocked] = await desk.send(f"/people {MUSEUM}")
    since = await unreachable_since(app_storage, museum.user.id)
    said_on_unblock = await unblocks(museum)
    [after] = await desk.send(f"/people {MUSEUM}")

    assert said_on_block == [] and said_on_unblock == []
    assert since == BLOCKED_AT
    assert while_blocked.text.endswith(Desk.UNREACHABLE_MARK.format(since="21.11.2023"))
    assert "1621" in while_blocked.text
    assert Desk.UNREACHABLE_MARK.split("{")[0] not in after.text
    assert await unreachable_since(app_storage, museum.user.id) is None


async def test_a_block_in_a_group_is_not_the_persons_chat(
    world: World, app_storage: Storage
) -> None:
    museum = await join(world, 1622, MUSEUM)
    update = membership(museum, True, BLOCKED_AT)
    assert update.my_chat_member is not None
    group = update.my_chat_member.chat.model_copy(update={"id": -100123, "type": "supergroup"})
    group_update = update.model_copy(
        update={"my_chat_member": update.my_chat_member.model_copy(update={"chat": group})}
    )

    await world.feed(museum, group_update)

    assert await unreachable_since(app_storage, museum.user.id) is None


# --- coming back -------------------------------------------------------------------------


async def test_a_person_who_blocked_the_bot_and_writes_again_is_recognised(
    world: World, app_storage: Storage, settings: Settings, clock: Clock
) -> None:
    museum = await join(world, 1631, MUSEUM)
    await blocks(museum)
    world.session.blocked.discard(museum.user.id)  # unblocked by writing: no update says so

    [greeting] = await museum.send("/start")
    await status_text(world)
    period = await period_of(app_storage)
    result = await reminder_round(
        deps(world, app_storage, settings, clock), period.id, "before_7", now=BEFORE_7
    )

    assert greeting.text == Common.START_KNOWN.format(name="Иванова Мария Петровна")
    assert await unreachable_since(app_storage, museum.user.id) is None
    assert (result.sent, result.blocked) == (1, 0)
    assert "Напоминание" in museum.last_text()


async def test_a_button_pressed_after_coming_back_makes_the_person_reachable(
    world: World, app_storage: Storage
) -> None:
    museum = await join(world, 1632, MUSEUM)
    await museum.send("/new")
    await blocks(museum)
    world.session.blocked.discard(museum.user.id)

    replies = await museum.press("Сотрудничество в сфере культуры и туризма")

    assert replies and Common.STRANGER not in replies[-1].text
    assert await unreachable_since(app_storage, museum.user.id) is None


async def test_a_person_a_coordinator_deactivated_stays_refused_after_unblocking(
    world: World, app_storage: Storage
) -> None:
    museum = await join(world, 1633, MUSEUM)
    desk = coordinator(world)
    await desk.send("/deactivate 1633")
    await desk.press(Desk.DEACTIVATE_YES)
    await blocks(museum)
    await unblocks(museum)

    [refused] = await museum.send("/start")
    [refused_again] = await museum.send("Здравствуйте, я вернулась")

    told = Common.stranger(museum.user.id)
    assert refused.text == told and refused_again.text == told
    stored = await stored_person(app_storage.sessionmaker, museum.user.id)
    assert stored is not None and not stored.active


# --- drafts ------------------------------------------------------------------------------


async def test_the_draft_of_an_unreachable_person_is_not_counted_as_being_filled_in(
    world: World, app_storage: Storage
) -> None:
    museum = await join(world, 1641, MUSEUM)
    await reach(museum, "place")
    drafting = await status_text(world)

    await blocks(museum)
    blocked = await status_text(world)
    world.session.blocked.discard(museum.user.id)
    await museum.send("г. Минск, Республика Беларусь")  # goes on with the draft
    back = await status_text(world)

    line = Periods.LINE_MISSING.format(name=MUSEUM)
    assert line + Periods.LINE_DRAFTS.format(drafts=1) in drafting.split("\n")
    assert "заполняют сейчас: 0" in blocked
    assert line + Periods.LINE_NOBODY_REACHABLE in blocked.split("\n")
    assert (await fsm_of(app_storage.sessionmaker, museum.user.id)) is not None  # kept
    assert line + Periods.LINE_DRAFTS.format(drafts=1) in back.split("\n")


# --- a 403 on a reply --------------------------------------------------------------------


async def test_a_403_on_the_reply_to_the_persons_own_message_ends_the_update_quietly(
    world: World, app_storage: Storage, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    museum = await join(world, 1651, MUSEUM)
    await reach(museum, "name")
    world.session.blocked.add(museum.user.id)  # blocked right after sending the answer

    with caplog.at_level(logging.INFO):
        replies = await museum.send("Выставка «Смоленск – Минск»")

    assert replies == []
    assert await unreachable_since(app_storage, museum.user.id) == clock.now
    row = await fsm_of(app_storage.sessionmaker, museum.user.id)
    assert row is not None and row.state == "ReportStates:place"  # the answer was saved
    assert row.data["draft"]["name"] == "Выставка «Смоленск – Минск»"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    world.session.blocked.discard(museum.user.id)
    [next_question] = await museum.send("г. Минск, Республика Беларусь")
    assert "Когда проходило" in next_question.text


async def test_a_403_on_the_reply_to_a_coordinators_button_keeps_the_change_it_made(
    world: World, app_storage: Storage
) -> None:
    museum = await join(world, 1652, MUSEUM)
    desk = coordinator(world)
    await desk.send("/deactivate 1652")
    world.session.blocked.add(COORDINATOR_ID)

    await desk.press(Desk.DEACTIVATE_YES)

    assert await unreachable_since(app_storage, COORDINATOR_ID) is not None
    assert await unreachable_since(app_storage, museum.user.id) is None
    stored = await stored_person(app_storage.sessionmaker, museum.user.id)
    assert stored is not None and not stored.active  # committed before the reply


async def test_the_digest_skips_an_unreachable_coordinator(
    world: World, app_storage: Storage, settings: Settings, clock: Clock
) -> None:
    await join(world, 1661, MUSEUM)
    desk = coordinator(world)
    await status_text(world)
    period = await period_of(app_storage)
    await blocks(desk)

    result = await digest(deps(world, app_storage, settings, clock), period.id, now=MORNING_AFTER)

    assert (result.claimed, result.blocked) == (0, 0)


# --- the migration of people a 403 made inactive -----------------------------------------


def downgrade(connection: sa.Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_the_migration_gives_people_a_403_made_inactive_their_membership_back(
    engine: AsyncEngine,
) -> None:
    blocked_at = datetime(2023, 12, 29, 7, 0, tzinfo=UTC)
    later = datetime(2024, 1, 2, 7, 0, tzinfo=UTC)
    old_people = sa.table(  # `people` as revision 0004 had it
        "people",
        *(sa.column(name) for name in ("id", "telegram_id", "full_name", "role", "active")),
        sa.column("created_at", UTCDateTime()),
    )
    async with engine.begin() as connection:  # the fixture's database is at head
        await connection.run_sync(downgrade, "0004")
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(ReportingPeriod.__table__),
            [{"id": 1, "year": 2023, "quarter": 4, "deadline": later, "status": "open"} | AT],
        )
        await connection.execute(sa.insert(Sphere.__table__), [{"id": 1, "name": "Спорт"}])
        await connection.execute(
            sa.insert(Organisation.__table__), [{"id": 1, "name": MUSEUM} | AT]
        )
        await connection.execute(
            sa.insert(old_people),
            [
                {"id": n, "telegram_id": 1700 + n, "full_name": f"Сотрудник {n}"}
                | {"role": "reporter", "active": active}
                | AT
                for n, active in ((1, False), (2, False), (3, False), (4, False), (5, True))
            ],
        )
        reminder = {"period_id": 1, "organisation_id": 1, "attempts": 1}
        await connection.execute(
            sa.insert(Reminder.__table__),
            [
                # 1: blocked, nothing since: the 403 made them inactive
                reminder
                | {"person_id": 1, "kind": "before_7", "status": "failed"}
                | {"error": "blocked", "created_at": blocked_at},
                # 2: no blocked reminder: deactivated by a coordinator
                reminder
                | {"person_id": 2, "kind": "before_7", "status": "sent"}
                | {"error": None, "created_at": blocked_at},
                # 3: blocked, then reached again (came back), then deactivated
                reminder
                | {"person_id": 3, "kind": "before_7", "status": "failed"}
                | {"error": "blocked", "created_at": blocked_at},
                reminder
                | {"person_id": 3, "kind": "before_3", "status": "sent"}
                | {"error": None, "created_at": later},
                # 4: blocked, then wrote an event (came back), then deactivated
                reminder
                | {"person_id": 4, "kind": "before_7", "status": "failed"}
                | {"error": "blocked", "created_at": blocked_at},
            ],
        )
        event = {
            "period_id": 1,
            "organisation_id": 1,
            "author_id": 4,
            "sphere_id": 1,
            "name": "Турнир",
            "place": "г. Смоленск",
            "start_date": date(2023, 12, 30),
            "end_date": date(2023, 12, 30),
            "precision": "day",
            "result": "Проведён.",
            "participants": "Сотрудники",
            "status": "submitted",
            "created_at": later,
            "updated_at": later,
        }
        old_events = sa.table(  # only the columns revision 0004 had (the model has more)
            "events",
            *(sa.column(name) for name in event if not name.endswith(("_date", "_at"))),
            *(sa.column(name, sa.Date()) for name in ("start_date", "end_date")),
            *(sa.column(name, UTCDateTime()) for name in ("created_at", "updated_at")),
        )
        await connection.execute(sa.insert(old_events), [event])

    await upgrade_database(engine)

    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(PersonRow.id, PersonRow.active, PersonRow.unreachable_since).order_by(
                PersonRow.id
            )
        )
        people = [tuple(row) for row in rows]
    assert people == [
        (1, True, blocked_at),
        (2, False, None),
        (3, False, None),
        (4, False, None),
        (5, True, None),
    ]
    async with engine.begin() as connection:  # and back: unreachable is inactive there
        await connection.run_sync(downgrade, "0004")
        active = await connection.scalars(sa.select(old_people.c.active).order_by(old_people.c.id))
        assert [bool(value) for value in active] == [False, False, False, False, True]
