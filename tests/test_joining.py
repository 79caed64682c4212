"""Who may report: join links, expired and revoked codes, strangers, coordinators, menus."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiogram.methods import SetMyCommands
from aiogram.types import BotCommandScopeChat, BotCommandScopeDefault
from sqlalchemy import select, update

from bot.database import Storage
from handlers.commands import COORDINATOR_COMMANDS, REPORTER_COMMANDS, setup_commands
from handlers.texts import Common, Desk, Join
from storage.models import Counter, JoinCode, utcnow
from storage.repositories.access import STRANGER_REFUSALS, name_asked
from tests.conftest import COORDINATOR_ID, NOW
from tests.factories import help_shown
from tests.test_dialogue import LINK, fill_event, join
from tests.tg import NON_TEXT_UPDATES, World, counter, fsm_of, stored_person

MUSEUM = "Смоленский музей"
NAME = "Петров Пётр Петрович"


async def new_code(world: World, organisation: str = MUSEUM) -> str:
    """The code of a fresh join link the coordinator asks for."""
    coordinator = world.person(COORDINATOR_ID, "Координатор")
    [reply] = await coordinator.send(f"/neworg {organisation}")
    found = LINK.search(reply.text)
    assert found is not None
    return found.group(1)


async def code_row(storage: Storage, code: str) -> JoinCode:
    async with storage.sessionmaker() as session:
        row = await session.scalar(select(JoinCode).where(JoinCode.code == code))
    assert row is not None
    return row


async def expire(storage: Storage, code: str) -> None:
    """Move a code's expiry into the past (expiry is checked against real time)."""
    async with storage.sessionmaker() as session, session.begin():
        await session.execute(
            update(JoinCode)
            .where(JoinCode.code == code)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )


# --- joining -----------------------------------------------------------------------------


async def test_a_join_link_asks_for_the_name_and_registers_a_reporter(
    world: World, app_storage: Storage
) -> None:
    code = await new_code(world)
    person = world.person(1001)

    [asked] = await person.send(f"/start {code}")
    [welcome] = await person.send(f"  {NAME} ")

    assert asked.text == Join.ASK_NAME.format(organisation=MUSEUM)
    assert welcome.text == Join.WELCOME.format(name=NAME, organisation=MUSEUM)
    stored = await stored_person(app_storage.sessionmaker, 1001)
    assert stored is not None
    assert (stored.full_name, stored.role, stored.active) == (NAME, "reporter", True)
    row = await code_row(app_storage, code)
    assert stored.organisation_id == row.organisation_id and row.uses == 1
    assert await fsm_of(app_storage.sessionmaker, 1001) is None


async def test_a_joined_person_may_report(world: World, app_storage: Storage) -> None:
    person = await join(world, 1002)

    [question] = await person.send("/new")

    assert "Шаг 1 из 7" in question.text


async def test_one_link_serves_several_colleagues(world: World, app_storage: Storage) -> None:
    code = await new_code(world)

    for user_id in (1003, 1004):
        await world.person(user_id).send(f"/start {code}")
        await world.person(user_id).send(NAME)

    first = await stored_person(app_storage.sessionmaker, 1003)
    second = await stored_person(app_storage.sessionmaker, 1004)
    assert first is not None and second is not None
    assert first.organisation_id == second.organisation_id
    assert (await code_row(app_storage, code)).uses == 2


async def test_markup_in_the_name_is_shown_literally(world: World) -> None:
    code = await new_code(world, "<b>Музей</b>")
    person = world.person(1005)

    [asked] = await person.send(f"/start {code}")
    [welcome] = await person.send("<i>Петров</i> Пётр")

    assert "«&lt;b&gt;Музей&lt;/b&gt;»" in asked.text
    assert "&lt;i&gt;Петров&lt;/i&gt; Пётр" in welcome.text


@pytest.mark.parametrize("answer", ["photo", "blank", "too long"])
async def test_a_name_that_is_not_usable_is_asked_again(
    world: World, app_storage: Storage, answer: str
) -> None:
    code = await new_code(world)
    person = world.person(1006)
    await person.send(f"/start {code}")

    if answer == "photo":
        [reply] = await person.send_update(**NON_TEXT_UPDATES["photo"])
    else:
        [reply] = await person.send(" \n " if answer == "blank" else "я" * 201)
    await person.send(NAME)

    assert reply.text == Join.BAD_NAME.format(limit=200)
    stored = await stored_person(app_storage.sessionmaker, 1006)
    assert stored is not None and stored.full_name == NAME


async def test_slash_cancel_leaves_joining(world: World, app_storage: Storage) -> None:
    code = await new_code(world)
    person = world.person(1007)
    await person.send(f"/start {code}")

    [reply] = await person.send("/cancel")

    assert reply.text == Join.CANCELLED
    assert await fsm_of(app_storage.sessionmaker, 1007) is None
    assert await stored_person(app_storage.sessionmaker, 1007) is None


# --- codes that no longer work -----------------------------------------------------------


async def test_an_expired_code_is_refused(world: World, app_storage: Storage) -> None:
    code = await new_code(world)
    await expire(app_storage, code)
    person = world.person(1008)

    [reply] = await person.send(f"/start {code}")

    assert reply.text == Join.bad_code(person.user.id)
    assert await stored_person(app_storage.sessionmaker, 1008) is None
    assert await fsm_of(app_storage.sessionmaker, 1008) is None
    assert await counter(app_storage.sessionmaker, STRANGER_REFUSALS) == 1


async def test_a_code_expiring_before_the_name_is_given_is_refused(
    world: World, app_storage: Storage
) -> None:
    code = await new_code(world)
    person = world.person(1009)
    await person.send(f"/start {code}")
    await expire(app_storage, code)

    [reply] = await person.send(NAME)

    assert reply.text == Join.bad_code(person.user.id)
    assert await stored_person(app_storage.sessionmaker, 1009) is None
    assert await fsm_of(app_storage.sessionmaker, 1009) is None


async def test_a_revoked_code_is_refused(world: World, app_storage: Storage) -> None:
    code = await new_code(world)
    coordinator = world.person(COORDINATOR_ID)
    person = world.person(1010)

    [revoked] = await coordinator.send(f"/revoke {code}")
    [reply] = await person.send(f"/start {code}")

    assert revoked.text == Desk.REVOKED
    assert reply.text == Join.bad_code(person.user.id)
    assert await stored_person(app_storage.sessionmaker, 1010) is None


async def test_a_code_revoked_before_the_name_is_given_is_refused(
    world: World, app_storage: Storage
) -> None:
    code = await new_code(world)
    person = world.person(1011)
    await person.send(f"/start {code}")
    await world.person(COORDINATOR_ID).send(f"/revoke {code}")

    [reply] = await person.send(NAME)

    assert reply.text == Join.bad_code(person.user.id)
    assert await stored_person(app_storage.sessionmaker, 1011) is None


async def test_an_unknown_code_is_refused(world: World, app_storage: Storage) -> None:
    person = world.person(1012)

    [reply] = await person.send("/start no-such-code")

    assert reply.text == Join.bad_code(person.user.id)
    assert await stored_person(app_storage.sessionmaker, 1012) is None
    assert await counter(app_storage.sessionmaker, STRANGER_REFUSALS) == 1


async def test_a_registered_person_opening_a_link_stays_where_they_are(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1013)
    before = await stored_person(app_storage.sessionmaker, 1013)
    code = await new_code(world, "Смоленский театр")

    [reply] = await person.send(f"/start {code}")

    assert reply.text == Join.ALREADY.format(organisation=MUSEUM)
    after = await stored_person(app_storage.sessionmaker, 1013)
    assert before is not None and after is not None
    assert after.organisation_id == before.organisation_id
    assert (await code_row(app_storage, code)).uses == 0


# --- strangers ---------------------------------------------------------------------------


async def test_a_stranger_is_refused_politely_and_only_counted(
    world: World, app_storage: Storage
) -> None:
    stranger = world.person(1014)

    replies = [
        *await stranger.send("Здравствуйте"),
        *await stranger.send("/start"),
        *await stranger.send("/new"),
        *await stranger.send("/my"),
        *await stranger.send("/report 2023-Q4"),
        *await stranger.send("/cancel"),
        *await stranger.send_update(**NON_TEXT_UPDATES["sticker"]),
    ]

    assert [reply.text for reply in replies] == [Common.stranger(stranger.user.id)] * 7
    assert await counter(app_storage.sessionmaker, STRANGER_REFUSALS) == 7
    assert await stored_person(app_storage.sessionmaker, 1014) is None
    assert await fsm_of(app_storage.sessionmaker, 1014) is None
    coordinator = await stored_person(app_storage.sessionmaker, COORDINATOR_ID)
    assert coordinator is not None
    async with app_storage.sessionmaker() as session:
        names = set(await session.scalars(select(Counter.name)))
    assert names == {STRANGER_REFUSALS, name_asked(coordinator.id)}, "the coordinator's only"


# --- coordinators ------------------------------------------------------------------------


async def test_coordinators_come_from_the_settings(world: World, app_storage: Storage) -> None:
    coordinator = world.person(COORDINATOR_ID)

    [reply] = await coordinator.send("/report")

    stored = await stored_person(app_storage.sessionmaker, COORDINATOR_ID)
    assert stored is not None and stored.role == "coordinator"
    assert reply.text == Desk.NO_PERIODS


async def test_a_coordinator_makes_a_reporter_a_coordinator(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1015)
    await fill_event(person)
    await person.press("✅ Отправить")
    [refused] = await person.send("/report 2023-Q4")

    [done] = await world.person(COORDINATOR_ID).send("/coordinator 1015")
    await person.send("/report 2023-Q4")

    assert refused.text == Common.COORDINATOR_ONLY
    assert done.text == Desk.COORD_DONE.format(name="Иванова Мария Петровна")
    stored = await stored_person(app_storage.sessionmaker, 1015)
    assert stored is not None and stored.role == "coordinator"
    [menu] = person.commands_menus()
    assert menu.scope == BotCommandScopeChat(chat_id=1015)
    assert [c.command for c in menu.commands] == [name for name, _ in COORDINATOR_COMMANDS]
    [document] = person.documents()
    assert document.document.filename == "report_2023_Q4.docx"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "told"),
    [
        ("", Desk.COORD_USAGE),
        ("Иванов", Desk.COORD_USAGE),
        ("-5", Desk.COORD_USAGE),
        ("777", Desk.COORD_NOT_FOUND.format(id=777)),
    ],
)
async def test_coordinator_needs_the_id_of_a_registered_person(
    world: World, app_storage: Storage, args: str, told: str
) -> None:
    coordinator = world.person(COORDINATOR_ID)

    [reply] = await coordinator.send(f"/coordinator {args}".strip())

    assert reply.text == told
    assert await stored_person(app_storage.sessionmaker, 777) is None


async def test_a_reporter_cannot_make_coordinators(world: World, app_storage: Storage) -> None:
    anna, boris = await join(world, 1016), await join(world, 1017)

    [reply] = await anna.send("/coordinator 1017")

    assert reply.text == Common.COORDINATOR_ONLY
    stored = await stored_person(app_storage.sessionmaker, 1017)
    assert stored is not None and stored.role == "reporter"
    assert boris.commands_menus() == []


# --- help and menus per role -------------------------------------------------------------


async def test_help_is_given_per_role(world: World) -> None:
    reporter = await join(world, 1018)

    [for_reporter] = await reporter.send("/help")
    [for_coordinator] = await world.person(COORDINATOR_ID).send("/help")

    assert for_reporter.text == help_shown(NOW)
    assert for_coordinator.text == help_shown(NOW, coordinator=True)
    assert "/report" not in for_reporter.text and "/report" in for_coordinator.text


async def test_the_commands_menu_is_set_per_role(world: World) -> None:
    await setup_commands(world.bot, [COORDINATOR_ID])

    menus = [r for r in world.session.requests if isinstance(r, SetMyCommands)]
    [everyone, coordinator] = menus
    assert everyone.scope == BotCommandScopeDefault()
    assert [c.command for c in everyone.commands] == [name for name, _ in REPORTER_COMMANDS]
    assert coordinator.scope == BotCommandScopeChat(chat_id=COORDINATOR_ID)
    assert {"report", "neworg", "coordinator"} <= {c.command for c in coordinator.commands}
