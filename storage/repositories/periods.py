"""Reporting periods (one per quarter) and their closing notes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from reports.quarters import Quarter, QuarterError, quarter_collected
from reports.workdays import next_working_day
from storage.db import DriverStatement, detached
from storage.models import Event, PeriodNote, ReportingPeriod, utcnow

log = logging.getLogger(__name__)

DefaultDeadline = Callable[[Quarter], datetime]  # the settings' deadline of a quarter


@dataclass(frozen=True, slots=True)
class Collecting:
    """The quarter being collected, its period (None if not created yet), the open periods."""

    quarter: Quarter
    period: ReportingPeriod | None
    open_periods: list[ReportingPeriod]


def _quarter(period: ReportingPeriod) -> Quarter | None:
    """A period's quarter; None (logged) for a row no quarter can be made of."""
    try:
        return Quarter(period.year, period.quarter)
    except QuarterError:
        log.warning(
            "period %s has an impossible quarter %s-Q%s", period.id, period.year, period.quarter
        )
        return None


def _collecting_query(*, closed_too: bool, selected: Any = ReportingPeriod) -> Select[Any]:
    """The periods `PeriodRepository.collecting` looks at, built once (building a query
    costs more than SQLite running it): the open ones (param `open`: "open") and the
    previous quarter's (params `year`, `quarter`), with `closed_too` also those whose
    deadline is after `now`. `selected`: the entity, or all the table's columns (`copies`)."""
    wanted = [
        ReportingPeriod.status == bindparam("open"),
        and_(
            ReportingPeriod.year == bindparam("year"),
            ReportingPeriod.quarter == bindparam("quarter"),
        ),
    ]
    if closed_too:
        wanted.append(ReportingPeriod.deadline > bindparam("now"))
    return (
        select(*selected)
        .where(or_(*wanted))
        .order_by(ReportingPeriod.year, ReportingPeriod.quarter)
    )


_COLLECTING = _collecting_query(closed_too=False, selected=[ReportingPeriod])
_COLLECTING_CLOSED_TOO = _collecting_query(closed_too=True, selected=[ReportingPeriod])
# The same rows (and a period by id) as tuples straight from the driver, made into detached
# copies (`copies`, `snapshot`): the ORM's execution and loading cost ten times as much.
_COLUMNS = list(ReportingPeriod.__table__.c)
_KEYS = [column.key for column in _COLUMNS]
_TYPES = [column.type for column in _COLUMNS]
_ROWS_COLLECTING = DriverStatement(_collecting_query(closed_too=False, selected=_COLUMNS), _TYPES)
_ROWS_COLLECTING_CLOSED_TOO = DriverStatement(
    _collecting_query(closed_too=True, selected=_COLUMNS), _TYPES
)
_ROW_BY_ID = DriverStatement(select(*_COLUMNS).where(_COLUMNS[0] == bindparam("id")), _TYPES)


def _copy_of(row: Sequence[Any]) -> ReportingPeriod:
    return detached(ReportingPeriod, zip(_KEYS, row, strict=True))


# PostgreSQL: the rows `collecting` reads (copies, not `closed_too`) read along with an
# update's claim, in its statement (storage/repositories/updates.py): the dialogue's steps
# that ask which quarter is being collected then cost no statement of their own.
_READ_ALONG = "periods.read_along"


def collecting_along() -> Any:
    """The rows `_ROWS_COLLECTING` reads, as one row of arrays (one per column, in the same
    order): a subquery another statement can join to on true (aggregates always give one
    row). Its parameters are `_ROWS_COLLECTING`'s, prefixed: `along_open`, `along_year`,
    `along_quarter` (see `along_params`)."""
    table = ReportingPeriod.__table__
    order = (table.c.year, table.c.quarter)
    wanted = or_(
        table.c.status == bindparam("along_open"),
        and_(
            table.c.year == bindparam("along_year"),
            table.c.quarter == bindparam("along_quarter"),
        ),
    )
    arrays = [
        func.array_agg(aggregate_order_by(column, *order)).label(f"along_{column.key}")
        for column in _COLUMNS
    ]
    return select(*arrays).where(wanted).subquery("along")


def along_params(now: datetime, tz: ZoneInfo) -> tuple[Quarter, dict[str, Any]]:
    """The previous quarter `collecting` looks at, at `now`, and `collecting_along`'s
    parameters for it."""
    previous = Quarter.of(now.astimezone(tz).date()).prev()
    return previous, {
        "along_open": "open",
        "along_year": previous.year,
        "along_quarter": previous.quarter,
    }


def keep_read_along(
    session: AsyncSession, previous: Quarter, arrays: Sequence[Sequence[Any] | None]
) -> None:
    """Keep the rows read along (`collecting_along`'s arrays, for the `previous` quarter)
    for `collecting` in the session's transaction: a new transaction, or a period
    changed through this repository, forgets them."""
    transaction = session.sync_session.get_transaction()
    if transaction is None:
        return
    session.info[_READ_ALONG] = (transaction, previous, arrays)


def _kept_rows(session: Session, previous: Quarter | None) -> list[tuple[Any, ...]] | None:
    """The rows read along in the session's transaction, as the driver gave them, if any:
    for `previous` (None: whichever quarter they were read for)."""
    kept = session.info.get(_READ_ALONG)
    if kept is None:
        return None
    transaction, quarter, arrays = kept
    if transaction is not session.get_transaction():
        return None
    if previous is not None and quarter != previous:
        return None
    if arrays[0] is None:  # no rows: the aggregates are NULL
        return []
    return list(zip(*arrays, strict=True))


_ID, _YEAR, _QUARTER = (_KEYS.index(key) for key in ("id", "year", "quarter"))


def _along_rows(session: AsyncSession, previous: Quarter | None) -> list[tuple[Any, ...]] | None:
    """`_kept_rows` for a repository's session: what `collecting` and `snapshot` answer
    from."""
    return _kept_rows(session.sync_session, previous)


def _read_along(session: AsyncSession, previous: Quarter) -> list[ReportingPeriod] | None:
    """Copies of the rows read along in this transaction for `previous`, if any."""
    rows = _along_rows(session, previous)
    if rows is None:
        return None
    return [_copy_of(row) for row in _ROWS_COLLECTING.processed(session, rows)]


def quarter_read_along(session: Session, period_id: int) -> tuple[int, int] | None:
    """The year and quarter of a period read along in the session's transaction, if it
    was (for an ORM event hook, which has the sync session and may not await)."""
    for row in _kept_rows(session, None) or ():
        if row[_ID] == period_id:
            return row[_YEAR], row[_QUARTER]
    return None


class PeriodRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, quarter: Quarter) -> ReportingPeriod | None:
        """The period of a quarter, if it exists."""
        query = select(ReportingPeriod).where(
            ReportingPeriod.year == quarter.year, ReportingPeriod.quarter == quarter.quarter
        )
        return await self.session.scalar(query)

    async def by_id(self, period_id: int) -> ReportingPeriod | None:
        """One period by id."""
        return await self.session.get(ReportingPeriod, period_id)

    async def snapshot(self, period_id: int) -> ReportingPeriod | None:
        """`by_id` as a detached copy, for reading (see `_ROW_BY_ID`): to change a period,
        load it with `by_id`. A period among those read along with the update's claim
        (PostgreSQL: the periods being collected, the ones the dialogue offers) is not
        read again."""
        along = _along_rows(self.session, None) or ()
        found = [row for row in along if row[_ID] == period_id]
        if found:
            return _copy_of(_ROWS_COLLECTING.processed(self.session, found)[0])
        rows = await _ROW_BY_ID.fetch(self.session, {"id": period_id})
        return _copy_of(rows[0]) if rows else None

    async def ensure(
        self, quarter: Quarter, deadline: datetime, *, status: str = "open"
    ) -> ReportingPeriod:
        """The period of a quarter, created with `deadline` and `status` if missing
        (race-safe); an existing period is returned as it is."""
        period = await self.get(quarter)
        if period is not None:
            return period
        try:
            async with self.session.begin_nested():
                period = ReportingPeriod(
                    year=quarter.year,
                    quarter=quarter.quarter,
                    deadline=deadline,
                    status=status,
                    closed_at=utcnow() if status == "closed" else None,
                )
                self.session.add(period)
                self.session.info.pop(_READ_ALONG, None)
        except IntegrityError:
            period = await self.get(quarter)
            assert period is not None
        return period

    async def collecting(
        self,
        now: datetime,
        tz: ZoneInfo,
        default_deadline: DefaultDeadline,
        *,
        closed_too: bool = False,
        copies: bool = False,
    ) -> Collecting:
        """Which quarter is being collected at `now`, from the stored deadlines (one read).

        The latest quarter that has ended, whose period is open and whose stored deadline is
        still ahead; a quarter with no period yet has `default_deadline`. Without one, the
        current quarter. A closed period is never being collected: closing the previous
        quarter early moves the collecting on to the current one. With `closed_too`, closed
        periods count as if open (what /reopen means by default: the quarter just closed).

        `copies`: the periods are detached copies, for reading (the same rows, read without
        flushing the session first: periods are only changed here, each change flushed).
        """
        current = Quarter.of(now.astimezone(tz).date())
        previous = current.prev()
        params = {"year": previous.year, "quarter": previous.quarter, "now": now, "open": "open"}
        rows = _read_along(self.session, previous) if copies and not closed_too else None
        if rows is None and copies:
            read = _ROWS_COLLECTING_CLOSED_TOO if closed_too else _ROWS_COLLECTING
            rows = [_copy_of(row) for row in await read.fetch(self.session, params)]
        elif rows is None:
            query = _COLLECTING_CLOSED_TOO if closed_too else _COLLECTING
            rows = list(await self.session.scalars(query, params))
        by_quarter = {
            quarter: period for period in rows if (quarter := _quarter(period)) is not None
        }
        stored = {
            quarter: period.deadline if closed_too or period.status == "open" else None
            for quarter, period in by_quarter.items()
        }
        quarter = quarter_collected(now, tz, stored, default_deadline)
        open_periods = [period for period in by_quarter.values() if period.status == "open"]
        return Collecting(quarter, by_quarter.get(quarter), open_periods)

    async def ensure_collecting(
        self,
        now: datetime,
        tz: ZoneInfo,
        default_deadline: DefaultDeadline,
        *,
        closed_too: bool = False,
        copies: bool = False,
    ) -> tuple[ReportingPeriod, list[ReportingPeriod]]:
        """The period being collected (see `collecting`), created open with
        `default_deadline` if missing, and the open periods, oldest first (`copies`: the
        periods found are detached copies, for reading; one created is the session's)."""
        found = await self.collecting(
            now, tz, default_deadline, closed_too=closed_too, copies=copies
        )
        if found.period is not None:
            return found.period, found.open_periods
        period = await self.ensure(found.quarter, default_deadline(found.quarter))
        if period.status != "open":
            return period, found.open_periods
        periods = sorted([*found.open_periods, period], key=lambda row: (row.year, row.quarter))
        return period, periods

    async def open_periods(self) -> list[ReportingPeriod]:
        """Open periods, oldest first."""
        query = (
            select(ReportingPeriod)
            .where(ReportingPeriod.status == "open")
            .order_by(ReportingPeriod.year, ReportingPeriod.quarter)
        )
        return list(await self.session.scalars(query))

    async def move_deadlines_off_days_off(
        self, now: datetime, tz: ZoneInfo
    ) -> list[tuple[ReportingPeriod, datetime]]:
        """Open periods whose deadline falls on a non-working day in Russia (stored before
        the rule, or a day off the calendar learnt of since) get the next working day at
        the same local time; (period, the deadline it had) for each.

        The deadline is that working day even if the day off has begun or passed (a person
        who reports on 7 January for a deadline of 5 January moved to 11 January is not
        late); a period whose working-day deadline is past too is history and stays as it
        was, and a deadline on a working day, the default's or a coordinator's, is never
        touched.
        """
        moved = []
        for period in await self.open_periods():
            try:
                local = period.deadline.astimezone(tz)
                working = next_working_day(local.date())
            except (OverflowError, ValueError):  # 31.12.9999 written by hand: left as it is
                log.warning("period %s: deadline %s cannot be checked", period.id, period.deadline)
                continue
            if working == local.date():
                continue
            deadline = datetime.combine(working, local.time(), tzinfo=tz)
            if deadline <= now:
                continue
            previous = period.deadline
            period.deadline = deadline
            self.session.info.pop(_READ_ALONG, None)
            moved.append((period, previous))
            log.info(
                "period %s (%s-Q%s): deadline %s fell on a day off; moved to %s",
                period.id,
                period.year,
                period.quarter,
                local.isoformat(),
                period.deadline.isoformat(),
            )
        if moved:
            await self.session.flush()
        return moved

    async def recent(self, limit: int) -> list[ReportingPeriod]:
        """The latest periods, newest first."""
        query = (
            select(ReportingPeriod)
            .order_by(ReportingPeriod.year.desc(), ReportingPeriod.quarter.desc())
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def years_with_events(self, limit: int) -> list[int]:
        """The latest years with a submitted event in one of their periods, newest first."""
        query = (
            select(ReportingPeriod.year)
            .join(Event, Event.period_id == ReportingPeriod.id)
            .where(Event.status == "submitted")
            .group_by(ReportingPeriod.year)
            .order_by(ReportingPeriod.year.desc())
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def set_status(self, period: ReportingPeriod, status: str) -> None:
        """Close or reopen a period."""
        period.status = status
        self.session.info.pop(_READ_ALONG, None)
        period.closed_at = utcnow() if status == "closed" else None
        await self.session.flush()

    async def set_deadline(self, period: ReportingPeriod, deadline: datetime) -> None:
        """Move a period's deadline."""
        period.deadline = deadline
        self.session.info.pop(_READ_ALONG, None)
        await self.session.flush()

    async def notes(self, period_id: int) -> list[PeriodNote]:
        """A period's closing notes, in print order."""
        query = (
            select(PeriodNote)
            .where(PeriodNote.period_id == period_id)
            .order_by(PeriodNote.position, PeriodNote.id)
        )
        return list(await self.session.scalars(query))

    async def add_note(self, period_id: int, text: str) -> PeriodNote:
        """A closing note, printed after the others."""
        last = await self.session.scalar(
            select(func.max(PeriodNote.position)).where(PeriodNote.period_id == period_id)
        )
        note = PeriodNote(period_id=period_id, text=text, position=(last or 0) + 1)
        self.session.add(note)
        await self.session.flush()
        return note

    async def remove_note(self, period_id: int, note_id: int) -> bool:
        """Remove a closing note of this period; False if there was none."""
        note = await self.session.get(PeriodNote, note_id)
        if note is None or note.period_id != period_id:
            return False
        await self.session.delete(note)
        await self.session.flush()
        return True
