"""«Мероприятий не было»: /nothing, the button under reminders and its undo; and the
reminder's «Сообщить о мероприятии», which starts the dialogue with its period chosen."""

from __future__ import annotations

from sqlalchemy import select

from bot.database import Storage
from handlers.keyboards import NewReportCb, NothingCb, reminder_keyboard
from handlers.texts import Common, Dialogue, Nothing, Reminders
from reports.quarters import Quarter
from storage.models import NothingToReport
from tests.conftest import COORDINATOR_ID
from tests.test_desk import report
from tests.test_dialogue import fill_event, join
from tests.tg import Person, World, add_period, set_period_status, stored_events

Q4 = "IV квартал 2023 года"
MUSEUM = "Смоленский музей"
SAID = {"organisation": MUSEUM, "period": Q4}


async def nothing_rows(storage: Storage) -> list[tuple[int, int, int | None]]:
    """(organisation id, period id, person id) of every «nothing to report»."""
    async with storage.sessionmaker() as session:
        rows = await session.execute(
            select(
                NothingToReport.organisation_id,
                NothingToReport.period_id,
                NothingToReport.person_id,
            ).order_by(NothingToReport.id)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def q4_id(storage: Storage) -> int:
    return await add_period(storage.sessionmaker, Quarter(2023, 4))


async def say_nothing(person: Person) -> None:
    await person.send("/nothing")
    await person.press(Reminders.NOTHING)


# --- /nothing and the button -------------------------------------------------------------


async def test_nothing_offers_one_button_for_the_period_being_collected(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1401)

    [reply] = await person.send("/nothing")

    assert reply.text == Nothing.OFFER.format(**SAID)
    assert person.labels() == [Reminders.NOTHING]
    assert (
        person.button_data(Reminders.NOTHING)
        == NothingCb(action="say", period=await q4_id(app_storage)).pack()
    )


async def test_the_button_records_nothing_to_report_for_the_organisation(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1402)
    await person.send("/nothing")

    [reply] = await person.press(Reminders.NOTHING)

    assert reply.text == Reminders.NOTHING_DONE.format(**SAID)
    assert person.labels() == [Reminders.NOTHING_UNDO]
    [(organisation_id, period_id, person_id)] = await nothing_rows(app_storage)
    assert period_id == await q4_id(app_storage)
    assert organisation_id is not None and person_id is not None


async def test_pressing_the_button_twice_records_it_once_and_says_so_quietly(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1403)
    await person.send("/nothing")
    data = person.button_data(Reminders.NOTHING)
    await person.press_data(data)

    replies = await person.press_data(data)

    assert replies == []
    assert person.answers()[-1].text == Nothing.ALREADY.format(**SAID)
    assert not person.answers()[-1].show_alert
    assert len(await nothing_rows(app_storage)) == 1


async def test_a_colleague_asking_again_sees_it_is_said_and_can_undo(
    world: World, app_storage: Storage
) -> None:
    await say_nothing(await join(world, 1404))
    colleague = await join(world, 1405)

    [reply] = await colleague.send("/nothing")

    assert reply.text == Nothing.ALREADY.format(**SAID)
    assert colleague.labels() == [Reminders.NOTHING_UNDO]


async def test_undo_withdraws_it_and_a_second_undo_finds_nothing(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1406)
    await say_nothing(person)
    undo = person.button_data(Reminders.NOTHING_UNDO)

    [reply] = await person.press_data(undo)
    again = await person.press_data(undo)

    assert reply.text == Reminders.NOTHING_UNDONE.format(period=Q4)
    assert again == []
    assert person.answers()[-1].text == Nothing.NOT_SAID.format(period=Q4)
    assert await nothing_rows(app_storage) == []


async def test_an_organisation_with_events_is_told_it_has_reported(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1407)
    await person.send("/nothing")
    button = person.button_data(Reminders.NOTHING)
    await report(person, "Выставка")

    [reply] = await person.send("/nothing")
    pressed = await person.press_data(button)

    told = Nothing.HAS_EVENTS.format(count=1, **SAID)
    assert reply.text == told
    assert pressed == [] and person.alerts() == [told]
    assert await nothing_rows(app_storage) == []


async def test_nothing_cannot_be_said_or_withdrawn_in_a_closed_period(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1408)
    await say_nothing(person)
    undo = person.button_data(Reminders.NOTHING_UNDO)
    say = NothingCb(action="say", period=await q4_id(app_storage)).pack()
    await set_period_status(app_storage.sessionmaker, Quarter(2023, 4), "closed")

    [reply] = await person.send("/nothing")
    await person.press_data(undo)
    await person.press_data(say)

    closed = Reminders.NOTHING_CLOSED.format(period=Q4)
    assert reply.text == closed
    assert person.alerts() == [closed, closed]
    assert len(await nothing_rows(app_storage)) == 1


async def test_a_person_without_an_organisation_cannot_say_nothing(
    world: World, app_storage: Storage
) -> None:
    desk = world.person(COORDINATOR_ID)

    [reply] = await desk.send("/nothing")
    await desk.press_data(NothingCb(action="say", period=await q4_id(app_storage)).pack())

    assert reply.text == Reminders.NOTHING_NO_ORG
    assert desk.alerts() == [Reminders.NOTHING_NO_ORG]
    assert await nothing_rows(app_storage) == []


async def test_the_button_under_a_reminder_works_like_nothing(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1409)
    reminder = reminder_keyboard(await q4_id(app_storage))
    say = next(b for row in reminder.inline_keyboard for b in row if b.text == Reminders.NOTHING)

    [reply] = await person.press_data(say.callback_data or "")

    assert reply.text == Reminders.NOTHING_DONE.format(**SAID)
    assert len(await nothing_rows(app_storage)) == 1


async def test_an_event_submitted_later_withdraws_nothing_by_itself(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1410)
    await say_nothing(person)

    await fill_event(person)
    [reply] = await person.press(Dialogue.SUBMIT)

    assert reply.text == Dialogue.SUBMITTED.format(period=Q4) + Nothing.WITHDRAWN_ON_SUBMIT.format(
        period=Q4
    )
    assert await nothing_rows(app_storage) == []
    assert len(await stored_events(app_storage.sessionmaker)) == 1


async def test_an_event_moved_into_a_period_withdraws_nothing_there(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Quarter(2024, 1))
    person = await join(world, 1411)
    await report(person, "Выставка")
    q1 = await add_period(app_storage.sessionmaker, Quarter(2024, 1))
    await person.press_data(NothingCb(action="say", period=q1).pack())
    [event] = await stored_events(app_storage.sessionmaker)
    await person.press_data(f"ev:edit:{event.id}")
    await person.press("Квартал")
    await person.press("I квартал 2024 года")

    [reply] = await person.press(Dialogue.SAVE)

    assert reply.text == Dialogue.UPDATED + Nothing.WITHDRAWN_ON_SUBMIT.format(
        period="I квартал 2024 года"
    )
    assert await nothing_rows(app_storage) == []


async def test_another_organisations_event_leaves_nothing_standing(
    world: World, app_storage: Storage
) -> None:
    await say_nothing(await join(world, 1412))
    theatre = await join(world, 1413, "Смоленский театр")

    await report(theatre, "Спектакль")

    assert len(await nothing_rows(app_storage)) == 1


async def test_forged_nothing_buttons_are_refused(world: World, app_storage: Storage) -> None:
    person = await join(world, 1414)

    for data in ("no:say:9999", "no:keep:1", f"no:say:{2**31}", "no:say:0", "no:say:x"):
        assert await person.press_data(data) == []

    assert person.alerts() == [Common.STALE_BUTTON] * 5
    assert await nothing_rows(app_storage) == []


async def test_a_stranger_pressing_nothing_is_refused(world: World, app_storage: Storage) -> None:
    stranger = world.person(1415)

    await stranger.press_data(NothingCb(action="say", period=await q4_id(app_storage)).pack())

    assert stranger.alerts() == [Common.stranger_alert(1415)]
    assert await nothing_rows(app_storage) == []


# --- «Сообщить о мероприятии» under a reminder -------------------------------------------


async def test_the_reminders_report_button_starts_the_dialogue_with_its_period_chosen(
    world: World, app_storage: Storage
) -> None:
    q1 = await add_period(app_storage.sessionmaker, Quarter(2024, 1))
    person = await join(world, 1416)

    [question] = await person.press_data(NewReportCb(period=q1).pack())
    await person.press("Сотрудничество в сфере культуры и туризма")
    for answer in ("Выставка", "г. Минск", "26-27 октября 2023"):
        await person.send(answer)
    await person.press(Dialogue.YES)
    await person.send("Открыта выставка.")
    await person.send("Сотрудники музея, 18 человек")

    assert Dialogue.ASK["sphere"] + "\n1. " in question.text
    # An October event would default to the fourth quarter; the reminder's period wins.
    assert person.labels()[:2] == [Q4, "I квартал 2024 года" + Dialogue.DEFAULT_MARK]


async def test_the_report_button_of_a_closed_period_starts_the_dialogue_without_it(
    world: World, app_storage: Storage
) -> None:
    q3 = await add_period(app_storage.sessionmaker, Quarter(2023, 3), status="closed")
    person = await join(world, 1417)

    told, question = await person.press_data(NewReportCb(period=q3).pack())

    assert told.text == Nothing.PERIOD_CLOSED_FOR_NEW.format(period="III квартал 2023 года")
    assert Dialogue.ASK["sphere"] + "\n1. " in question.text


async def test_a_forged_report_button_is_refused(world: World) -> None:
    person = await join(world, 1418)

    assert await person.press_data("nr:9999") == []
    assert await person.press_data("nr:-1") == []

    assert person.alerts() == [Common.STALE_BUTTON] * 2
