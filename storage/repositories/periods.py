"""Reporting periods (one per quarter) and their closing notes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reports.quarters import Quarter
from storage.models import PeriodNote, ReportingPeriod, utcnow


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

    async def ensure(self, quarter: Quarter, deadline: datetime) -> ReportingPeriod:
        """The period of a quarter, created open with `deadline` if missing (race-safe)."""
        period = await self.get(quarter)
        if period is not None:
            return period
        try:
            async with self.session.begin_nested():
                period = ReportingPeriod(
                    year=quarter.year, quarter=quarter.quarter, deadline=deadline, status="open"
                )
                self.session.add(period)
        except IntegrityError:
            period = await self.get(quarter)
            assert period is not None
        return period

    async def open_periods(self) -> list[ReportingPeriod]:
        """Open periods, oldest first."""
        query = (
            select(ReportingPeriod)
            .where(ReportingPeriod.status == "open")
            .order_by(ReportingPeriod.year, ReportingPeriod.quarter)
        )
        return list(await self.session.scalars(query))

    async def recent(self, limit: int) -> list[ReportingPeriod]:
        """The latest periods, newest first."""
        query = (
            select(ReportingPeriod)
            .order_by(ReportingPeriod.year.desc(), ReportingPeriod.quarter.desc())
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def set_status(self, period: ReportingPeriod, status: str) -> None:
        """Close or reopen a period."""
        period.status = status
        period.closed_at = utcnow() if status == "closed" else None
        await self.session.flush()

    async def set_deadline(self, period: ReportingPeriod, deadline: datetime) -> None:
        """Move a period's deadline."""
        period.deadline = deadline
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
