"""The seven steps: numbering, editing from the summary, back, cancel, count, period, dates."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from bot.app import build_dispatcher
from bot.database import Storage, open_storage
from bot.settings import Settings
from handlers.keyboards import SPHERE_BUTTON_MAX, sphere_label
from handlers.texts import Dialogue, MyEvents
from reports.quarters import Quarter
from storage.models import Event
from tests.conftest import NOW, Clock
from tests.factories import help_shown
from tests.test_dialogue import fill_event, join
from tests.tg import (
    Person,
    World,
    add_period,
    fsm_of,
    reach,
    set_period_status,
    stored_events,
    stored_person,
    walk_on,
)

Q3_2023 = Quarter(2023, 3)
Q1_2024 = Quarter(2024, 1)


def step_number(text: str) -> int:
    """The N of "Шаг N из 7" in a question."""
    found = re.search(r"Шаг (\d) из 7", text)
    assert found is not None, text
    return int(found.group(1))


async def state_of(storage: Storage, person: Person) -> str | None:
    row = await fsm_of(storage.sessionmaker, person.user.id)
    return row.state if row else None


async def submit(person: Person) -> None:
    await person.press("✅ Отправить")


# --- the steps in order ------------------------------------------------------------------


async def test_each_step_is_numbered_out_of_seven(world: World) -> None:
    person = await join(world, 701)

    asked = [(await person.send("/new"))[-1].text]
    asked.append((await person.press("Сотрудничество в сфере спорта"))[-1].text)
    asked.append((await person.send("Турнир по самбо"))[-1].text)
    asked.append((await person.send("г. Смоленск"))[-1].text)
    await person.send("26.10.2023")
    asked.append((await person.press("✔ Верно"))[-1].text)
    asked.append((await person.send("Проведён турнир."))[-1].text)
    asked.append((await person.send("Спортсмены, всего 30 человек"))[-1].text)

    assert [step_number(text) for text in asked] == [1, 2, 3, 4, 5, 6, 7]


async def test_the_sphere_is_chosen_with_a_button_per_sphere(
    world: World, settings: Settings
) -> None:
    person = await join(world, 702)

    await person.send("/new")

    labels = person.labels()
    listed = person.last_text().splitlines()[1:]
    assert listed == [f"{i}. {name}" for i, name in enumerate(settings.spheres, 1)]
    assert labels[: len(settings.spheres)] == [
        sphere_label(i, name) for i, name in enumerate(settings.spheres, 1)
    ]
    assert labels[len(settings.spheres) :] == [Dialogue.CANCEL]  # step 1: nothing before


def test_sphere_buttons_fit_a_phone_and_are_not_cut_mid_word(settings: Settings) -> None:
    labels = [sphere_label(i, name) for i, name in enumerate(settings.spheres, 1)]

    assert len(set(labels)) == len(labels)
    assert labels[3] == "4. В сфере культуры и туризма"
    assert labels[7] == "8. В сфере молодежной политики и…"  # cut after a word
    for label, name in zip(labels, settings.spheres, strict=True):
        assert len(label) <= SPHERE_BUTTON_MAX
        shown_words = label.split(" ", 1)[1].removesuffix("…").split()
        assert " ".join(shown_words).lower() in name.lower()
        assert all(word in name.lower().split() for word in (w.lower() for w in shown_words))


async def test_the_summary_shows_every_answer_and_a_button_per_field(world: World) -> None:
    person = await join(world, 703)

    await fill_event(person)

    summary = person.last_text()
    for shown in (
        "Сотрудничество в сфере культуры и туризма",
        "Выставка «Смоленск – Минск»",
        "г. Минск, Республика Беларусь",
        "26-27 октября 2023 года",
        "Открыта выставка.\nПодписано соглашение о сотрудничестве.",
        "Общее количество участников – 18 человек",
        "<b>Количество участников:</b> 18",
        "IV квартал 2023 года",
    ):
        assert shown in summary
    assert person.labels() == [
        *Dialogue.FIELD_NAMES.values(),
        Dialogue.SUBMIT,
        Dialogue.CANCEL,
    ]


# --- editing from the summary ------------------------------------------------------------

EDITS = [
    pytest.param(
        "Сфера",
        [("press", "Сотрудничество в сфере спорта")],
        lambda e: e.sphere.name == "Сотрудничество в сфере спорта",
        id="sphere",
    ),
    pytest.param(
        "Название",
        [("send", "Фестиваль «Славянское единство»")],
        lambda e: e.name == "Фестиваль «Славянское единство»",
        id="name",
    ),
    pytest.param(
        "Место",
        [("send", "г. Гомель")],
        lambda e: e.place == "г. Гомель",
        id="place",
    ),
    pytest.param(
        "Сроки",
        [("send", "3 ноября 2023"), ("press", "✔ Верно")],
        lambda e: (e.start_date, e.end_date) == (date(2023, 11, 3), date(2023, 11, 3)),
        id="dates",
    ),
    pytest.param(
        "Результат",
        [("send", "Подписан меморандум.")],
        lambda e: e.result == "Подписан меморандум.",
        id="result",
    ),
    pytest.param(
        "Участники",
        [("send", "Делегация, 5 человек")],
        lambda e: (e.participants, e.participant_count) == ("Делегация, 5 человек", 5),
        id="participants",
    ),
    pytest.param(
        "Участники",
        [("send", "Делегация из Минска"), ("send", "7")],
        lambda e: (e.participants, e.participant_count) == ("Делегация из Минска", 7),
        id="participants-count-asked",
    ),
    pytest.param(
        "Квартал",
        [("press", "I квартал 2024 года")],
        lambda e: (e.period.year, e.period.quarter) == (2024, 1),
        id="period",
    ),
]


@pytest.mark.parametrize(("field", "answers", "stored"), EDITS)
async def test_a_field_edited_from_the_summary_returns_to_the_summary_and_is_stored(
    world: World,
    app_storage: Storage,
    field: str,
    answers: list[tuple[str, str]],
    stored: Callable[[Event], bool],
) -> None:
    await add_period(app_storage.sessionmaker, Q1_2024)
    person = await join(world, 704)
    await fill_event(person)

    await person.press(field)
    for how, value in answers:
        await (person.press(value) if how == "press" else person.send(value))
    summary = person.last_text()
    await submit(person)

    assert Dialogue.SUMMARY_HEAD in summary
    [event] = await stored_events(app_storage.sessionmaker)
    assert stored(event)
    assert event.status == "submitted"


@pytest.mark.parametrize("field", ["Название", "Место", "Результат", "Участники"])
async def test_editing_a_text_field_shows_its_current_answer(world: World, field: str) -> None:
    person = await join(world, 705)
    await fill_event(person)

    [question] = await person.press(field)

    assert "Сейчас: «" in question.text
    assert person.labels() == [Dialogue.KEEP, Dialogue.CANCEL]  # keeping it: to the summary


async def test_editing_the_dates_shows_them_as_the_table_prints_them(world: World) -> None:
    person = await join(world, 706)
    await fill_event(person)

    [question] = await person.press("Сроки")

    assert step_number(question.text) == 4
    assert "Сейчас: «26-27 октября 2023 года»" in question.text


# --- back --------------------------------------------------------------------------------

BACK = [
    ("name", 1),
    ("place", 2),
    ("dates", 3),
    ("result", 4),
    ("participants", 5),
    ("count", 6),  # back from the count: the participants question again
    ("period", 6),
]


@pytest.mark.parametrize(("state", "asked"), BACK)
async def test_back_returns_to_the_step_before(
    world: World, app_storage: Storage, state: str, asked: int
) -> None:
    person = await join(world, 707)
    await reach(person, state)

    [question] = await person.press(Dialogue.BACK)

    assert step_number(question.text) == asked
    expected = ("sphere", "name", "place", "dates", "result", "participants", "period")
    assert await state_of(app_storage, person) == f"ReportStates:{expected[asked - 1]}"


async def test_going_back_keeps_the_answer_already_given(world: World) -> None:
    person = await join(world, 708)
    await reach(person, "dates")

    [question] = await person.press(Dialogue.BACK)

    assert step_number(question.text) == 3
    assert "Сейчас: «г. Минск, Республика Беларусь»" in question.text


async def test_keep_while_editing_returns_to_the_summary_unchanged(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 709)
    await fill_event(person)
    await person.press("Место")

    [summary] = await person.press(Dialogue.KEEP)
    await submit(person)

    assert Dialogue.SUMMARY_HEAD in summary.text
    [event] = await stored_events(app_storage.sessionmaker)
    assert event.place == "г. Минск, Республика Беларусь"


# --- cancel ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", ["sphere", "place", "dates_confirm", "count", "period", "summary"]
)
async def test_the_cancel_button_ends_the_dialogue_and_drops_the_draft(
    world: World, app_storage: Storage, state: str
) -> None:
    person = await join(world, 710)
    await reach(person, state)

    replies = await person.press(Dialogue.CANCEL)
    if state != "sphere":  # a draft with answers: deleted once confirmed
        assert [r.text for r in replies] == [Dialogue.CONFIRM_DROP]
        replies = await person.press(Dialogue.DROP_YES)
    [reply] = replies

    assert reply.text == Dialogue.CANCELLED
    assert await fsm_of(app_storage.sessionmaker, person.user.id) is None
    assert await stored_events(app_storage.sessionmaker) == []


@pytest.mark.parametrize("state", ["sphere", "name", "dates", "dates_confirm", "count", "summary"])
async def test_slash_cancel_leaves_the_dialogue_from_any_step(
    world: World, app_storage: Storage, state: str
) -> None:
    person = await join(world, 711)
    await reach(person, state)

    [reply] = await person.send("/cancel")
    if state != "sphere":  # a draft with answers: deleted once confirmed
        assert reply.text == Dialogue.CONFIRM_DROP
        [reply] = await person.press(Dialogue.DROP_YES)
    [after] = await person.send("Какой-то текст")

    assert reply.text == Dialogue.CANCELLED
    assert await fsm_of(app_storage.sessionmaker, person.user.id) is None
    assert "Сообщение не распознано" in after.text
    assert await stored_events(app_storage.sessionmaker) == []


async def test_slash_cancel_outside_a_dialogue_says_there_is_nothing_to_cancel(
    world: World,
) -> None:
    person = await join(world, 712)

    [reply] = await person.send("/cancel")

    assert reply.text == Dialogue.NOTHING_TO_CANCEL


async def test_other_commands_in_the_middle_keep_the_step(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 713)
    await reach(person, "place")

    [help_] = await person.send("/help")
    [listing] = await person.send("/my")
    [question] = await person.send("г. Минск")

    assert help_.text == help_shown(NOW)
    assert listing.text == MyEvents.EMPTY
    assert step_number(question.text) == 4


async def test_a_new_report_started_mid_dialogue_starts_afresh(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 713)
    await reach(person, "result")

    [asked] = await person.send("/new")
    [question] = await person.press(Dialogue.RESTART)

    assert asked.text == Dialogue.DRAFT_IN_PROGRESS
    assert step_number(question.text) == 1
    row = await fsm_of(app_storage.sessionmaker, person.user.id)
    assert row is not None and row.data["draft"]["name"] is None


# --- the participants' count -------------------------------------------------------------


async def test_a_count_written_in_the_participants_is_not_asked_for(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 714)
    await reach(person, "participants")

    [question] = await person.send("Делегация Республики Беларусь (всего 12 участников)")

    assert step_number(question.text) == 7
    row = await fsm_of(app_storage.sessionmaker, person.user.id)
    assert row is not None and row.data["draft"]["count"] == 12


async def test_a_missing_count_is_asked_for_and_stored(world: World, app_storage: Storage) -> None:
    person = await join(world, 715)
    await reach(person, "participants")

    [asked] = await person.send("Сотрудники музея")
    [question] = await person.send("25")
    await person.press("IV квартал 2023 года")
    await submit(person)

    assert asked.text == Dialogue.ASK_COUNT
    assert step_number(question.text) == 7
    [event] = await stored_events(app_storage.sessionmaker)
    assert (event.participants, event.participant_count) == ("Сотрудники музея", 25)


async def test_dont_know_leaves_the_count_empty(world: World, app_storage: Storage) -> None:
    person = await join(world, 716)
    await reach(person, "count")

    [question] = await person.press(Dialogue.DONT_KNOW)
    [summary] = await person.press("IV квартал 2023 года")
    await submit(person)

    assert step_number(question.text) == 7
    assert f"<b>Количество участников:</b> {Dialogue.UNKNOWN_COUNT}" in summary.text
    [event] = await stored_events(app_storage.sessionmaker)
    assert event.participant_count is None


@pytest.mark.parametrize("answer", ["много", "-3", "12.5", "99999999"])
async def test_a_count_that_is_not_a_number_is_asked_again(
    world: World, app_storage: Storage, answer: str
) -> None:
    person = await join(world, 717)
    await reach(person, "count")

    [reply] = await person.send(answer)

    assert reply.text == Dialogue.BAD_COUNT
    assert await state_of(app_storage, person) == "ReportStates:count"


@pytest.mark.parametrize("answer", ["около 20", "более 1000", "свыше 50", "не менее 30"])
async def test_an_approximate_count_is_asked_again_not_turned_into_a_number(
    world: World, app_storage: Storage, answer: str
) -> None:
    person = await join(world, 718)
    await reach(person, "count")

    [reply] = await person.send(answer)

    assert reply.text == Dialogue.APPROXIMATE_COUNT.format(total=answer)
    assert await state_of(app_storage, person) == "ReportStates:count"
    row = await fsm_of(app_storage.sessionmaker, person.user.id)
    assert row is not None and row.data["draft"]["count"] is None


@pytest.mark.parametrize(
    ("answer", "count"), [("2 000", 2000), ("2\u00a0000", 2000), ("1 500 человек", 1500)]
)
async def test_a_count_with_thousands_separated_is_read_whole(
    world: World, app_storage: Storage, answer: str, count: int
) -> None:
    person = await join(world, 719)
    await reach(person, "count")

    await person.send(answer)

    row = await fsm_of(app_storage.sessionmaker, person.user.id)
    assert row is not None and row.data["draft"]["count"] == count


async def test_an_approximate_total_in_the_text_keeps_its_word_in_the_summary(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 720)
    await reach(person, "participants")

    await person.send("Выставку посетили более 1\u00a0000 человек")
    [summary] = await person.press("IV квартал 2023 года")

    assert "<b>Количество участников:</b> более 1000" in summary.text
    row = await fsm_of(app_storage.sessionmaker, person.user.id)
    assert row is not None and row.data["draft"]["count"] == 1000


# --- the reporting period ----------------------------------------------------------------


def marked(person: Person) -> list[str]:
    """The period buttons marked as the default."""
    return [label for label in person.labels() if label.endswith(Dialogue.DEFAULT_MARK)]


async def test_the_period_defaults_to_the_collected_quarter(world: World) -> None:
    person = await join(world, 718)

    await reach(person, "period")

    assert marked(person) == ["IV квартал 2023 года" + Dialogue.DEFAULT_MARK]


async def test_a_september_start_defaults_to_the_third_quarter_while_it_is_open(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Q3_2023)
    person = await join(world, 719)
    await reach(person, "dates")
    await person.send("28-29 сентября 2023")
    await person.press("✔ Верно")
    await person.send("Открыта выставка.")

    await person.send("Сотрудники музея, 18 человек")
    labels = person.labels()
    await person.press("III квартал 2023 года")
    await submit(person)

    assert "III квартал 2023 года" + Dialogue.DEFAULT_MARK in labels
    assert "IV квартал 2023 года" in labels
    [event] = await stored_events(app_storage.sessionmaker)
    assert (event.period.year, event.period.quarter) == (2023, 3)


async def test_a_september_start_defaults_to_the_collected_quarter_once_the_third_is_closed(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Q3_2023, status="closed")
    person = await join(world, 720)
    await reach(person, "dates")
    await person.send("28 сентября 2023")
    await person.press("✔ Верно")
    await person.send("Открыта выставка.")

    await person.send("Сотрудники музея, 18 человек")

    assert marked(person) == ["IV квартал 2023 года" + Dialogue.DEFAULT_MARK]
    assert not any(label.startswith("III квартал") for label in person.labels())


async def period_buttons_for(person: Person, dates: str) -> list[str]:
    """Report up to the period step with these dates; the period buttons offered."""
    await reach(person, "dates")
    await person.send(dates)
    await person.press(Dialogue.YES)
    await person.send("Открыта выставка.")
    await person.send("Сотрудники музея, 18 человек")
    return person.labels()[:-2]


async def test_after_the_deadline_an_open_earlier_quarter_still_takes_its_events(
    world: World, clock: Clock
) -> None:
    person = await join(world, 729)
    await reach(person, "period")  # the fourth quarter's period exists and stays open
    await person.press(Dialogue.CANCEL)
    await person.press(Dialogue.DROP_YES)
    clock.now = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)  # collecting I квартал 2024

    december = await period_buttons_for(person, "20 декабря 2023")
    await person.press(Dialogue.CANCEL)
    await person.press(Dialogue.DROP_YES)
    january = await period_buttons_for(person, "9 января 2024")

    assert december == ["IV квартал 2023 года" + Dialogue.DEFAULT_MARK, "I квартал 2024 года"]
    assert january == ["IV квартал 2023 года", "I квартал 2024 года" + Dialogue.DEFAULT_MARK]


async def test_after_the_quarter_closes_its_events_default_to_the_collected_one(
    world: World, app_storage: Storage, clock: Clock
) -> None:
    person = await join(world, 730)
    clock.now = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
    await add_period(app_storage.sessionmaker, Quarter(2023, 4), status="closed")

    december = await period_buttons_for(person, "20 декабря 2023")

    assert december == ["I квартал 2024 года" + Dialogue.DEFAULT_MARK]


async def test_another_open_period_may_be_chosen(world: World, app_storage: Storage) -> None:
    await add_period(app_storage.sessionmaker, Q1_2024)
    person = await join(world, 721)
    await reach(person, "period")

    await person.press("I квартал 2024 года")
    await submit(person)

    [event] = await stored_events(app_storage.sessionmaker)
    assert (event.period.year, event.period.quarter) == (2024, 1)


async def test_a_period_closed_before_it_is_chosen_is_refused(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Q3_2023)
    person = await join(world, 722)
    await reach(person, "period")
    await set_period_status(app_storage.sessionmaker, Q3_2023, "closed")

    [asked_again] = await person.press("III квартал 2023 года")

    assert person.alerts() == [Dialogue.PERIOD_CLOSED]
    assert step_number(asked_again.text) == 7
    assert not any(label.startswith("III квартал") for label in person.labels())
    assert await state_of(app_storage, person) == "ReportStates:period"


async def test_a_period_closed_before_submitting_is_asked_for_again(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Q1_2024)
    person = await join(world, 723)
    await reach(person, "period")
    await person.press("I квартал 2024 года")
    await set_period_status(app_storage.sessionmaker, Q1_2024, "closed")

    replies = await person.press("✅ Отправить")

    assert replies[0].text == Dialogue.PERIOD_CLOSED
    assert step_number(replies[-1].text) == 7
    assert await stored_events(app_storage.sessionmaker) == []


async def test_new_with_no_open_period_says_so_at_once(world: World, app_storage: Storage) -> None:
    person = await join(world, 724)
    await person.send("/new")  # creates the period being collected (IV квартал 2023)
    await person.send("/cancel")
    await set_period_status(app_storage.sessionmaker, Quarter(2023, 4), "closed")

    [reply] = await person.send("/new")

    assert reply.text == Dialogue.NO_OPEN_PERIODS
    assert await state_of(app_storage, person) is None


# --- dates -------------------------------------------------------------------------------

DATES = [
    ("26.10.2023", "26 октября 2023 года"),
    ("26.10-27.10.2023", "26-27 октября 2023 года"),
    ("с 26 по 27 октября 2023 года", "26-27 октября 2023 года"),
    ("10 ноября – 3 декабря 2023", "10 ноября – 3 декабря 2023 года"),
    ("окт. 2023", "октябрь 2023 года"),
    ("26 октября", "26 октября 2023 года"),
]


@pytest.mark.parametrize(("typed", "printed"), DATES)
async def test_dates_are_echoed_as_the_table_prints_them(
    world: World, typed: str, printed: str
) -> None:
    person = await join(world, 724)
    await reach(person, "dates")

    [reply] = await person.send(typed)

    assert f"<b>{printed}</b>" in reply.text
    assert person.labels()[:2] == [Dialogue.YES, Dialogue.FIX]


async def test_fix_asks_for_the_dates_again(world: World, app_storage: Storage) -> None:
    person = await join(world, 725)
    await reach(person, "dates_confirm")

    [question] = await person.press(Dialogue.FIX)
    await person.send("3 ноября 2023")
    await person.press(Dialogue.YES)

    assert step_number(question.text) == 4
    row = await fsm_of(app_storage.sessionmaker, person.user.id)
    assert row is not None and row.data["draft"]["dates"]["start"] == "2023-11-03"


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("31.02.2023", "Такой даты нет"),
        ("27-26.10.2023", "раньше даты начала"),
        ("26.10.2019", "не относится к отчётному периоду"),
        ("когда-то осенью", "Не удалось распознать"),
    ],
)
async def test_dates_that_cannot_be_right_are_asked_again(
    world: World, app_storage: Storage, typed: str, told: str
) -> None:
    person = await join(world, 726)
    await reach(person, "dates")

    [reply] = await person.send(typed)

    assert told in reply.text
    assert Dialogue.KEEP_NOTE not in person.labels()
    assert await state_of(app_storage, person) == "ReportStates:dates"


async def test_unreadable_dates_with_a_date_in_them_can_be_kept_as_a_note(
    world: World, app_storage: Storage
) -> None:
    typed = "отборочный этап 15 октября, финал 20 ноября 2023 года"
    person = await join(world, 727)
    await reach(person, "dates")

    [offer] = await person.send(typed)
    [question] = await person.press(Dialogue.KEEP_NOTE)
    await person.send("Проведена олимпиада.")
    await person.send("Школьники, 40 человек")
    summary = (await person.press("IV квартал 2023 года"))[-1].text
    await submit(person)

    assert "15 октября 2023 года" in offer.text
    assert step_number(question.text) == 5
    assert typed in summary
    [event] = await stored_events(app_storage.sessionmaker)
    assert event.dates_note == typed
    assert event.start_date == date(2023, 10, 15)


# --- drafts survive a restart; people do not mix ------------------------------------------


@pytest.mark.parametrize("state", ["name", "dates_confirm", "count", "summary"])
async def test_a_restart_mid_dialogue_resumes_at_the_same_step(
    world: World, app_storage: Storage, settings: Settings, clock: Clock, state: str
) -> None:
    person = await join(world, 728)
    await reach(person, state)
    before = await fsm_of(app_storage.sessionmaker, person.user.id)

    restarted = await open_storage(settings)
    try:
        world.dispatcher = build_dispatcher(settings, restarted, clock=clock)
        await walk_on(person, state)
        await submit(person)
    finally:
        await restarted.close()

    assert before is not None and before.state == f"ReportStates:{state}"
    [event] = await stored_events(app_storage.sessionmaker)
    assert event.name == "Выставка «Смоленск – Минск»"
    assert (event.participants, event.participant_count) == ("Сотрудники музея", 18)


async def test_two_people_interleaving_their_answers_keep_them_apart(
    world: World, app_storage: Storage
) -> None:
    anna, boris = await join(world, 731), await join(world, 732, "Смоленский театр")

    await anna.send("/new")
    await boris.send("/new")
    await anna.press("Сотрудничество в сфере культуры и туризма")
    await boris.press("Сотрудничество в сфере спорта")
    await boris.send("Турнир")
    await anna.send("Выставка")
    await anna.send("г. Минск")
    await boris.send("г. Брест")
    await boris.send("3 ноября 2023")
    await anna.send("26 октября 2023")
    await anna.press(Dialogue.YES)
    await boris.press(Dialogue.YES)
    await boris.send("Турнир проведён.")
    await anna.send("Выставка открыта.")
    await anna.send("Музей, 18 человек")
    await boris.send("Спортсмены, 30 человек")
    await boris.press("IV квартал 2023 года")
    await anna.press("IV квартал 2023 года")
    await anna.press("✅ Отправить")
    await boris.press("✅ Отправить")

    await assert_kept_apart(app_storage)


async def test_two_people_reporting_concurrently_keep_their_answers_apart(
    world: World, app_storage: Storage
) -> None:
    anna, boris = await join(world, 731), await join(world, 732, "Смоленский театр")

    async def report(person: Person, sphere: str, answers: list[str]) -> None:
        await person.send("/new")
        await person.press(sphere)
        name, place, dates, result, participants = answers
        for text in (name, place, dates):
            await person.send(text)
        await person.press(Dialogue.YES)
        for text in (result, participants):
            await person.send(text)
        await person.press("IV квартал 2023 года")
        await person.press("✅ Отправить")

    await asyncio.gather(
        report(
            anna,
            "Сотрудничество в сфере культуры и туризма",
            ["Выставка", "г. Минск", "26 октября 2023", "Выставка открыта.", "Музей, 18 человек"],
        ),
        report(
            boris,
            "Сотрудничество в сфере спорта",
            ["Турнир", "г. Брест", "3 ноября 2023", "Турнир проведён.", "Спортсмены, 30 человек"],
        ),
    )

    await assert_kept_apart(app_storage)


async def assert_kept_apart(app_storage: Storage) -> None:
    """Anna's exhibition and Boris's tournament, each with its own author and answers."""
    events = {event.name: event for event in await stored_events(app_storage.sessionmaker)}
    assert sorted(events) == ["Выставка", "Турнир"]
    anna = await stored_person(app_storage.sessionmaker, 731)
    boris = await stored_person(app_storage.sessionmaker, 732)
    assert anna is not None and events["Выставка"].author_id == anna.id
    assert boris is not None and events["Турнир"].author_id == boris.id
    exhibition, tournament = events["Выставка"], events["Турнир"]
    assert (exhibition.place, exhibition.start_date, exhibition.participant_count) == (
        "г. Минск",
        date(2023, 10, 26),
        18,
    )
    assert (tournament.place, tournament.start_date, tournament.participant_count) == (
        "г. Брест",
        date(2023, 11, 3),
        30,
    )
    assert exhibition.result == "Выставка открыта." and tournament.result == "Турнир проведён."
    assert exhibition.organisation_id != tournament.organisation_id


async def test_listed_days_are_confirmed_as_printed_and_stored_from_the_earliest(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 729)
    await reach(person, "dates")

    [confirm] = await person.send("12, 14 и 20 октября 2023")
    await person.press(Dialogue.YES)
    await person.send("Проведены дни культуры.")
    await person.send("Школьники, 40 человек")
    await person.press("IV квартал 2023 года")
    await submit(person)

    assert confirm.text == Dialogue.CONFIRM_DATES.format(dates="12, 14 и 20 октября 2023 года")
    [event] = await stored_events(app_storage.sessionmaker)
    assert (event.start_date, event.end_date, event.precision) == (
        date(2023, 10, 12),
        date(2023, 10, 20),
        "day",
    )
    assert event.dates_note == "12, 14 и 20 октября 2023 года"
