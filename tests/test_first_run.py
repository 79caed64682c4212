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
from handlers.texts import Common, Join
from storage.repositories import PersonRepository
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


async def test_a_coordinator_from_the_settings_is_asked_their_name_once(
    world: World, app_storage: Storage
) -> None:
    coordinator = world.person(COORDINATOR_ID, "Ольга")

    [asked] = await coordinator.send("/start")
    [thanks] = await coordinator.send("Петрова Ольга Ивановна")
    [greeting] = await coordinator.send("/start")

    assert asked.text == Join.ASK_OWN_NAME
    assert thanks.text == Join.RENAMED.format(name="Петрова Ольга Ивановна")
    assert greeting.text == Common.START_KNOWN.format(name="Петрова Ольга Ивановна")
    stored = await stored_person(app_storage.sessionmaker, COORDINATOR_ID)
    assert stored is not None and stored.full_name == "Петрова Ольга Ивановна"


async def test_a_coordinators_menu_is_set_at_their_first_update_once(world: World) -> None:
    coordinator = world.person(COORDINATOR_ID, "Ольга")

    await coordinator.send("/help")
    await coordinator.send("/help")

    [menu] = coordinator.commands_menus()
    assert menu.scope == BotCommandScopeChat(chat_id=COORDINATOR_ID)


async def test_a_person_corrects_their_name_but_not_over_a_draft(
    world: World, app_storage: Storage
) -> None:
    from tests.test_dialogue import join

    person = await join(world, 1301)
    await reach(person, "name")

    [refused] = await person.send("/name")
    state_kept = await person.send("Выставка")
    await person.send("/cancel")
    await person.press("Да, удалить")
    [asked] = await person.send("/name")
    [thanks] = await person.send("Иванова-Петрова Мария Петровна")

    assert refused.text == Join.NAME_AFTER_DIALOGUE
    assert state_kept, "the dialogue goes on at its step"
    assert asked.text == Join.ASK_OWN_NAME
    assert thanks.text == Join.RENAMED.format(name="Иванова-Петрова Мария Петровна")
    async with app_storage.sessionmaker() as session:
        stored = await PersonRepository(session).by_telegram_id(1301)
    assert stored is not None and stored.full_name == "Иванова-Петрова Мария Петровна"
