"""The first run: no coordinator yet, a one-time setup link; coordinators' names and menus."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiogram.types import BotCommandScopeChat

from bot.app import announce_setup_link, build_bot, build_dispatcher
from bot.database import Storage, open_storage
from bot.settings import Settings
from handlers.commands import COORDINATOR_COMMANDS
from handlers.texts import Common, Dialogue, Join
from storage.repositories import CounterRepository, PersonRepository
from storage.repositories.access import name_asked
from tests.conftest import COORDINATOR_ID, NOW, Clock
from tests.factories import help_shown
from tests.tg import RecordingSession, World, reach, stored_person

SETUP_LINK = re.compile(r"https://t\.me/report_test_bot\?start=([\w-]+)")


@pytest.fixture
async def first_run(settings: Settings, clock: Clock) -> AsyncIterator[tuple[World, Storage]]:
    """The real Dispatcher on a fresh database, started without COORDINATOR_IDS."""
    settings = settings.model_copy(update={"coordinator_ids": []})
    storage = await open_storage(settings)
    session = RecordingSession()
    bot = build_bot(settings, session=session)
    world = World(build_dispatcher(settings, storage, clock=clock), bot, session)
    yield world, storage
    await bot.session.close()
    await storage.close()


async def test_the_setup_link_makes_the_first_coordinator_once(
    first_run: tuple[World, Storage], settings: Settings
) -> None:
    world, storage = first_run
    settings = settings.model_copy(update={"coordinator_ids": []})

    link = await announce_setup_link(world.bot, storage, settings)
    again = await announce_setup_link(world.bot, storage, settings)
    assert link is not None and again == link, "the same code until it is spent"
    code = SETUP_LINK.fullmatch(link).group(1)  # type: ignore[union-attr]
    olga, stranger = world.person(501, "Ольга"), world.person(502, "Пётр")
    [asked] = await olga.send(f"/start {code}")
    [one_word] = await olga.send("Ольга")
    [welcome] = await olga.send("Петрова Ольга Ивановна")
    [late] = await stranger.send(f"/start {code}")
    [help_] = await olga.send("/help")
    after = await announce_setup_link(world.bot, storage, settings)

    assert asked.text == Join.SETUP_ASK_NAME
    assert one_word.text == Join.BAD_NAME.format(limit=200)
    assert welcome.text == Join.SETUP_WELCOME.format(name="Петрова Ольга Ивановна")
    assert late.text == Join.bad_code(502)
    assert help_.text == help_shown(NOW, coordinator=True)
    assert after is None, "no link once there is a coordinator"
    stored = await stored_person(storage.sessionmaker, 501)
    assert stored is not None and stored.role == "coordinator"
    assert stored.full_name == "Петрова Ольга Ивановна"
    assert await stored_person(storage.sessionmaker, 502) is None
    [menu] = olga.commands_menus()
    assert menu.scope == BotCommandScopeChat(chat_id=501)
    assert [c.command for c in menu.commands] == [name for name, _ in COORDINATOR_COMMANDS]


async def test_no_setup_link_when_coordinator_ids_are_set(
    world: World, app_storage: Storage, settings: Settings
) -> None:
    assert settings.coordinator_ids == [COORDINATOR_ID]

    assert await announce_setup_link(world.bot, app_storage, settings) is None


@pytest.fixture
async def newcomer(settings: Settings, clock: Clock) -> AsyncIterator[tuple[World, Storage]]:
    """The real Dispatcher; the coordinator from COORDINATOR_IDS has never written to it."""
    storage = await open_storage(settings)
    session = RecordingSession()
    bot = build_bot(settings, session=session)
    world = World(build_dispatcher(settings, storage, clock=clock), bot, session)
    yield world, storage
    await bot.session.close()
    await storage.close()


ASKED_AFTER = Join.ASK_NAME_AFTER.format(name=f"Координатор {COORDINATOR_ID}")


async def test_a_coordinator_from_the_settings_is_asked_their_name_once(
    newcomer: tuple[World, Storage],
) -> None:
    world, storage = newcomer
    coordinator = world.person(COORDINATOR_ID, "Ольга")

    [asked] = await coordinator.send("/start")
    [thanks] = await coordinator.send("Петрова Ольга Ивановна")
    [greeting] = await coordinator.send("/start")

    assert asked.text == Join.ASK_OWN_NAME
    assert thanks.text == Join.RENAMED.format(name="Петрова Ольга Ивановна")
    assert greeting.text == Common.START_KNOWN.format(name="Петрова Ольга Ивановна")
    stored = await stored_person(storage.sessionmaker, COORDINATOR_ID)
    assert stored is not None and stored.full_name == "Петрова Ольга Ивановна"


@pytest.mark.parametrize("first", ["/status", "/report", "/help", "Здравствуйте"])
async def test_a_coordinators_first_message_is_answered_then_their_name_is_asked_once(
    newcomer: tuple[World, Storage], first: str
) -> None:
    world, _ = newcomer
    coordinator = world.person(COORDINATOR_ID, "Ольга")

    [answer, asked] = await coordinator.send(first)
    [again] = await coordinator.send(first)
    [name_step] = await coordinator.send("/name")
    [thanks] = await coordinator.send("Петрова Ольга Ивановна")
    [after] = await coordinator.send("/help")

    assert answer.text == again.text, "their message is handled as it would be anyway"
    assert asked.text == ASKED_AFTER
    assert name_step.text == Join.ASK_OWN_NAME
    assert thanks.text == Join.RENAMED.format(name="Петрова Ольга Ивановна")
    assert after.text == help_shown(NOW, coordinator=True)


async def test_a_coordinators_first_button_is_answered_then_their_name_is_asked(
    newcomer: tuple[World, Storage],
) -> None:
    world, _ = newcomer
    coordinator = world.person(COORDINATOR_ID, "Ольга")

    [asked] = await coordinator.press_data("stale:button")
    later = await coordinator.press_data("stale:button")

    assert asked.text == ASKED_AFTER
    assert later == []
    assert len(coordinator.answers()) == 2, "each press answered as usual"


async def test_a_coordinator_who_leaves_the_name_step_is_not_asked_again(
    newcomer: tuple[World, Storage],
) -> None:
    world, _ = newcomer
    coordinator = world.person(COORDINATOR_ID, "Ольга")

    [asked] = await coordinator.send("/start")
    [not_a_name] = await coordinator.send("/status")
    [cancelled] = await coordinator.send("/cancel")
    status = await coordinator.send("/status")
    [greeting] = await coordinator.send("/start")

    assert asked.text == Join.ASK_OWN_NAME
    assert not_a_name.text == Join.BAD_NAME.format(limit=200)
    assert cancelled.text == Join.RENAME_CANCELLED
    assert len(status) == 1 and status[0].text != ASKED_AFTER
    assert greeting.text == Common.START_KNOWN.format(name=f"Координатор {COORDINATOR_ID}")


async def test_a_coordinator_is_asked_their_name_once_across_a_restart(
    newcomer: tuple[World, Storage], settings: Settings, clock: Clock
) -> None:
    world, _ = newcomer
    coordinator = world.person(COORDINATOR_ID, "Ольга")
    first = await coordinator.send("/help")

    restarted = await open_storage(settings)  # a new process on the same database file
    try:
        world.dispatcher = build_dispatcher(settings, restarted, clock=clock)
        second = await coordinator.send("/help")
    finally:
        await restarted.close()

    assert [reply.text for reply in first] == [help_shown(NOW, coordinator=True), ASKED_AFTER]
    assert [reply.text for reply in second] == [help_shown(NOW, coordinator=True)]


async def test_a_coordinator_in_a_dialogue_is_asked_their_name_once_out_of_it(
    newcomer: tuple[World, Storage],
) -> None:
    world, storage = newcomer
    coordinator = world.person(COORDINATOR_ID, "Ольга")

    await reach(coordinator, "name")  # their first message is /new
    [_events] = await coordinator.send("/my")
    [step_3] = await coordinator.send("Выставка")
    in_the_dialogue = [reply.text for reply in coordinator.replies()]
    [_confirm] = await coordinator.send("/cancel")
    [deleted, asked] = await coordinator.press(Dialogue.DROP_YES)

    assert ASKED_AFTER not in in_the_dialogue, "nothing said in the middle of a draft"
    assert step_3.text is not None and step_3.text.startswith(Dialogue.STEP.format(number=3))
    assert deleted.text == Dialogue.CANCELLED
    assert asked.text == ASKED_AFTER
    async with storage.sessionmaker() as session:
        person = await PersonRepository(session).by_telegram_id(COORDINATOR_ID)
        assert person is not None
        assert await CounterRepository(session).value(name_asked(person.id)) == 1
