"""Where the compiler reads a period's report from: the database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.dates import DateRange
from reports.model import Report, ReportEvent, build_report
from reports.quarters import Period, Year
from reports.similar import merge_events
from reports.stats import Stats, build_stats, compared_periods
from storage.models import Event, Organisation, Sphere
from storage.repositories.duplicates import DuplicateRepository, merge_groups
from storage.repositories.periods import PeriodRepository
from storage.repositories.spheres import SphereRepository


class PeriodNotFound(LookupError):
    """No reporting period exists for the quarter asked for (for a year: none of its four)."""

    def __init__(self, quarter: Period) -> None:
        super().__init__(f"no reporting period for {quarter.label}")
        self.quarter = quarter


class DatabaseReportSource:
    """Loads a period's submitted events, spheres and notes into the report model; events
    a coordinator merged (`DuplicatePair`) become one row."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], region_phrase: str) -> None:
        self.sessionmaker = sessionmaker
        self.region_phrase = region_phrase

    async def load_report(self, quarter: Period, *, accepted_only: bool = False) -> Report:
        """The report model of `quarter`, or of a year (the events of its four quarters in
        one table, the quarters' notes in quarter order); `accepted_only`: the events a
        reviewer accepted. Raises PeriodNotFound if there is no such period (for a year:
        none of its quarters)."""
        async with self.sessionmaker() as session:
            periods = PeriodRepository(session)
            quarters = quarter.quarters if isinstance(quarter, Year) else (quarter,)
            found = [period for q in quarters if (period := await periods.get(q)) is not None]
            if not found:
                raise PeriodNotFound(quarter)
            spheres = [sphere.name for sphere in await SphereRepository(session).active()]
            notes = [note.text for period in found for note in await periods.notes(period.id)]
            query = (
                select(
                    Sphere.name,
                    Event.name,
                    Event.place,
                    Event.start_date,
                    Event.end_date,
                    Event.precision,
                    Event.dates_note,
                    Event.result,
                    Event.participants,
                    Event.submitted_at,
                    Event.id,
                    Event.participant_count,
                    Organisation.name,
                )
                .join(Sphere, Sphere.id == Event.sphere_id)
                .join(Organisation, Organisation.id == Event.organisation_id)
                .where(
                    Event.period_id.in_([period.id for period in found]),
                    Event.status == "submitted",
                )
            )
            if accepted_only:
                query = query.where(Event.review == "accepted")
            rows = (await session.execute(query)).all()
            merged = await DuplicateRepository(session).merged(row[10] for row in rows)
        events = [
            ReportEvent(
                sphere=sphere,
                name=name,
                place=place,
                dates=DateRange(start, end, precision, note),
                result=result,
                participants=participants,
                submitted_at=submitted_at,
                seq=event_id,
                participant_count=count,
                organisation=organisation,
            )
            for (
                sphere,
                name,
                place,
                start,
                end,
                precision,
                note,
                result,
                participants,
                submitted_at,
                event_id,
                count,
                organisation,
            ) in rows
        ]
        if merged:  # events a coordinator merged print as one row
            by_id = {event.seq: event for event in events}
            groups = merge_groups(list(by_id), merged)
            events = [merge_events([by_id[event_id] for event_id in group]) for group in groups]
        return build_report(quarter, self.region_phrase, spheres, events, notes)

    async def load_stats(self, period: Period) -> Stats:
        """The figures of `period` against the previous one and the same period a year
        before (reports.stats); a period that does not exist counts as none."""
        periods = compared_periods(period)
        reports: list[Report | None] = []
        for compared in periods:
            try:
                reports.append(await self.load_report(compared))
            except PeriodNotFound:
                reports.append(None)
        async with self.sessionmaker() as session:
            spheres = [sphere.name for sphere in await SphereRepository(session).active()]
        return build_stats(periods, reports, spheres)
