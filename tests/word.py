"""Report documents as a person types them in Word, built with python-docx's own API.

Deliberately not our renderer: other fonts and column widths, the title in two
paragraphs, empty paragraphs, soft line breaks (Shift+Enter), numbers as `1` or `1.`, a
table split in two with its header repeated, a merged sphere row made by merging cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

from docx import Document
from docx.shared import Cm, Pt

from reports.model import COLUMNS


@dataclass(frozen=True, slots=True)
class Sphere:
    """A row whose six cells are merged into one holding the sphere's name."""

    name: str


@dataclass(frozen=True, slots=True)
class Event:
    """A numbered row: six cells, `\\n` a line break (paragraph or soft break)."""

    cells: tuple[str, str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class Header:
    """The header row, typed again (inside a table, or heading a second table)."""


@dataclass(frozen=True, slots=True)
class Split:
    """The table ends here and a new one starts (after an empty paragraph)."""


@dataclass(frozen=True, slots=True)
class ColumnNumbers:
    """The row `1 2 3 4 5 6` some forms print under the header."""


Piece = Sphere | Event | Header | Split | ColumnNumbers


def _write(cell: object, text: str, *, soft_breaks: bool, font: str) -> None:
    """Type `text` into a cell: lines as paragraphs, or as soft breaks in one paragraph."""
    lines = text.split("\n")
    paragraph = cell.paragraphs[0]  # type: ignore[attr-defined]
    for index, line in enumerate(lines):
        if index and not soft_breaks:
            paragraph = cell.add_paragraph()  # type: ignore[attr-defined]
        run = paragraph.add_run(line)
        run.font.name = font
        if index < len(lines) - 1 and soft_breaks:
            run.add_break()


def person_report(
    title: Sequence[str],
    pieces: Sequence[Piece],
    notes: Sequence[str] = (),
    *,
    font: str = "Arial",
    widths_cm: Sequence[float] = (1.0, 6.0, 4.0, 3.0, 7.0, 5.0),
    soft_breaks: bool = False,
    empty_paragraphs: bool = True,
    trailing_empty_lines: bool = False,
) -> bytes:
    """A report document in the official shape, typed the way a person would."""
    document = Document()
    document.styles["Normal"].font.name = font
    document.styles["Normal"].font.size = Pt(11)
    for line in title:
        document.add_paragraph(line).runs[0].bold = True
    if empty_paragraphs:
        document.add_paragraph()

    table = None

    def new_table() -> object:
        made = document.add_table(rows=0, cols=len(COLUMNS))
        made.style = document.styles["Table Grid"]
        return made

    def add_row(cells: Sequence[str]) -> None:
        nonlocal table
        if table is None:
            table = new_table()
        row = table.add_row()  # type: ignore[attr-defined]
        for cell, text, width in zip(row.cells, cells, widths_cm, strict=True):
            cell.width = Cm(width)
            if trailing_empty_lines and text:
                text += "\n"
            _write(cell, text, soft_breaks=soft_breaks, font=font)

    add_row(COLUMNS)
    for piece in pieces:
        match piece:
            case Sphere(name):
                add_row([""] * len(COLUMNS))
                assert table is not None
                cells = table.rows[-1].cells  # type: ignore[attr-defined]
                merged = cells[0].merge(cells[-1])
                _write(merged, name, soft_breaks=False, font=font)
                merged.paragraphs[0].runs[0].bold = True
            case Event(cells):
                add_row(cells)
            case Header():
                add_row(COLUMNS)
            case ColumnNumbers():
                add_row([str(number) for number in range(1, len(COLUMNS) + 1)])
            case Split():
                document.add_paragraph()
                table = None
    if empty_paragraphs:
        document.add_paragraph()
    for note in notes:
        document.add_paragraph(note)
        if empty_paragraphs:
            document.add_paragraph("  ")
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()
