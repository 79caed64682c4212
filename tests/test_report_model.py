"""The report model: grouping, order within a group, numbering, title."""

from __future__ import annotations

from datetime import date, datetime

from reports.dates import DateRange, Precision
from reports.model import (
    COLUMNS,
    DEFAULT_SPHERES,
    Report,
    ReportEvent,
    build_report,
    report_title,
)
from reports.quarters import Quarter

Q4 = Quarter(2023, 4)
REGION = "исполнительными органами Смоленской области и подведомственными им учреждениями"
CULTURE = "Сотрудничество в сфере культуры и туризма"
SPORT = "Сотрудничество в сфере спорта"
GENERAL = "Общие направления сотрудничества"


def make_event(
    name: str = "Фестиваль",
    *,
    sphere: str = CULTURE,
    start: date = date(2023, 10, 10),
    end: date | None = None,
    precision: Precision = "day",
    note: str | None = None,
    submitted_at: datetime | None = None,
    seq: int = 0,
) -> ReportEvent:
    """A report event with plausible defaults; pass only what the test is about."""
    return ReportEvent(
        sphere=sphere,
        name=name,
        place="г. Смоленск",
        dates=DateRange(start, end or start, precision, note),
        result="Проведен",
        participants="10 человек",
        submitted_at=submitted_at,
        seq=seq,
    )


def build(events: list[ReportEvent], spheres: tuple[str, ...] = DEFAULT_SPHERES) -> Report:
    return build_report(Q4, REGION, spheres, events)


def names(report: Report) -> list[str]:
    return [row.cells[1] for group in report.groups for row in group.rows]


def test_it_has_the_six_headers_of_the_format() -> None:
    assert len(COLUMNS) == 6
    assert COLUMNS[0] == "№ п/п"
    assert COLUMNS[4] == (
        "Цель, содержание и результат мероприятия (в том числе краткая информация о "
        "достигнутых договоренностях, подписанных документах)"
    )


def test_it_has_the_twelve_default_spheres_in_order() -> None:
    assert len(DEFAULT_SPHERES) == 12
    assert DEFAULT_SPHERES[0] == "Сотрудничество в сфере инвестиционного развития"
    assert DEFAULT_SPHERES[-1] == GENERAL


def test_it_titles_the_report_with_the_quarter_as_a_roman_numeral() -> None:
    title = report_title(Quarter(2024, 2), "органами области")

    assert title == (
        "Отчет о мероприятиях в международной сфере, проведенных органами области "
        "в II квартале 2024 года"
    )


def test_it_titles_the_reference_quarter_as_the_reference_report() -> None:
    report = build([make_event()])

    assert report.title == (
        "Отчет о мероприятиях в международной сфере, проведенных исполнительными органами "
        "Смоленской области и подведомственными им учреждениями в IV квартале 2023 года"
    )
    assert report.quarter == Q4


def test_it_orders_rows_by_start_date() -> None:
    events = [
        make_event("третье", start=date(2023, 12, 1)),
        make_event("первое", start=date(2023, 9, 25)),
        make_event("второе", start=date(2023, 10, 5)),
    ]

    report = build(events)

    assert names(report) == ["первое", "второе", "третье"]


def test_it_counts_a_month_only_start_as_the_last_day_of_its_month() -> None:
    events = [
        make_event("31 октября – 1 ноября", start=date(2023, 10, 31), end=date(2023, 11, 1)),
        make_event("октябрь", start=date(2023, 10, 1), end=date(2023, 10, 31), precision="month"),
        make_event("30 октября", start=date(2023, 10, 30)),
    ]

    report = build(events)

    assert names(report) == ["30 октября", "октябрь", "31 октября – 1 ноября"]


def test_it_breaks_start_ties_by_end_date() -> None:
    events = [
        make_event("22-23 ноября", start=date(2023, 11, 22), end=date(2023, 11, 23)),
        make_event("22 ноября", start=date(2023, 11, 22)),
    ]

    report = build(events)

    assert names(report) == ["22 ноября", "22-23 ноября"]


def test_it_breaks_date_ties_by_submission_time_unknown_first() -> None:
    events = [
        make_event("позже", submitted_at=datetime(2023, 11, 2, 9, 0)),
        make_event("раньше", submitted_at=datetime(2023, 11, 1, 18, 30)),
        make_event("неизвестно", submitted_at=None),
    ]

    report = build(events)

    assert names(report) == ["неизвестно", "раньше", "позже"]


def test_it_breaks_remaining_ties_by_seq() -> None:
    same_time = datetime(2023, 11, 1, 12, 0)
    events = [
        make_event("seq 7", submitted_at=same_time, seq=7),
        make_event("seq 3", submitted_at=same_time, seq=3),
        make_event("seq 5", submitted_at=same_time, seq=5),
    ]

    report = build(events)

    assert names(report) == ["seq 3", "seq 5", "seq 7"]


def test_it_groups_by_sphere_in_the_configured_order() -> None:
    events = [
        make_event("общее", sphere=GENERAL),
        make_event("спорт", sphere=SPORT),
        make_event("культура", sphere=CULTURE),
    ]

    report = build(events)

    assert [group.sphere for group in report.groups] == [CULTURE, SPORT, GENERAL]


def test_it_numbers_rows_across_groups() -> None:
    events = [
        make_event("спорт 1", sphere=SPORT, start=date(2023, 10, 1)),
        make_event("культура", sphere=CULTURE),
        make_event("спорт 2", sphere=SPORT, start=date(2023, 10, 2)),
    ]

    report = build(events)

    rows = [row for group in report.groups for row in group.rows]
    assert [row.number for row in rows] == [1, 2, 3]
    assert [row.cells[0] for row in rows] == ["1.", "2.", "3."]
    assert [row.cells[1] for row in report.groups[1].rows] == ["спорт 1", "спорт 2"]
    assert report.row_count == 3


def test_it_leaves_out_spheres_without_events() -> None:
    events = [make_event(sphere=SPORT)]

    report = build(events)

    assert [group.sphere for group in report.groups] == [SPORT]


def test_it_keeps_unknown_spheres_after_the_configured_ones_in_order_of_name() -> None:
    events = [
        make_event("здравоохранение", sphere="Сотрудничество в сфере здравоохранения"),
        make_event("агро", sphere="Сотрудничество в агропромышленной сфере"),
        make_event("спорт", sphere=SPORT),
    ]

    report = build(events, spheres=(SPORT, CULTURE))

    assert [group.sphere for group in report.groups] == [
        SPORT,
        "Сотрудничество в агропромышленной сфере",
        "Сотрудничество в сфере здравоохранения",
    ]
    assert names(report) == ["спорт", "агро", "здравоохранение"]


def test_it_fills_the_cells_in_column_order_with_the_printed_dates() -> None:
    event = make_event("Форум", start=date(2023, 10, 26), end=date(2023, 10, 27))

    report = build([event])

    assert report.groups[0].rows[0].cells == (
        "1.",
        "Форум",
        "г. Смоленск",
        "26-27 октября 2023 года",
        "Проведен",
        "10 человек",
    )


def test_it_prints_a_dates_note_as_written() -> None:
    note = "Отборочный этап: 13 сентября – 6 октября 2023 года"
    event = make_event(start=date(2023, 9, 13), end=date(2023, 10, 6), note=note)

    report = build([event])

    assert report.groups[0].rows[0].cells[3] == note


def test_it_keeps_the_closing_notes_and_leaves_text_unchanged() -> None:
    event = make_event("«Родина моя...»\nвторая\u00a0строка")

    report = build_report(Q4, REGION, DEFAULT_SPHERES, [event], notes=["Примечание"])

    assert report.notes == ("Примечание",)
    assert names(report) == ["«Родина моя...»\nвторая\u00a0строка"]


def test_it_builds_an_empty_report_without_groups() -> None:
    report = build([])

    assert report.groups == ()
    assert report.row_count == 0


def test_listed_days_are_ordered_by_the_earliest_and_printed_as_listed() -> None:
    note = "12 и 14 октября 2023 года"
    listed = make_event("Дни культуры", start=date(2023, 10, 12), end=date(2023, 10, 14), note=note)
    between = make_event("Концерт", start=date(2023, 10, 13))
    earlier = make_event("Выставка", start=date(2023, 10, 11))

    report = build([between, listed, earlier])

    assert names(report) == ["Выставка", "Дни культуры", "Концерт"]
    assert report.groups[0].rows[1].cells[3] == note


def test_a_total_given_apart_closes_the_participants_cell_and_is_not_doubled() -> None:
    apart = ReportEvent(
        sphere=CULTURE,
        name="Гастроли",
        place="г. Минск",
        dates=DateRange(date(2023, 10, 10), date(2023, 10, 10)),
        result="Проведены",
        participants="Артисты театра",
        participant_count=21,
    )
    stated = make_event("Фестиваль")

    report = build([apart, stated])

    cells = [row.cells[5] for row in report.groups[0].rows]
    assert cells == [
        "Артисты театра\nОбщее количество участников\u00a0– 21 человек",
        "10 человек",
    ]
