"""Bad input in the dialogue: wrong kinds of message, limits, empty answers, markup, forged
buttons, double submits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.database import Storage
from handlers.texts import Common, Dialogue
from reports.participants import characters
from storage.repositories.access import STRANGER_REFUSALS
from tests.conftest import COORDINATOR_ID
from tests.test_dialogue import fill_event, join
from tests.tg import (
    NON_TEXT_UPDATES,
    Person,
    World,
    counter,
    fsm_of,
    fsm_rows,
    reach,
    stored_events,
    stored_person,
    walk_on,
)


async def snapshot(storage: Storage, person: Person) -> tuple[str | None, dict[str, Any]]:
    """The person's dialogue as stored: state and data."""
    row = await fsm_of(storage.sessionmaker, person.user.id)
    return (row.state, row.data) if row else (None, {})


# --- not text where text is expected -----------------------------------------------------


@pytest.mark.parametrize("kind", NON_TEXT_UPDATES)
@pytest.mark.parametrize("state", ["name", "place", "dates", "result", "participants", "count"])
async def test_a_non_text_message_where_text_is_expected_is_refused_and_the_step_kept(
    world: World, app_storage: Storage, state: str, kind: str
) -> None:
    person = await join(world, 801)
    await reach(person, state)
    before = await snapshot(app_storage, person)

    [reply] = await person.send_update(**NON_TEXT_UPDATES[kind])

    assert reply.text == Dialogue.NEED_TEXT
    assert await snapshot(app_storage, person) == before


@pytest.mark.parametrize("kind", NON_TEXT_UPDATES)
@pytest.mark.parametrize("state", ["sphere", "period", "summary"])
async def test_a_non_text_message_where_a_button_is_expected_asks_for_the_button(
    world: World, app_storage: Storage, state: str, kind: str
) -> None:
    person = await join(world, 802)
    await reach(person, state)
    before = await snapshot(app_storage, person)

    [reply] = await person.send_update(**NON_TEXT_UPDATES[kind])

    assert reply.text == Dialogue.NEED_BUTTON
    assert await snapshot(app_storage, person) == before


@pytest.mark.parametrize("state", ["sphere", "period", "summary"])
async def test_text_where_a_button_is_expected_asks_for_the_button(
    world: World, app_storage: Storage, state: str
) -> None:
    person = await join(world, 803)
    await reach(person, state)
    before = await snapshot(app_storage, person)

    [reply] = await person.send("Культура")

    assert reply.text == Dialogue.NEED_BUTTON
    assert await snapshot(app_storage, person) == before


async def test_a_photo_in_the_middle_does_not_lose_the_answers(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 804)
    await reach(person, "place")

    await person.send_photo()
    await person.send("г. Минск")

    _, data = await snapshot(app_storage, person)
    assert data["draft"]["name"] == "Выставка «Смоленск – Минск»"
    assert data["draft"]["place"] == "г. Минск"


# --- limits ------------------------------------------------------------------------------

LIMITS = [("name", 500), ("place", 1000), ("result", 8000), ("participants", 8000)]


@pytest.mark.parametrize(("state", "limit"), [*LIMITS, ("dates", 1000)])
async def test_text_over_the_limit_is_refused_with_the_limit_and_nothing_saved(
    world: World, app_storage: Storage, state: str, limit: int
) -> None:
    person = await join(world, 805)
    await reach(person, state)
    before = await snapshot(app_storage, person)

    [reply] = await person.send("я" * (limit + 1))

    assert reply.text == Dialogue.TOO_LONG.format(length=characters(limit + 1), limit=limit)
    assert await snapshot(app_storage, person) == before


@pytest.mark.parametrize(("state", "limit"), LIMITS)
async def test_text_exactly_at_the_limit_is_taken(
    world: World, app_storage: Storage, state: str, limit: int
) -> None:
    person = await join(world, 806)
    await reach(person, state)

    await person.send("я" * (limit - 11) + " 10 человек")

    _, data = await snapshot(app_storage, person)
    assert len(data["draft"][state]) == limit


async def test_a_long_result_is_stored_whole_but_cut_in_the_summary(
    world: World, app_storage: Storage
) -> None:
    result = "Подписано соглашение. " * 180  # 3,960 characters
    person = await join(world, 807)
    await reach(person, "result")

    await person.send(result)  # as long as a part of a split paste: the bot waits for more
    await person.press(Dialogue.WHOLE_TEXT)
    await person.send("Сотрудники музея, 18 человек")
    [summary] = await person.press("IV квартал 2023 года")
    await person.press(Dialogue.SUBMIT)

    assert len(summary.text) < 4096
    [event] = await stored_events(app_storage.sessionmaker)
    assert event.result == result.strip()


# --- empty answers -----------------------------------------------------------------------


@pytest.mark.parametrize("blank", [" ", "   \n\t ", "\u00a0"])
@pytest.mark.parametrize("state", ["name", "place", "dates", "result", "participants"])
async def test_an_empty_answer_is_asked_again(
    world: World, app_storage: Storage, state: str, blank: str
) -> None:
    person = await join(world, 808)
    await reach(person, state)
    before = await snapshot(app_storage, person)

    [reply] = await person.send(blank)

    assert reply.text == Dialogue.EMPTY
    assert await snapshot(app_storage, person) == before


# --- markup in user text is shown literally ----------------------------------------------

NEXT_STATE = {"name": "place", "place": "dates", "result": "participants", "participants": "period"}
MARKUP = "<b>Жирный</b> & *звёздочки* _подчёркивание_ <a href='x'>ссылка</a>"
ESCAPED = (
    "&lt;b&gt;Жирный&lt;/b&gt; &amp; *звёздочки* _подчёркивание_ &lt;a href='x'&gt;ссылка&lt;/a&gt;"
)


@pytest.mark.parametrize("state", ["name", "place", "result", "participants"])
async def test_markup_typed_by_a_person_is_escaped_in_the_summary(world: World, state: str) -> None:
    person = await join(world, 809)
    await reach(person, state)

    await person.send(MARKUP + (" 5 человек" if state == "participants" else ""))
    await walk_on(person, NEXT_STATE[state])

    summary = person.last_text()
    assert ESCAPED in summary
    assert "<b>Жирный</b>" not in summary


async def test_markup_is_escaped_in_the_current_answer_and_kept_as_typed(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 810)
    await fill_event(person, name=MARKUP)

    [question] = await person.press("Название")
    await person.press(Dialogue.KEEP)
    await person.press(Dialogue.SUBMIT)

    assert ESCAPED in question.text
    [event] = await stored_events(app_storage.sessionmaker)
    assert event.name == MARKUP


async def test_markup_in_dates_kept_as_a_note_is_escaped(world: World) -> None:
    person = await join(world, 811)
    await reach(person, "dates")

    [offer] = await person.send("<b>15 октября</b> и 20 ноября 2023")
    await person.press(Dialogue.KEEP_NOTE)
    await person.send("Проведено.")
    await person.send("Школьники, 40 человек")
    [summary] = await person.press("IV квартал 2023 года")

    assert "15 октября 2023 года" in offer.text
    assert "&lt;b&gt;15 октября&lt;/b&gt; и 20 ноября 2023" in summary.text


# --- buttons that are not this person's, this step's, or anything at all -----------------


async def two_reporters_and_an_event(world: World, storage: Storage) -> tuple[Person, int]:
    """Anna (a museum) files an event; Boris (a theatre) is returned with its id."""
    anna = await join(world, 812)
    await fill_event(anna)
    await anna.press(Dialogue.SUBMIT)
    boris = await join(world, 813, "Смоленский театр")
    [event] = await stored_events(storage.sessionmaker)
    return boris, event.id


@pytest.mark.parametrize("action", ["open", "edit", "del", "delyes", "delno", "copy"])
async def test_another_organisations_event_cannot_be_touched(
    world: World, app_storage: Storage, action: str
) -> None:
    boris, event_id = await two_reporters_and_an_event(world, app_storage)
    before = await stored_events(app_storage.sessionmaker)

    replies = await boris.press_data(f"ev:{action}:{event_id}")

    assert replies == []
    assert boris.alerts() == [Common.STALE_BUTTON]
    assert [(e.status, e.name) for e in await stored_events(app_storage.sessionmaker)] == [
        (e.status, e.name) for e in before
    ]
    assert await fsm_of(app_storage.sessionmaker, boris.user.id) is None


@pytest.mark.parametrize("action", ["edit", "del", "delyes"])
async def test_a_colleagues_event_cannot_be_changed(
    world: World, app_storage: Storage, action: str
) -> None:
    anna = await join(world, 814)
    await fill_event(anna)
    await anna.press(Dialogue.SUBMIT)
    colleague = await join(world, 815)  # the same museum
    [event] = await stored_events(app_storage.sessionmaker)

    replies = await colleague.press_data(f"ev:{action}:{event.id}")

    assert replies == []
    assert colleague.alerts() == [Common.STALE_BUTTON]
    [after] = await stored_events(app_storage.sessionmaker)
    assert after.status == "submitted"
    assert await fsm_of(app_storage.sessionmaker, colleague.user.id) is None


async def test_an_unknown_event_id_is_refused(world: World) -> None:
    person = await join(world, 816)

    replies = await person.press_data("ev:open:999999")

    assert replies == []
    assert person.alerts() == [Common.STALE_BUTTON]


@pytest.mark.parametrize(
    ("state", "data"),
    [
        ("sphere", "sp:999999"),
        ("sphere", "sp:-1"),
        ("period", "pe:999999"),
        ("name", "sp:1"),  # a sphere button when the name is asked
        ("summary", "pe:1"),  # a period button at the summary
        ("name", "d:submit:summary"),  # the submit button when not at the summary
        ("place", "d:submit:place"),
        ("period", "d:edit:name"),  # an edit button when not at the summary
        ("summary", "d:edit:count"),  # an edit button of no field
        ("name", "d:yes:dates"),  # a dates button at another step
        ("dates", "d:yes:dates"),  # confirming dates before any were given
        ("result", "d:nocount:result"),
        ("summary", "d:back:summary"),
        ("place", "d:cancel:name"),  # the cancel button of a question answered before
        ("summary", "d:cancel:period"),
    ],
)
async def test_a_button_of_another_step_or_of_nothing_is_refused_and_nothing_changes(
    world: World, app_storage: Storage, state: str, data: str
) -> None:
    person = await join(world, 817)
    await reach(person, state)
    before = await snapshot(app_storage, person)

    replies = await person.press_data(data)

    assert replies == []
    assert person.alerts() == [Common.STALE_BUTTON]
    assert await snapshot(app_storage, person) == before
    assert await stored_events(app_storage.sessionmaker) == []


GARBAGE = [
    "",
    "zzz",
    "d",
    "d:edit",
    "d:edit:name:1",
    "sp:abc",
    "sp:1.5",
    "ev:open",
    "ev:open:1:2",
    "ev:open:" + "9" * 56,
    "pe:" + "9" * 60,
    "rp:1",
    "ls:nobody",
    "::::",
]


@pytest.mark.parametrize("data", GARBAGE)
async def test_garbage_button_data_is_refused_with_an_alert(
    world: World, app_storage: Storage, data: str
) -> None:
    person = await join(world, 818)
    await reach(person, "period")
    before = await snapshot(app_storage, person)

    replies = await person.press_data(data)

    assert replies == []
    assert person.alerts() == [Common.STALE_BUTTON]
    assert await snapshot(app_storage, person) == before


async def test_a_button_pressed_by_a_stranger_is_refused_and_only_counted(
    world: World, app_storage: Storage
) -> None:
    stranger = world.person(819)

    for data in ("d:submit:summary", "sp:1", "ev:open:1", "rp:1", "garbage"):
        await stranger.press_data(data)

    assert stranger.alerts() == [Common.stranger_alert(819)] * 5
    assert await counter(app_storage.sessionmaker, STRANGER_REFUSALS) == 5
    assert await stored_person(app_storage.sessionmaker, 819) is None
    assert await fsm_of(app_storage.sessionmaker, 819) is None


# --- submitting twice --------------------------------------------------------------------


async def test_a_repeated_submit_update_stores_one_event(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 820)
    await fill_event(person)
    update = person.press_update(person.button_data(Dialogue.SUBMIT))

    await world.feed_raw(update)
    await world.feed_raw(update)

    assert len(await stored_events(app_storage.sessionmaker)) == 1
    # The same update_id again is a redelivery: skipped before any handler (no alert).
    assert person.alerts() == []


async def test_a_double_tap_on_submit_stores_one_event_and_shows_it_saved_to_the_other_taps(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 821)
    await fill_event(person)
    data = person.button_data(Dialogue.SUBMIT)
    before = len(person.replies())

    await asyncio.gather(*(person.press_data(data) for _ in range(5)))

    texts = [reply.text for reply in person.replies()[before:]]
    assert len(await stored_events(app_storage.sessionmaker)) == 1
    assert texts[0] == Dialogue.SUBMITTED.format(period="IV квартал 2023 года")
    # A tap after the first may be one whose confirmation never came: never "stale".
    assert len(texts) == 5
    assert all(text.startswith(Dialogue.SAVED_ALREADY) for text in texts[1:])
    assert person.alerts() == []
    assert await fsm_rows(app_storage.sessionmaker) == []


async def test_the_same_answers_reported_again_are_new_events(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 822)
    await fill_event(person)
    await person.press(Dialogue.SUBMIT)

    for _ in range(2):
        await fill_event(person)
        await person.press(Dialogue.SUBMIT)

    assert len(await stored_events(app_storage.sessionmaker)) == 3


async def test_a_coordinator_without_an_organisation_files_under_the_default_one(
    world: World, app_storage: Storage
) -> None:
    coordinator = world.person(COORDINATOR_ID)

    await fill_event(coordinator)
    await coordinator.press(Dialogue.SUBMIT)

    [event] = await stored_events(app_storage.sessionmaker)
    assert event.organisation.name == "Импортированные мероприятия"
    assert await counter(app_storage.sessionmaker, STRANGER_REFUSALS) == 0
