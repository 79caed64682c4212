"""Render a `Report` as the .docx of REPORT_FORMAT.md.

python-docx builds the skeleton (page, styles, title, table properties, grid, header row);
the body rows are written as WordprocessingML text in one pass, parsed once and appended
to the table, which is many times faster than python-docx's per-cell API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from io import BytesIO
from xml.sax.saxutils import escape

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import nsdecls, qn
from docx.oxml.parser import OxmlElement, element_class_lookup
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Pt, Twips
from lxml import etree

from reports.model import COLUMNS, Report, ReportGroup

FONT = "Times New Roman"
TITLE_SIZE = Pt(14)
BODY_HALF_POINTS = 24  # 12 pt
LANGUAGE = "ru-RU"

# A4 landscape with 2 cm margins, in twentieths of a point (1 cm = 567 twips).
PAGE_WIDTH = Twips(16838)
PAGE_HEIGHT = Twips(11906)
MARGIN = Twips(1134)
TEXT_WIDTH_TWIPS = 16838 - 2 * 1134

# The reference report's column widths. Together they are 28.7 cm, wider than the 25.7 cm
# between 2 cm margins, so they are scaled down in proportion to fit the page.
NOMINAL_WIDTHS_CM = (1.2, 5.0, 4.5, 3.5, 8.5, 6.0)


def _fit_widths(nominal: tuple[float, ...], total: int) -> tuple[int, ...]:
    scale = total / sum(nominal)
    widths = [round(width * scale) for width in nominal]
    widths[-1] += total - sum(widths)
    return tuple(widths)


COLUMN_WIDTHS_TWIPS = _fit_widths(NOMINAL_WIDTHS_CM, TEXT_WIDTH_TWIPS)

# Characters XML 1.0 cannot hold (tab, line feed and carriage return are handled apart).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAK = re.compile("\r\n?|\n")

# Constant fragments of the body rows.
_W_NS = nsdecls("w")
_T_OPEN = '<w:r><w:t xml:space="preserve">'
_BOLD_T_OPEN = '<w:r><w:rPr><w:b/><w:bCs/></w:rPr><w:t xml:space="preserve">'
_T_CLOSE = "</w:t></w:r>"
_TAB = '</w:t><w:tab/><w:t xml:space="preserve">'
_CELL_OPEN = tuple(
    f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/></w:tcPr>' for width in COLUMN_WIDTHS_TWIPS
)
_NUMBER_P_OPEN = '<w:p><w:pPr><w:jc w:val="center"/></w:pPr>'
_SPHERE_ROW_OPEN = (
    "<w:tr><w:trPr><w:cantSplit/></w:trPr><w:tc><w:tcPr>"
    f'<w:tcW w:w="{TEXT_WIDTH_TWIPS}" w:type="dxa"/><w:gridSpan w:val="6"/></w:tcPr>'
)
_SPHERE_P_OPEN = '<w:p><w:pPr><w:keepNext/><w:jc w:val="center"/></w:pPr>'
_BATCH_ROWS = 500  # rows of text handed to the parser at a time


def clean_text(text: str) -> str:
    """Drop the characters an XML file cannot hold; everything else stays as typed."""
    return _ILLEGAL_XML.sub("", text)


def _paragraphs(text: str, p_open: str = "<w:p>", t_open: str = _T_OPEN) -> str:
    """One `w:p` per stored line of `text`, escaped, tabs as `w:tab`."""
    text = _ILLEGAL_XML.sub("", text)
    lines = _LINE_BREAK.split(text) if "\r" in text else text.split("\n")
    parts = []
    for line in lines:
        if not line:
            parts.append(p_open + "</w:p>")
            continue
        line = escape(line)
        if "\t" in line:
            line = line.replace("\t", _TAB)
        parts.append(p_open + t_open + line + _T_CLOSE + "</w:p>")
    return "".join(parts)


def _body_rows_xml(groups: tuple[ReportGroup, ...]) -> Iterator[str]:
    """The `w:tr` element of every sphere row and numbered row, as text, one row at a time."""
    cell_open = _CELL_OPEN
    paragraphs = _paragraphs
    for group in groups:
        yield (
            _SPHERE_ROW_OPEN
            + paragraphs(group.sphere, _SPHERE_P_OPEN, _BOLD_T_OPEN)
            + "</w:tc></w:tr>"
        )
        for row in group.rows:
            cells = row.cells
            yield "".join(
                (
                    "<w:tr>",
                    cell_open[0],
                    paragraphs(cells[0], _NUMBER_P_OPEN),
                    "</w:tc>",
                    cell_open[1],
                    paragraphs(cells[1]),
                    "</w:tc>",
                    cell_open[2],
                    paragraphs(cells[2]),
                    "</w:tc>",
                    cell_open[3],
                    paragraphs(cells[3]),
                    "</w:tc>",
                    cell_open[4],
                    paragraphs(cells[4]),
                    "</w:tc>",
                    cell_open[5],
                    paragraphs(cells[5]),
                    "</w:tc></w:tr>",
                )
            )


def _parse_body_rows(groups: tuple[ReportGroup, ...]) -> list[BaseOxmlElement]:
    """Parse every body row in one pass, fed in batches so the text never exists whole."""
    parser = etree.XMLParser(resolve_entities=False)  # one per call: feeding is stateful
    parser.set_element_class_lookup(element_class_lookup)
    parser.feed(f"<w:tbl {_W_NS}>")
    batch: list[str] = []
    for row_xml in _body_rows_xml(groups):
        batch.append(row_xml)
        if len(batch) == _BATCH_ROWS:
            parser.feed("".join(batch))
            batch.clear()
    batch.append("</w:tbl>")
    parser.feed("".join(batch))
    return list(parser.close())


def _set_fonts(document: DocxDocument) -> None:
    """Times New Roman 12 pt for every script, single spacing, Russian as the language."""
    styles = document.styles.element
    defaults = styles.find(qn("w:docDefaults"))
    r_pr = defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}")
    r_fonts = r_pr.find(qn("w:rFonts"))
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        r_fonts.attrib.pop(qn(theme), None)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        r_fonts.set(qn(attr), FONT)
    for tag in ("w:sz", "w:szCs"):
        r_pr.find(qn(tag)).set(qn("w:val"), str(BODY_HALF_POINTS))
    r_pr.find(qn("w:lang")).set(qn("w:val"), LANGUAGE)
    spacing = defaults.find(f"{qn('w:pPrDefault')}/{qn('w:pPr')}/{qn('w:spacing')}")
    spacing.set(qn("w:after"), "0")
    spacing.set(qn("w:line"), "240")

    normal = document.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY_HALF_POINTS / 2)
    normal_r_pr = normal.element.get_or_add_rPr()
    normal_fonts = normal_r_pr.get_or_add_rFonts()
    normal_fonts.set(qn("w:eastAsia"), FONT)
    normal_fonts.set(qn("w:cs"), FONT)
    size_cs = normal_r_pr.find(qn("w:szCs"))
    if size_cs is None:
        size_cs = OxmlElement("w:szCs")
        normal_r_pr.find(qn("w:sz")).addnext(size_cs)
    size_cs.set(qn("w:val"), str(BODY_HALF_POINTS))


def _set_page(document: DocxDocument) -> None:
    section = document.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width = PAGE_WIDTH
    section.page_height = PAGE_HEIGHT
    section.left_margin = section.right_margin = MARGIN
    section.top_margin = section.bottom_margin = MARGIN


def _add_title(document: DocxDocument, title: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.paragraph_format.space_after = Pt(12)
    run = paragraph.add_run(clean_text(title))
    run.bold = True
    run.font.size = TITLE_SIZE


def _add_table(document: DocxDocument, report: Report) -> None:
    table = document.add_table(rows=1, cols=len(COLUMNS))
    table.style = document.styles["Table Grid"]
    table.autofit = False  # w:tblLayout fixed
    tbl = table._tbl
    tbl_width = tbl.tblPr.find(qn("w:tblW"))
    tbl_width.set(qn("w:w"), str(TEXT_WIDTH_TWIPS))
    tbl_width.set(qn("w:type"), "dxa")
    for column, width in zip(table.columns, COLUMN_WIDTHS_TWIPS, strict=True):
        column.width = Twips(width)

    header = table.rows[0]
    tr_pr = header._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:cantSplit"))
    tr_pr.append(OxmlElement("w:tblHeader"))
    for cell, text, width in zip(header.cells, COLUMNS, COLUMN_WIDTHS_TWIPS, strict=True):
        cell.width = Twips(width)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        paragraph = cell.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.add_run(text).bold = True

    tbl.extend(_parse_body_rows(report.groups))


def _add_notes(document: DocxDocument, notes: tuple[str, ...]) -> None:
    if not notes:
        document.add_paragraph()  # a document should not end on a table
        return
    for index, note in enumerate(notes):
        paragraph = document.add_paragraph(clean_text(note))
        if index == 0:
            paragraph.paragraph_format.space_before = Pt(12)


def render_docx(report: Report) -> bytes:
    """The report as .docx bytes: A4 landscape, title, grouped table, closing notes."""
    document = Document()
    _set_page(document)
    _set_fonts(document)
    _add_title(document, report.title)
    _add_table(document, report)
    _add_notes(document, report.notes)

    properties = document.core_properties
    properties.title = clean_text(report.title)
    properties.author = ""
    properties.comments = ""
    properties.language = LANGUAGE
    properties.created = properties.modified = datetime.now(UTC).replace(tzinfo=None)

    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()
