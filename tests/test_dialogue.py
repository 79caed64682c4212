"""The reporting dialogue through the real Dispatcher, storage and a recording session."""

from __future__ import annotations

import re
from io import BytesIO

from aiogram.types import BufferedInputFile
from docx import Document
from sqlalchemy import func, select

from bot.database import Storage
from storage.models import Event
from storage.models import Person as PersonRow
from tests.conftest import COORDINATOR_ID
from tests.tg import Person, World

LINK = re.compile(r"https://t\.me/report_test_bot\?start=([\w-]+)")


async def join(world: World, user_id: int, organisation: str = "Смоленский музей") -> Person:
    """A coordinator makes an organisation; the person opens the link and gives a name."""
    coordinator = world.person(COORDINATOR_ID, "Координатор")
    [reply] = await coordinator.send(f"/neworg {organisation}")
    code = LINK.search(reply.text).group(1)  # type: ignore[union-attr]
    person = world.person(user_id)
    await person.send(f"/start {code}")
    await person.send("Иванова Мария Петровна")
    return person


async def fill_event(person: Person, name: str = "Выставка «Смоленск – Минск»") -> None:
    """Answer all seven steps, up to the summary."""
    await person.send("/new")
    await person.press("Сотрудничество в сфере культуры и туризма")
    await person.send(name)
    await person.send("г. Минск, Республика Беларусь")
    await person.send("26-27 октября 2023")
    await person.press("✔ Верно")
    await person.send("Открыта выставка.\nПодписано соглашение о сотрудничестве.")
    await person.send("Сотрудники музея. Общее количество участников – 18 человек")
    await person.press("IV квартал 2023 года")


async def test_a_person_reports_an_event_from_start_to_submit(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 501)

    await fill_event(person)
    summary = person.last_text()
    replies = await person.press("✅ Отправить")

    assert "Шаг" not in summary and "Проверьте мероприятие" in summary
    assert "26-27 октября 2023 года" in summary
    assert "18" in summary
    assert "сохранено" in replies[-1].text
    async with app_storage.sessionmaker() as session:
        event = await session.scalar(select(Event))
        author = await session.get(PersonRow, event.author_id)  # type: ignore[union-attr]
    assert event is not None and author is not None
    assert event.name == "Выставка «Смоленск – Минск»"
    assert event.result == "Открыта выставка.\nПодписано соглашение о сотрудничестве."
    assert event.participant_count == 18
    assert event.status == "submitted"
    assert author.full_name == "Иванова Мария Петровна"


async def test_the_coordinator_gets_the_report_as_a_document(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 502)
    await fill_event(person)
    await person.press("✅ Отправить")
    coordinator = world.person(COORDINATOR_ID)

    await coordinator.send("/report 2023-Q4")

    [sent] = coordinator.documents()
    assert isinstance(sent.document, BufferedInputFile)
    assert sent.document.filename == "report_2023_Q4.docx"
    table = Document(BytesIO(sent.document.data)).tables[0]
    assert [c.text for c in table.rows[2].cells][1] == "Выставка «Смоленск – Минск»"


async def test_submitting_twice_stores_one_event(world: World, app_storage: Storage) -> None:
    person = await join(world, 503)
    await fill_event(person)
    submit = person.last_keyboard()

    await person.press("✅ Отправить")
    data = next(
        b.callback_data for row in submit.inline_keyboard for b in row if "Отправить" in b.text
    )
    await person.press_data(data)  # type: ignore[arg-type]

    async with app_storage.sessionmaker() as session:
        assert await session.scalar(select(func.count(Event.id))) == 1
