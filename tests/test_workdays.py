"""The Russian working-day calendar behind the deadlines (the `holidays` package): the
New Year holidays, weekends, the government's transferred days off and working Saturdays."""

from __future__ import annotations

from datetime import date

import pytest

from reports.workdays import is_working_day, next_working_day


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 5),  # the New Year holidays
        date(2027, 1, 8),
        date(2026, 1, 9),  # transferred from Saturday 3 January 2026
        date(2026, 12, 31),  # transferred from Sunday 4 January 2026
        date(2027, 2, 22),  # transferred from Saturday 20 February 2027
        date(2027, 11, 5),  # transferred from Saturday 2 January 2027
        date(2027, 12, 31),  # transferred from Sunday 3 January 2027
        date(2026, 6, 12),  # Russia Day
        date(2026, 7, 4),  # a Saturday
        date(2026, 7, 5),  # a Sunday
    ],
)
def test_days_off_are_not_working_days(day: date) -> None:
    assert not is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 10, 5),  # an ordinary Monday
        date(2027, 1, 11),  # the first working day of 2027
        date(2027, 2, 20),  # a working Saturday (its day off moved to 22 February)
    ],
)
def test_working_days_are_working_days(day: date) -> None:
    assert is_working_day(day)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2027, 1, 5), date(2027, 1, 11)),
        (date(2026, 1, 5), date(2026, 1, 12)),  # 9 January 2026 is a day off too
        (date(2026, 12, 31), date(2027, 1, 11)),  # through the whole New Year holidays
        (date(2026, 7, 4), date(2026, 7, 6)),  # Saturday → Monday
        (date(2027, 2, 20), date(2027, 2, 20)),  # a working Saturday stays
        (date(2026, 10, 5), date(2026, 10, 5)),  # a working day stays
    ],
)
def test_the_next_working_day(day: date, working: date) -> None:
    assert next_working_day(day) == working
