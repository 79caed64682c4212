"""Quarters and years: which period a date falls in, Roman numerals, deadlines, the period
collected today."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reports.workdays import next_working_day

ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
_LABEL = re.compile(r"^\s*(\d{4})\s*[-_ /]?\s*[QqКк]\s*([1-4])\s*$")
_YEAR_LABEL = re.compile(r"^\s*(\d{4})\s*(?:г\.?|год)?\s*$", re.IGNORECASE)


class QuarterError(ValueError):
    """A period label that does not name a quarter."""


@dataclass(frozen=True, order=True, slots=True)
class Quarter:
    """One calendar quarter of one year."""

    year: int
    quarter: int

    def __post_init__(self) -> None:
        if self.quarter not in ROMAN:
            raise QuarterError(f"quarter must be 1..4, not {self.quarter}")
        if not 1900 <= self.year <= 9998:
            raise QuarterError(f"year out of range: {self.year}")

    @classmethod
    def of(cls, day: date) -> Quarter:
        """The quarter a date falls in."""
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def parse(cls, label: str) -> Quarter:
        """Read `2023-Q4` (also `2023Q4`, `2023-q4`, `2023 К4`)."""
        match = _LABEL.match(label)
        if not match:
            raise QuarterError(f"not a quarter label: {label!r} (expected like 2023-Q4)")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def label(self) -> str:
        """`2023-Q4`."""
        return f"{self.year}-Q{self.quarter}"

    @property
    def roman(self) -> str:
        """`IV`."""
        return ROMAN[self.quarter]

    @property
    def first_day(self) -> date:
        """The quarter's first day (1 October for Q4)."""
        return date(self.year, 3 * self.quarter - 2, 1)

    @property
    def last_day(self) -> date:
        """The quarter's last day (31 December for Q4)."""
        return self.next().first_day - timedelta(days=1)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and Quarter.of(day) == self

    def next(self) -> Quarter:
        """The following quarter (Q4 is followed by Q1 of the next year)."""
        if self.quarter == 4:
            return Quarter(self.year + 1, 1)
        return Quarter(self.year, self.quarter + 1)

    def prev(self) -> Quarter:
        """The preceding quarter (Q1 is preceded by Q4 of the year before)."""
        if self.quarter == 1:
            return Quarter(self.year - 1, 4)
        return Quarter(self.year, self.quarter - 1)

    def deadline(self, tz: ZoneInfo, *, day: int = 5, at: time = time(18, 0)) -> datetime:
        """The default deadline: `day` of the month after the quarter, at `at`, local time,
        moved to the next working day in Russia when it falls on a day off (5 January, in
        the New Year holidays, usually moves to the second week of January).

        A `day` past the month's end means its last day (31 → 30 April).
        """
        month = self.next().first_day
        day = min(day, calendar.monthrange(month.year, month.month)[1])
        return datetime.combine(next_working_day(month.replace(day=day)), at, tzinfo=tz)

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True, order=True, slots=True)
class Year:
    """One calendar year: the period of the yearly report, its four quarters together."""

    year: int

    def __post_init__(self) -> None:
        if not 1900 <= self.year <= 9998:
            raise QuarterError(f"year out of range: {self.year}")

    @classmethod
    def parse(cls, label: str) -> Year:
        """Read `2023` (also `2023 г.`, `2023 год`)."""
        match = _YEAR_LABEL.match(label)
        if not match:
            raise QuarterError(f"not a year: {label!r} (expected like 2023)")
        return cls(int(match.group(1)))

    @property
    def label(self) -> str:
        """`2023`."""
        return str(self.year)

    @property
    def quarters(self) -> tuple[Quarter, Quarter, Quarter, Quarter]:
        """The year's quarters, I to IV."""
        return (
            Quarter(self.year, 1),
            Quarter(self.year, 2),
            Quarter(self.year, 3),
            Quarter(self.year, 4),
        )

    @property
    def first_day(self) -> date:
        return date(self.year, 1, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, 12, 31)

    def prev(self) -> Year:
        """The year before."""
        return Year(self.year - 1)

    def __str__(self) -> str:
        return self.label


Period = Quarter | Year  # what a report or a picture covers


def parse_period(label: str) -> Period:
    """Read a quarter (`2023-Q4`, see Quarter.parse) or a year (`2023`); QuarterError if
    it is neither."""
    try:
        return Year.parse(label)
    except QuarterError:
        return Quarter.parse(label)


def year_before(period: Period) -> Period:
    """The same period a year earlier (IV квартал 2022 года for IV квартал 2023 года)."""
    if isinstance(period, Year):
        return period.prev()
    return Quarter(period.year - 1, period.quarter)


def collecting_quarter(
    now: datetime, tz: ZoneInfo, *, day: int = 5, at: time = time(18, 0)
) -> Quarter:
    """The period being collected at `now` under the default deadlines alone.

    Until the previous quarter's deadline passes, staff are still reporting it; after
    that, the current quarter is being collected.
    """
    return quarter_collected(now, tz, {}, lambda quarter: quarter.deadline(tz, day=day, at=at))


def quarter_collected(
    now: datetime,
    tz: ZoneInfo,
    stored: Mapping[Quarter, datetime | None],
    default_deadline: Callable[[Quarter], datetime],
) -> Quarter:
    """The period being collected at `now`, given the stored periods.

    `stored` maps a quarter to its stored deadline, or to None when its period is closed;
    a quarter missing from it has `default_deadline`. The latest quarter that has ended
    and whose deadline is still ahead is being collected (a closed one never is); with no
    such quarter, the current one. Only the previous quarter can still be ahead under the
    default deadline (a day of the following month), so `stored` needs the open periods
    and the previous quarter's row, if any.
    """
    local = now.astimezone(tz) if now.tzinfo else now.replace(tzinfo=tz)
    current = Quarter.of(local.date())
    deadlines = {quarter: deadline for quarter, deadline in stored.items() if quarter < current}
    previous = current.prev()
    if previous not in deadlines:
        deadlines[previous] = default_deadline(previous)
    for quarter in sorted(deadlines, reverse=True):
        deadline = deadlines[quarter]
        if deadline is not None and local < deadline:
            return quarter
    return current
