"""Reading reports in the official format back: our own output and documents typed by people."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.compiler import compile_docx
from reports.dates import DateRange
from reports.docx_import import DocxImportError, read_report
from reports.model import COLUMNS, DEFAULT_SPHERES
from reports.participants import read_total
from reports.quarters import Quarter
from storage.db import create_engine, create_sessionmaker
from storage.importer import import_events, import_read_report
from storage.migrate import upgrade_database
from storage.models import Event, Organisation, ReportingPeriod
from storage.report_source import DatabaseReportSource
from storage.repositories import SphereRepository
from tests.factories import MOSCOW_DEADLINE
from tests.word import ColumnNumbers, Header, Sphere, Split, person_report
from tests.word import Event as Row

REGION = "исполнительными органами Смоленской области и подведомственными им учреждениями"
TITLE = (
    "Отчет о мероприятиях в международной сфере, проведенных исполнительными органами",
    "Смоленской области и подведомственными им учреждениями в III квартале 2022 года",
)
CULTURE, EDUCATION, SPORT = DEFAULT_SPHERES[3], DEFAULT_SPHERES[4], DEFAULT_SPHERES[9]


def _table_cells(document_bytes: bytes) -> list[list[str]]:
    rows = []
    for table in Document(BytesIO(document_bytes)).tables:
        for row in table.rows:
            unique = {id(cell._tc): cell for cell in row.cells}.values()
            rows.append(["\n".join(p.text for p in cell.paragraphs) for cell in unique])
    return rows


@pytest.fixture
async def golden_docx(tmp_path: Path, fixture_data: dict[str, Any]) -> bytes:
    """The 42 reference events compiled from a database of their own."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'golden.db'}")
    await upgrade_database(engine)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        await SphereRepository(session).sync(DEFAULT_SPHERES)
        await import_events(
            session,
            fixture_data,
            default_organisation="Правительство Смоленской области",
            deadline_of=lambda _quarter: MOSCOW_DEADLINE,
            now=MOSCOW_DEADLINE - timedelta(days=30),
            tz=ZoneInfo("Europe/Moscow"),
        )
    document = await compile_docx(DatabaseReportSource(sessionmaker, REGION), Quarter(2023, 4))
    await engine.dispose()
    return document


@pytest.fixture
async def fresh(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with sessionmaker() as session, session.begin():
        await SphereRepository(session).sync(DEFAULT_SPHERES)
    yield sessionmaker


def test_our_own_report_is_read_back_whole(
    golden_docx: bytes, fixture_data: dict[str, Any]
) -> None:
    read = read_report(golden_docx, DEFAULT_SPHERES)

    assert read.period == Quarter(2023, 4)
    assert len(read.events) == 42
    assert read.problems == [] and read.unsure == []
    assert read.notes == [fixture_data["closing_note"]]
    olympiad = next(event for event in read.events if event.name.startswith("Олимпиада"))
    assert olympiad.dates == DateRange(
        date(2023, 9, 13), date(2023, 11, 4), "day", fixture_data["events"][18]["dates_note"]
    )
    stated = sorted(
        total.count
        for total in (read_total(event["participants"]) for event in fixture_data["events"])
        if total is not None
    )
    assert sorted(e.participant_count for e in read.events if e.participant_count) == stated


async def test_a_compiled_period_imported_into_a_fresh_database_compiles_to_the_same_cells(
    golden_docx: bytes, fresh: async_sessionmaker[AsyncSession]
) -> None:
    read = read_report(golden_docx, DEFAULT_SPHERES)
    async with fresh() as session, session.begin():
        result = await import_read_report(
            session, read, organisation="Архив", deadline_of=lambda _q: MOSCOW_DEADLINE
        )

    again = await compile_docx(DatabaseReportSource(fresh, REGION), Quarter(2023, 4))

    assert result.added == 42 and result.notes_added == 1
    assert _table_cells(again) == _table_cells(golden_docx)
    paragraphs = [p.text for p in Document(BytesIO(again)).paragraphs]
    assert paragraphs == [p.text for p in Document(BytesIO(golden_docx)).paragraphs]
    async with fresh() as session:
        period = await session.scalar(select(ReportingPeriod))
        owners = set(await session.scalars(select(Organisation.name).join(Event)))
    assert period is not None and period.status == "closed"
    assert owners == {"Архив"}
    # A past report is the document as sent: its events count as accepted («Только
    # принятые» gives the same table), waiting since nothing.
    async with fresh() as session:
        reviews = (await session.execute(select(Event.review, Event.review_since))).all()
    assert {review for review, _since in reviews} == {"accepted"}
    assert all(since is not None for _review, since in reviews)
    accepted = await DatabaseReportSource(fresh, REGION).load_report(
        Quarter(2023, 4), accepted_only=True
    )
    assert accepted.row_count == 42


async def test_a_period_that_already_has_events_is_skipped(
    golden_docx: bytes, fresh: async_sessionmaker[AsyncSession]
) -> None:
    read = read_report(golden_docx, DEFAULT_SPHERES)
    async with fresh() as session, session.begin():
        await import_read_report(
            session, read, organisation="А", deadline_of=lambda _q: MOSCOW_DEADLINE
        )

    async with fresh() as session, session.begin():
        second = await import_read_report(
            session, read, organisation="Б", deadline_of=lambda _q: MOSCOW_DEADLINE
        )

    assert second.skipped and second.existing == 42 and second.added == 0
    async with fresh() as session:
        count = len(list(await session.scalars(select(Event.id))))
    assert count == 42


CANTATA = Row(
    (
        "1",
        "Фестиваль «Славянское единство»",
        "г. Смоленск,\nРоссийская Федерация",
        "26–27 октября 2022 г.",
        "Проведён фестиваль.\nПодписан меморандум",
        "Делегации трёх стран.\nОбщее количество участников – 120 человек",
    )
)


def _typed_document(**options: Any) -> bytes:
    return person_report(
        TITLE,
        [
            ColumnNumbers(),
            Sphere("Сотрудничество в сфере культуры и турзма"),  # a typo
            CANTATA,
            Row(("2.", "Выставка", "г. Минск", "", "Открыта", "Сотрудники")),  # no dates
            Split(),
            Header(),
            Sphere("2. Сотрудничество в сфере образования"),  # unsure: which one?
            Row(
                (
                    "3.",
                    "Олимпиада",
                    "г. Брест",
                    "1 этап: 5 сентября, 2 этап: 3 октября 2022",
                    "Итоги",
                    "65 человек",
                )
            ),
            Header(),
            Row(("4", "Семинар", "онлайн", "июль 2022", "", "")),
            Row(("5.", "Встреча", "г. Смоленск", "по согласованию", "Итоги", "Гости")),
            Sphere("Сотрудничество в сфере здравоохранения"),  # not configured
            Row(("6.", "Конференция", "г. Москва", "10.08.2022", "Доклад", "Врачи")),
        ],
        ["В III квартале 2022 года состоялись 3 встречи.", "Второй абзац."],
        **options,
    )


@pytest.mark.parametrize("soft_breaks", [False, True], ids=["paragraphs", "soft-breaks"])
def test_a_document_typed_by_a_person_is_read_row_by_row(soft_breaks: bool) -> None:
    document = _typed_document(soft_breaks=soft_breaks, trailing_empty_lines=True)

    read = read_report(document, DEFAULT_SPHERES)

    assert read.period == Quarter(2022, 3)
    names = [(event.number, event.sphere, event.name) for event in read.events]
    assert names == [
        ("1", CULTURE, "Фестиваль «Славянское единство»"),
        ("3.", EDUCATION, "Олимпиада"),
        ("4", EDUCATION, "Семинар"),
        ("6.", "Сотрудничество в сфере здравоохранения", "Конференция"),
    ]
    festival, olympiad, seminar, _conference = read.events
    assert festival.place == "г. Смоленск,\nРоссийская Федерация"
    assert festival.result == "Проведён фестиваль.\nПодписан меморандум"
    assert festival.dates == DateRange(date(2022, 10, 26), date(2022, 10, 27))
    assert festival.participant_count == 120
    assert olympiad.dates.note == "1 этап: 5 сентября, 2 этап: 3 октября 2022"
    assert (olympiad.dates.start, olympiad.dates.end) == (date(2022, 9, 5), date(2022, 10, 3))
    assert olympiad.participant_count == 65
    assert seminar.dates == DateRange(date(2022, 7, 1), date(2022, 7, 31), "month")
    assert [(p.number, p.name, p.reason) for p in read.problems] == [
        ("2.", "Выставка", "не указаны сроки проведения"),
        ("5.", "Встреча", "в сроках проведения нет ни одной даты («по согласованию»)"),
    ]
    assert [(m.written, m.sphere) for m in read.unsure] == [
        ("2. Сотрудничество в сфере образования", EDUCATION),
        ("Сотрудничество в сфере здравоохранения", None),
    ]
    assert read.notes == ["В III квартале 2022 года состоялись 3 встречи.", "Второй абзац."]
    assert read.per_sphere() == [
        (CULTURE, 1),
        (EDUCATION, 2),
        ("Сотрудничество в сфере здравоохранения", 1),
    ]


def test_the_period_given_overrides_a_title_without_one() -> None:
    untitled = person_report(["Информация о мероприятиях"], [Sphere(SPORT), CANTATA])

    with pytest.raises(DocxImportError, match="не указан квартал"):
        read_report(untitled, DEFAULT_SPHERES)
    read = read_report(untitled, DEFAULT_SPHERES, period=Quarter(2022, 4))

    assert read.period == Quarter(2022, 4)
    assert [event.sphere for event in read.events] == [SPORT]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"plain text, not a zip", "не является документом Word"),
        (b"", "не является документом Word"),
    ],
)
def test_a_file_that_is_not_a_docx_is_refused(content: bytes, message: str) -> None:
    with pytest.raises(DocxImportError, match=message):
        read_report(content, DEFAULT_SPHERES)


def test_a_document_without_a_table_is_refused() -> None:
    document = Document()
    document.add_paragraph("Отчет … в IV квартале 2023 года")
    buffer = BytesIO()
    document.save(buffer)

    with pytest.raises(DocxImportError, match="нет таблицы"):
        read_report(buffer.getvalue(), DEFAULT_SPHERES)


def test_other_fonts_and_widths_and_no_empty_paragraphs_read_the_same() -> None:
    plain = read_report(_typed_document(), DEFAULT_SPHERES)
    other = read_report(
        _typed_document(font="Calibri", widths_cm=(2, 3, 3, 3, 3, 3), empty_paragraphs=False),
        DEFAULT_SPHERES,
    )

    assert other.events == plain.events
    assert other.notes == plain.notes
    assert all(event.name not in COLUMNS for event in other.events)


def test_a_cell_longer_than_the_database_holds_is_reported_not_read() -> None:
    document = person_report(TITLE, [Sphere(SPORT), Row(("1", "Я" * 501, "", "май", "", ""))])

    read = read_report(document, DEFAULT_SPHERES, limits={"name": 500})

    assert read.events == []
    assert [p.reason for p in read.problems] == ["наименование длиннее 500 символов"]


def test_a_table_nested_in_a_cell_leaves_the_row_readable() -> None:
    document = Document(BytesIO(person_report(TITLE, [Sphere(SPORT), CANTATA])))
    cell = document.tables[0].rows[-1].cells[4]
    inner = cell.add_table(rows=1, cols=2)
    inner.cell(0, 0).text = "вложенная"
    inner.cell(0, 1).text = "таблица"
    cell.add_paragraph("После таблицы")
    buffer = BytesIO()
    document.save(buffer)

    read = read_report(buffer.getvalue(), DEFAULT_SPHERES)

    [event] = read.events
    # python-docx, like Word, puts an empty paragraph after a table in a cell
    assert event.result == "Проведён фестиваль.\nПодписан меморандум\n\nПосле таблицы"
    assert event.participant_count == 120


def test_the_dedup_key_json_is_json_dumps() -> None:
    from storage.importer import _key_json

    samples = [['a"b\\c\n\t\u2028', None, "ёж😀", "\x00\x1f"], [], [None], ["2023-Q4"]]

    for items in samples:
        assert _key_json(items) == json.dumps(items, ensure_ascii=False)
