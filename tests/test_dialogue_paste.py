"""A long paste that Telegram split into several messages: joined, or refused whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.methods import SendMessage
from aiogram.types import Message, Update

from bot.app import build_dispatcher
from bot.database import Storage, open_storage
from bot.settings import Settings
from handlers.report import join_parts
from handlers.texts import Dialogue
from reports.participants import characters
from tests.conftest import Clock
from tests.test_dialogue import join
from tests.tg import Person, World, fsm_of, reach

T0 = datetime(2023, 11, 20, 10, 0, tzinfo=UTC)
SENTENCE = "Подписано соглашение о сотрудничестве между учреждениями. "  # 58 characters


def paste_of(length: int) -> str:
    """A text of sentences, `length` characters long."""
    return (SENTENCE * (length // len(SENTENCE) + 1))[:length].strip()


def split(text: str, limit: int = 4096) -> list[str]:
    """The parts a Telegram client sends: cut at the last space within the limit, which
    is dropped."""
    parts = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        parts.append(text[:cut])
        text = text[cut + 1 :]
    return [*parts, text]


async def send_at(person: Person, text: str, seconds: float) -> list[SendMessage]:
    """A text message dated `seconds` after T0 (Telegram's `date` of the message)."""
    message = Message(
        message_id=next(person.world.ids),
        date=T0 + timedelta(seconds=seconds),
        chat=person.chat,
        from_user=person.user,
        text=text,
    )
    return await person.world.feed(person, Update(update_id=0, message=message))


async def data_of(storage: Storage, person: Person) -> tuple[str | None, dict[str, Any]]:
    row = await fsm_of(storage.sessionmaker, person.user.id)
    return (row.state, row.data) if row else (None, {})


def question(step: str, number: int) -> str:
    return Dialogue.STEP.format(number=number) + Dialogue.ASK[step]


async def test_a_paste_split_in_two_one_second_apart_is_stored_whole(
    world: World, app_storage: Storage
) -> None:
    text = paste_of(6000)
    first, second = split(text)
    person = await join(world, 1401)
    await reach(person, "result")

    [notice] = await send_at(person, first, 0)
    [next_question] = await send_at(person, second, 1)

    assert notice.text == Dialogue.PASTE_PART.format(length=len(first))
    assert person.labels() == [Dialogue.BACK, Dialogue.CANCEL]  # the next question's
    assert next_question.text == question("participants", 6)
    state, data = await data_of(app_storage, person)
    assert state == "ReportStates:participants"
    assert data["draft"]["result"] == text
    assert "paste" not in data


async def test_a_pasted_participants_list_is_joined_and_its_total_read(
    world: World, app_storage: Storage
) -> None:
    text = paste_of(7500) + " Общее количество участников – 2 000 человек"
    first, second = split(text)
    person = await join(world, 1402)
    await reach(person, "participants")

    await send_at(person, first, 0)
    await send_at(person, second, 1)

    state, data = await data_of(app_storage, person)
    assert state == "ReportStates:period"
    assert data["draft"]["participants"] == text
    assert data["draft"]["count"] == 2000


async def test_a_paste_over_the_limit_is_refused_whole_and_nothing_stored(
    world: World, app_storage: Storage
) -> None:
    text = paste_of(9000)
    parts = split(text)
    person = await join(world, 1403)
    await reach(person, "result")
    before = await data_of(app_storage, person)

    replies = [await send_at(person, part, second) for second, part in enumerate(parts)]

    assert len(parts) == 3
    assert [reply.text for reply in replies[-1]] == [
        Dialogue.PASTE_TOO_LONG.format(length=characters(len(text)), limit=8000)
    ]
    assert await data_of(app_storage, person) == before
    # the next answer is the step's answer, not a tail
    await send_at(person, "Открыта выставка.", 60)
    _, data = await data_of(app_storage, person)
    assert data["draft"]["result"] == "Открыта выставка."


async def test_a_paste_longer_than_what_is_kept_is_refused_with_its_whole_length(
    world: World, app_storage: Storage
) -> None:
    text = paste_of(19_000)
    parts = split(text)
    person = await join(world, 1411)
    await reach(person, "result")
    before = await data_of(app_storage, person)

    replies = [await send_at(person, part, second) for second, part in enumerate(parts)]

    assert len(parts) == 5
    assert [reply.text for reply in replies[-1]] == [
        Dialogue.PASTE_TOO_LONG.format(length=characters(len(text)), limit=8000)
    ]
    assert await data_of(app_storage, person) == before


async def test_the_tail_of_a_paste_too_long_for_the_name_is_not_the_name(
    world: World, app_storage: Storage
) -> None:
    text = paste_of(5000)
    first, second = split(text)
    person = await join(world, 1404)
    await reach(person, "name")
    before = await data_of(app_storage, person)

    await send_at(person, first, 0)
    [reply] = await send_at(person, second, 2)

    assert reply.text == Dialogue.PASTE_TOO_LONG.format(length=characters(len(text)), limit=500)
    assert await data_of(app_storage, person) == before


async def test_a_paste_at_the_dates_step_is_refused_whole(
    world: World, app_storage: Storage
) -> None:
    text = paste_of(4500) + " 26.10.2023"
    first, second = split(text)
    person = await join(world, 1410)
    await reach(person, "dates")
    before = await data_of(app_storage, person)

    await send_at(person, first, 0)
    [reply] = await send_at(person, second, 1)

    assert reply.text == Dialogue.PASTE_TOO_LONG.format(length=characters(len(text)), limit=1000)
    assert await data_of(app_storage, person) == before


async def test_the_part_alone_is_taken_with_its_button(world: World, app_storage: Storage) -> None:
    part = paste_of(3800)
    person = await join(world, 1405)
    await reach(person, "result")
    await send_at(person, part, 0)
    assert person.labels() == [Dialogue.WHOLE_TEXT]

    [reply] = await person.press(Dialogue.WHOLE_TEXT)

    assert reply.text == question("participants", 6)
    state, data = await data_of(app_storage, person)
    assert state == "ReportStates:participants"
    assert data["draft"]["result"] == part


async def test_the_part_waits_across_a_restart(
    world: World, app_storage: Storage, settings: Settings, clock: Clock
) -> None:
    text = paste_of(6000)
    first, second = split(text)
    person = await join(world, 1406)
    await reach(person, "result")
    await send_at(person, first, 0)

    restarted = await open_storage(settings)
    try:
        world.dispatcher = build_dispatcher(settings, restarted, clock=clock)
        await send_at(person, second, 3)
    finally:
        await restarted.close()

    _, data = await data_of(app_storage, person)
    assert data["draft"]["result"] == text


@pytest.mark.parametrize(
    ("button", "expected"),
    [
        (Dialogue.JOIN_PARTS, "both"),
        (Dialogue.ONLY_LATE, "late"),
        (Dialogue.ONLY_PARTS, "part"),
    ],
)
async def test_a_message_after_the_window_is_not_taken_alone_unasked(
    world: World, app_storage: Storage, button: str, expected: str
) -> None:
    part = (SENTENCE * 66).strip()  # 3,827 characters, ending a sentence
    late = "Подписано ещё одно соглашение."
    person = await join(world, 1407)
    await reach(person, "result")
    await send_at(person, part, 0)

    [ask] = await send_at(person, late, 120)
    state, data = await data_of(app_storage, person)
    await person.press(button)

    assert ask.text == Dialogue.PASTE_LATE.format(length=len(part), late=len(late))
    assert state == "ReportStates:result" and data["draft"].get("result") is None
    _, data = await data_of(app_storage, person)
    stored = {"both": part + "\n" + late, "late": late, "part": part}[expected]
    assert data["draft"]["result"] == stored


async def test_leaving_the_step_while_a_part_waits_says_it_is_dropped(
    world: World, app_storage: Storage
) -> None:
    part = paste_of(3800)
    person = await join(world, 1408)
    await reach(person, "result")
    await send_at(person, part, 0)

    replies = await person.press_data("d:back:result")

    assert replies[0].text == Dialogue.PASTE_DROPPED.format(length=len(part))
    assert replies[1].text.startswith(Dialogue.STEP.format(number=4))
    _, data = await data_of(app_storage, person)
    assert "paste" not in data


async def test_a_paste_button_with_nothing_waiting_is_refused(world: World) -> None:
    person = await join(world, 1409)
    await reach(person, "result")

    assert await person.press_data("d:whole:result") == []

    assert person.alerts() == ["Эта кнопка устарела или недоступна."]


@pytest.mark.parametrize(
    ("first", "second", "joined"),
    [
        ("Первое предложение.", "Второе", "Первое предложение.\nВторое"),
        ("посреди", "предложения", "посреди предложения"),
        ("с пробелом ", "в конце", "с пробелом в конце"),
        ("строка", "\nновая", "строка\nновая"),
    ],
)
def test_parts_are_joined_with_the_blank_telegram_dropped(
    first: str, second: str, joined: str
) -> None:
    assert join_parts(first, second) == joined
