"""Loading events from a JSON file in the fixture's format, idempotently."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert
from sqlalchemy.ext.asyncio import AsyncSession

from reports.dates import DateRange
from reports.docx_import import ReadReport
from reports.quarters import Quarter, QuarterError
from storage.db import SqliteStatement, is_sqlite
from storage.models import (
    DATES_NOTE_MAX,
    NAME_MAX,
    PARTICIPANTS_MAX,
    PLACE_MAX,
    RESULT_MAX,
    Event,
    utcnow,
)
from storage.repositories import (
    EventFields,
    EventRepository,
    OrganisationRepository,
    PeriodRepository,
    SphereRepository,
)
from storage.repositories.review import ACCEPTED, PENDING

_INSERT_BATCH = 1000  # rows per multi-row INSERT of a .docx import
_JSON_STRING = json.encoder.encode_basestring  # a string as json.dumps(ensure_ascii=False)


def _key_json(items: list[str | None]) -> str:
    """`json.dumps(items, ensure_ascii=False)` of strings and None, without building an
    encoder per call (a tenth of a 10,000-row import)."""
    return "[" + ", ".join("null" if item is None else _JSON_STRING(item) for item in items) + "]"


# The columns a .docx import writes, straight to the driver on SQLite (see SqliteStatement).
_EVENT_COLUMNS = (
    "period_id",
    "organisation_id",
    "author_id",
    "sphere_id",
    "name",
    "place",
    "start_date",
    "end_date",
    "precision",
    "dates_note",
    "result",
    "participants",
    "participant_count",
    "status",
    "dedup_key",
    "created_at",
    "updated_at",
    "submitted_at",
    "review",
    "reviewed_at",
    "review_since",
)
_INSERT_EVENTS = SqliteStatement(
    insert(Event.__table__).values({name: bindparam(name) for name in _EVENT_COLUMNS})
)
_TEXT_FIELDS = ("sphere", "name", "place", "result", "participants")


# Why a file is refused, in Russian like every line the person running the CLI reads
# (bot.texts.IMPORT_BAD_FILE wraps it). Kept here, as reports/dates.py keeps its own,
# because storage/ imports nothing of bot/; tests/test_texts.py renders them.
MESSAGES = {
    "not_object": "ожидался объект JSON с полями period и events",
    "bad_period": "поле period должно быть вида 2023-Q4",
    "events_not_list": "поле events должно быть списком мероприятий",
    "notes_not_list": "closing_notes должно быть списком строк",
    "organisation_not_text": "поле organisation должно быть строкой",
    "row_not_object": "мероприятие №{number}: ожидался объект JSON",
    "row_no_field": "мероприятие №{number}: нет поля «{field}» или оно пустое",
    "row_bad_dates": (
        "мероприятие №{number}: неверные даты (start и end должны быть датами вида 2023-10-26)"
    ),
    "row_bad_count": "мероприятие №{number}: participant_count должен быть целым числом",
}


class ImportFileError(ValueError):
    """The file is not in the expected format; the message (`MESSAGES[code]`) says where."""

    def __init__(self, code: str, **values: object) -> None:
        super().__init__(MESSAGES[code].format(**values))
        self.code = code


@dataclass(frozen=True, slots=True)
class ImportResult:
    period: Quarter
    added: int
    skipped: int
    notes_added: int


@dataclass(frozen=True, slots=True)
class _Row:
    organisation: str | None
    sphere: str
    name: str
    place: str
    dates: DateRange
    result: str
    participants: str
    participant_count: int | None

    def key(self, quarter: Quarter) -> str:
        """A content hash: the same event in the same period is the same row."""
        payload = _key_json(
            [
                quarter.label,
                self.sphere,
                self.name,
                self.place,
                self.dates.start.isoformat(),
                self.dates.end.isoformat(),
                self.dates.precision,
                self.dates.note,
                self.result,
                self.participants,
            ]
        )
        return hashlib.sha256(payload.encode()).hexdigest()


def _read_row(number: int, raw: Any) -> _Row:
    if not isinstance(raw, dict):
        raise ImportFileError("row_not_object", number=number)
    for field in _TEXT_FIELDS:
        if not isinstance(raw.get(field), str) or not raw[field].strip():
            raise ImportFileError("row_no_field", number=number, field=field)
    try:
        dates = DateRange(
            date.fromisoformat(raw["start"]),
            date.fromisoformat(raw.get("end") or raw["start"]),
            raw.get("precision") or "day",
            raw.get("dates_note") or None,
        )
    except (KeyError, TypeError, ValueError):
        raise ImportFileError("row_bad_dates", number=number) from None
    count = raw.get("participant_count")
    if count is not None and not (isinstance(count, int) and count >= 0):
        raise ImportFileError("row_bad_count", number=number)
    organisation = raw.get("organisation")
    return _Row(
        organisation=organisation.strip() if isinstance(organisation, str) else None,
        sphere=raw["sphere"].strip(),
        name=raw["name"],
        place=raw["place"],
        dates=dates,
        result=raw["result"],
        participants=raw["participants"],
        participant_count=count,
    )


def parse_import(data: Any) -> tuple[Quarter, str | None, list[str], list[_Row]]:
    """Check a loaded JSON document and return (period, organisation, notes, rows)."""
    if not isinstance(data, dict):
        raise ImportFileError("not_object")
    try:
        quarter = Quarter.parse(str(data.get("period", "")))
    except QuarterError:
        raise ImportFileError("bad_period") from None
    events = data.get("events")
    if not isinstance(events, list):
        raise ImportFileError("events_not_list")
    notes = data.get("closing_notes")
    if notes is None:
        notes = [data["closing_note"]] if data.get("closing_note") else []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ImportFileError("notes_not_list")
    organisation = data.get("organisation")
    if organisation is not None and not isinstance(organisation, str):
        raise ImportFileError("organisation_not_text")
    rows = [_read_row(index, raw) for index, raw in enumerate(events, start=1)]
    return quarter, organisation, [n for n in notes if n.strip()], rows


async def import_events(
    session: AsyncSession,
    data: Any,
    *,
    default_organisation: str,
    deadline_of: Callable[[Quarter], datetime],
    now: datetime,
    tz: ZoneInfo,
) -> ImportResult:
    """Load a document's events as submitted ones; rows already loaded are skipped.
    They are accepted if their period is closed, else waiting for review.

    A period the import creates is created closed if it ended before the quarter being
    collected at `now` (an archive, not offered to staff); an existing period keeps its
    status, whatever the coordinator made of it.
    """
    quarter, file_organisation, notes, rows = parse_import(data)
    periods = PeriodRepository(session)
    collecting = await periods.collecting(now, tz, deadline_of)
    status = "closed" if quarter < collecting.quarter else "open"
    period = await periods.ensure(quarter, deadline_of(quarter), status=status)
    # Events of an archived (closed) period were reported and accepted long ago; those
    # loaded into a period still collected wait for a reviewer like any other.
    review = ACCEPTED if period.status == "closed" else PENDING
    organisations = OrganisationRepository(session)
    spheres = SphereRepository(session)
    events = EventRepository(session)
    base_time = utcnow()
    organisation_ids: dict[str, int] = {}
    sphere_ids: dict[str, int] = {}
    known_keys: dict[int, set[str]] = {}
    added = skipped = 0
    for index, row in enumerate(rows):
        organisation_name = row.organisation or file_organisation or default_organisation
        if organisation_name not in organisation_ids:
            organisation = await organisations.get_or_add(organisation_name)
            organisation_ids[organisation_name] = organisation.id
            known_keys[organisation.id] = await events.dedup_keys(organisation.id)
        organisation_id = organisation_ids[organisation_name]
        key = row.key(quarter)
        if key in known_keys[organisation_id]:
            skipped += 1
            continue
        if row.sphere not in sphere_ids:
            sphere_ids[row.sphere] = (await spheres.get_or_add_inactive(row.sphere)).id
        fields = EventFields(
            sphere_id=sphere_ids[row.sphere],
            name=row.name,
            place=row.place,
            dates=row.dates,
            result=row.result,
            participants=row.participants,
            participant_count=row.participant_count,
        )
        await events.add(
            fields,
            period_id=period.id,
            organisation_id=organisation_id,
            status="submitted",
            # File order breaks ties in the report's ordering rule.
            submitted_at=base_time + timedelta(microseconds=index),
            dedup_key=key,
            review=review,
            flush=False,
        )
        known_keys[organisation_id].add(key)
        added += 1
    await session.flush()
    existing = {note.text for note in await periods.notes(period.id)}
    notes_added = 0
    for text in notes:
        if text not in existing:
            await periods.add_note(period.id, text)
            existing.add(text)
            notes_added += 1
    return ImportResult(quarter, added, skipped, notes_added)


# The longest cells the events table holds: a .docx row with a longer one is not read.
CELL_LIMITS = {
    "name": NAME_MAX,
    "place": PLACE_MAX,
    "dates_note": DATES_NOTE_MAX,
    "result": RESULT_MAX,
    "participants": PARTICIPANTS_MAX,
}


@dataclass(frozen=True, slots=True)
class ReportImportResult:
    """What loading a read .docx report did: `existing` > 0 means the period was skipped."""

    period: Quarter
    added: int
    notes_added: int
    existing: int = 0
    repeated: int = 0  # rows identical to one already loaded, left out

    @property
    def skipped(self) -> bool:
        return self.existing > 0


async def import_read_report(
    session: AsyncSession,
    read: ReadReport,
    *,
    organisation: str,
    deadline_of: Callable[[Quarter], datetime],
) -> ReportImportResult:
    """Load the events of a read .docx report as submitted and accepted ones into a
    closed period.

    A period that already has submitted events is left as it is (the report is taken as
    loaded before, or the period as collected by the bot): nothing is added and
    `existing` says how many events it has. The period is closed after loading.
    """
    quarter = read.period
    periods = PeriodRepository(session)
    events = EventRepository(session)
    period = await periods.get(quarter)
    if period is not None:
        existing = await events.count_of_period(period.id)
        if existing:
            return ReportImportResult(quarter, 0, 0, existing)
    period = await periods.ensure(quarter, deadline_of(quarter), status="closed")
    if period.status != "closed":
        await periods.set_status(period, "closed")
    owner = await OrganisationRepository(session).get_or_add(organisation)
    spheres = SphereRepository(session)
    sphere_ids: dict[str, int] = {}
    for name in dict.fromkeys(event.sphere for event in read.events):
        sphere = await spheres.by_name(name) or await spheres.get_or_add_inactive(name)
        sphere_ids[name] = sphere.id
    known_keys = await events.dedup_keys(owner.id)
    base_time = utcnow()
    added = repeated = 0
    batch: list[dict[str, Any]] = []
    # Core executemany on the session's connection: no ORM objects for 10,000 rows; on
    # SQLite straight on the driver (SQLAlchemy's per-row parameter work was most of it).
    connection = await session.connection()
    statement = insert(Event.__table__)
    sqlite = is_sqlite(session)

    async def insert_batch(rows: list[dict[str, Any]]) -> None:
        if sqlite:
            await _INSERT_EVENTS.run_many(session, rows)
        else:
            await connection.execute(statement, rows)

    for index, event in enumerate(read.events):
        row = _Row(
            None,
            event.sphere,
            event.name,
            event.place,
            event.dates,
            event.result,
            event.participants,
            event.participant_count,
        )
        key = row.key(quarter)
        if key in known_keys:
            repeated += 1
            continue
        known_keys.add(key)
        added += 1
        submitted_at = base_time + timedelta(microseconds=index)
        batch.append(
            {
                "period_id": period.id,
                "organisation_id": owner.id,
                "author_id": None,
                "sphere_id": sphere_ids[event.sphere],
                "name": event.name,
                "place": event.place,
                "start_date": event.dates.start,
                "end_date": event.dates.end,
                "precision": event.dates.precision,
                "dates_note": event.dates.note,
                "result": event.result,
                "participants": event.participants,
                "participant_count": event.participant_count,
                "status": "submitted",
                "dedup_key": key,
                "created_at": base_time,
                "updated_at": base_time,
                # Document order breaks ties in the report's ordering rule.
                "submitted_at": submitted_at,
                # A past report is the document as it was sent: its events are accepted.
                "review": ACCEPTED,
                "reviewed_at": base_time,
                "review_since": submitted_at,
            }
        )
        if len(batch) == _INSERT_BATCH:
            await insert_batch(batch)
            batch = []
    if batch:
        await insert_batch(batch)
    await session.flush()
    existing_notes = {note.text for note in await periods.notes(period.id)}
    notes_added = 0
    for text in read.notes:
        if text not in existing_notes:
            await periods.add_note(period.id, text)
            existing_notes.add(text)
            notes_added += 1
    return ReportImportResult(quarter, added, notes_added, repeated=repeated)
