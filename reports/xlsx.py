"""Render a `Report` as an .xlsx of the same rows, for those who analyse it in Excel.

The first sheet: the title, the six headers of the .docx plus the sphere, the organisation and
the participants' total (a number; an approximate total as the text states it, `более
1000`), one row per event in report order (no merged sphere rows, so the table can be
filtered and sorted), then the closing notes below. Printed landscape on A4, fitted to the
page's width, the header row repeated on every page. Given the period's figures
(reports.stats), a second sheet «Показатели»: events per sphere and per organisation in
the compared periods, each table with a native Excel bar chart beside it.
"""

from __future__ import annotations

import re
from io import BytesIO

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports.model import COLUMNS, Report
from reports.stats import Stats, StatsLine, sphere_short

SPHERE_HEADER = "Сфера сотрудничества"
ORGANISATION_HEADER = "Организация"
TOTAL_HEADER = "Общее количество участников"
HEADERS: tuple[str, ...] = (*COLUMNS, SPHERE_HEADER, ORGANISATION_HEADER, TOTAL_HEADER)
SHEET_TITLE = "Отчет"
STATS_SHEET_TITLE = "Показатели"
STATS_TITLE = "Количество мероприятий: {periods}"
STATS_SPHERE_HEADER = "Сфера сотрудничества"
STATS_ORGANISATION_HEADER = "Организация"
STATS_TOTAL = "Всего"
SPHERES_CHART_TITLE = "Мероприятия по сферам сотрудничества"
ORGANISATIONS_CHART_TITLE = "Мероприятия по организациям"
ROW_CM = 0.53  # a sheet row at the default height
CHART_AXIS = "Мероприятий"
TITLE_ROW = 1
HEADER_ROW = 3
FIRST_ROW = HEADER_ROW + 1
COLUMN_WIDTHS = (7, 35, 30, 22, 60, 40, 35, 35, 16)  # in characters
NOTE_LINE_CHARS = sum(COLUMN_WIDTHS) - 20  # a note spans every column
LINE_HEIGHT = 15  # points per line of 11 pt text

# Characters an .xlsx cannot hold (openpyxl refuses them); everything else stays as typed.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_WRAP = Alignment(wrap_text=True, vertical="top")
_HEADER_ALIGNMENT = Alignment(wrap_text=True, horizontal="center", vertical="center")
_BOLD = Font(bold=True)


def _put(sheet: Worksheet, row: int, column: int, value: str | int) -> None:
    """Write a value; text is kept as text even if it starts with `=` (never a formula)."""
    cell = sheet.cell(row=row, column=column)
    if isinstance(value, str):
        cell.value = _ILLEGAL.sub("", value)
        cell.data_type = "s"
    else:
        cell.value = value
    cell.alignment = _WRAP


def _print_setup(sheet: Worksheet) -> None:
    """A4 landscape, every column on the page's width, the header row on every page."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as the rows need
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"


def _stats_table(
    sheet: Worksheet, row: int, header: str, lines: tuple[StatsLine, ...], stats: Stats
) -> int:
    """A table of counts from `row`: header, a row per line, the total; the next free row."""
    for column, text in enumerate((header, *stats.labels), start=1):
        _put(sheet, row, column, text)
        sheet.cell(row=row, column=column).font = _BOLD
    for offset, line in enumerate(lines, start=1):
        _put(sheet, row + offset, 1, line.name)
        for column, count in enumerate(line.counts, start=2):
            _put(sheet, row + offset, column, count)
    total_row = row + len(lines) + 1
    _put(sheet, total_row, 1, STATS_TOTAL)
    sheet.cell(row=total_row, column=1).font = _BOLD
    for column, count in enumerate(stats.totals, start=2):
        _put(sheet, total_row, column, count)
        sheet.cell(row=total_row, column=column).font = _BOLD
    return total_row + 1


def _bar_chart(sheet: Worksheet, header_row: int, count: int, columns: int, title: str) -> None:
    """A horizontal bar chart of the table under `header_row` (its `count` lines), beside it."""
    chart = BarChart()
    chart.type = "bar"
    chart.title = title
    chart.y_axis.title = CHART_AXIS
    data = Reference(
        sheet, min_col=2, max_col=1 + columns, min_row=header_row, max_row=header_row + count
    )
    categories = Reference(sheet, min_col=1, min_row=header_row + 1, max_row=header_row + count)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(categories)
    chart.x_axis.scaling.orientation = "maxMin"  # the first line on top, as in the table
    chart.width = 24
    chart.height = _chart_height(count, columns)
    sheet.add_chart(chart, f"{get_column_letter(columns + 3)}{header_row}")


def _stats_sheet(workbook: Workbook, stats: Stats) -> None:
    sheet = workbook.create_sheet(STATS_SHEET_TITLE)
    _put(sheet, TITLE_ROW, 1, STATS_TITLE.format(periods=", ".join(stats.labels)))
    sheet.cell(row=TITLE_ROW, column=1).font = Font(bold=True, size=14)
    sheet.cell(row=TITLE_ROW, column=1).alignment = Alignment(vertical="top")
    sheet.column_dimensions["A"].width = 60
    for column in range(2, 2 + len(stats.periods)):
        sheet.column_dimensions[get_column_letter(column)].width = 14
    columns = len(stats.periods)
    spheres = tuple(StatsLine(sphere_short(line.name), line.counts) for line in stats.spheres)
    first = HEADER_ROW
    after = _stats_table(sheet, first, STATS_SPHERE_HEADER, spheres, stats)
    _bar_chart(sheet, first, len(spheres), columns, SPHERES_CHART_TITLE)
    # The organisations' table starts below the spheres' chart, so the charts never overlap.
    second = max(after + 2, first + round(_chart_height(len(spheres), columns) / ROW_CM) + 2)
    _stats_table(sheet, second, STATS_ORGANISATION_HEADER, stats.organisations, stats)
    _bar_chart(sheet, second, len(stats.organisations), columns, ORGANISATIONS_CHART_TITLE)


def _chart_height(count: int, columns: int) -> float:
    """A chart's height in cm: room for a bar per period of each of `count` lines."""
    return max(7.5, 1.2 + 0.3 * count * columns)


def render_xlsx(report: Report, stats: Stats | None = None) -> bytes:
    """The report as .xlsx bytes: title, headers, rows in print order, notes below; with
    `stats`, the sheet «Показатели» after it."""
    workbook = Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    sheet.title = SHEET_TITLE

    _put(sheet, TITLE_ROW, 1, report.title)
    sheet.cell(row=TITLE_ROW, column=1).font = Font(bold=True, size=14)
    sheet.merge_cells(
        start_row=TITLE_ROW, start_column=1, end_row=TITLE_ROW, end_column=len(HEADERS)
    )
    sheet.row_dimensions[TITLE_ROW].height = 45

    for column, header in enumerate(HEADERS, start=1):
        _put(sheet, HEADER_ROW, column, header)
        cell = sheet.cell(row=HEADER_ROW, column=column)
        cell.font = _BOLD
        cell.alignment = _HEADER_ALIGNMENT
    for column, width in enumerate(COLUMN_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width

    row = FIRST_ROW
    for group in report.groups:
        for report_row in group.rows:
            _put(sheet, row, 1, report_row.number)
            for column, text in enumerate(report_row.cells[1:], start=2):
                _put(sheet, row, column, text)
            _put(sheet, row, len(COLUMNS) + 1, group.sphere)
            _put(sheet, row, len(COLUMNS) + 2, report_row.organisation)
            total = report_row.total
            if total is not None:
                _put(sheet, row, len(COLUMNS) + 3, total.shown if total.qualifier else total.count)
            row += 1
    last = row - 1

    sheet.freeze_panes = sheet.cell(row=FIRST_ROW, column=1)
    last_column = get_column_letter(len(HEADERS))
    sheet.auto_filter.ref = f"A{HEADER_ROW}:{last_column}{max(last, HEADER_ROW)}"

    row += 1  # one empty row between the table and the notes
    for note in report.notes:
        _put(sheet, row, 1, note)
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(HEADERS))
        # Excel does not grow a merged row to fit its text: give it the lines it needs.
        lines = sum(len(line) // NOTE_LINE_CHARS + 1 for line in note.split("\n"))
        sheet.row_dimensions[row].height = LINE_HEIGHT * lines
        row += 1

    _print_setup(sheet)
    if stats is not None:
        _stats_sheet(workbook, stats)
    workbook.properties.title = _ILLEGAL.sub("", report.title)
    workbook.properties.creator = ""
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
