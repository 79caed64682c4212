"""The plain report model: a period's events grouped, ordered and numbered as printed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from reports.dates import DateRange, format_dates
from reports.participants import Total, read_total, with_total
from reports.quarters import Period, Year

COLUMNS: tuple[str, ...] = (
    "№ п/п",
    "Наименование мероприятия",
    "Место проведения мероприятия",
    "Сроки проведения мероприятия",
    "Цель, содержание и результат мероприятия (в том числе краткая информация о достигнутых "
    "договоренностях, подписанных документах)",
    "Участники мероприятия (общее количество, другие дополнительные сведения)",
)

DEFAULT_SPHERES: tuple[str, ...] = (
    "Сотрудничество в сфере инвестиционного развития",
    "Сотрудничество в сфере промышленности и торговли",
    "Сотрудничество в сфере архитектуры и строительства",
    "Сотрудничество в сфере культуры и туризма",
    "Сотрудничество в сфере образования и науки",
    "Сотрудничество в социальной сфере",
    "Сотрудничество в сфере природных ресурсов и экологии",
    "Сотрудничество в сфере молодежной политики и гражданско-патриотического воспитания",
    "Сотрудничество в сфере общественных связей",
    "Сотрудничество в сфере спорта",
    "Сотрудничество в сфере занятости населения и трудовой миграции",
    "Общие направления сотрудничества",
)

Cells = tuple[str, str, str, str, str, str]


def report_title(period: Period, region_phrase: str) -> str:
    """The title above the table: `в IV квартале 2023 года` (the quarter as a Roman
    numeral), or `в 2023 году` for a year."""
    when = (
        f"в {period.year} году"
        if isinstance(period, Year)
        else f"в {period.roman} квартале {period.year} года"
    )
    return f"Отчет о мероприятиях в международной сфере, проведенных {region_phrase} {when}"


@dataclass(frozen=True, slots=True)
class ReportEvent:
    """One submitted event as the report needs it; `seq` (the database id) breaks last ties.

    `participant_count` is the stored total: read from the text, or given apart when the
    text states none (then the participants cell prints it as its last paragraph).
    """

    sphere: str
    name: str
    place: str
    dates: DateRange
    result: str
    participants: str
    submitted_at: datetime | None = None
    seq: int = 0
    participant_count: int | None = None
    organisation: str = ""


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One numbered table row: `cells[0]` is `1.`, `cells[3]` the printed dates.

    `organisation` and `total` are not printed in the .docx table (the participants cell
    holds the total); the .xlsx gives them columns of their own.
    """

    number: int
    cells: Cells
    organisation: str = ""
    total: Total | None = None


@dataclass(frozen=True, slots=True)
class ReportGroup:
    """One sphere's merged heading row and the rows under it."""

    sphere: str
    rows: tuple[ReportRow, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """A period's report: title, groups of rows in print order, closing notes.

    `quarter` is the period covered: a quarter, or a year (its four quarters' events in
    one table, their notes in quarter order)."""

    quarter: Period
    title: str
    groups: tuple[ReportGroup, ...]
    notes: tuple[str, ...] = ()

    @property
    def row_count(self) -> int:
        """How many numbered rows the table has."""
        return sum(len(group.rows) for group in self.groups)


_NO_TIME = datetime.min


def _order_key(event: ReportEvent) -> tuple[date, date, bool, datetime, int]:
    dates = event.dates
    submitted = event.submitted_at
    return (
        dates.order_start,
        dates.end,
        submitted is not None,
        _NO_TIME if submitted is None else submitted,
        event.seq,
    )


def _total(event: ReportEvent) -> Total | None:
    """The event's total as the text states it (`более 1000` keeps its word), else stored."""
    stated, count = read_total(event.participants), event.participant_count
    if stated is not None and count in (None, stated.count):
        return stated
    return None if count is None else Total(count)


def build_report(
    quarter: Period,
    region_phrase: str,
    spheres: Sequence[str],
    events: Iterable[ReportEvent],
    notes: Sequence[str] = (),
) -> Report:
    """Group events by sphere in the configured order, order each group, number all rows.

    Spheres without events are left out. Events of a sphere missing from `spheres` are
    kept: their groups follow the configured ones, in order of sphere name. Within a group
    rows go by start date (a month-only date counts as its last day), then end date, then
    submission time (unknown first), then `seq`.
    """
    by_sphere: dict[str, list[ReportEvent]] = {}
    for event in events:
        by_sphere.setdefault(event.sphere, []).append(event)

    configured = dict.fromkeys(spheres)
    order = [sphere for sphere in configured if sphere in by_sphere]
    order += sorted(sphere for sphere in by_sphere if sphere not in configured)

    groups: list[ReportGroup] = []
    number = 0
    for sphere in order:
        rows: list[ReportRow] = []
        for event in sorted(by_sphere[sphere], key=_order_key):
            number += 1
            cells = (
                f"{number}.",
                event.name,
                event.place,
                format_dates(event.dates),
                event.result,
                with_total(event.participants, event.participant_count),
            )
            rows.append(ReportRow(number, cells, event.organisation, _total(event)))
        groups.append(ReportGroup(sphere, tuple(rows)))

    return Report(
        quarter=quarter,
        title=report_title(quarter, region_phrase),
        groups=tuple(groups),
        notes=tuple(notes),
    )
