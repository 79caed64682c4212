"""Working days in Russia: weekends, public holidays and the transferred days off.

The calendar is the `holidays` package's (`country_holidays("RU")`), which follows the
government's yearly decrees on transferred days off (e.g. 9 January and 31 December 2026).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays


@cache
def _calendar() -> holidays.HolidayBase:
    """The Russian calendar; it fills in each year on first use."""
    return holidays.country_holidays("RU")


def is_working_day(day: date) -> bool:
    """Whether `day` is a working day in Russia (a working Saturday counts as one)."""
    return bool(_calendar().is_working_day(day))


def next_working_day(day: date) -> date:
    """`day` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day
