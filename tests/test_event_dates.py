"""The dates step against the calendar: the examples it shows are dates of the quarter
being collected (and accepted), an event not yet begun is refused with the draft kept, one
still going on is accepted; the same at the summary's date edit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.database import Storage
from handlers.texts import Dialogue
from reports.dates import parse_dates
from reports.quarters import Quarter
from tests.conftest import NOW, Clock
from tests.factories import dates_prompt, help_shown, shown_examples
from tests.test_dialogue import join
from tests.tg import Person, World, fsm_of, reach

# NOW is 20 November 2023, 12:00 in Moscow: IV квартал 2023 года is being collected.


async def draft_of(storage: Storage, person: Person) -> tuple[str | None, dict]:
    row = await fsm_of(storage.sessionmaker, person.user.id)
    assert row is not None
    return row.state, row.data


def not_started(start: str) -> str:
    return Dialogue.NOT_STARTED.format(start=start)


# --- an event not yet begun --------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "start"),
    [
        ("21.11.2023", "21 ноября 2023 года"),  # tomorrow
        ("5-6 декабря 2023", "5 декабря 2023 года"),
        ("декабрь 2023", "1 декабря 2023 года"),  # a month counts from its first day
        ("10 декабря 2023 – 3 января 2024", "10 декабря 2023 года"),
    ],
)
async def test_an_event_not_yet_begun_is_refused_and_the_draft_kept(
    world: World, app_storage: Storage, typed: str, start: str
) -> None:
    person = await join(world, 1901)
    await reach(person, "dates")
    _, before = await draft_of(app_storage, person)

    [refusal] = await person.send(typed)
    [confirm] = await person.send("20.11.2023")  # asked again: a date that has come

    assert refusal.text == not_started(start)
    assert person.replies()[-2].reply_markup is not None  # «Назад», «Отмена» stay
    state, data = await draft_of(app_storage, person)
    assert data["draft"]["name"] == before["draft"]["name"] == "Выставка «Смоленск – Минск»"
    assert data["draft"]["place"] == before["draft"]["place"]
    assert "<b>20 ноября 2023 года</b>" in confirm.text and state == "ReportStates:dates_confirm"


@pytest.mark.parametrize(
    ("typed", "printed"),
    [
        ("20.11.2023", "20 ноября 2023 года"),  # today
        ("10 ноября – 3 декабря 2023", "10 ноября – 3 декабря 2023 года"),  # going on
        ("ноябрь 2023", "ноябрь 2023 года"),  # the month under way
        ("20.11.2023 - 15.01.2024", "20 ноября 2023 года – 15 января 2024 года"),
    ],
)
async def test_an_event_begun_today_or_still_going_on_is_accepted(
    world: World, typed: str, printed: str
) -> None:
    person = await join(world, 1902)
    await reach(person, "dates")

    [reply] = await person.send(typed)

    assert f"<b>{printed}</b>" in reply.text
    assert person.labels()[:2] == [Dialogue.YES, Dialogue.FIX]


async def test_today_is_the_local_day_of_the_deployment(world: World, clock: Clock) -> None:
    clock.now = datetime(2023, 11, 20, 21, 30, tzinfo=UTC)  # 21 November, 00:30 in Moscow
    person = await join(world, 1903)
    await reach(person, "dates")

    [accepted] = await person.send("21.11.2023")
    await person.press(Dialogue.FIX)
    [refused] = await person.send("22.11.2023")

    assert "<b>21 ноября 2023 года</b>" in accepted.text
    assert refused.text == not_started("22 ноября 2023 года")


async def test_free_text_naming_a_day_ahead_is_refused_not_offered_as_written(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1904)
    await reach(person, "dates")

    [reply] = await person.send("отборочный этап 5 декабря 2023, финал по итогам")

    assert reply.text == not_started("5 декабря 2023 года")
    state, data = await draft_of(app_storage, person)
    assert state == "ReportStates:dates" and "pending" not in data


async def test_the_summary_date_edit_refuses_an_event_not_yet_begun(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1905)
    await reach(person, "summary")

    await person.press("Сроки")
    [refusal] = await person.send("1 декабря 2023")

    assert refusal.text == not_started("1 декабря 2023 года")
    state, data = await draft_of(app_storage, person)
    assert state == "ReportStates:dates"
    assert data["draft"]["dates"]["start"] == "2023-10-26"  # the answer given before stays
    assert data["draft"]["editing"] is True


# --- the examples come from the quarter being collected ---------------------------------


@pytest.mark.parametrize(
    ("now", "quarter"),
    [
        (NOW, Quarter(2023, 4)),
        (datetime(2027, 1, 12, 9, 0, tzinfo=UTC), Quarter(2027, 1)),  # past the 11.01 deadline
        (datetime(2027, 1, 8, 9, 0, tzinfo=UTC), Quarter(2026, 4)),  # still the fourth quarter
        (datetime(2030, 8, 20, 9, 0, tzinfo=UTC), Quarter(2030, 3)),
    ],
)
async def test_the_dates_question_and_help_show_dates_of_the_quarter_collected_and_take_them(
    world: World, clock: Clock, now: datetime, quarter: Quarter
) -> None:
    clock.now = now
    person = await join(world, 1906)
    [help_] = await person.send("/help")
    await reach(person, "place")

    [question] = await person.send("г. Смоленск")
    examples = shown_examples(now)
    accepted = []
    for name in ("day", "days", "months", "month"):
        [reply] = await person.send(examples[name])
        shown = reply.text.startswith(Dialogue.CONFIRM_DATES.split("{")[0])
        accepted.append(shown and person.labels()[:2] == [Dialogue.YES, Dialogue.FIX])
        await person.press(Dialogue.FIX)

    assert question.text.endswith(dates_prompt(now))
    assert help_.text == help_shown(now)
    assert accepted == [True] * 4
    for name in ("day", "days", "months", "month"):
        assert examples[name] in question.text
        dates = parse_dates(examples[name], year=quarter.year, period=quarter)
        assert dates.start in quarter and dates.end in quarter
    assert examples["day"] in help_.text and examples["month"] in help_.text
    assert "2023" not in question.text or quarter.year == 2023


@pytest.mark.parametrize("typed", ["когда-то осенью", "прошлой осенью, 26 числа"])
async def test_a_refused_date_suggests_dates_of_the_quarter_collected_that_are_then_taken(
    world: World, clock: Clock, typed: str
) -> None:
    clock.now = datetime(2027, 1, 8, 9, 0, tzinfo=UTC)  # IV квартал 2026 года is collected
    person = await join(world, 1907)
    await reach(person, "place")
    await person.send("г. Смоленск")

    [refusal] = await person.send(typed)
    examples = shown_examples(clock.now)
    [reply] = await person.send(examples["day"])

    assert "2023" not in refusal.text
    assert examples["day"] in refusal.text and examples["month"] in refusal.text
    assert reply.text.startswith(Dialogue.CONFIRM_DATES.split("{")[0])
