"""Drafts without dead ends: a draft in progress is never thrown away without asking,
«Оставить как есть» after «Назад», no two buttons doing the same, a copy's dates typed at
the summary, a quarter closed while the person is at the summary."""

from __future__ import annotations

from datetime import date

import pytest

from bot.database import Storage
from handlers import keyboards as kb
from handlers.keyboards import NewReportCb
from handlers.texts import Common, Dialogue, MyEvents
from reports.quarters import Quarter
from tests.telegram_rules import MAX_CALLBACK_DATA
from tests.test_dialogue import fill_event, join
from tests.test_dialogue_steps import state_of, step_number
from tests.test_my_events import EXHIBITION, open_card, report
from tests.tg import (
    STATES,
    Person,
    World,
    add_period,
    fsm_of,
    reach,
    set_period_status,
    stored_events,
    walk_on,
)

Q4_2023 = Quarter(2023, 4)


async def stored_data(storage: Storage, person: Person) -> dict | None:
    row = await fsm_of(storage.sessionmaker, person.user.id)
    return None if row is None else row.data


async def card_of_first_event(person: Person, storage: Storage) -> None:
    [event] = await stored_events(storage.sessionmaker)
    await open_card(person, event)


# --- a new start in the middle of a draft -----------------------------------------------

# How a new start is made, each from the chat as the person has it.
STARTS = ["/new", "copy", "edit", "reminder"]


async def new_start(person: Person, storage: Storage, how: str) -> list:
    """Make the new start `how` while a draft is under way; the bot's replies."""
    if how == "/new":
        return await person.send("/new")
    if how == "reminder":
        period_id = await add_period(storage.sessionmaker, Q4_2023)  # exists: its id
        return await person.press_data(NewReportCb(period=period_id).pack())
    [event] = await stored_events(storage.sessionmaker)
    action = "copy" if how == "copy" else "edit"
    return await person.press_data(f"ev:{action}:{event.id}")


@pytest.mark.parametrize("how", STARTS)
async def test_a_new_start_mid_draft_asks_and_continuing_keeps_the_draft(
    world: World, app_storage: Storage, how: str
) -> None:
    person = await join(world, 3001)
    await report(person)
    await reach(person, "result")
    before = await stored_data(app_storage, person)

    [asked] = await new_start(person, app_storage, how)
    labels = person.labels()
    [again] = await person.press(Dialogue.RESUME)

    assert asked.text == Dialogue.DRAFT_IN_PROGRESS
    assert labels == [Dialogue.RESUME, Dialogue.RESTART]
    assert step_number(again.text) == 5 and again.text.endswith(Dialogue.ASK["result"])
    assert await state_of(app_storage, person) == "ReportStates:result"
    assert await stored_data(app_storage, person) == before
    await person.send("Открыта выставка.")  # the dialogue goes on where it was
    assert await state_of(app_storage, person) == "ReportStates:participants"


async def test_continuing_a_draft_at_the_summary_shows_the_summary(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3002)
    await fill_event(person)

    await person.send("/new")
    [summary] = await person.press(Dialogue.RESUME)
    [done] = await person.press(Dialogue.SUBMIT)

    assert summary.text.startswith(Dialogue.SUMMARY_HEAD)
    assert done.text == Dialogue.SUBMITTED.format(period="IV квартал 2023 года")
    [event] = await stored_events(app_storage.sessionmaker)
    assert event.name == EXHIBITION


async def test_starting_anew_after_new_drops_the_draft_for_a_new_one(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3003)
    await reach(person, "dates")
    old = await stored_data(app_storage, person)

    await person.send("/new")
    [question] = await person.press(Dialogue.RESTART)

    assert step_number(question.text) == 1
    new = await stored_data(app_storage, person)
    assert old is not None and new is not None
    assert new["draft"]["name"] is None and new["draft"]["token"] != old["draft"]["token"]


async def test_starting_anew_after_copy_opens_the_copy(world: World, app_storage: Storage) -> None:
    person = await join(world, 3004)
    await report(person)
    await reach(person, "place")
    await card_of_first_event(person, app_storage)

    await person.press(MyEvents.COPY)
    told, summary = await person.press(Dialogue.RESTART)

    assert told.text == MyEvents.COPIED
    assert summary.text.startswith(Dialogue.SUMMARY_HEAD) and EXHIBITION in summary.text
    data = await stored_data(app_storage, person)
    assert data is not None and data["draft"]["dates"] is None


async def test_starting_anew_after_edit_opens_the_event(world: World, app_storage: Storage) -> None:
    person = await join(world, 3005)
    await report(person)
    await reach(person, "place")
    [event] = await stored_events(app_storage.sessionmaker)
    await open_card(person, event)

    await person.press(MyEvents.EDIT)
    [summary] = await person.press(Dialogue.RESTART)

    assert summary.text.startswith(Dialogue.SUMMARY_EDIT_HEAD.format(id=event.id))


async def test_starting_anew_after_the_reminders_button_keeps_its_period(
    world: World, app_storage: Storage
) -> None:
    q1 = await add_period(app_storage.sessionmaker, Quarter(2024, 1))
    person = await join(world, 3006)
    await reach(person, "name")

    await person.press_data(NewReportCb(period=q1).pack())
    [question] = await person.press(Dialogue.RESTART)

    assert Dialogue.ASK["sphere"] in question.text
    data = await stored_data(app_storage, person)
    assert data is not None and data["draft"]["period_id"] == q1
    assert data["draft"]["sphere_id"] is None


async def test_a_draft_without_answers_is_replaced_at_once(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3007)
    await reach(person, "sphere")  # nothing answered yet

    [question] = await person.send("/new")

    assert step_number(question.text) == 1
    assert person.labels()[-1] == Dialogue.CANCEL


# --- «Отмена» on a draft with answers ----------------------------------------------------


@pytest.mark.parametrize("how", ["button", "/cancel"])
async def test_cancel_on_a_draft_with_answers_asks_and_no_keeps_it(
    world: World, app_storage: Storage, how: str
) -> None:
    person = await join(world, 3008)
    await reach(person, "dates_confirm")
    before = await stored_data(app_storage, person)

    [asked] = await (person.press(Dialogue.CANCEL) if how == "button" else person.send("/cancel"))
    labels = person.labels()
    [again] = await person.press(Dialogue.DROP_NO)

    assert asked.text == Dialogue.CONFIRM_DROP
    assert labels == [Dialogue.DROP_YES, Dialogue.DROP_NO]
    assert again.text == Dialogue.CONFIRM_DATES.format(dates="26-27 октября 2023 года")
    assert await stored_data(app_storage, person) == before
    await person.press(Dialogue.YES)  # the confirmation shown again works
    assert await state_of(app_storage, person) == "ReportStates:result"


@pytest.mark.parametrize("how", ["button", "/cancel"])
async def test_cancel_confirmed_deletes_the_draft(
    world: World, app_storage: Storage, how: str
) -> None:
    person = await join(world, 3009)
    await fill_event(person)

    await (person.press(Dialogue.CANCEL) if how == "button" else person.send("/cancel"))
    [reply] = await person.press(Dialogue.DROP_YES)

    assert reply.text == Dialogue.CANCELLED
    assert await fsm_of(app_storage.sessionmaker, person.user.id) is None
    assert await stored_events(app_storage.sessionmaker) == []


@pytest.mark.parametrize("how", ["button", "/cancel"])
async def test_cancel_while_changing_a_saved_event_drops_the_changes_not_the_event(
    world: World, app_storage: Storage, how: str
) -> None:
    person = await join(world, 3010)
    await report(person)
    [event] = await stored_events(app_storage.sessionmaker)
    await open_card(person, event)
    await person.press(MyEvents.EDIT)
    await person.press(Dialogue.FIELD_NAMES["place"])
    await person.send("г. Витебск")  # a change not saved yet

    asked = await (person.press(Dialogue.CANCEL) if how == "button" else person.send("/cancel"))
    [reply] = await person.press(Dialogue.DROP_EDIT_YES)

    assert asked[-1].text == Dialogue.CONFIRM_DROP_EDIT.format(id=event.id)
    assert Dialogue.DROP_YES not in person.labels()
    assert reply.text == Dialogue.EDIT_CANCELLED
    [kept] = await stored_events(app_storage.sessionmaker)
    assert (kept.id, kept.place, kept.status) == (event.id, event.place, "submitted")


# --- stale and forged buttons of these questions ----------------------------------------


async def test_the_questions_buttons_are_refused_once_the_draft_is_gone(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3010)
    await fill_event(person)
    submit = person.button_data(Dialogue.SUBMIT)
    await person.send("/new")
    resume, restart = person.button_data(Dialogue.RESUME), person.button_data(Dialogue.RESTART)
    await person.send("/cancel")
    drop = person.button_data(Dialogue.DROP_YES)
    await person.press_data(submit)  # sent: the draft is gone

    for data in (resume, restart, drop):
        assert await person.press_data(data) == []

    assert person.alerts() == [Common.STALE_BUTTON] * 3
    assert await fsm_of(app_storage.sessionmaker, person.user.id) is None
    assert len(await stored_events(app_storage.sessionmaker)) == 1


async def test_an_older_drafts_buttons_leave_the_new_draft_alone(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3011)
    await reach(person, "place")
    await person.send("/cancel")
    drop_old = person.button_data(Dialogue.DROP_YES)
    await person.press(Dialogue.DROP_YES)
    await reach(person, "dates")
    before = await stored_data(app_storage, person)

    assert await person.press_data(drop_old) == []

    assert person.alerts() == [Common.STALE_BUTTON]
    assert await stored_data(app_storage, person) == before


@pytest.mark.parametrize(
    "data",
    [
        "df:resume:-:0:nosuchdraft",
        "df:anew:copy:0:x",
        "df:anew:rem:0:x",
        "df:drop",
        "df:anew:nothing:0:x",
        "df:anew:copy:99999999999:x",
    ],
)
async def test_forged_draft_buttons_are_refused(
    world: World, app_storage: Storage, data: str
) -> None:
    person = await join(world, 3012)
    await reach(person, "place")
    before = await stored_data(app_storage, person)

    assert await person.press_data(data) == []

    assert person.alerts() == [Common.STALE_BUTTON]
    assert await stored_data(app_storage, person) == before


async def test_a_copy_button_of_a_deleted_event_is_refused_after_start_anew(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3013)
    await report(person)
    [event] = await stored_events(app_storage.sessionmaker)
    await reach(person, "place")
    await open_card(person, event)
    await person.press(MyEvents.COPY)
    restart = person.button_data(Dialogue.RESTART)
    await person.press_data(f"ev:del:{event.id}")
    await person.press_data(f"ev:delyes:{event.id}")
    before = await stored_data(app_storage, person)

    assert await person.press_data(restart) == []

    assert person.alerts() == [Common.STALE_BUTTON]
    assert await stored_data(app_storage, person) == before


def test_the_draft_buttons_fit_telegrams_callback_data() -> None:
    key = "f" * 32  # a draft's token (uuid4 hex), the longest key
    for what in ("new", "copy", "edit", "rem"):
        markup = kb.draft_keyboard(key, what, 2**31 - 1)
        markup_drop = kb.drop_draft_keyboard(key)
        for row in (*markup.inline_keyboard, *markup_drop.inline_keyboard):
            for button in row:
                assert button.callback_data is not None
                assert len(button.callback_data.encode()) <= MAX_CALLBACK_DATA


# --- «Оставить как есть» after «Назад» ---------------------------------------------------


@pytest.mark.parametrize(
    ("state", "kept", "next_state"),
    [  # the sphere is kept by its own button (test_the_sphere_shown_after_back_is_marked…)
        ("place", "name", "place"),
        ("dates", "place", "dates"),
        ("result", "dates", "result"),
        ("participants", "result", "participants"),
        ("period", "participants", "period"),
    ],
)
async def test_keep_after_back_goes_on_with_the_answer_shown(
    world: World, app_storage: Storage, state: str, kept: str, next_state: str
) -> None:
    person = await join(world, 3014)
    await reach(person, state)
    before = (await stored_data(app_storage, person))["draft"]  # type: ignore[index]

    [shown] = await person.press(Dialogue.BACK)
    labels = person.labels()
    await person.press(Dialogue.KEEP)

    assert "Сейчас: «" in shown.text
    assert Dialogue.KEEP in labels
    assert await state_of(app_storage, person) == f"ReportStates:{next_state}"
    after = (await stored_data(app_storage, person))["draft"]  # type: ignore[index]
    assert after == before


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("31.02.2023", "Такой даты нет"),
        ("26.10.2019", "Год 2019"),
        ("10 декабря 2023", "ещё не началось"),  # after today (20 November)
        ("с 1 ноября 2023 года в течение недели", Dialogue.KEEP_NOTE),  # unreadable
    ],
)
async def test_a_date_refused_after_back_still_offers_to_keep_the_dates_shown(
    world: World, app_storage: Storage, typed: str, told: str
) -> None:
    person = await join(world, 3029)
    await reach(person, "result")  # the dates 26-27 October confirmed
    before = (await stored_data(app_storage, person))["draft"]  # type: ignore[index]
    await person.press(Dialogue.BACK)

    [refused] = await person.send(typed)
    labels = person.labels()
    [result] = await person.press(Dialogue.KEEP)

    assert told in refused.text + " ".join(labels)
    assert Dialogue.KEEP in labels and Dialogue.BACK in labels
    assert step_number(result.text) == 5
    assert await state_of(app_storage, person) == "ReportStates:result"
    after = (await stored_data(app_storage, person))["draft"]  # type: ignore[index]
    assert after == before


async def test_a_date_refused_from_the_summary_still_offers_to_keep_the_dates_shown(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3030)
    await fill_event(person)
    before = (await stored_data(app_storage, person))["draft"]  # type: ignore[index]
    await person.press("Сроки")

    await person.send("31.02.2023")
    labels = person.labels()
    [summary] = await person.press(Dialogue.KEEP)

    assert labels == [Dialogue.KEEP, Dialogue.CANCEL]  # «Назад» would do the same
    assert summary.text.startswith(Dialogue.SUMMARY_HEAD)
    assert (await stored_data(app_storage, person))["draft"] == before  # type: ignore[index]


async def test_keep_at_the_participants_after_back_from_the_count_asks_the_count(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3015)
    await reach(person, "count")

    await person.press(Dialogue.BACK)
    [asked] = await person.press(Dialogue.KEEP)

    assert asked.text == Dialogue.ASK_COUNT
    assert await state_of(app_storage, person) == "ReportStates:count"


CHOSEN = Dialogue.CHOSEN_MARK + "4. В сфере культуры и туризма"  # the sphere of the walk


async def test_the_sphere_shown_after_back_is_marked_and_kept_by_its_own_button(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3016)
    await reach(person, "name")
    before = (await stored_data(app_storage, person))["draft"]  # type: ignore[index]

    [shown] = await person.press(Dialogue.BACK)
    labels = person.labels()
    [question] = await person.press(CHOSEN)

    assert "Сейчас: «Сотрудничество в сфере культуры и туризма»" in shown.text
    # Its own button keeps it, so no «Оставить как есть» beside it; step 1: no «Назад».
    assert [label for label in labels if label.startswith(Dialogue.CHOSEN_MARK)] == [CHOSEN]
    assert Dialogue.KEEP not in labels and Dialogue.BACK not in labels
    assert labels[-1] == Dialogue.CANCEL
    assert step_number(question.text) == 2
    assert (await stored_data(app_storage, person))["draft"] == before  # type: ignore[index]


async def test_the_sphere_chosen_from_the_summary_returns_to_it_unchanged(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3031)
    await fill_event(person)
    before = (await stored_data(app_storage, person))["draft"]  # type: ignore[index]

    await person.press("Сфера")
    labels = person.labels()
    [summary] = await person.press(CHOSEN)

    assert CHOSEN in labels
    assert Dialogue.KEEP not in labels and Dialogue.BACK not in labels
    assert summary.text.startswith(Dialogue.SUMMARY_HEAD)
    assert (await stored_data(app_storage, person))["draft"] == before  # type: ignore[index]


async def test_a_keep_button_on_the_page_of_the_chosen_sphere_is_refused(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3032)
    await reach(person, "name")
    await person.press(Dialogue.BACK)

    assert await person.press_data(kb.DialogueCb(action="keep", step="sphere").pack()) == []

    assert person.alerts() == [Common.STALE_BUTTON]
    assert await state_of(app_storage, person) == "ReportStates:sphere"


@pytest.mark.parametrize("field", ["Название", "Сроки", "Участники"])
async def test_keep_from_the_summary_returns_to_it_unchanged(
    world: World, app_storage: Storage, field: str
) -> None:
    person = await join(world, 3017)
    await fill_event(person)
    before = (await stored_data(app_storage, person))["draft"]  # type: ignore[index]

    await person.press(field)
    labels = person.labels()
    [summary] = await person.press(Dialogue.KEEP)

    assert Dialogue.BACK not in labels  # «Назад» would do the same: not shown
    assert summary.text.startswith(Dialogue.SUMMARY_HEAD)
    assert (await stored_data(app_storage, person))["draft"] == before  # type: ignore[index]


async def test_a_keep_button_with_nothing_to_keep_is_refused(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3018)
    await reach(person, "place")  # nothing answered at the place yet

    assert await person.press_data(kb.DialogueCb(action="keep", step="place").pack()) == []

    assert person.alerts() == [Common.STALE_BUTTON]
    assert await state_of(app_storage, person) == "ReportStates:place"


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ("name", "Название"),
        ("place", "Место"),
        ("dates", "Сроки"),
        ("result", "Результат"),
        ("participants", "Участники"),
        ("count", "Участники"),  # the count's «Назад» names the participants step
        ("period", "Квартал"),
    ],
)
async def test_an_old_back_button_pressed_while_editing_from_the_summary_is_stale(
    world: World, app_storage: Storage, state: str, field: str
) -> None:
    person = await join(world, 3033)
    await reach(person, state)
    old_back = person.button_data(Dialogue.BACK)  # under the question first asked
    await walk_on(person, state)
    await person.press(field)  # the question again, from the summary: no «Назад» on it
    asked_state = await state_of(app_storage, person)
    before = await stored_data(app_storage, person)

    assert await person.press_data(old_back) == []

    assert Dialogue.BACK not in person.labels()
    assert person.alerts() == [Common.STALE_BUTTON]
    assert await state_of(app_storage, person) == asked_state
    assert await stored_data(app_storage, person) == before


async def test_the_question_asked_from_the_summary_still_answers_after_an_old_back(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3034)
    await reach(person, "place")
    old_back = person.button_data(Dialogue.BACK)
    await walk_on(person, "place")
    await person.press("Место")
    await person.press_data(old_back)

    [summary] = await person.send("г. Гомель")

    assert summary.text.startswith(Dialogue.SUMMARY_HEAD)
    assert "г. Гомель" in summary.text


# --- no button does nothing or the same as another ---------------------------------------


@pytest.mark.parametrize("state", STATES)
async def test_every_dialogue_keyboard_has_distinct_buttons(world: World, state: str) -> None:
    person = await join(world, 3019)
    await reach(person, state)

    rows = person.last_keyboard().inline_keyboard
    data = [button.callback_data for row in rows for button in row]
    labels = [button.text for row in rows for button in row]

    assert len(set(data)) == len(data) and len(set(labels)) == len(labels)
    if state == "sphere":
        assert Dialogue.BACK not in labels  # nothing before step 1
    if state == "dates_confirm":
        assert labels == [Dialogue.YES, Dialogue.FIX, Dialogue.CANCEL]


@pytest.mark.parametrize("field", list(Dialogue.FIELD_NAMES.values()))
async def test_every_keyboard_from_the_summary_has_distinct_buttons(
    world: World, field: str
) -> None:
    person = await join(world, 3027)
    await fill_event(person)

    await person.press(field)
    rows = person.last_keyboard().inline_keyboard
    data = [button.callback_data for row in rows for button in row]
    labels = [button.text for row in rows for button in row]

    assert len(set(data)) == len(data) and len(set(labels)) == len(labels)
    # One way back to the summary unchanged: «Оставить как есть», or at the quarter the
    # quarter already chosen; «Назад» would do the same, so it is not shown.
    assert Dialogue.BACK not in labels
    if field == "Квартал":
        assert Dialogue.KEEP not in labels
        assert labels == ["IV квартал 2023 года" + Dialogue.DEFAULT_MARK, Dialogue.CANCEL]


async def test_the_quarter_chosen_from_the_summary_returns_to_it_unchanged(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Quarter(2024, 1))
    person = await join(world, 3028)
    await fill_event(person)
    before = (await stored_data(app_storage, person))["draft"]  # type: ignore[index]

    [asked] = await person.press("Квартал")
    labels = person.labels()
    [summary] = await person.press("IV квартал 2023 года")

    assert asked.text.endswith(Dialogue.CURRENT.format(value="IV квартал 2023 года"))
    assert labels == [
        "IV квартал 2023 года" + Dialogue.DEFAULT_MARK,
        "I квартал 2024 года",
        Dialogue.CANCEL,
    ]
    assert summary.text.startswith(Dialogue.SUMMARY_HEAD)
    assert (await stored_data(app_storage, person))["draft"] == before  # type: ignore[index]


@pytest.mark.parametrize(
    ("state", "data"), [("sphere", "d:back:sphere"), ("dates_confirm", "d:back:dates")]
)
async def test_an_old_back_button_where_none_is_shown_is_refused(
    world: World, app_storage: Storage, state: str, data: str
) -> None:
    person = await join(world, 3020)
    await reach(person, state)

    assert await person.press_data(data) == []

    assert person.alerts() == [Common.STALE_BUTTON]
    assert await state_of(app_storage, person) == f"ReportStates:{state}"


async def test_fix_at_the_dates_confirmation_asks_the_dates_again(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3021)
    await reach(person, "dates_confirm")

    [question] = await person.press(Dialogue.FIX)
    labels = person.labels()

    assert step_number(question.text) == 4
    assert labels == [Dialogue.BACK, Dialogue.CANCEL]  # «Назад»: to the place, step 3
    [place] = await person.press(Dialogue.BACK)
    assert step_number(place.text) == 3


# --- a copy's dates typed at the summary -------------------------------------------------


async def copy_first_event(person: Person, storage: Storage) -> None:
    await report(person)
    await card_of_first_event(person, storage)
    await person.press(MyEvents.COPY)


async def test_a_copy_takes_the_dates_typed_at_the_summary(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3022)
    await copy_first_event(person, app_storage)

    [confirm] = await person.send("3 ноября 2023")
    [period] = await person.press(Dialogue.YES)
    [summary] = await person.press("IV квартал 2023 года")
    await person.press(Dialogue.SUBMIT)

    assert confirm.text == Dialogue.CONFIRM_DATES.format(dates="3 ноября 2023 года")
    assert step_number(period.text) == 7
    assert "3 ноября 2023 года" in summary.text
    original, copy = await stored_events(app_storage.sessionmaker)
    assert copy.start_date == date(2023, 11, 3) and copy.name == original.name


@pytest.mark.parametrize(
    ("typed", "told"), [("31.02.2023", "Такой даты нет"), ("26.10.2019", "Год 2019")]
)
async def test_wrong_dates_typed_at_a_copys_summary_are_refused_as_at_the_dates_step(
    world: World, app_storage: Storage, typed: str, told: str
) -> None:
    person = await join(world, 3023)
    await copy_first_event(person, app_storage)

    [reply] = await person.send(typed)

    assert told in reply.text
    assert await state_of(app_storage, person) == "ReportStates:dates"
    data = await stored_data(app_storage, person)
    assert data is not None and data["draft"]["name"] == EXHIBITION
    await person.send("6 ноября 2023")  # then answered at the dates step
    assert await state_of(app_storage, person) == "ReportStates:dates_confirm"


async def test_unreadable_dates_at_a_copys_summary_may_be_kept_as_written(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3024)
    await copy_first_event(person, app_storage)

    await person.send("с 1 ноября 2023 года в течение недели")
    labels = person.labels()

    assert Dialogue.KEEP_NOTE in labels
    await person.press(Dialogue.KEEP_NOTE)
    assert await state_of(app_storage, person) == "ReportStates:period"


async def test_a_summary_with_dates_still_wants_a_button(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3025)
    await fill_event(person)
    before = await stored_data(app_storage, person)

    [reply] = await person.send("3 ноября 2023")

    assert reply.text == Dialogue.NEED_BUTTON
    assert await stored_data(app_storage, person) == before


# --- the quarter closes while the person is at the summary -------------------------------


async def test_a_quarter_closed_at_the_summary_with_none_other_open_keeps_the_draft(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3026)
    await fill_event(person)
    before = await stored_data(app_storage, person)
    await set_period_status(app_storage.sessionmaker, Q4_2023, "closed")

    [told] = await person.press(Dialogue.SUBMIT)

    assert told.text == Dialogue.PERIOD_CLOSED_KEPT.format(period="IV квартал 2023 года")
    assert await state_of(app_storage, person) == "ReportStates:summary"
    assert await stored_data(app_storage, person) == before
    assert await stored_events(app_storage.sessionmaker) == []
    await set_period_status(app_storage.sessionmaker, Q4_2023, "open")  # reopened
    [saved] = await person.press(Dialogue.SUBMIT)
    assert saved.text == Dialogue.SUBMITTED.format(period="IV квартал 2023 года")
    assert len(await stored_events(app_storage.sessionmaker)) == 1


async def test_a_quarter_closed_at_the_summary_offers_the_other_open_one(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Quarter(2024, 1))
    person = await join(world, 3027)
    await fill_event(person)
    await set_period_status(app_storage.sessionmaker, Q4_2023, "closed")

    told, question = await person.press(Dialogue.SUBMIT)
    await person.press("I квартал 2024 года")
    await person.press(Dialogue.SUBMIT)

    assert told.text == Dialogue.PERIOD_CLOSED
    assert step_number(question.text) == 7
    [event] = await stored_events(app_storage.sessionmaker)
    assert (event.period.year, event.period.quarter, event.name) == (2024, 1, EXHIBITION)


async def test_walk_on_after_resume_reaches_the_summary(world: World, app_storage: Storage) -> None:
    person = await join(world, 3028)
    await reach(person, "place")
    await person.send("/new")
    await person.press(Dialogue.RESUME)

    await walk_on(person, "place")

    assert await state_of(app_storage, person) == "ReportStates:summary"


async def test_a_quarter_closed_before_step_7_says_so_there_and_keeps_the_draft(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 3040)
    await reach(person, "participants")
    await set_period_status(app_storage.sessionmaker, Q4_2023, "closed")

    asked = await person.send("Сотрудники музея, 18 человек")

    assert asked[-1].text.endswith(Dialogue.ASK["period"] + Dialogue.NO_PERIOD_AT_STEP)
    assert person.labels() == [Dialogue.BACK, Dialogue.CANCEL]
    assert await state_of(app_storage, person) == "ReportStates:period"
    assert (await stored_data(app_storage, person) or {})["draft"]["participants"]
    await set_period_status(app_storage.sessionmaker, Q4_2023, "open")  # reopened
    await person.send("/new")
    [again] = await person.press(Dialogue.RESUME)
    assert again.text.endswith(Dialogue.ASK["period"])
    assert any(label.startswith("IV квартал 2023 года") for label in person.labels())
