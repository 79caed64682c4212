"""Dates: the report's formatter, the parser of staff input and the free-text date finder."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.dates import (
    MESSAGES,
    DateParseError,
    DateRange,
    find_earliest_date,
    format_dates,
    last_day_of_month,
    parse_dates,
)
from reports.quarters import Quarter

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "report_2023_q4.json"
Q4_2023 = Quarter(2023, 4)


def days(start: str, end: str | None = None) -> DateRange:
    """A day-precision range from ISO dates."""
    return DateRange(date.fromisoformat(start), date.fromisoformat(end or start))


def months(first: str, last: str | None = None) -> DateRange:
    """A month-precision range from `YYYY-MM` labels: first day of `first` to last of `last`."""
    start = date.fromisoformat(f"{first}-01")
    end = last_day_of_month(date.fromisoformat(f"{last or first}-01"))
    return DateRange(start, end, "month")


# --- the formatter: every row of REPORT_FORMAT.md's table ---------------------------------

FORMATTED = [
    pytest.param(days("2023-10-10"), "10 октября 2023 года", id="one day"),
    pytest.param(days("2023-10-26", "2023-10-27"), "26-27 октября 2023 года", id="one month"),
    pytest.param(
        days("2023-11-16", "2023-12-17"), "16 ноября – 17 декабря 2023 года", id="across months"
    ),
    pytest.param(
        days("2023-11-04", "2024-04-12"),
        "4 ноября 2023 года – 12 апреля 2024 года",
        id="across years",
    ),
    pytest.param(months("2023-10"), "октябрь 2023 года", id="a whole month"),
    pytest.param(months("2023-10", "2023-11"), "октябрь – ноябрь 2023 года", id="months"),
    pytest.param(
        months("2023-12", "2024-01"),
        "декабрь 2023 года – январь 2024 года",
        id="months across years",
    ),
    pytest.param(
        DateRange(date(2023, 9, 13), date(2023, 11, 4), note="Отборочный этап: 13 сентября"),
        "Отборочный этап: 13 сентября",
        id="note",
    ),
]


@pytest.mark.parametrize(("dates", "printed"), FORMATTED)
def test_it_prints_every_row_of_the_report_format_table(dates: DateRange, printed: str) -> None:
    assert format_dates(dates) == printed


def test_it_prints_the_note_even_when_the_range_is_plain() -> None:
    dates = DateRange(date(2023, 10, 1), date(2023, 10, 1), note="ежедневно")

    assert format_dates(dates) == "ежедневно"


# --- the parser ----------------------------------------------------------------------------

PARSED = [
    # the forms REPORT_FORMAT.md lists
    ("26.10.2023", days("2023-10-26")),
    ("26.10.23", days("2023-10-26")),
    ("26-27.10.2023", days("2023-10-26", "2023-10-27")),
    ("26.10-27.10.2023", days("2023-10-26", "2023-10-27")),
    ("26.10.2023 - 27.10.2023", days("2023-10-26", "2023-10-27")),
    ("2023-10-26", days("2023-10-26")),
    ("26-27 октября 2023", days("2023-10-26", "2023-10-27")),
    ("26–27 октября 2023 г.", days("2023-10-26", "2023-10-27")),
    ("с 26 по 27 октября 2023 года", days("2023-10-26", "2023-10-27")),
    ("10 ноября – 3 декабря 2023", days("2023-11-10", "2023-12-03")),
    ("4 ноября 2023 – 12 апреля 2024", days("2023-11-04", "2024-04-12")),
    ("октябрь 2023", months("2023-10")),
    ("окт. 2023", months("2023-10")),
    ("26 октября", days("2023-10-26")),
    # dashes and spaces as phones produce them
    ("26—27 октября 2023", days("2023-10-26", "2023-10-27")),
    ("26 − 27 октября 2023", days("2023-10-26", "2023-10-27")),
    ("26 -27 октября 2023", days("2023-10-26", "2023-10-27")),
    ("10 ноября- 3 декабря 2023 года", days("2023-11-10", "2023-12-03")),
    ("26.10.2023—27.10.2023", days("2023-10-26", "2023-10-27")),
    ("  26\u00a0октября\u00a02023\u202fг.  ", days("2023-10-26")),
    ("26 октября 2023 года – 27 октября 2023 года", days("2023-10-26", "2023-10-27")),
    ("с 26.10.2023 до 27.10.2023", days("2023-10-26", "2023-10-27")),
    ("С 1 окт. по 3 нояб. 23г.", days("2023-10-01", "2023-11-03")),
    ("26 ОКТЯБРЯ 2023 Г", days("2023-10-26")),
    ("26октября2023г", days("2023-10-26")),
    ("26.10.2023.", days("2023-10-26")),
    ("26/10/2023", days("2023-10-26")),
    ("26-10-2023", days("2023-10-26")),
    ("2023.10.26", days("2023-10-26")),
    ("2023-10-26 – 2023-10-27", days("2023-10-26", "2023-10-27")),
    ("26.10", days("2023-10-26")),
    ("26-27.10", days("2023-10-26", "2023-10-27")),
    ("1.9.2023", days("2023-09-01")),
    # month names and abbreviations, nominative and genitive, with and without a dot
    ("1 янв 2024", days("2024-01-01")),
    ("1 февр. 2024", days("2024-02-01")),
    ("1 мар 2024", days("2024-03-01")),
    ("1 апр. 2024", days("2024-04-01")),
    ("1 мая 2024", days("2024-05-01")),
    ("1 май 2024", days("2024-05-01")),
    ("1 июн 2024", days("2024-06-01")),
    ("1 июл. 2024", days("2024-07-01")),
    ("1 авг 2024", days("2024-08-01")),
    ("1 сен 2024", days("2024-09-01")),
    ("1 сент. 2024", days("2024-09-01")),
    ("1 ноя 2024", days("2024-11-01")),
    ("1 нояб. 2024", days("2024-11-01")),
    ("1 дек 2024", days("2024-12-01")),
    ("3 сентябрь 2023", days("2023-09-03")),
    # whole months
    ("Октябрь 2023 г.", months("2023-10")),
    ("в октябре 2023 года", months("2023-10")),
    ("10.2023", months("2023-10")),
    ("октябрь", months("2023-10")),
    ("май 2024", months("2024-05")),
    ("октябрь – ноябрь 2023", months("2023-10", "2023-11")),
    ("октябрь-декабрь 2023", months("2023-10", "2023-12")),
    ("с октября по декабрь 2023 г.", months("2023-10", "2023-12")),
    ("окт-дек 23", months("2023-10", "2023-12")),
    ("декабрь 2023 – январь 2024", months("2023-12", "2024-01")),
    ("декабрь – январь 2024", months("2023-12", "2024-01")),
    ("10.2023-11.2023", months("2023-10", "2023-11")),
    ("сентябрь 2023 - февраль 2024 гг.", months("2023-09", "2024-02")),
    # across New Year with the start's year left out
    ("28 декабря – 3 января 2024", days("2023-12-28", "2024-01-03")),
    ("28 декабря 2023 – 3 января", days("2023-12-28", "2024-01-03")),
    ("28 декабря – 3 января", days("2023-12-28", "2024-01-03")),
    ("4 ноября – 12 апреля 2024", days("2023-11-04", "2024-04-12")),
    # upper case throughout
    ("26-27 ОКТЯБРЯ 2023 ГОДА", days("2023-10-26", "2023-10-27")),
]


def listed(start: str, end: str, note: str) -> DateRange:
    """Listed days: the earliest and the latest, and the printed form as the note."""
    return DateRange(date.fromisoformat(start), date.fromisoformat(end), "day", note)


LISTS = [
    ("12 и 14 октября 2023", listed("2023-10-12", "2023-10-14", "12 и 14 октября 2023 года")),
    (
        "12, 14 и 20 октября",
        listed("2023-10-12", "2023-10-20", "12, 14 и 20 октября 2023 года"),
    ),
    ("12,14,20.10.2023", listed("2023-10-12", "2023-10-20", "12, 14 и 20 октября 2023 года")),
    ("12.10 и 14.10.2023", listed("2023-10-12", "2023-10-14", "12 и 14 октября 2023 года")),
    ("14 и 12 октября 2023 г.", listed("2023-10-12", "2023-10-14", "12 и 14 октября 2023 года")),
    (
        "с 12 по 14 и 20 октября 2023 года",
        listed("2023-10-12", "2023-10-20", "12-14 и 20 октября 2023 года"),
    ),
    (
        "30 сентября и 2-3 октября 2023",
        listed("2023-09-30", "2023-10-03", "30 сентября и 2-3 октября 2023 года"),
    ),
    ("12 и 12 октября 2023", days("2023-10-12")),  # one day is a plain date
]


@pytest.mark.parametrize(("text", "expected"), LISTS, ids=[text for text, _ in LISTS])
def test_it_reads_a_list_of_days_as_the_earliest_to_the_latest_printed_as_written(
    text: str, expected: DateRange
) -> None:
    dates = parse_dates(text, year=2023, period=Q4_2023)

    assert dates == expected
    assert dates.order_start == expected.start


def test_a_list_of_days_reads_back_as_it_prints() -> None:
    dates = parse_dates("12, 14 и 20 октября 2026", year=2026)

    assert parse_dates(format_dates(dates), year=1999) == dates


def test_a_list_of_days_far_from_the_period_is_refused() -> None:
    with pytest.raises(DateParseError) as caught:
        parse_dates("12 и 14 октября 2031", year=2023, period=Q4_2023)

    assert caught.value.code == "year_far"


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[text for text, _ in PARSED])
def test_it_reads_dates_as_staff_type_them(text: str, expected: DateRange) -> None:
    assert parse_dates(text, year=2023, period=Q4_2023) == expected


@pytest.mark.parametrize(("dates", "printed"), FORMATTED[:-1])
def test_it_reads_back_every_form_it_prints(dates: DateRange, printed: str) -> None:
    assert parse_dates(printed, year=1999) == dates


def test_it_reads_a_day_range_within_one_month() -> None:
    assert parse_dates("26-27.10.2023", year=2023) == days("2023-10-26", "2023-10-27")


def test_it_takes_the_period_year_when_none_is_typed() -> None:
    assert parse_dates("26 октября", year=2024) == days("2024-10-26")


def test_it_reads_two_digit_years_as_this_century() -> None:
    assert parse_dates("1.2.99", year=2023) == days("2099-02-01")


def test_it_starts_a_yearless_new_year_range_in_the_previous_year_for_a_first_quarter() -> None:
    dates = parse_dates("28 декабря – 3 января", year=2024, period=Quarter(2024, 1))

    assert dates == days("2023-12-28", "2024-01-03")


def test_it_accepts_a_year_within_the_allowed_distance_of_the_period() -> None:
    dates = parse_dates("4 ноября 2023 – 12 апреля 2024", year=2023, period=Q4_2023)

    assert dates.end == date(2024, 4, 12)


# --- errors --------------------------------------------------------------------------------

ERRORS = [
    (
        "31.02.2024",
        "impossible",
        "Такой даты нет: 31.02.2024. Проверьте, пожалуйста, число и месяц.",
    ),
    ("30 февраля 2024", "impossible", "Такой даты нет: 30.02.2024."),
    ("29.02.2023", "impossible", "Такой даты нет: 29.02.2023."),
    ("32.10.2023", "impossible", "Такой даты нет: 32.10.2023."),
    ("26.13.2023", "impossible", "Такой даты нет: 26.13.2023."),
    ("13.2023", "impossible", "Такой даты нет: 13.2023."),
    ("0.10.2023", "impossible", "Такой даты нет: 00.10.2023."),
    ("27-26.10.2023", "end_before_start", "Дата окончания раньше даты начала."),
    ("27.10.2023 - 26.10.2023", "end_before_start", "Дата окончания раньше даты начала."),
    ("ноябрь – октябрь 2023 года", "end_before_start", "Дата окончания раньше даты начала."),
    ("июнь – январь 2024", "end_before_start", "Дата окончания раньше даты начала."),
    ("28 октября – 3 октября", "end_before_start", "Дата окончания раньше даты начала."),
    (
        "26.10.2031",
        "year_far",
        "Год 2031 не относится к отчётному периоду (IV квартал 2023 года). "
        "Проверьте, пожалуйста, год.",
    ),
    ("26.10.2021", "year_far", "Год 2021 не относится"),
    ("26.10.2023 - 01.02.2025", "year_far", "Год 2025 не относится"),
    ("1.1.0000", "impossible", "Такой даты нет: 01.01.0000."),
    ("завтра", "unreadable", "Не удалось распознать даты. Напишите, например:"),
    ("hello world", "unreadable", "Не удалось распознать даты."),
    ("26", "unreadable", "Не удалось распознать даты."),
    ("2023", "unreadable", "Не удалось распознать даты."),
    ("26 10 2023", "unreadable", "Не удалось распознать даты."),
    ("26 и", "unreadable", "Не удалось распознать даты."),
    (", 26 октября", "unreadable", "Не удалось распознать даты."),
    ("26 и 27 сентября – 3 октября 2023", "unreadable", "Не удалось распознать даты."),
    ("30 декабря 2023 и 2 января 2024", "unreadable", "Не удалось распознать даты."),
    ("26 и октябрь 2023", "unreadable", "Не удалось распознать даты."),
    ("26 и 31 ноября 2023", "impossible", "Такой даты нет: 31.11.2023."),
    ("26.10.2023 -", "unreadable", "Не удалось распознать даты."),
    ("- 26.10.2023", "unreadable", "Не удалось распознать даты."),
    ("1-2-3 октября", "unreadable", "Не удалось распознать даты."),
    ("октябрь – 15 ноября 2023", "unreadable", "Не удалось распознать даты."),
    ("26.10.202", "unreadable", "Не удалось распознать даты."),
    ("года", "unreadable", "Не удалось распознать даты."),
    ("", "empty", "Напишите, пожалуйста, даты мероприятия"),
    (" \u00a0\n", "empty", "Напишите, пожалуйста, даты мероприятия"),
]


@pytest.mark.parametrize(("text", "code", "message"), ERRORS, ids=[text for text, *_ in ERRORS])
def test_it_explains_what_is_wrong_with_the_dates(text: str, code: str, message: str) -> None:
    with pytest.raises(DateParseError) as caught:
        parse_dates(text, year=2023, period=Q4_2023)

    assert caught.value.code == code
    assert caught.value.message.startswith(message)
    assert str(caught.value) == caught.value.message


def test_its_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="Такой даты нет"):
        parse_dates("31.02.2024", year=2024)


def test_it_checks_the_year_only_against_a_given_period() -> None:
    assert parse_dates("26.10.2031", year=2023) == days("2031-10-26")


def test_it_lets_the_caller_widen_the_allowed_distance_from_the_period() -> None:
    dates = parse_dates("26.10.2025", year=2023, period=Q4_2023, max_years_away=2)

    assert dates == days("2025-10-26")


def test_it_keeps_every_message_in_russian_and_ending_with_a_full_stop() -> None:
    for code, message in MESSAGES.items():
        assert message.endswith("."), code
        assert any("а" <= letter <= "я" for letter in message.lower()), code


# --- the earliest date in free text --------------------------------------------------------

EARLIEST = [
    (
        "Отборочный этап: 13 сентября – 6 октября 2023 года, "
        "заключительный этап: 29 октября – 4 ноября 2023 года",
        date(2023, 9, 13),
    ),
    ("Заключительный этап 29 октября, отборочный 13.09.2023", date(2023, 9, 13)),
    ("Встречи 26-27 октября и 3 ноября", date(2023, 10, 26)),
    ("По мере поступления заявок, начиная с 2 ноября 2023 г.", date(2023, 11, 2)),
    ("Ежемесячно, начиная с октября 2023 года", date(2023, 10, 1)),
    ("Приём 13 сентября, 150 участников, 2 этапа", date(2023, 9, 13)),
    ("Сначала 31.02.2023 (опечатка), потом 5 декабря", date(2023, 12, 5)),
    ("Старт 28 декабря – финал 3 января 2024", date(2023, 12, 28)),
    ("В течение квартала", None),
    ("С 10:00 до 18:00, 150 человек", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), EARLIEST, ids=[text for text, _ in EARLIEST])
def test_it_finds_the_earliest_date_in_free_text(text: str, expected: date | None) -> None:
    assert find_earliest_date(text, year=2023) == expected


# --- the reference report ------------------------------------------------------------------


def reference_events() -> list[dict]:
    """The 42 events of the reference report, or a skip when the shared fixture is absent."""
    if not FIXTURE.exists():
        pytest.skip(f"reference fixture not found at {FIXTURE}")
    return json.loads(FIXTURE.read_text(encoding="utf-8"))["events"]


def stored_dates(event: dict) -> DateRange:
    return DateRange(
        date.fromisoformat(event["start"]),
        date.fromisoformat(event["end"]),
        event["precision"],
        event["dates_note"],
    )


def test_it_prints_the_reference_report_dates_as_the_original() -> None:
    events = reference_events()

    differing = {
        number: (format_dates(stored_dates(event)), event["dates_text"])
        for number, event in enumerate(events, start=1)
        if format_dates(stored_dates(event)) != event["dates_text"]
    }

    assert len(events) == 42
    assert differing == {
        10: ("10 ноября – 3 декабря 2023 года", "10 ноября- 3 декабря 2023 года"),
    }
    assert events[18]["dates_note"] == events[18]["dates_text"]


def test_it_reads_every_reference_dates_cell_that_is_a_plain_range() -> None:
    events = [event for event in reference_events() if not event["dates_note"]]

    for event in events:
        assert parse_dates(event["dates_text"], year=2023, period=Q4_2023) == stored_dates(event)


def test_it_finds_the_start_of_the_reference_olympiad_in_its_note() -> None:
    olympiad = reference_events()[18]

    assert find_earliest_date(olympiad["dates_note"], year=2023) == date.fromisoformat(
        olympiad["start"]
    )


# --- properties ----------------------------------------------------------------------------

any_day = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@st.composite
def day_ranges(draw: st.DrawFn) -> DateRange:
    start = draw(any_day)
    length = draw(st.one_of(st.just(0), st.integers(0, 40), st.integers(0, 800)))
    end = min(start + timedelta(days=length), date(2099, 12, 31))
    return DateRange(start, end)


@st.composite
def month_ranges(draw: st.DrawFn) -> DateRange:
    first = draw(any_day).replace(day=1)
    last = max(first, draw(any_day).replace(day=1)) if draw(st.booleans()) else first
    return DateRange(first, last_day_of_month(last), "month")


@given(st.one_of(day_ranges(), month_ranges()))
def test_it_reads_back_anything_it_prints(dates: DateRange) -> None:
    printed = format_dates(dates)

    parsed = parse_dates(printed, year=dates.start.year)

    assert parsed == dates
    assert format_dates(parsed) == printed


@given(st.text(max_size=40))
def test_it_either_reads_any_text_or_explains_why_not(text: str) -> None:
    try:
        dates = parse_dates(text, year=2023, period=Q4_2023)
    except DateParseError as error:
        assert error.code in MESSAGES
    else:
        assert dates.start <= dates.end


@given(st.text(max_size=60))
def test_it_never_fails_looking_for_a_date_in_free_text(text: str) -> None:
    found = find_earliest_date(text, year=2023)

    assert found is None or isinstance(found, date)
