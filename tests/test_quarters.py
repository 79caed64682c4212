"""Quarters: the period of a date, labels, Roman numerals, deadlines, the period collected now."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from reports.quarters import Quarter, QuarterError, collecting_quarter, quarter_collected

MSK = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2023, 1, 1), Quarter(2023, 1)),
        (date(2023, 3, 31), Quarter(2023, 1)),
        (date(2023, 4, 1), Quarter(2023, 2)),
        (date(2023, 6, 30), Quarter(2023, 2)),
        (date(2023, 7, 1), Quarter(2023, 3)),
        (date(2023, 9, 30), Quarter(2023, 3)),
        (date(2023, 10, 1), Quarter(2023, 4)),
        (date(2023, 12, 31), Quarter(2023, 4)),
    ],
)
def test_it_finds_the_quarter_a_date_falls_in(day: date, expected: Quarter) -> None:
    assert Quarter.of(day) == expected


@pytest.mark.parametrize(
    "label", ["2023-Q4", "2023Q4", "2023-q4", "2023 К4", "2023 к4", " 2023_Q4 ", "2023/Q4"]
)
def test_it_reads_a_period_label(label: str) -> None:
    assert Quarter.parse(label) == Quarter(2023, 4)


@pytest.mark.parametrize(
    "label", ["", "2023", "2023-Q5", "2023-Q0", "23-Q4", "Q4-2023", "2023-Q4x", "2023-4"]
)
def test_it_rejects_a_label_that_names_no_quarter(label: str) -> None:
    with pytest.raises(QuarterError, match="not a quarter label"):
        Quarter.parse(label)


@pytest.mark.parametrize(("year", "quarter"), [(2023, 0), (2023, 5), (1899, 1), (9999, 1)])
def test_it_refuses_to_build_a_quarter_that_does_not_exist(year: int, quarter: int) -> None:
    with pytest.raises(QuarterError):
        Quarter(year, quarter)


def test_its_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        Quarter.parse("никогда")


def test_it_labels_itself_the_way_it_reads() -> None:
    quarter = Quarter(2023, 4)

    assert quarter.label == "2023-Q4"
    assert str(quarter) == "2023-Q4"
    assert Quarter.parse(quarter.label) == quarter


@pytest.mark.parametrize(("quarter", "roman"), [(1, "I"), (2, "II"), (3, "III"), (4, "IV")])
def test_it_names_the_quarter_in_roman_numerals(quarter: int, roman: str) -> None:
    assert Quarter(2023, quarter).roman == roman


@pytest.mark.parametrize(
    ("quarter", "first", "last"),
    [
        (Quarter(2023, 1), date(2023, 1, 1), date(2023, 3, 31)),
        (Quarter(2024, 1), date(2024, 1, 1), date(2024, 3, 31)),
        (Quarter(2023, 2), date(2023, 4, 1), date(2023, 6, 30)),
        (Quarter(2023, 3), date(2023, 7, 1), date(2023, 9, 30)),
        (Quarter(2023, 4), date(2023, 10, 1), date(2023, 12, 31)),
    ],
)
def test_it_knows_its_first_and_last_day(quarter: Quarter, first: date, last: date) -> None:
    assert (quarter.first_day, quarter.last_day) == (first, last)
    assert first in quarter
    assert last in quarter


def test_it_holds_only_its_own_dates() -> None:
    quarter = Quarter(2023, 4)

    assert date(2023, 9, 30) not in quarter
    assert date(2024, 1, 1) not in quarter
    assert "2023-10-01" not in quarter


@pytest.mark.parametrize(
    ("quarter", "following"),
    [
        (Quarter(2023, 1), Quarter(2023, 2)),
        (Quarter(2023, 3), Quarter(2023, 4)),
        (Quarter(2023, 4), Quarter(2024, 1)),
    ],
)
def test_it_steps_to_the_next_and_previous_quarter_across_years(
    quarter: Quarter, following: Quarter
) -> None:
    assert quarter.next() == following
    assert following.prev() == quarter


def test_it_orders_quarters_in_time() -> None:
    assert Quarter(2023, 4) < Quarter(2024, 1) < Quarter(2024, 2)


@pytest.mark.parametrize(
    ("quarter", "deadline"),
    [
        (Quarter(2023, 1), datetime(2023, 4, 5, 18, tzinfo=MSK)),
        (Quarter(2023, 2), datetime(2023, 7, 5, 18, tzinfo=MSK)),
        (Quarter(2023, 3), datetime(2023, 10, 5, 18, tzinfo=MSK)),
        # 5 January 2024 is in the New Year holidays: the first working day after them
        (Quarter(2023, 4), datetime(2024, 1, 9, 18, tzinfo=MSK)),
    ],
)
def test_its_deadline_is_the_fifth_of_the_next_month_at_six_pm_on_a_working_day(
    quarter: Quarter, deadline: datetime
) -> None:
    assert quarter.deadline(MSK) == deadline
    assert quarter.deadline(MSK).utcoffset() == deadline.utcoffset()


def test_its_deadline_day_and_time_can_be_configured() -> None:
    deadline = Quarter(2023, 4).deadline(MSK, day=10, at=time(12, 30))

    assert deadline == datetime(2024, 1, 10, 12, 30, tzinfo=MSK)


def test_a_deadline_day_past_the_month_end_falls_on_its_last_day() -> None:
    # 30 April 2025 is a Wednesday (in 2023 it was a Sunday, see the weekend test below)
    assert Quarter(2025, 1).deadline(MSK, day=31) == datetime(2025, 4, 30, 18, tzinfo=MSK)


@pytest.mark.parametrize(
    ("quarter", "day", "deadline"),
    [
        # the New Year holidays: 5 January is a day off every year
        (Quarter(2026, 4), 5, datetime(2027, 1, 11, 18, tzinfo=MSK)),
        (Quarter(2025, 4), 5, datetime(2026, 1, 12, 18, tzinfo=MSK)),  # 9 January transferred
        (Quarter(2027, 4), 5, datetime(2028, 1, 10, 18, tzinfo=MSK)),
        # a weekend: 4 July 2026 is a Saturday
        (Quarter(2026, 2), 4, datetime(2026, 7, 6, 18, tzinfo=MSK)),
        # 30 April 2023 is a Sunday, 1 May a holiday
        (Quarter(2023, 1), 31, datetime(2023, 5, 2, 18, tzinfo=MSK)),
        # an ordinary working day is left alone: Monday 5 October 2026
        (Quarter(2026, 3), 5, datetime(2026, 10, 5, 18, tzinfo=MSK)),
    ],
)
def test_a_deadline_on_a_day_off_moves_to_the_next_working_day(
    quarter: Quarter, day: int, deadline: datetime
) -> None:
    assert quarter.deadline(MSK, day=day) == deadline


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2024, 1, 1, 0, 0, tzinfo=MSK), Quarter(2023, 4)),
        (datetime(2024, 1, 5, 18, 0, tzinfo=MSK), Quarter(2023, 4)),  # a holiday: on to 9.01
        (datetime(2024, 1, 9, 17, 59, tzinfo=MSK), Quarter(2023, 4)),
        (datetime(2024, 1, 9, 17, 59, 59, 999999, tzinfo=MSK), Quarter(2023, 4)),
        (datetime(2024, 1, 9, 18, 0, tzinfo=MSK), Quarter(2024, 1)),
        (datetime(2024, 1, 10, 9, 0, tzinfo=MSK), Quarter(2024, 1)),
        (datetime(2024, 3, 31, 23, 59, tzinfo=MSK), Quarter(2024, 1)),
        (datetime(2024, 4, 5, 17, 59, tzinfo=MSK), Quarter(2024, 1)),
        (datetime(2024, 4, 5, 18, 0, tzinfo=MSK), Quarter(2024, 2)),
        (datetime(2023, 11, 15, 12, 0, tzinfo=MSK), Quarter(2023, 4)),
    ],
)
def test_it_collects_the_previous_quarter_until_its_deadline(
    now: datetime, expected: Quarter
) -> None:
    assert collecting_quarter(now, MSK) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2024, 1, 9, 14, 59, tzinfo=UTC), Quarter(2023, 4)),  # 17:59 in Moscow
        (datetime(2024, 1, 9, 15, 0, tzinfo=UTC), Quarter(2024, 1)),  # 18:00 in Moscow
        (datetime(2023, 12, 31, 21, 30, tzinfo=UTC), Quarter(2023, 4)),  # already 1 January
    ],
)
def test_it_converts_an_aware_time_to_local_time_first(now: datetime, expected: Quarter) -> None:
    assert collecting_quarter(now, MSK) == expected


def test_it_takes_a_naive_time_as_local_time() -> None:
    assert collecting_quarter(datetime(2024, 1, 9, 17, 59), MSK) == Quarter(2023, 4)
    assert collecting_quarter(datetime(2024, 1, 9, 18, 0), MSK) == Quarter(2024, 1)


def test_it_follows_a_configured_deadline() -> None:
    now = datetime(2024, 1, 10, 12, 0, tzinfo=MSK)

    assert collecting_quarter(now, MSK) == Quarter(2024, 1)  # 9 January 18:00 has passed
    assert collecting_quarter(now, MSK, day=11) == Quarter(2023, 4)
    assert collecting_quarter(now, MSK, day=10, at=time(12, 0)) == Quarter(2024, 1)


def _default(quarter: Quarter) -> datetime:
    return quarter.deadline(MSK)


JANUARY_12 = datetime(2027, 1, 12, 12, 0, tzinfo=MSK)  # past the default 11.01 18:00


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({}, Quarter(2027, 1)),  # the default deadline has passed
        ({Quarter(2026, 4): datetime(2027, 1, 19, 18, 0, tzinfo=MSK)}, Quarter(2026, 4)),
        ({Quarter(2026, 4): datetime(2027, 1, 12, 12, 0, tzinfo=MSK)}, Quarter(2027, 1)),
        ({Quarter(2026, 4): None}, Quarter(2027, 1)),  # closed
        # a quarter further back whose deadline is still ahead, the previous one done
        ({Quarter(2026, 3): datetime(2027, 2, 1, tzinfo=MSK)}, Quarter(2026, 3)),
        # both ahead: the latest of them
        (
            {
                Quarter(2026, 3): datetime(2027, 2, 1, tzinfo=MSK),
                Quarter(2026, 4): datetime(2027, 1, 19, 18, 0, tzinfo=MSK),
            },
            Quarter(2026, 4),
        ),
        # the current quarter's own row changes nothing, closed or not
        ({Quarter(2027, 1): None}, Quarter(2027, 1)),
    ],
)
def test_the_stored_deadlines_decide_the_quarter_collected(
    stored: dict[Quarter, datetime | None], expected: Quarter
) -> None:
    assert quarter_collected(JANUARY_12, MSK, stored, _default) == expected


def test_a_missing_previous_period_has_the_default_deadline() -> None:
    now = datetime(2027, 1, 3, 12, 0, tzinfo=MSK)

    assert quarter_collected(now, MSK, {}, _default) == Quarter(2026, 4)
    assert quarter_collected(now, MSK, {Quarter(2026, 4): None}, _default) == Quarter(2027, 1)
