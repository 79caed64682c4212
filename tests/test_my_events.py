"""/my: the list, the organisation's view, a card, edit and save, delete, copy, earlier events."""

from __future__ import annotations

from datetime import date

from bot.database import Storage
from handlers.texts import Common, Dialogue, MyEvents
from reports.quarters import Quarter
from storage.models import Event
from tests.test_dialogue import fill_event, join
from tests.tg import (
    Person,
    World,
    add_period,
    fsm_of,
    set_period_status,
    stored_events,
)

Q3_2023 = Quarter(2023, 3)
EXHIBITION = "Выставка «Смоленск – Минск»"


async def report(person: Person, name: str = EXHIBITION) -> None:
    """File one event through the dialogue (26-27 October 2023, the fourth quarter)."""
    await fill_event(person, name)
    await person.press(Dialogue.SUBMIT)


async def report_in_september(person: Person, name: str) -> None:
    """File an event of September 2023 into the third quarter (which must be open)."""
    await person.send("/new")
    await person.press("Сотрудничество в сфере образования и науки")
    await person.send(name)
    await person.send("г. Смоленск")
    await person.send("28 сентября 2023")
    await person.press(Dialogue.YES)
    await person.send("Проведена конференция.")
    await person.send("Учёные, 40 человек")
    await person.press("III квартал 2023 года")
    await person.press(Dialogue.SUBMIT)


async def event_named(storage: Storage, name: str) -> Event:
    return next(e for e in await stored_events(storage.sessionmaker) if e.name == name)


async def open_card(person: Person, event: Event) -> str:
    [card] = await person.press_data(f"ev:open:{event.id}")
    return card.text


# --- the list ----------------------------------------------------------------------------


async def test_my_with_no_events_says_so(world: World) -> None:
    person = await join(world, 901)

    [reply] = await person.send("/my")

    assert reply.text == MyEvents.EMPTY


async def test_my_lists_the_persons_own_events_with_their_dates(world: World) -> None:
    anna, colleague = await join(world, 902), await join(world, 903)
    await report(anna, "Выставка")
    await report(anna, "Концерт")
    await report(colleague, "Лекция коллеги")

    [reply] = await anna.send("/my")

    assert reply.text == MyEvents.HEAD
    assert anna.labels() == [
        "26-27 октября 2023 года · Выставка",
        "26-27 октября 2023 года · Концерт",
        MyEvents.SHOW_ORG,
        MyEvents.SHOW_EARLIER,
        MyEvents.SHOW_YEAR,
        MyEvents.SHOW_SEARCH,
    ]


async def test_a_list_of_days_is_labelled_as_written(world: World) -> None:
    anna = await join(world, 904)
    await anna.send("/new")
    await anna.press("Сотрудничество в сфере образования и науки")
    await anna.send("Лекции")
    await anna.send("г. Смоленск")
    await anna.send("12 и 14 октября 2023")
    await anna.press(Dialogue.YES)
    await anna.send("Прочитаны лекции.")
    await anna.send("Студенты, 40 человек")
    await anna.press("IV квартал 2023 года (по умолчанию)")
    await anna.press(Dialogue.SUBMIT)

    await anna.send("/my")

    assert anna.labels()[0] == "12 и 14 октября 2023 года · Лекции"


async def test_the_organisation_view_lists_colleagues_events_too(world: World) -> None:
    anna, colleague = await join(world, 904), await join(world, 905)
    stranger_org = await join(world, 906, "Смоленский театр")
    await report(anna, "Выставка")
    await report(colleague, "Лекция коллеги")
    await report(stranger_org, "Спектакль")
    await anna.send("/my")

    [org] = await anna.press(MyEvents.SHOW_ORG)
    org_labels = anna.labels()
    [mine] = await anna.press(MyEvents.SHOW_MINE)

    assert org.text == MyEvents.ORG_HEAD
    assert [label.split(" · ")[1] for label in org_labels[:-4]] == ["Выставка", "Лекция коллеги"]
    assert org_labels[-4:] == [
        MyEvents.SHOW_MINE,
        MyEvents.SHOW_EARLIER,
        MyEvents.SHOW_YEAR,
        MyEvents.SHOW_SEARCH,
    ]
    assert mine.text == MyEvents.HEAD
    assert anna.labels()[0].endswith("Выставка")


async def test_deleted_events_are_not_listed(world: World, app_storage: Storage) -> None:
    person = await join(world, 907)
    await report(person)
    event = await event_named(app_storage, EXHIBITION)
    await person.press_data(f"ev:del:{event.id}")
    await person.press(MyEvents.YES_DELETE)

    [reply] = await person.send("/my")

    assert reply.text == MyEvents.EMPTY


# --- a card ------------------------------------------------------------------------------


async def test_an_event_opens_as_a_card_with_edit_delete_and_copy(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 908)
    await report(person, "<b>Выставка</b>")
    await person.send("/my")

    [card] = await person.press("26-27 октября 2023 года · <b>Выставка</b>")

    event = await event_named(app_storage, "<b>Выставка</b>")
    assert card.text.startswith(f"<b>Мероприятие №{event.id}</b> · отправлено")
    assert "&lt;b&gt;Выставка&lt;/b&gt;" in card.text
    assert "26-27 октября 2023 года" in card.text
    assert "<i>Автор: Иванова Мария Петровна</i>" in card.text
    assert person.labels() == [MyEvents.EDIT, MyEvents.DELETE, MyEvents.COPY]


async def test_a_colleagues_event_opens_for_copying_only(
    world: World, app_storage: Storage
) -> None:
    anna, colleague = await join(world, 909), await join(world, 910)
    await report(anna)
    event = await event_named(app_storage, EXHIBITION)

    card = await open_card(colleague, event)

    assert EXHIBITION in card
    assert colleague.labels() == [MyEvents.COPY]


# --- edit --------------------------------------------------------------------------------


async def test_editing_an_event_opens_its_summary_and_saves_one_field(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 911)
    await report(person)
    [before] = await stored_events(app_storage.sessionmaker)
    await open_card(person, before)

    [summary] = await person.press(MyEvents.EDIT)
    await person.press("Место")
    await person.send("г. Гомель, Республика Беларусь")
    [saved] = await person.press(Dialogue.SAVE)

    assert summary.text.startswith(Dialogue.SUMMARY_EDIT_HEAD.format(id=before.id))
    assert saved.text == Dialogue.UPDATED
    [after] = await stored_events(app_storage.sessionmaker)
    assert after.id == before.id and after.status == "submitted"
    assert after.place == "г. Гомель, Республика Беларусь"
    assert (after.name, after.start_date, after.result, after.participant_count) == (
        before.name,
        before.start_date,
        before.result,
        before.participant_count,
    )
    assert await fsm_of(app_storage.sessionmaker, person.user.id) is None


async def test_an_edit_cancelled_leaves_the_event_as_it_was(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 912)
    await report(person)
    [event] = await stored_events(app_storage.sessionmaker)
    await open_card(person, event)
    await person.press(MyEvents.EDIT)
    await person.press("Название")
    await person.send("Другое название")

    [asked] = await person.press(Dialogue.CANCEL)
    [reply] = await person.press(Dialogue.DROP_EDIT_YES)

    assert asked.text == Dialogue.CONFIRM_DROP_EDIT.format(id=event.id)
    assert reply.text == Dialogue.EDIT_CANCELLED
    [after] = await stored_events(app_storage.sessionmaker)
    assert after.name == EXHIBITION


async def test_an_edit_is_not_saved_once_the_events_period_is_closed(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Q3_2023)
    person = await join(world, 913)
    await report_in_september(person, "Конференция")
    event = await event_named(app_storage, "Конференция")
    await open_card(person, event)
    await person.press(MyEvents.EDIT)
    await person.press("Название")
    await person.send("Другое название")
    await set_period_status(app_storage.sessionmaker, Q3_2023, "closed")

    [reply] = await person.press(Dialogue.SAVE)

    assert reply.text == Dialogue.NO_LONGER_CHANGEABLE
    assert (await event_named(app_storage, "Конференция")).status == "submitted"
    assert await fsm_of(app_storage.sessionmaker, person.user.id) is None


async def test_an_edit_is_not_saved_once_the_event_is_deleted(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 925)
    await report(person)
    [event] = await stored_events(app_storage.sessionmaker)
    await open_card(person, event)
    await person.press(MyEvents.EDIT)
    save = person.button_data(Dialogue.SAVE)
    await person.press_data(f"ev:delyes:{event.id}")

    [reply] = await person.press_data(save)

    assert reply.text == Dialogue.NO_LONGER_CHANGEABLE
    [after] = await stored_events(app_storage.sessionmaker)
    assert after.status == "deleted"


# --- delete ------------------------------------------------------------------------------


async def test_deleting_asks_for_confirmation_and_yes_deletes(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 914)
    await report(person)
    [event] = await stored_events(app_storage.sessionmaker)
    await open_card(person, event)

    [question] = await person.press(MyEvents.DELETE)
    still_there = (await stored_events(app_storage.sessionmaker))[0].status
    [done] = await person.press(MyEvents.YES_DELETE)

    assert question.text == MyEvents.CONFIRM_DELETE.format(name=EXHIBITION)
    assert still_there == "submitted"
    assert done.text == MyEvents.DELETED
    [after] = await stored_events(app_storage.sessionmaker)
    assert after.status == "deleted"


async def test_no_keeps_the_event(world: World, app_storage: Storage) -> None:
    person = await join(world, 915)
    await report(person)
    [event] = await stored_events(app_storage.sessionmaker)
    await open_card(person, event)
    await person.press(MyEvents.DELETE)

    [reply] = await person.press(MyEvents.NO)

    assert reply.text == MyEvents.NOT_DELETED
    [after] = await stored_events(app_storage.sessionmaker)
    assert after.status == "submitted"


async def test_a_deleted_event_cannot_be_opened_again(world: World, app_storage: Storage) -> None:
    person = await join(world, 916)
    await report(person)
    [event] = await stored_events(app_storage.sessionmaker)
    await person.press_data(f"ev:delyes:{event.id}")

    replies = await person.press_data(f"ev:open:{event.id}")

    assert replies == []
    assert person.alerts() == [Common.STALE_BUTTON]


# --- closed periods and earlier events ---------------------------------------------------


async def test_events_of_a_closed_period_are_listed_as_earlier(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Q3_2023)
    person = await join(world, 917)
    await report_in_september(person, "Конференция")
    await report(person)
    await set_period_status(app_storage.sessionmaker, Q3_2023, "closed")

    await person.send("/my")
    current = person.labels()
    [earlier] = await person.press(MyEvents.SHOW_EARLIER)

    assert [label for label in current if "·" in label] == [
        f"26-27 октября 2023 года · {EXHIBITION}"
    ]
    assert earlier.text == MyEvents.EARLIER_HEAD
    assert person.labels() == [
        "28 сентября 2023 года · Конференция",
        MyEvents.SHOW_MINE,
        MyEvents.SHOW_YEAR,
        MyEvents.SHOW_SEARCH,
    ]


async def test_an_event_of_a_closed_period_can_be_copied_but_not_changed(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Q3_2023)
    person = await join(world, 918)
    await report_in_september(person, "Конференция")
    await set_period_status(app_storage.sessionmaker, Q3_2023, "closed")
    event = await event_named(app_storage, "Конференция")

    await open_card(person, event)
    buttons = person.labels()
    for action in ("edit", "del", "delyes"):
        assert await person.press_data(f"ev:{action}:{event.id}") == []

    assert buttons == [MyEvents.COPY]
    assert person.alerts() == [MyEvents.CLOSED] * 3
    assert (await event_named(app_storage, "Конференция")).status == "submitted"
    assert await fsm_of(app_storage.sessionmaker, person.user.id) is None


# --- copy --------------------------------------------------------------------------------


async def test_a_copy_opens_at_the_summary_without_dates(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 919)
    await report(person)
    [event] = await stored_events(app_storage.sessionmaker)
    await open_card(person, event)

    told, summary = await person.press(MyEvents.COPY)

    assert told.text == MyEvents.COPIED
    assert summary.text.startswith(Dialogue.SUMMARY_HEAD)
    assert f"<b>Сроки:</b> {Dialogue.MISSING}" in summary.text
    assert EXHIBITION in summary.text and "г. Минск, Республика Беларусь" in summary.text
    assert person.labels()[-2:] == [Dialogue.SUBMIT, Dialogue.CANCEL]
    row = await fsm_of(app_storage.sessionmaker, person.user.id)
    assert row is not None and row.state == "ReportStates:summary"
    assert row.data["draft"]["dates"] is None and row.data["draft"]["event_id"] is None


async def test_a_copy_given_dates_is_submitted_as_a_new_event(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 920)
    await report(person)
    [original] = await stored_events(app_storage.sessionmaker)
    await open_card(person, original)
    await person.press(MyEvents.COPY)

    await person.press("Сроки")
    await person.send("5 ноября 2023")
    await person.press(Dialogue.YES)
    await person.press("IV квартал 2023 года")
    [reply] = await person.press(Dialogue.SUBMIT)

    assert reply.text == Dialogue.SUBMITTED.format(period="IV квартал 2023 года")
    first, copy = await stored_events(app_storage.sessionmaker)
    assert first.id == original.id and first.start_date == date(2023, 10, 26)
    assert copy.id != original.id and copy.start_date == date(2023, 11, 5)
    assert (copy.name, copy.place, copy.result, copy.participants, copy.sphere_id) == (
        original.name,
        original.place,
        original.result,
        original.participants,
        original.sphere_id,
    )
    assert copy.author_id == original.author_id and copy.status == "submitted"


async def test_a_copy_submitted_without_dates_asks_for_them(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 921)
    await report(person)
    [original] = await stored_events(app_storage.sessionmaker)
    await open_card(person, original)
    await person.press(MyEvents.COPY)

    missing, question = await person.press(Dialogue.SUBMIT)

    assert missing.text == Dialogue.MISSING_FIELDS.format(fields="Сроки, Квартал")
    assert "Шаг 4 из 7" in question.text
    assert len(await stored_events(app_storage.sessionmaker)) == 1


async def test_an_earlier_event_is_copied_into_an_open_period(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Q3_2023)
    person = await join(world, 922)
    await report_in_september(person, "Конференция")
    await set_period_status(app_storage.sessionmaker, Q3_2023, "closed")
    await person.send("/my")
    await person.press(MyEvents.SHOW_EARLIER)
    await person.press("28 сентября 2023 года · Конференция")

    await person.press(MyEvents.COPY)
    await person.press("Сроки")
    await person.send("7 ноября 2023")
    await person.press(Dialogue.YES)
    await person.press("IV квартал 2023 года")
    await person.press(Dialogue.SUBMIT)

    old, new = await stored_events(app_storage.sessionmaker)
    assert (old.period.quarter, new.period.quarter) == (3, 4)
    assert new.name == "Конференция" and new.start_date == date(2023, 11, 7)


async def test_a_colleagues_event_copied_becomes_the_copiers_own(
    world: World, app_storage: Storage
) -> None:
    anna, colleague = await join(world, 923), await join(world, 924)
    await report(anna)
    [original] = await stored_events(app_storage.sessionmaker)
    await open_card(colleague, original)

    await colleague.press(MyEvents.COPY)
    await colleague.press("Сроки")
    await colleague.send("1 ноября 2023")
    await colleague.press(Dialogue.YES)
    await colleague.press("IV квартал 2023 года")
    await colleague.press(Dialogue.SUBMIT)

    first, copy = await stored_events(app_storage.sessionmaker)
    assert copy.author_id != first.author_id
    assert copy.organisation_id == first.organisation_id
