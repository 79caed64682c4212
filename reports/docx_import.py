"""Read a quarterly report in the official format (REPORT_FORMAT.md) back into events.

The reader is meant for documents typed by people, not only for our own output: other
column widths and fonts, empty paragraphs, soft line breaks, numbers as `1` or `1.`, a
table split in two, its header row repeated inside, a sphere name with a typo, rows it
cannot read (each is reported with the reason, never guessed).

`word/document.xml` is streamed with lxml's `iterparse`: every body paragraph and table
row is handled when it ends and then freed, so memory grows with the events read, not
with the XML tree, and no python-docx object is built per cell.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from lxml import etree
from rapidfuzz import fuzz, process

from reports.dates import DateParseError, DateRange, find_date_span, parse_dates
from reports.participants import plural, read_total
from reports.quarters import Quarter

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_BODY = f"{{{_W}}}body"
_TBL = f"{{{_W}}}tbl"
_TR = f"{{{_W}}}tr"
_TC = f"{{{_W}}}tc"
_P = f"{{{_W}}}p"
_T = f"{{{_W}}}t"
_TAB = f"{{{_W}}}tab"
_BR = f"{{{_W}}}br"
_CR = f"{{{_W}}}cr"
_NO_BREAK_HYPHEN = f"{{{_W}}}noBreakHyphen"
_TC_PR = f"{{{_W}}}tcPr"
_GRID_SPAN = f"{{{_W}}}gridSpan"
_V_MERGE = f"{{{_W}}}vMerge"
_VAL = f"{{{_W}}}val"
_TYPE = f"{{{_W}}}type"

COLUMN_COUNT = 6

# `в IV квартале 2023 года`, `за 4 квартал 2023 г.`, `IV квартал 2023`
_PERIOD_IN_TITLE = re.compile(
    r"(?<![\w])(IV|I{1,3}|[1-4])(?:-?(?:м|ом|й|ый))?\s+квартал\w*\s+(\d{4})", re.IGNORECASE
)
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4}
_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"^\s*\d{1,6}\s*[.)]?\s*$")
_LEADING_NUMBER = re.compile(r"^\s*\d{1,2}\s*[.)]\s*")
_WORD = re.compile(r"[0-9a-zа-я]+")
# Words every sphere name shares; left out when comparing so that the rest decides.
_SPHERE_STOP_WORDS = frozenset(
    {"сотрудничество", "сотрудничества", "в", "во", "сфере", "сфер", "области", "и"}
)
SURE_SCORE = 90.0  # at least this close (0-100) and clearly ahead of the next: no question
MATCH_SCORE = 60.0  # below this the sphere is taken as written, as a sphere of its own
_MARGIN = 10.0
CANDIDATES = 5  # configured spheres offered when a sphere row's match is unsure


class DocxImportError(ValueError):
    """The file cannot be read as a report at all; the message is Russian, for the person."""


class NoPeriodInTitle(DocxImportError):
    """The title names no quarter and none was given."""


@dataclass(frozen=True, slots=True)
class ImportedEvent:
    """One event row as read: its sphere (a configured one where matched) and cells."""

    row: int  # the row's place among the table rows of the document, from 1
    number: str
    sphere: str
    name: str
    place: str
    dates: DateRange
    result: str
    participants: str
    participant_count: int | None
    written_sphere: str = ""  # the sphere row's text as typed (`sphere` may be its match)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that was not read, and why (Russian, for the person)."""

    row: int
    number: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class SphereMatch:
    """A sphere row as written and the configured sphere taken for it (None: kept as is)."""

    written: str
    sphere: str | None
    score: float
    # The configured spheres close enough to be meant (best first), to ask which one.
    candidates: tuple[str, ...] = ()


@dataclass(slots=True)
class ReadReport:
    """What a document holds: period, events in document order, closing notes, problems."""

    period: Quarter
    title: str
    events: list[ImportedEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    unsure: list[SphereMatch] = field(default_factory=list)

    def per_sphere(self) -> list[tuple[str, int]]:
        """How many events each sphere got, in the order the spheres first appear."""
        counts: dict[str, int] = {}
        for event in self.events:
            counts[event.sphere] = counts.get(event.sphere, 0) + 1
        return list(counts.items())


def _sphere_key(text: str) -> str:
    text = _LEADING_NUMBER.sub("", text.lower().replace("ё", "е"))
    return " ".join(word for word in _WORD.findall(text) if word not in _SPHERE_STOP_WORDS)


class SphereMatcher:
    """Fuzzy matching of a sphere row's text to the configured spheres (rapidfuzz)."""

    def __init__(self, spheres: Sequence[str]) -> None:
        self.spheres = list(spheres)
        self._keys = [_sphere_key(sphere) for sphere in self.spheres]
        self._exact = {key: sphere for key, sphere in zip(self._keys, self.spheres, strict=True)}
        self._seen: dict[str, tuple[str | None, float, bool]] = {}

    def match(self, written: str) -> tuple[str | None, float, bool]:
        """(configured sphere or None, score 0-100, sure?) for the text of a sphere row."""
        if written in self._seen:
            return self._seen[written]
        key = _sphere_key(written)
        if key in self._exact:
            found: tuple[str | None, float, bool] = (self._exact[key], 100.0, True)
        else:
            ranked = process.extract(key, self._keys, scorer=fuzz.ratio, limit=2)
            if not ranked or ranked[0][1] < MATCH_SCORE:
                found = (None, ranked[0][1] if ranked else 0.0, False)
            else:
                _best, score, index = ranked[0]
                runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
                sure = score >= SURE_SCORE and score - runner_up >= _MARGIN
                found = (self.spheres[index], score, sure)
        self._seen[written] = found
        return found

    def candidates(self, written: str, limit: int = CANDIDATES) -> tuple[str, ...]:
        """The configured spheres scoring at least MATCH_SCORE against `written`, best first."""
        ranked = process.extract(_sphere_key(written), self._keys, scorer=fuzz.ratio, limit=limit)
        return tuple(self.spheres[index] for _key, score, index in ranked if score >= MATCH_SCORE)


def _paragraph_text(paragraph: etree._Element) -> str:
    """A paragraph's text as Word shows it: tabs kept, soft line breaks as line feeds."""
    parts: list[str] = []
    for element in paragraph.iter(_T, _TAB, _BR, _CR, _NO_BREAK_HYPHEN):
        tag = element.tag
        if tag == _T:
            parts.append(element.text or "")
        elif tag == _TAB:
            parts.append("\t")
        elif tag == _NO_BREAK_HYPHEN:
            parts.append("-")
        elif tag == _CR or element.get(_TYPE) in (None, "textWrapping"):
            parts.append("\n")
    return "".join(parts)


_BLANK_EDGE = "\n \t\u00a0"


def _trim_lines(text: str) -> str:
    """Drop blank lines at the start and the end of a cell; the rest stays as typed."""
    if not text or (text[0] not in _BLANK_EDGE and text[-1] not in _BLANK_EDGE):
        return text
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


# Everything of a row the reader needs, found in one pass in document order.
_ROW_PARTS = (_TC, _P, _T, _TAB, _BR, _CR, _NO_BREAK_HYPHEN, _GRID_SPAN, _V_MERGE, _TBL)


def _cells(row: etree._Element) -> list[tuple[str, int]]:
    """(text, columns spanned) of each cell; a cell continuing a vertical merge is empty.

    One pass over the row's elements (lxml filters the tags in C); a table nested inside
    a cell is rare and read apart, skipping the nested table's text."""
    cells: list[tuple[str, int]] = []
    parts: list[str] | None = None
    span, continued, paragraphs = 1, False, 0
    for element in row.iter(_ROW_PARTS):
        tag = element.tag
        if tag == _T:
            parts.append(element.text or "")  # type: ignore[union-attr]
        elif tag == _P:
            if paragraphs:
                parts.append("\n")  # type: ignore[union-attr]
            paragraphs += 1
        elif tag == _TC:
            if parts is not None:
                cells.append(("" if continued else _trim_lines("".join(parts)), span))
            parts, span, continued, paragraphs = [], 1, False, 0
        elif tag == _TAB:
            parts.append("\t")  # type: ignore[union-attr]
        elif tag == _GRID_SPAN:
            try:
                span = max(1, int(element.get(_VAL, "1")))
            except ValueError:
                span = 1
        elif tag == _V_MERGE:
            continued = element.get(_VAL) in (None, "continue")
        elif tag == _TBL:
            return _cells_with_nested_tables(row)
        elif tag == _NO_BREAK_HYPHEN:
            parts.append("-")  # type: ignore[union-attr]
        elif tag == _CR or element.get(_TYPE) in (None, "textWrapping"):
            parts.append("\n")  # type: ignore[union-attr]
    if parts is not None:
        cells.append(("" if continued else _trim_lines("".join(parts)), span))
    return cells


def _cells_with_nested_tables(row: etree._Element) -> list[tuple[str, int]]:
    """`_cells` for a row holding a table inside a cell: the cell's own paragraphs only."""
    cells: list[tuple[str, int]] = []
    for cell in row.iterchildren(_TC):
        span, continued = 1, False
        properties = cell.find(_TC_PR)
        if properties is not None:
            grid_span = properties.find(_GRID_SPAN)
            if grid_span is not None:
                try:
                    span = max(1, int(grid_span.get(_VAL, "1")))
                except ValueError:
                    span = 1
            v_merge = properties.find(_V_MERGE)
            continued = v_merge is not None and v_merge.get(_VAL) in (None, "continue")
        text = "\n".join(_paragraph_text(p) for p in cell.iterchildren(_P))
        cells.append(("" if continued else _trim_lines(text), span))
    return cells


Piece = (
    tuple[Literal["p"], str]
    | tuple[Literal["row"], list[tuple[str, int]]]
    | tuple[Literal["table_end"], None]
)


def _body_paragraphs(before: etree._Element) -> Iterator[Piece]:
    """The body paragraphs before `before` (all the rest was freed already), then freed."""
    parent = before.getparent()
    assert parent is not None
    while (previous := before.getprevious()) is not None:
        if previous.tag == _P:
            break
        parent.remove(previous)  # section properties, bookmarks: nothing to read
    first = before
    while (previous := first.getprevious()) is not None:
        first = previous
    element: etree._Element | None = first
    while element is not None and element is not before:
        following = element.getnext()
        if element.tag == _P:
            yield ("p", _paragraph_text(element))
        parent.remove(element)
        element = following


def _pieces(stream: IO[bytes]) -> Iterator[Piece]:
    """Body paragraphs, top-level table rows and table ends, in document order, streamed.

    Only the ends of rows and tables raise events (a paragraph inside a cell raises none);
    the body paragraphs between tables are read when the next table's first row ends, and
    those after the last table when the document ends. What was read is freed."""
    parsing = etree.iterparse(
        stream, events=("end",), tag=(_TBL, _TR), resolve_entities=False, huge_tree=True
    )
    current: etree._Element | None = None  # the top-level table being read
    for _event, element in parsing:
        parent = element.getparent()
        if parent is None:
            continue
        if element.tag == _TR:
            table = parent
            body = table.getparent()
            if body is None or body.tag != _BODY:
                continue  # a row of a table nested inside a cell: read with its row
            if table is not current:
                current = table
                yield from _body_paragraphs(table)
            yield ("row", _cells(element))
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del table[0]
        elif parent.tag == _BODY:
            yield ("table_end", None)
            element.clear(keep_tail=False)
    root = parsing.root
    body = root.find(_BODY) if root is not None else None
    if body is not None:
        for element in body.iterchildren(_P):
            yield ("p", _paragraph_text(element))


def _is_header(texts: list[str]) -> bool:
    first = texts[0].replace(" ", "").lower()
    second = texts[1].strip().lower()
    return first.startswith("№") or second.startswith("наименование мероприятия")


def _is_column_numbers(texts: list[str]) -> bool:
    """The row of column numbers `1 2 3 4 5 6` some forms have under the header."""
    return [text.strip().rstrip(".") for text in texts] == [
        str(n) for n in range(1, COLUMN_COUNT + 1)
    ]


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _read_dates(text: str, period: Quarter) -> DateRange | str:
    """The dates of a cell, or the reason they cannot be read (Russian)."""
    if not text.strip():
        return MESSAGES["no_dates"]
    flat = " ".join(text.split())
    try:
        return parse_dates(flat, year=period.year, period=period)
    except DateParseError:
        pass
    span = find_date_span(text, year=period.year)
    if span is None:
        return MESSAGES["dates_unread"].format(text=_shorten(flat))
    return DateRange(span[0], span[1], "day", text)


def _open(source: str | Path | bytes | IO[bytes]) -> zipfile.ZipFile:
    from io import BytesIO

    try:
        if isinstance(source, bytes):
            return zipfile.ZipFile(BytesIO(source))
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise DocxImportError(MESSAGES["not_word"]) from None


def title_period(title: str) -> Quarter | None:
    """The quarter a report's title names (`… в IV квартале 2023 года`), if any."""
    found = _PERIOD_IN_TITLE.search(title)
    if found is None:
        return None
    number = found[1].upper()
    quarter = _ROMAN.get(number) or int(number)
    return Quarter(int(found[2]), quarter)


# Why a file or a row is not read, in Russian (shown to the coordinator as they are;
# reports/ imports no text module of the bot, as reports/dates.py's MESSAGES).
MESSAGES = {
    "not_word": "файл не является документом Word (.docx)",
    "damaged": "документ Word повреждён и не читается",
    "no_table": "в документе нет таблицы мероприятий",
    "no_period": (
        "в заголовке не указан квартал (например, «в IV квартале 2023 года»); укажите период явно"
    ),
    "no_dates": "не указаны сроки проведения",
    "dates_unread": "в сроках проведения нет ни одной даты («{text}»)",
    "too_long": "{field} длиннее {limit} символов",
    "columns": "{count} {columns} вместо {expected}",
    "before_sphere": "строка стоит до первой строки со сферой",
    "no_name": "не указано наименование мероприятия",
}
COLUMNS_FORMS = ("столбец", "столбца", "столбцов")

FIELD_NAMES = {
    "name": "наименование",
    "place": "место проведения",
    "dates_note": "сроки проведения",
    "result": "цель, содержание и результат",
    "participants": "участники",
}


def read_report(
    source: str | Path | bytes | IO[bytes],
    spheres: Sequence[str],
    *,
    period: Quarter | None = None,
    limits: Mapping[str, int] | None = None,
) -> ReadReport:
    """Read a report document: `period` overrides the one named in the title; a row with a
    cell longer than its limit in `limits` (keys of FIELD_NAMES) is not read."""
    with _open(source) as archive:
        try:
            stream = archive.open("word/document.xml")
        except KeyError:
            raise DocxImportError(MESSAGES["not_word"]) from None
        with stream:
            try:
                return _read(_pieces(stream), spheres, period, limits or {})
            except etree.XMLSyntaxError:
                raise DocxImportError(MESSAGES["damaged"]) from None


def _too_long(cells: Mapping[str, str | None], limits: Mapping[str, int]) -> str | None:
    for key, limit in limits.items():
        value = cells.get(key)
        if value is not None and len(value) > limit:
            return MESSAGES["too_long"].format(field=FIELD_NAMES[key], limit=limit)
    return None


def _read(
    pieces: Iterator[Piece],
    spheres: Sequence[str],
    period: Quarter | None,
    limits: Mapping[str, int],
) -> ReadReport:
    matcher = SphereMatcher(spheres)
    titles: list[str] = []  # body paragraphs before the first table, title rows inside it
    after: list[str] = []  # body paragraphs after the latest table
    report: ReadReport | None = None
    tables = rows = 0
    sphere: str | None = None
    sphere_written = ""
    unsure_seen: set[str] = set()
    problems: list[RowProblem] = []
    unsure: list[SphereMatch] = []
    known_dates: dict[str, DateRange | str] = {}  # a report repeats its dates cells often
    shortest = min(limits.values(), default=0)  # no cell this short can be too long
    for kind, value in pieces:
        if kind == "p":
            assert isinstance(value, str)
            (after if tables else titles).append(value)
            continue
        if kind == "table_end":
            tables += 1
            after = []
            continue
        assert isinstance(value, list)
        rows += 1
        texts = [text for text, span in value for _ in range(span)]
        filled = [text for text, _span in value if text.strip()]
        if not filled:
            continue
        if len(value) == 1 or (len(filled) == 1 and not _NUMBER.match(filled[0])):
            written = " ".join(filled[0].split())
            matched, score, sure = matcher.match(written)
            if report is None and matched is None and title_period(written) is not None:
                titles.append(written)  # the title typed as the table's first row
                continue
            sphere, sphere_written = matched or written, written
            if not sure and written not in unsure_seen:
                unsure_seen.add(written)
                candidates = matcher.candidates(written) if matched is not None else ()
                unsure.append(SphereMatch(written, matched, score, candidates))
            continue
        if len(texts) != COLUMN_COUNT:
            problems.append(
                RowProblem(
                    rows,
                    texts[0].strip(),
                    _shorten(texts[1] if len(texts) > 1 else texts[0]),
                    MESSAGES["columns"].format(
                        count=len(texts),
                        columns=plural(len(texts), *COLUMNS_FORMS),
                        expected=COLUMN_COUNT,
                    ),
                )
            )
            continue
        first = texts[0]
        plain_row = _NUMBER.match(first) is not None and texts[1].strip() != "2"
        if not plain_row and (_is_header(texts) or _is_column_numbers(texts)):
            continue
        if report is None:
            report = _start(titles, period)
        number, name, place, dates_text, result, participants = texts
        number = number.strip()
        reason = None
        if sphere is None:
            reason = MESSAGES["before_sphere"]
        elif not name.strip():
            reason = MESSAGES["no_name"]
        else:
            dates = known_dates.get(dates_text)
            if dates is None:
                dates = known_dates[dates_text] = _read_dates(dates_text, report.period)
            if isinstance(dates, str):
                reason = dates
            elif limits and shortest < max(
                len(name), len(place), len(dates.note or ""), len(result), len(participants)
            ):
                reason = _too_long(
                    {
                        "name": name,
                        "place": place,
                        "dates_note": dates.note,
                        "result": result,
                        "participants": participants,
                    },
                    limits,
                )
        if reason is not None:
            problems.append(RowProblem(rows, number, _shorten(name), reason))
            continue
        assert sphere is not None and isinstance(dates, DateRange)
        total = read_total(participants) if _DIGIT.search(participants) else None
        report.events.append(
            ImportedEvent(
                row=rows,
                number=number,
                sphere=sphere,
                name=name,
                place=place,
                dates=dates,
                result=result,
                participants=participants,
                participant_count=None if total is None else total.count,
                written_sphere=sphere_written,
            )
        )
    if tables == 0:
        raise DocxImportError(MESSAGES["no_table"])
    if report is None:
        report = _start(titles, period)
    report.notes = [text.strip() for text in after if text.strip()]
    report.problems = problems
    report.unsure = unsure
    return report


def _start(titles: list[str], period: Quarter | None) -> ReadReport:
    """The report once its period is known: given, or named in the title."""
    title = " ".join(" ".join(line.split()) for line in titles if line.strip())
    found = period or title_period(title)
    if found is None:
        raise NoPeriodInTitle(MESSAGES["no_period"])
    return ReadReport(period=found, title=title)
