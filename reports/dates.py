"""Event dates: the value type, the formatter of REPORT_FORMAT.md and the parser of staff input."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from reports.quarters import Quarter

Precision = Literal["day", "month"]

MONTHS_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
MONTHS_NOMINATIVE = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip
DASH = " – "  # spaced en dash between dates in different months or years


@dataclass(frozen=True, slots=True)
class DateRange:
    """When an event took place, as stored: start, end, precision and an optional note.

    With precision `month`, `start` is the first day of the first month and `end` the last
    day of the last month.
    """

    start: date
    end: date
    precision: Precision = "day"
    note: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.precision not in ("day", "month"):
            raise ValueError(f"unknown precision {self.precision!r}")

    @property
    def order_start(self) -> date:
        """The start date used for ordering: a month-only date counts as its last day."""
        if self.precision == "month":
            return last_day_of_month(self.start)
        return self.start


def last_day_of_month(day: date) -> date:
    """The last day of the month `day` is in."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _day_month(day: date) -> str:
    return f"{day.day} {MONTHS_GENITIVE[day.month - 1]}"


def format_dates(dates: DateRange) -> str:
    """Print a date range as the report's dates cell does (REPORT_FORMAT.md, every row)."""
    if dates.note:
        return dates.note
    start, end = dates.start, dates.end
    if dates.precision == "month":
        first = MONTHS_NOMINATIVE[start.month - 1]
        last = MONTHS_NOMINATIVE[end.month - 1]
        if (start.year, start.month) == (end.year, end.month):
            return f"{first} {start.year} года"
        if start.year == end.year:
            return f"{first}{DASH}{last} {end.year} года"
        return f"{first} {start.year} года{DASH}{last} {end.year} года"
    if start == end:
        return f"{_day_month(start)} {start.year} года"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}-{end.day} {MONTHS_GENITIVE[end.month - 1]} {end.year} года"
    if start.year == end.year:
        return f"{_day_month(start)}{DASH}{_day_month(end)} {end.year} года"
    return f"{_day_month(start)} {start.year} года{DASH}{_day_month(end)} {end.year} года"


# --- Reading dates as staff type them ----------------------------------------------------

MESSAGES = {
    "empty": (
        "Напишите, пожалуйста, даты мероприятия, например: "
        "26.10.2023, 26-27.10.2023 или октябрь 2023."
    ),
    "unreadable": (
        "Не удалось распознать даты. Напишите, например: "
        "26.10.2023, 26-27.10.2023 или октябрь 2023."
    ),
    "impossible": "Такой даты нет: {text}. Проверьте, пожалуйста, число и месяц.",
    "end_before_start": "Дата окончания раньше даты начала. Проверьте, пожалуйста, даты.",
    "year_far": (
        "Год {year} не относится к отчётному периоду ({period}). Проверьте, пожалуйста, год."
    ),
}


class DateParseError(ValueError):
    """Text that cannot be read as event dates; `.message` is Russian, for the person."""

    def __init__(self, code: str, **details: object) -> None:
        self.code = code
        self.message = MESSAGES[code].format(**details)
        super().__init__(self.message)


# Every word a month may be typed as, besides prefixes of its names (`окт`, `нояб`, `сент`).
_MONTH_WORDS = {
    form: number
    for number, (nominative, genitive) in enumerate(
        zip(MONTHS_NOMINATIVE, MONTHS_GENITIVE, strict=True), start=1
    )
    for form in (nominative, genitive, nominative[:-1] + "е")  # `октябре`, `мае`
}
_IGNORED_WORDS = frozenset({"с", "c", "со", "в", "г", "гг", "год", "года", "году"})
_RANGE_WORDS = frozenset({"по", "до"})
_LIST_WORDS = frozenset({"и"})  # `12 и 14 октября`; a comma or a semicolon lists too

_DASHES = re.compile(r"[\u2010-\u2015\u2212\u2043\ufe58\ufe63\uff0d]")
_TOKEN = re.compile(
    r"""
      (?P<iso>\d{4}-\d{1,2}-\d{1,2})(?!\.?\d)   # 2023-10-26
    | (?P<dmy>\d{1,2}-\d{1,2}-\d{4})(?!\.?\d)   # 26-10-2023
    | (?P<num>\d+(?:[./]\d+)*)                   # 26, 26.10, 10.2023, 26.10.2023, 26/10/23
    | (?P<word>[a-zа-я]+)\.?                     # октября, окт., г., по
    | (?P<dash>-)
    | (?P<list>[,;])
    | (?P<space>[\s.]+)
    | (?P<other>.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["num", "month", "dash", "list", "other"]
    parts: tuple[str, ...] = ()  # the digit groups of a number
    month: int = 0


@dataclass(frozen=True, slots=True)
class _Point:
    """One end of a range as typed: any of day, month and year may be missing."""

    day: int | None = None
    month: int | None = None
    year: int | None = None


def _month_of(word: str) -> int | None:
    if word in _MONTH_WORDS:
        return _MONTH_WORDS[word]
    if len(word) >= 3:
        for number, name in enumerate(MONTHS_NOMINATIVE, start=1):
            if name.startswith(word):
                return number
    return None


def _tokenize(text: str) -> list[_Token]:
    """Split normalised text into numbers, months and dashes; anything else is `other`."""
    text = _DASHES.sub("-", text.lower().replace("ё", "е"))
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        value = match[kind]
        if kind == "iso":
            year, month, day = value.split("-")
            tokens.append(_Token("num", (day, month, year)))
        elif kind == "dmy":
            tokens.append(_Token("num", tuple(value.split("-"))))
        elif kind == "num":
            tokens.append(_Token("num", tuple(re.split(r"[./]", value))))
        elif kind == "word":
            if value in _RANGE_WORDS:
                tokens.append(_Token("dash"))
            elif value in _LIST_WORDS:
                tokens.append(_Token("list"))
            elif (month := _month_of(value)) is not None:
                tokens.append(_Token("month", month=month))
            elif value not in _IGNORED_WORDS:
                tokens.append(_Token("other"))
        elif kind == "dash":
            tokens.append(_Token("dash"))
        elif kind == "list":
            tokens.append(_Token("list"))
        elif kind == "other":
            tokens.append(_Token("other"))
    return tokens


def _year(digits: str) -> int | None:
    """A typed year: four digits, or two meaning 20xx."""
    if len(digits) == 4:
        return int(digits)
    if len(digits) == 2:
        return 2000 + int(digits)
    return None


def _short(digits: str) -> bool:
    return len(digits) <= 2


def _numeric_point(parts: tuple[str, ...]) -> _Point | None:
    """`26`, `26.10`, `10.2023`, `26.10.2023`, `26.10.23`, `2023.10.26`."""
    if len(parts) == 1 and _short(parts[0]):
        return _Point(day=int(parts[0]))
    if len(parts) == 2 and _short(parts[0]):
        if len(parts[1]) == 4:
            return _Point(month=int(parts[0]), year=int(parts[1]))
        if _short(parts[1]):
            return _Point(day=int(parts[0]), month=int(parts[1]))
    if len(parts) == 3:
        if len(parts[0]) == 4 and _short(parts[1]) and _short(parts[2]):
            return _Point(day=int(parts[2]), month=int(parts[1]), year=int(parts[0]))
        year = _year(parts[2])
        if _short(parts[0]) and _short(parts[1]) and year is not None:
            return _Point(day=int(parts[0]), month=int(parts[1]), year=year)
    return None


def _year_at(tokens: list[_Token], i: int) -> int | None:
    if i < len(tokens) and tokens[i].kind == "num" and len(tokens[i].parts) == 1:
        return _year(tokens[i].parts[0])
    return None


def _read_point(tokens: list[_Token], i: int) -> tuple[_Point, int] | None:
    """Read one date at `tokens[i]`: numeric, `26 октября [2023]` or `октябрь [2023]`."""
    if i >= len(tokens):
        return None
    token = tokens[i]
    if token.kind == "num":
        point = _numeric_point(token.parts)
        if point is None:
            return None
        i += 1
        if point.month is None and i < len(tokens) and tokens[i].kind == "month":
            point = _Point(day=point.day, month=tokens[i].month, year=_year_at(tokens, i + 1))
            i += 1 if point.year is None else 2
        return point, i
    if token.kind == "month":
        year = _year_at(tokens, i + 1)
        return _Point(month=token.month, year=year), i + (1 if year is None else 2)
    return None


def _make_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DateParseError("impossible", text=f"{day:02d}.{month:02d}.{year:04d}") from None


def _first_of_month(year: int, month: int) -> date:
    try:
        return date(year, month, 1)
    except ValueError:
        raise DateParseError("impossible", text=f"{month:02d}.{year:04d}") from None


def _years(first: _Point, last: _Point, year: int, period: Quarter | None) -> tuple[int, int]:
    """The years of a range's ends, filling in what was not typed.

    A range whose start month comes after its end month, within half a year, crosses New
    Year (`декабрь – январь 2024`): a start typed without a year then takes the year
    before the end's. With no year at all, such a range starts in `year`, or in the year
    before when collecting the first half of a year.
    """
    wraps = (
        first.month is not None
        and last.month is not None
        and 0 < 12 + last.month - first.month <= 6
    )
    if first.year is not None and last.year is not None:
        return first.year, last.year
    if first.year is not None:
        return first.year, first.year + int(wraps)
    if last.year is not None:
        return last.year - int(wraps), last.year
    if wraps and period is not None and period.quarter <= 2:
        return year - 1, year
    return year, year + int(wraps)


def _to_range(first: _Point, last: _Point | None, year: int, period: Quarter | None) -> DateRange:
    """Turn one or two typed points into a checked DateRange."""
    if last is None:
        last = first
    if last.month is None or (first.day is None) != (last.day is None):
        raise DateParseError("unreadable")
    start_month = first.month or last.month  # `26-27 октября`: the start takes the end's month
    start_year, end_year = _years(first, last, year, period)
    if first.day is None or last.day is None:
        start = _first_of_month(start_year, start_month)
        end = last_day_of_month(_first_of_month(end_year, last.month))
        precision: Precision = "month"
    else:
        start = _make_date(start_year, start_month, first.day)
        end = _make_date(end_year, last.month, last.day)
        precision = "day"
    if end < start:
        raise DateParseError("end_before_start")
    return DateRange(start, end, precision)


def _read_range(
    tokens: list[_Token], i: int, year: int, period: Quarter | None
) -> tuple[DateRange, int]:
    """Read `point [- point]` at `tokens[i]`; raise DateParseError when that is not a range."""
    read = _read_point(tokens, i)
    if read is None:
        raise DateParseError("unreadable")
    first, i = read
    if i < len(tokens) and tokens[i].kind == "dash":
        second = _read_point(tokens, i + 1)
        if second is not None:
            return _to_range(first, second[0], year, period), second[1]
    return _to_range(first, None, year, period), i


def _read_segment(tokens: list[_Token]) -> tuple[_Point, _Point | None]:
    """One item of a list of days: `12`, `12 октября`, `12-14`, `12.10`."""
    read = _read_point(tokens, 0)
    if read is None:
        raise DateParseError("unreadable")
    first, i = read
    second: _Point | None = None
    if i < len(tokens) and tokens[i].kind == "dash":
        read = _read_point(tokens, i + 1)
        if read is None:
            raise DateParseError("unreadable")
        second, i = read
    if i != len(tokens):
        raise DateParseError("unreadable")
    return first, second


def _read_list(tokens: list[_Token], year: int, period: Quarter | None) -> DateRange:
    """Days (or spans of days) listed in one year: `12 и 14 октября 2026`, `12, 14 и 20
    октября`, `30 сентября и 2 октября`. An item without its month or year takes those of
    the last item. Kept as start = the earliest day, end = the latest, and the printed form
    (`12 и 14 октября 2026 года`) as the dates note."""
    segments: list[list[_Token]] = [[]]
    for token in tokens:
        if token.kind == "list":
            segments.append([])
        else:
            segments[-1].append(token)
    if any(not segment for segment in segments):
        raise DateParseError("unreadable")
    items = [_read_segment(segment) for segment in segments]
    last = items[-1][1] or items[-1][0]
    ranges: list[DateRange] = []
    for first, second in items:
        end = second or first
        end = _Point(end.day, end.month or last.month, end.year or last.year)
        if second is None:
            ranges.append(_to_range(end, None, year, period))
        else:
            ranges.append(_to_range(first, end, year, period))
    ranges = sorted(set(ranges), key=lambda dates: (dates.start, dates.end))
    if len(ranges) == 1:
        return ranges[0]
    years = {dates.start.year for dates in ranges} | {dates.end.year for dates in ranges}
    if len(years) != 1 or any(
        dates.precision != "day" or dates.start.month != dates.end.month for dates in ranges
    ):
        raise DateParseError("unreadable")  # kept as a note if a date is found in it
    start, end = ranges[0].start, max(dates.end for dates in ranges)
    return DateRange(start, end, "day", format_days(ranges))


def format_days(ranges: list[DateRange]) -> str:
    """Days of one year as a person writes them: `12, 14 и 20 октября 2026 года`,
    `30 сентября и 2-3 октября 2026 года` (each range within one month, in order)."""
    items: list[str] = []
    for index, dates in enumerate(ranges):
        item = str(dates.start.day)
        if dates.end != dates.start:
            item += f"-{dates.end.day}"
        following = ranges[index + 1] if index + 1 < len(ranges) else None
        if following is None or following.start.month != dates.end.month:
            item += f" {MONTHS_GENITIVE[dates.end.month - 1]}"
        items.append(item)
    listed = ", ".join(items[:-1]) + " и " + items[-1]
    return f"{listed} {ranges[-1].end.year} года"


def parse_dates(
    text: str, *, year: int, period: Quarter | None = None, max_years_away: int = 1
) -> DateRange:
    """Read event dates as staff type them; raise DateParseError with a message to show."""
    if not text.strip():
        raise DateParseError("empty")
    tokens = _tokenize(text)
    if not tokens or any(token.kind == "other" for token in tokens):
        raise DateParseError("unreadable")
    if any(token.kind == "list" for token in tokens):
        dates = _read_list(tokens, year, period)
    else:
        dates, end = _read_range(tokens, 0, year, period)
        if end != len(tokens):
            raise DateParseError("unreadable")
    if period is not None:
        for typed_year in (dates.start.year, dates.end.year):
            if abs(typed_year - period.year) > max_years_away:
                raise DateParseError(
                    "year_far",
                    year=typed_year,
                    period=f"{period.roman} квартал {period.year} года",
                )
    return dates


def find_earliest_date(text: str, *, year: int) -> date | None:
    """The earliest date mentioned anywhere in free text (a month counts from its first day)."""
    tokens = _tokenize(text)
    found: list[date] = []
    i = 0
    while i < len(tokens):
        dates, i = _read_leniently(tokens, i, year)
        if dates is not None:
            found.append(dates.start)
    return min(found, default=None)


def find_date_span(text: str, *, year: int) -> tuple[date, date] | None:
    """The earliest and the latest date mentioned in free text (months: first and last day)."""
    tokens = _tokenize(text)
    starts: list[date] = []
    ends: list[date] = []
    i = 0
    while i < len(tokens):
        dates, i = _read_leniently(tokens, i, year)
        if dates is not None:
            starts.append(dates.start)
            ends.append(dates.end)
    if not starts:
        return None
    return min(starts), max(ends)


def _read_leniently(tokens: list[_Token], i: int, year: int) -> tuple[DateRange | None, int]:
    """Read a range, else a single date, at `tokens[i]`; else step over one token."""
    try:
        return _read_range(tokens, i, year, None)
    except DateParseError:
        pass
    point = _read_point(tokens, i)
    if point is not None:
        try:
            return _to_range(point[0], None, year, None), point[1]
        except DateParseError:
            pass
    return None, i + 1


@dataclass(frozen=True, slots=True)
class DateExamples:
    """Dates of the quarter being collected to show as examples of what may be typed."""

    day: str  # `26.10.2026`
    days: str  # `26-27 октября 2026`
    months: str  # `10 ноября – 3 декабря 2026`
    month: str  # `октябрь 2026`


def date_examples(period: Quarter, today: date) -> DateExamples:
    """Examples inside `period`, in the forms of REPORT_FORMAT.md, that the dialogue accepts
    on `today`: none starts after it (an event not yet begun is refused)."""
    year, first = period.year, period.first_day.month
    one = date(year, first, 26)
    if one > today:  # the quarter has only just begun: its first days
        one = period.first_day
    across = date(year, first + 1, 10)
    if across > today:
        across = one
    until = date(year, first + 2, 3)
    return DateExamples(
        day=one.strftime("%d.%m.%Y"),
        days=f"{one.day}-{one.day + 1} {MONTHS_GENITIVE[first - 1]} {year}",
        months=f"{_day_month(across)}{DASH}{_day_month(until)} {year}",
        month=f"{MONTHS_NOMINATIVE[first - 1]} {year}",
    )
