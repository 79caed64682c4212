"""The yearly report: the four quarters of a year in one document, in chat and on the CLI."""

from __future__ import annotations

import json
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from aiogram.types import BufferedInputFile
from docx import Document
from openpyxl import load_workbook

from bot.database import Storage
from handlers.texts import Desk, Years
from reports.docx import render_docx
from reports.model import DEFAULT_SPHERES, report_title
from reports.quarters import Quarter, QuarterError, Year, parse_period, year_before
from storage.report_source import DatabaseReportSource, PeriodNotFound
from storage.repositories import PeriodRepository
from tests import factories
from tests.conftest import COORDINATOR_ID
from tests.test_cli import run_bot
from tests.tg import Person, Sessions, World, add_period

REGION = "исполнительными органами Смоленской области и подведомственными им учреждениями"
INVESTMENT, CULTURE, SPORT = DEFAULT_SPHERES[0], DEFAULT_SPHERES[3], DEFAULT_SPHERES[9]

# The expected table of 2023: spheres in the configured order, rows by date across the
# quarters they were filed in, numbered through the whole table.
EXPECTED = [
    (INVESTMENT, ["1. Инвестиционный форум"]),
    (
        CULTURE,
        [
            "2. Зимняя выставка",  # 15 February, filed in I
            "3. Летний пленэр",  # 28 June, filed in III
            "4. Сентябрьский фестиваль",  # September (month only: counts as 30 September)
            "5. Осенняя выставка",  # 10 October, filed in IV
        ],
    ),
    (SPORT, ["6. Эстафета", "7. Турнир"]),
]
NOTES = ["Заметка I квартала", "Заметка III квартала", "Первая заметка IV квартала", "Вторая"]


async def file_a_year(sessions: Sessions) -> None:
    """Events of the four quarters of 2023 (filed out of order, so ids give no order), one
    deleted, a quarter each side of the year, and notes added out of quarter order."""
    async with sessions() as session, session.begin():
        org = await factories.organisation(session, "Смоленский областной музей")
        investment = await factories.sphere(session, INVESTMENT)
        culture = await factories.sphere(session, CULTURE)
        sport = await factories.sphere(session, SPORT)
        periods = {
            quarter: await factories.period(session, quarter)
            for quarter in (Quarter(2022, 4), *Year(2023).quarters, Quarter(2024, 1))
        }

        async def add(
            quarter: Quarter, sphere: object, name: str, start: date, **kw: object
        ) -> None:
            await factories.event(
                session,
                period_=periods[quarter],
                org=org,
                sphere_=sphere,
                start=start,
                name=name,
                **kw,
            )

        q1, q2, q3, q4 = Year(2023).quarters
        await add(q4, culture, "Осенняя выставка", date(2023, 10, 10))
        await add(q4, investment, "Инвестиционный форум", date(2023, 12, 5))
        await add(
            q3,
            culture,
            "Сентябрьский фестиваль",
            date(2023, 9, 1),
            end=date(2023, 9, 30),
            precision="month",
        )
        await add(q3, culture, "Летний пленэр", date(2023, 6, 28))
        await add(q2, sport, "Турнир", date(2023, 6, 1))
        await add(q2, sport, "Удалённое", date(2023, 5, 1), status="deleted")
        await add(q1, sport, "Эстафета", date(2023, 3, 20))
        await add(q1, culture, "Зимняя выставка", date(2023, 2, 15))
        await add(Quarter(2022, 4), culture, "Прошлогоднее", date(2022, 11, 1))
        await add(Quarter(2024, 1), culture, "Следующего года", date(2024, 1, 20))

        notes = PeriodRepository(session)
        await notes.add_note(periods[q4].id, "Первая заметка IV квартала")
        await notes.add_note(periods[q1].id, "Заметка I квартала")
        await notes.add_note(periods[q4].id, "Вторая")
        await notes.add_note(periods[q3].id, "Заметка III квартала")


def table_of(document: Document) -> list[tuple[str, list[str]]]:
    """The table read back: each sphere's row and its rows as `N. name`."""
    groups: list[tuple[str, list[str]]] = []
    for row in document.tables[0].rows[1:]:
        cells = row.cells
        if cells[0]._tc is cells[-1]._tc:  # merged across the six columns: a sphere row
            groups.append((cells[0].text, []))
        else:
            groups[-1][1].append(f"{cells[0].text} {cells[1].text}")
    return groups


def notes_of(document: Document) -> list[str]:
    """The paragraphs after the table (the title is the one before it)."""
    return [p.text for p in document.paragraphs[1:] if p.text]


# --- the model and the document ----------------------------------------------------------


def test_a_year_or_a_quarter_is_read_from_its_label() -> None:
    assert parse_period("2023") == Year(2023)
    assert parse_period(" 2023 г. ") == Year(2023)
    assert parse_period("2023-Q4") == Quarter(2023, 4)
    assert year_before(Year(2023)) == Year(2022)
    assert year_before(Quarter(2023, 4)) == Quarter(2022, 4)
    for bad in ("2027-Q5", "23", "20233", "год"):
        with pytest.raises(QuarterError):
            parse_period(bad)


def test_the_title_of_a_year_says_in_which_year() -> None:
    assert report_title(Year(2023), REGION) == (
        f"Отчет о мероприятиях в международной сфере, проведенных {REGION} в 2023 году"
    )


async def test_a_year_of_four_quarters_is_one_table_numbered_and_ordered_with_the_notes(
    app_storage: Storage,
) -> None:
    await file_a_year(app_storage.sessionmaker)

    report = await DatabaseReportSource(app_storage.reader, REGION).load_report(Year(2023))
    document = Document(BytesIO(render_docx(report)))

    assert document.paragraphs[0].text == report_title(Year(2023), REGION)
    assert table_of(document) == EXPECTED
    assert notes_of(document) == NOTES


async def test_a_year_with_no_period_at_all_is_not_found(app_storage: Storage) -> None:
    await file_a_year(app_storage.sessionmaker)

    with pytest.raises(PeriodNotFound):
        await DatabaseReportSource(app_storage.reader, REGION).load_report(Year(2021))


# --- in chat -----------------------------------------------------------------------------


def coordinator(world: World) -> Person:
    return world.person(COORDINATOR_ID, "Координатор")


def sent_document(person: Person, index: int = -1) -> tuple[str, bytes, str | None]:
    sent = person.documents()[index]
    assert isinstance(sent.document, BufferedInputFile)
    return sent.document.filename or "", sent.document.data, sent.caption


async def test_report_of_a_year_sends_the_years_docx_and_its_xlsx(
    world: World, app_storage: Storage
) -> None:
    await file_a_year(app_storage.sessionmaker)
    desk = coordinator(world)

    await desk.send("/report 2023")
    [docx] = desk.documents()
    assert docx.reply_markup is not None
    [[button]] = docx.reply_markup.inline_keyboard  # type: ignore[union-attr]
    assert button.text == Desk.XLSX and button.callback_data is not None
    await desk.press_data(button.callback_data)

    (name, data, caption), (xlsx_name, xlsx, _) = (
        sent_document(desk, 0),
        sent_document(desk, 1),
    )
    assert name == "report_2023.docx"
    assert caption == Desk.CAPTION.format(period="2023 год", count=7)
    assert table_of(Document(BytesIO(data))) == EXPECTED
    assert xlsx_name == "report_2023.xlsx"
    sheet = load_workbook(BytesIO(xlsx)).active
    assert sheet is not None
    assert sheet["A1"].value == report_title(Year(2023), REGION)
    assert [sheet.cell(row=row, column=2).value for row in range(4, 11)] == [
        line.split(". ", 1)[1] for _, lines in EXPECTED for line in lines
    ]


async def test_the_chooser_offers_the_years_with_events_after_the_quarters(
    world: World, app_storage: Storage
) -> None:
    await file_a_year(app_storage.sessionmaker)
    await add_period(app_storage.sessionmaker, Quarter(2025, 1))  # a year with no events
    desk = coordinator(world)

    await desk.send("/report")
    labels = desk.labels()
    await desk.press("2023 год")

    assert labels[-3:] == ["2024 год", "2023 год", "2022 год"]
    assert "2025 год" not in labels
    assert labels[:2] == ["I квартал 2025 года", "I квартал 2024 года"]
    assert all("квартал" in label for label in labels[:-3])  # the quarters first
    name, data, _ = sent_document(desk)
    assert name == "report_2023.docx"
    assert notes_of(Document(BytesIO(data))) == NOTES


async def test_a_year_without_periods_or_without_events_says_so(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Quarter(2024, 2))
    desk = coordinator(world)

    [none] = await desk.send("/report 2021")
    [empty] = await desk.send("/report 2024")

    assert none.text == Years.NO_PERIOD.format(year=2021)
    assert empty.text == Desk.EMPTY.format(period="2024 год")
    assert desk.documents() == []


async def test_a_bad_period_shows_a_quarter_and_a_year_to_write(world: World) -> None:
    desk = coordinator(world)

    [reply] = await desk.send("/report 2023-Q7")

    assert reply.text == Desk.BAD_PERIOD.format(value="2023-Q7", label="2023-Q4")
    assert "/report 2023-Q4 — за квартал, /report 2023 — за год" in reply.text


# --- on the command line -----------------------------------------------------------------


def test_cli_report_of_a_year_writes_the_years_document(
    tmp_path: Path, fixture_data: dict[str, object]
) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps(fixture_data, ensure_ascii=False), encoding="utf-8")
    run_bot(tmp_path, "import", str(path))

    result = run_bot(tmp_path, "report", "2023")
    missing = run_bot(tmp_path, "report", "2020")

    assert result.returncode == 0, result.stderr
    assert "Отчёт за 2023 год сохранён: report_2023.docx (мероприятий: 42)" in result.stdout
    document = Document(BytesIO((tmp_path / "report_2023.docx").read_bytes()))
    assert document.paragraphs[0].text.endswith("в 2023 году")
    assert len(document.tables[0].rows) == 1 + 12 + 42
    assert missing.returncode == 1
    assert "За 2020 год в базе нет" in missing.stderr
