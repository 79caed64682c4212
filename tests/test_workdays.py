"""The Russian working-day calendar behind the deadlines (the `holidays` package): the
New Year holidays, weekends, the government's transferred days off and working Saturdays."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from reports.workdays import is_working_day, next_working_day

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_calendar_loaded_alone_is_the_packages_russian_one() -> None:
    """In a process of its own: the Russian module is loaded without `holidays.countries`
    (every country's), and gives the days `holidays.country_holidays("RU")` gives once
    the whole package is imported, holidays and transferred days off alike."""
    probe = (
        "import sys\n"
        "from datetime import date, timedelta\n"
        "from reports.workdays import _calendar\n"
        "alone = _calendar()\n"
        "print('holidays.countries' in sys.modules)\n"
        "import holidays, holidays.countries\n"
        "every = holidays.country_holidays('RU')\n"
        "day, differ = date(2015, 1, 1), []\n"
        "while day < date(2031, 1, 1):\n"
        "    if (alone.is_working_day(day), alone.get(day)) != "
        "(every.is_working_day(day), every.get(day)):\n"
        "        differ.append(day.isoformat())\n"
        "    day += timedelta(days=1)\n"
        "print(differ, isinstance(every, type(alone)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split("\n")[:2] == ["False", "[] True"], done.stdout
