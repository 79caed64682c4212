"""Personal data: the notice at joining, a coordinator's erasure and export of one person,
access by role, and logs that never hold what people typed."""

from __future__ import annotations

import logging
from io import BytesIO

import pytest
from aiogram.methods import DeleteMyCommands, SendDocument
from aiogram.types import BotCommandScopeChat, BufferedInputFile
from docx import Document
from sqlalchemy import select

from bot.database import Storage
from handlers.texts import Common, Desk, Dialogue, Join
from storage.models import Organisation, OutboxMessage
from storage.models import Person as PersonRow
from tests import factories
from tests.conftest import COORDINATOR_ID, NOW
from tests.telegram_rules import Refusal, bad_request, blocked, html_to_text
from tests.test_access import database
from tests.test_dialogue import LINK, fill_event, join
from tests.tg import Person, World, fsm_of, stored_events


def docx_text(document: SendDocument) -> str:
    """Every table cell's text of a sent .docx."""
    assert isinstance(document.document, BufferedInputFile)
    tables = Document(BytesIO(document.document.data)).tables
    return "\n".join(cell.text for table in tables for row in table.rows for cell in row.cells)


# Distinctive enough that any trace of them in a log record is a leak.
ORGANISATION = "Музей Квазиуникальный"
FULL_NAME = "Прасковья Шмидт-Неповторимова"
EVENT = {
    "name": "Выставка Зеркальнолунная",
    "place": "г. Ыгыдымск, Республика Небывалия",
    "result": "Подписано соглашение Тридесятое.",
    "participants": "Делегация Тридевятая, общее количество участников – 18 человек",
}
STRANGER_TEXT = "Здравствуйте, я Аграфена Незнакомкина"


def _every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


async def test_the_logs_of_a_whole_dialogue_hold_no_text_name_or_organisation(
    world: World, app_storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    _every_logger_at_debug(caplog)
    coordinator = world.person(COORDINATOR_ID, "Координатор")
    await coordinator.send("/start")
    await coordinator.send("Координатор Областной Главный")
    [reply] = await coordinator.send(f"/neworg {ORGANISATION}")
    code = LINK.search(reply.text).group(1)  # type: ignore[union-attr]
    person = world.person(701, "Прасковья")
    await person.send(f"/start {code}")
    await person.send(FULL_NAME)
    await person.send("/new")
    await person.press("Сотрудничество в сфере культуры и туризма")
    await person.send(EVENT["name"])
    await person.send(EVENT["place"])
    await person.send("26-27 октября 2023")
    await person.press("✔ Верно")
    await person.send(EVENT["result"])
    await person.send(EVENT["participants"])
    await person.press("IV квартал 2023 года")
    await person.press(Dialogue.SUBMIT)
    await person.send("/my")
    await person.send("Непонятное сообщение Шмидтовское")
    await world.person(999, "Аграфена").send(STRANGER_TEXT)
    await coordinator.send(f"/people {ORGANISATION}")
    await coordinator.send("/report 2023-Q4")
    await coordinator.send("/status")
    await coordinator.send("/persondata 701")
    await coordinator.send("/erase 701")
    await coordinator.press(Desk.ERASE_YES)

    secrets = [ORGANISATION, FULL_NAME, *EVENT.values(), STRANGER_TEXT, "Шмидтовское"]
    secrets += ["Координатор Областной", "Квазиуникальн", "Неповторимова", "Зеркальнолунн"]
    [event] = await stored_events(app_storage.sessionmaker)
    assert (event.name, event.place) == (EVENT["name"], EVENT["place"])  # the dialogue ran
    assert coordinator.documents()  # and the report went out
    assert coordinator.last_text().startswith("Персональные данные удалены")
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert len(caplog.records) > 100  # the loggers did speak
    leaks = []
    for record in caplog.records:
        shown = record.getMessage() + (record.exc_text or "") + repr(record.args)
        leaks += [f"{record.name}: {secret}" for secret in secrets if secret in shown]
    assert leaks == []


# --- the notice at joining ---------------------------------------------------------------


async def test_joining_says_what_is_kept_and_why_before_the_name_is_asked(world: World) -> None:
    coordinator = world.person(COORDINATOR_ID, "Координатор")
    [reply] = await coordinator.send(f"/neworg {ORGANISATION}")
    code = LINK.search(reply.text).group(1)  # type: ignore[union-attr]

    [asked] = await world.person(701).send(f"/start {code}")

    assert Join.PRIVACY in asked.text
    shown = html_to_text(asked.text)
    for kept in ("фамилию, имя и отчество", "Telegram id", "организацию", "мероприятиях"):
        assert kept in shown
    assert "квартального отчёта" in shown  # and why
    assert "координатору" in shown  # and how to have it erased


# --- erasing a person ----------------------------------------------------------------------


async def filed(world: World, app_storage: Storage) -> tuple[Person, Person, int]:
    """Anna (701) of the museum filed an event and is halfway through a second one;
    her colleague Boris (702) is of the same museum."""
    anna = await join(world, 701, MUSEUM)
    await fill_event(anna, name="Выставка Анны")
    await anna.press(Dialogue.SUBMIT)
    await anna.send("/new")
    await anna.press("Сотрудничество в сфере культуры и туризма")
    await anna.send("Черновик Анны")
    boris = await join(world, 702, MUSEUM)
    [event] = await stored_events(app_storage.sessionmaker)
    async with app_storage.sessionmaker() as session, session.begin():
        session.add(  # a message still owed to her chat
            OutboxMessage(
                bot_id=world.bot.id, chat_id=701, method="sendMessage", payload="{}", due_at=NOW
            )
        )
    assert await fsm_of(app_storage.sessionmaker, 701) is not None
    return anna, boris, event.id


MUSEUM = "Смоленский музей"


async def test_an_erased_person_leaves_events_under_the_organisation_and_becomes_a_stranger(
    world: World, app_storage: Storage
) -> None:
    anna, boris, event_id = await filed(world, app_storage)
    coordinator = world.person(COORDINATOR_ID)

    [asked] = await coordinator.send("/erase 701")
    confirm_labels = coordinator.labels()
    [done] = await coordinator.press(Desk.ERASE_YES)

    assert asked.text == Desk.ERASE_CONFIRM.format(
        name="Иванова Мария Петровна", organisation=MUSEUM
    )
    assert confirm_labels == [Desk.ERASE_YES, Desk.ERASE_NO]
    assert done.text == Desk.ERASED.format(name="Иванова Мария Петровна", count=1)
    async with app_storage.sessionmaker() as session:
        rows = list(await session.scalars(select(PersonRow).order_by(PersonRow.id)))
        outbox = list(await session.scalars(select(OutboxMessage.chat_id)))
    [erased_row] = [row for row in rows if row.erased_at is not None]
    assert (erased_row.telegram_id, erased_row.full_name, erased_row.active) == (
        -erased_row.id,
        "",
        False,
    )
    assert all("Иванова" not in row.full_name for row in rows if row.telegram_id != 702)
    assert 701 not in outbox
    [event] = await stored_events(app_storage.sessionmaker)
    assert (event.id, event.author_id, event.status) == (event_id, erased_row.id, "submitted")
    assert await fsm_of(app_storage.sessionmaker, 701) is None  # the draft went with her
    [card] = await boris.press_data(f"ev:open:{event_id}")
    assert f"Автор: {Desk.ERASED_AUTHOR}" in html_to_text(card.text)
    await coordinator.send(f"/people {MUSEUM}")
    listed = coordinator.last_text()
    assert "701" not in listed and listed.count("•") == 1  # Boris alone
    [refused] = await anna.send("Продолжаю черновик")
    assert refused.text == Common.stranger(701)
    await coordinator.send("/report 2023-Q4")
    [document] = coordinator.documents()
    assert "Выставка Анны" in docx_text(document)  # the event is still in the report


async def test_an_erased_person_may_join_again_as_someone_new(
    world: World, app_storage: Storage
) -> None:
    await filed(world, app_storage)
    coordinator = world.person(COORDINATOR_ID)
    await coordinator.send("/erase 701")
    await coordinator.press(Desk.ERASE_YES)

    again = await join(world, 701, "Смоленский театр")
    [mine] = await again.send("/my")

    async with app_storage.sessionmaker() as session:
        rows = list(await session.scalars(select(PersonRow).where(PersonRow.telegram_id == 701)))
    assert len(rows) == 1 and rows[0].erased_at is None and rows[0].active
    assert "Выставка Анны" not in mine.text  # the erased person's events are not hers


async def test_no_keeps_everything_and_a_stale_or_forged_button_does_nothing(
    world: World, app_storage: Storage
) -> None:
    await filed(world, app_storage)
    coordinator = world.person(COORDINATOR_ID)
    await coordinator.send("/erase 701")
    yes = coordinator.button_data(Desk.ERASE_YES)
    before = await database(app_storage)

    [kept] = await coordinator.press(Desk.ERASE_NO)
    forged = await coordinator.press_data("pp:erase:99999")

    assert kept.text == Desk.NOT_ERASED
    assert forged == [] and coordinator.alerts() == [Common.STALE_BUTTON]
    assert await database(app_storage) == before
    await coordinator.press_data(yes)
    erased = await database(app_storage)
    assert await coordinator.press_data(yes) == []  # pressed again: already erased
    assert coordinator.alerts() == [Common.STALE_BUTTON] * 2
    assert await database(app_storage) == erased


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/erase", Desk.ERASE_USAGE),
        ("/erase Иванова", Desk.ERASE_USAGE),
        ("/erase 424242", Desk.DEACTIVATE_NOT_FOUND.format(id=424242)),
        (f"/erase {COORDINATOR_ID}", Desk.ERASE_SELF),
        ("/persondata", Desk.PERSONDATA_USAGE),
        ("/persondata 424242", Desk.DEACTIVATE_NOT_FOUND.format(id=424242)),
    ],
)
async def test_erase_and_persondata_refuse_what_they_cannot_do(
    world: World, app_storage: Storage, command: str, expected: str
) -> None:
    await filed(world, app_storage)
    coordinator = world.person(COORDINATOR_ID)
    before = await database(app_storage)

    [reply] = await coordinator.send(command)

    assert reply.text == expected
    assert await database(app_storage) == before


async def test_a_coordinator_from_the_settings_is_not_erased_from_chat(
    world: World, app_storage: Storage
) -> None:
    await filed(world, app_storage)
    other = await join(world, 703, MUSEUM)
    coordinator = world.person(COORDINATOR_ID)
    await coordinator.send("/coordinator 703")
    before = await database(app_storage)

    [reply] = await other.send(f"/erase {COORDINATOR_ID}")

    assert "COORDINATOR_IDS" in reply.text
    assert await database(app_storage) == before


def menus_deleted(world: World) -> list[int]:
    """The chats whose own command menu the bot deleted (deleteMyCommands, chat scope)."""
    return [
        request.scope.chat_id
        for request in world.session.requests
        if isinstance(request, DeleteMyCommands) and isinstance(request.scope, BotCommandScopeChat)
    ]


@pytest.mark.parametrize(
    "refusal",
    [
        None,
        bad_request("chat not found"),  # the account is gone
        blocked(),  # they blocked the bot
    ],
    ids=["accepted", "chat-not-found", "blocked"],
)
@pytest.mark.parametrize("command", ["/erase", "/deactivate"])
async def test_an_erased_or_deactivated_coordinator_loses_the_desk_menu(
    world: World, app_storage: Storage, command: str, refusal: Refusal | None
) -> None:
    await filed(world, app_storage)
    other = await join(world, 703, MUSEUM)
    coordinator = world.person(COORDINATOR_ID)
    await coordinator.send("/coordinator 703")
    menus_set = len(other.commands_menus())
    if refusal is not None:
        world.session.refuse_next("deleteMyCommands", refusal)
    await coordinator.send(f"{command} 703")

    [done] = await coordinator.press(Desk.ERASE_YES if command == "/erase" else Desk.DEACTIVATE_YES)

    assert menus_set == 1
    done_text = (
        Desk.ERASED.format(name="Иванова Мария Петровна", count=0)
        if command == "/erase"
        else Desk.DEACTIVATED.format(name="Иванова Мария Петровна")
    )
    assert done.text == done_text  # a refused reset changes nothing of it
    assert menus_deleted(world) == ([] if refusal else [703])
    assert [r.error.message for r in world.session.refused] == (
        [] if refusal is None else [refusal.description]
    )
    async with app_storage.sessionmaker() as session:
        row = await session.scalar(select(PersonRow).where(PersonRow.telegram_id == 703))
    assert row is None if command == "/erase" else not row.active  # type: ignore[union-attr]


async def test_erasing_or_deactivating_a_reporter_touches_no_menu(
    world: World, app_storage: Storage
) -> None:
    await filed(world, app_storage)
    coordinator = world.person(COORDINATOR_ID)

    await coordinator.send("/erase 701")
    await coordinator.press(Desk.ERASE_YES)
    await coordinator.send("/deactivate 702")
    await coordinator.press(Desk.DEACTIVATE_YES)

    assert menus_deleted(world) == []


# --- what is kept about one person ---------------------------------------------------------


async def test_persondata_shows_everything_kept_about_one_person(
    world: World, app_storage: Storage
) -> None:
    await filed(world, app_storage)
    coordinator = world.person(COORDINATOR_ID)
    await world.person(701).send("/cancel")
    await world.person(701).press("Да, удалить")
    await world.person(701).send("/name")
    await world.person(701).send("Иванова <Мария> & Петровна")

    replies = await coordinator.send("/persondata 701")

    shown = "\n".join(html_to_text(reply.text) for reply in replies)
    assert "ФИО: Иванова <Мария> & Петровна" in shown  # escaped in HTML, shown as typed
    assert "Telegram id: 701" in shown
    assert f"Организация: {MUSEUM}" in shown
    assert "Роль: сотрудник" in shown and "Доступ к боту: включён" in shown
    assert "Присоединение: " in shown and "Присоединение: —" not in shown
    assert "Мероприятия, о которых сообщил сотрудник: 1" in shown
    assert "Выставка Анны — IV квартал 2023 года, отправлено" in shown
    assert "Черновик Анны" not in shown  # a draft is not kept once dropped


async def test_persondata_of_many_events_is_split_into_messages(
    world: World, app_storage: Storage
) -> None:
    await filed(world, app_storage)
    async with app_storage.sessionmaker() as session, session.begin():
        anna = await session.scalar(select(PersonRow).where(PersonRow.telegram_id == 701))
        assert anna is not None
        period = await factories.period(session)
        org = await session.get(Organisation, anna.organisation_id)
        for number in range(40):
            await factories.event(
                session, period_=period, org=org, author_id=anna.id, name=f"{number} " + "я" * 400
            )

    replies = await world.person(COORDINATOR_ID).send("/persondata 701")

    assert len(replies) > 1  # the recording session refuses any over 4096 characters
    assert sum(html_to_text(r.text).count("• №") for r in replies) == 41
