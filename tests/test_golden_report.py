"""Golden test: the 42 reference events through the database, compiled and read back."""

from __future__ import annotations

from datetime import date, timedelta
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

from docx import Document
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.compiler import compile_docx
from reports.dates import DateRange, format_dates
from reports.model import COLUMNS, DEFAULT_SPHERES
from reports.quarters import Quarter
from storage.importer import import_events
from storage.report_source import DatabaseReportSource
from storage.repositories import SphereRepository
from tests.factories import MOSCOW_DEADLINE

REGION = "исполнительными органами Смоленской области и подведомственными им учреждениями"


def _cell_text(cell: Any) -> str:
    return "\n".join(paragraph.text for paragraph in cell.paragraphs)


async def _compile(sessionmaker: async_sessionmaker[AsyncSession], data: dict[str, Any]) -> bytes:
    async with sessionmaker() as session, session.begin():
        await SphereRepository(session).sync(DEFAULT_SPHERES)
        await import_events(
            session,
            data,
            default_organisation="Правительство Смоленской области",
            deadline_of=lambda _quarter: MOSCOW_DEADLINE,
            now=MOSCOW_DEADLINE - timedelta(days=30),
            tz=ZoneInfo("Europe/Moscow"),
        )
    return await compile_docx(DatabaseReportSource(sessionmaker, REGION), Quarter(2023, 4))


async def test_the_reference_quarter_compiles_to_the_reference_document(
    sessionmaker: async_sessionmaker[AsyncSession], fixture_data: dict[str, Any]
) -> None:
    events = fixture_data["events"]

    document = Document(BytesIO(await _compile(sessionmaker, fixture_data)))

    assert document.paragraphs[0].text == fixture_data["title"]
    table = document.tables[0]
    header, *body = table.rows
    assert (
        tuple(_cell_text(cell) for cell in header.cells)
        == COLUMNS
        == tuple(fixture_data["columns"])
    )
    spheres_in_order = list(dict.fromkeys(event["sphere"] for event in events))
    seen_spheres: list[str] = []
    numbered: list[list[str]] = []
    for row in body:
        unique = {id(cell._tc): cell for cell in row.cells}
        if len(unique) == 1:
            seen_spheres.append(_cell_text(row.cells[0]))
        else:
            numbered.append([_cell_text(cell) for cell in row.cells])
    assert seen_spheres == spheres_in_order
    assert len(numbered) == len(events) == 42
    printed_as_original = 0
    for cells, event in zip(numbered, events, strict=True):
        dates = DateRange(
            date.fromisoformat(event["start"]),
            date.fromisoformat(event["end"]),
            event["precision"],
            event["dates_note"],
        )
        assert cells == [
            f"{event['number']}.",
            event["name"],
            event["place"],
            format_dates(dates),
            event["result"],
            event["participants"],
        ]
        printed_as_original += cells[3] == event["dates_text"]
    assert printed_as_original == 41
    closing = [p.text for p in document.paragraphs if p.text.strip()][-1]
    assert closing == fixture_data["closing_note"]


async def test_importing_the_same_file_twice_adds_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], fixture_data: dict[str, Any]
) -> None:
    first = await _compile(sessionmaker, fixture_data)

    second = await _compile(sessionmaker, fixture_data)

    rows_first = len(Document(BytesIO(first)).tables[0].rows)
    rows_second = len(Document(BytesIO(second)).tables[0].rows)
    notes = [p.text for p in Document(BytesIO(second)).paragraphs if p.text.strip()]
    assert rows_first == rows_second == 1 + 12 + 42  # header, 12 sphere rows, 42 events
    assert notes.count(fixture_data["closing_note"]) == 1
