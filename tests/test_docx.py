"""The .docx renderer, checked by reopening the bytes with python-docx."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.document import Document
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import Table
from docx.text.paragraph import Paragraph

from reports.compiler import compile_docx
from reports.dates import DateRange, format_dates
from reports.docx import NOMINAL_WIDTHS_CM, render_docx
from reports.model import COLUMNS, DEFAULT_SPHERES, Report, ReportEvent, build_report
from reports.quarters import Quarter

Q4 = Quarter(2023, 4)
REGION = "исполнительными органами Смоленской области и подведомственными им учреждениями"
CULTURE = "Сотрудничество в сфере культуры и туризма"
SPORT = "Сотрудничество в сфере спорта"
FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "report_2023_q4.json"


def make_event(
    name: str = "Фестиваль",
    *,
    sphere: str = CULTURE,
    place: str = "г. Смоленск",
    start: date = date(2023, 10, 10),
    result: str = "Проведен",
    participants: str = "10 человек",
    seq: int = 0,
) -> ReportEvent:
    """A one-day report event with plausible defaults."""
    return ReportEvent(
        sphere=sphere,
        name=name,
        place=place,
        dates=DateRange(start, start),
        result=result,
        participants=participants,
        seq=seq,
    )


def make_report(events: list[ReportEvent], notes: tuple[str, ...] = ()) -> Report:
    return build_report(Q4, REGION, DEFAULT_SPHERES, events, notes)


def reopen(report: Report) -> Document:
    """Render the report and read the bytes back as Word would."""
    return docx.Document(BytesIO(render_docx(report)))


def the_table(document: Document) -> Table:
    assert len(document.tables) == 1
    return document.tables[0]


def two_groups() -> Report:
    return make_report(
        [
            make_event("Спорт один", sphere=SPORT, start=date(2023, 10, 1)),
            make_event("Культура", sphere=CULTURE),
            make_event("Спорт два", sphere=SPORT, start=date(2023, 11, 1)),
        ]
    )


def test_it_lays_the_page_out_as_a4_landscape_with_2_cm_margins() -> None:
    document = reopen(two_groups())

    section = document.sections[0]
    assert section.orientation == WD_ORIENT.LANDSCAPE
    assert section.page_width > section.page_height
    assert abs(section.page_width - Cm(29.7)) < Cm(0.05)
    assert abs(section.page_height - Cm(21.0)) < Cm(0.05)
    for margin in (section.left_margin, section.right_margin, section.top_margin):
        assert abs(margin - Cm(2)) < Cm(0.05)
    assert abs(section.bottom_margin - Cm(2)) < Cm(0.05)


def test_it_puts_the_title_first_centred_bold_14_pt() -> None:
    report = two_groups()

    document = reopen(report)

    title = document.paragraphs[0]
    assert title.text == report.title
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert all(run.bold for run in title.runs)
    assert all(run.font.size == Pt(14) for run in title.runs)
    assert document.core_properties.title == report.title


def test_it_uses_times_new_roman_12_pt_for_every_script() -> None:
    document = reopen(two_groups())

    normal = document.styles["Normal"]
    assert normal.font.name == "Times New Roman"
    assert normal.font.size == Pt(12)
    fonts = normal.element.rPr.rFonts
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        assert fonts.get(qn(attribute)) == "Times New Roman"
    defaults = document.styles.element.find(qn("w:docDefaults"))
    default_fonts = defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}/{qn('w:rFonts')}")
    assert default_fonts.get(qn("w:eastAsia")) == "Times New Roman"
    assert default_fonts.get(qn("w:eastAsiaTheme")) is None


def test_it_writes_the_six_headers_bold_and_centred() -> None:
    document = reopen(two_groups())

    header = the_table(document).rows[0]
    assert tuple(cell.text for cell in header.cells) == COLUMNS
    for cell in header.cells:
        paragraph = cell.paragraphs[0]
        assert paragraph.alignment == WD_ALIGN_PARAGRAPH.CENTER
        assert all(run.bold for run in paragraph.runs)


def test_it_repeats_the_header_row_on_every_page() -> None:
    document = reopen(two_groups())

    rows = the_table(document).rows
    assert rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    repeated = [row for row in rows[1:] if row._tr.xpath("./w:trPr/w:tblHeader")]
    assert repeated == []


def test_it_draws_a_bordered_grid_with_fixed_column_widths() -> None:
    document = reopen(two_groups())

    table = the_table(document)
    assert table.style.name == "Table Grid"
    assert table.autofit is False
    grid = [column.width for column in table.columns]
    total = sum(grid)
    section = document.sections[0]
    assert abs(total - (section.page_width - section.left_margin - section.right_margin)) < 20
    nominal_total = sum(NOMINAL_WIDTHS_CM)
    for width, nominal in zip(grid, NOMINAL_WIDTHS_CM, strict=True):
        assert abs(width / total - nominal / nominal_total) < 0.001
    numbered = table.rows[2]
    assert [cell.width for cell in numbered.cells] == grid


def test_it_merges_each_sphere_row_across_all_six_columns_in_bold() -> None:
    document = reopen(two_groups())

    table = the_table(document)
    sphere_rows = [table.rows[1], table.rows[3]]
    for row, sphere in zip(sphere_rows, [CULTURE, SPORT], strict=True):
        cells = row.cells
        assert len({id(cell._tc) for cell in cells}) == 1
        assert cells[0]._tc.tcPr.find(qn("w:gridSpan")).get(qn("w:val")) == "6"
        assert cells[0].text == sphere
        assert all(run.bold for run in cells[0].paragraphs[0].runs)


def test_it_numbers_rows_continuously_through_the_table() -> None:
    document = reopen(two_groups())

    rows = the_table(document).rows
    assert [row.cells[0].text for row in rows] == [
        COLUMNS[0],
        CULTURE,
        "1.",
        SPORT,
        "2.",
        "3.",
    ]
    assert [rows[i].cells[1].text for i in (2, 4, 5)] == ["Культура", "Спорт один", "Спорт два"]
    assert rows[2].cells[3].text == "10 октября 2023 года"


def test_it_turns_each_stored_line_break_into_a_paragraph() -> None:
    event = make_event(place="г. Минск,\nРеспублика Беларусь", result="первая\r\nвторая\rтретья")

    document = reopen(make_report([event]))

    row = the_table(document).rows[2]
    assert [p.text for p in row.cells[2].paragraphs] == ["г. Минск,", "Республика Беларусь"]
    assert [p.text for p in row.cells[4].paragraphs] == ["первая", "вторая", "третья"]


def test_it_keeps_quotes_non_breaking_spaces_tabs_and_blank_lines() -> None:
    name = "  «РОДИНА МОЯ...»\u00a0— „тест“ 'один' \"два\"\tтаб  "
    event = make_event(name, place="   ", participants="до\n\nпосле")

    document = reopen(make_report([event]))

    row = the_table(document).rows[2]
    assert row.cells[1].text == name
    assert row.cells[2].text == "   "
    assert [p.text for p in row.cells[5].paragraphs] == ["до", "", "после"]


def test_it_prints_markup_looking_text_literally() -> None:
    text = '<b>&amp;</b> <w:p/> ]]> &lt; "x" & y'
    event = make_event(text, sphere="<i>Сфера & Ко</i>")

    document = reopen(make_report([event], notes=("<note>&",)))

    table = the_table(document)
    assert table.rows[1].cells[0].text == "<i>Сфера & Ко</i>"
    assert table.rows[2].cells[1].text == text
    assert document.paragraphs[-1].text == "<note>&"


def test_it_drops_control_characters_without_corrupting_the_file() -> None:
    event = make_event("до\x00после\x0bконец\x1f", result="\ufffeвсё\x08")

    document = reopen(
        build_report(Q4, "органами\x01", DEFAULT_SPHERES, [event], notes=("итог\x0c",))
    )

    row = the_table(document).rows[2]
    assert row.cells[1].text == "допослеконец"
    assert row.cells[4].text == "всё"
    assert document.paragraphs[0].text.startswith("Отчет о мероприятиях")
    assert "\x01" not in document.core_properties.title
    assert document.paragraphs[-1].text == "итог"


def test_it_puts_the_closing_notes_after_the_table_one_paragraph_each() -> None:
    notes = ("В IV квартале 2023 года состоялись 3 встречи", "Вторая заметка")

    document = reopen(make_report([make_event()], notes=notes))

    body = list(document.element.body.iterchildren())
    table_index = next(i for i, child in enumerate(body) if child.tag == qn("w:tbl"))
    after = [child for child in body[table_index + 1 :] if child.tag == qn("w:p")]
    assert [Paragraph(child, document).text for child in after] == list(notes)
    assert [p.text for p in document.paragraphs[1:]] == list(notes)


def test_it_renders_a_quarter_without_events_as_the_header_alone() -> None:
    document = reopen(make_report([]))

    rows = the_table(document).rows
    assert len(rows) == 1
    assert tuple(cell.text for cell in rows[0].cells) == COLUMNS


class FakeSource:
    def __init__(self, report: Report) -> None:
        self.report = report
        self.asked: list[Quarter] = []

    async def load_report(self, quarter: Quarter) -> Report:
        self.asked.append(quarter)
        return self.report


async def test_it_compiles_the_loaded_report_to_docx_bytes() -> None:
    source = FakeSource(two_groups())

    data = await compile_docx(source, Q4)

    assert source.asked == [Q4]
    assert docx.Document(BytesIO(data)).paragraphs[0].text == source.report.title


# The reference report: 42 real events (../shared/fixtures/report_2023_q4.json).


def load_reference() -> dict[str, Any]:
    if not FIXTURE.exists():
        pytest.skip(f"reference fixture not found at {FIXTURE} (the shared folder is absent)")
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def reference_events(fixture: dict[str, Any]) -> list[ReportEvent]:
    """The fixture's events, submitted in fixture order, handed over in reverse."""
    submitted = datetime(2023, 12, 20, 9, 0)
    events = [
        ReportEvent(
            sphere=item["sphere"],
            name=item["name"],
            place=item["place"],
            dates=DateRange(
                date.fromisoformat(item["start"]),
                date.fromisoformat(item["end"]),
                item["precision"],
                item["dates_note"],
            ),
            result=item["result"],
            participants=item["participants"],
            submitted_at=submitted + timedelta(minutes=item["number"]),
            seq=item["number"],
        )
        for item in fixture["events"]
    ]
    return events[::-1]


def test_it_reproduces_the_reference_order_and_numbering() -> None:
    fixture = load_reference()

    report = build_report(
        Quarter.parse(fixture["period"]), REGION, DEFAULT_SPHERES, reference_events(fixture)
    )

    assert report.title == fixture["title"]
    assert COLUMNS == tuple(fixture["columns"])
    printed = [
        (group.sphere, row.number, row.cells[1]) for group in report.groups for row in group.rows
    ]
    expected = [(item["sphere"], item["number"], item["name"]) for item in fixture["events"]]
    assert printed == expected


def test_it_prints_every_reference_cell_as_the_fixture_holds_it() -> None:
    fixture = load_reference()
    items = fixture["events"]
    report = build_report(
        Quarter.parse(fixture["period"]),
        REGION,
        DEFAULT_SPHERES,
        reference_events(fixture),
        [fixture["closing_note"]],
    )

    document = reopen(report)

    rows = the_table(document).rows
    numbered = [row for row in rows[1:] if len({id(cell._tc) for cell in row.cells}) == 6]
    assert len(numbered) == len(items) == 42
    spheres = [row.cells[0].text for row in rows[1:] if len({id(c._tc) for c in row.cells}) == 1]
    assert spheres == list(dict.fromkeys(item["sphere"] for item in items))
    dates_as_printed = []
    for row, item in zip(numbered, items, strict=True):
        dates = DateRange(
            date.fromisoformat(item["start"]),
            date.fromisoformat(item["end"]),
            item["precision"],
            item["dates_note"],
        )
        assert [cell.text for cell in row.cells] == [
            f"{item['number']}.",
            item["name"],
            item["place"],
            format_dates(dates),
            item["result"],
            item["participants"],
        ]
        dates_as_printed.append(row.cells[3].text == item["dates_text"])
    assert dates_as_printed.count(True) == 41
    differing = [
        item["number"] for item, same in zip(items, dates_as_printed, strict=True) if not same
    ]
    assert differing == [10]
    assert document.paragraphs[-1].text == fixture["closing_note"]
