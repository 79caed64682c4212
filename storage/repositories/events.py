"""Events: drafts, submitted reports and deleted ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from reports.dates import DateRange
from storage.db import DriverStatement
from storage.models import Event, utcnow
from storage.repositories.duplicates import Dissolved, DuplicateRepository


@dataclass(frozen=True, slots=True)
class EventFields:
    """What a person tells about one event."""

    sphere_id: int
    name: str
    place: str
    dates: DateRange
    result: str
    participants: str
    participant_count: int | None = None


def _apply(event: Event, fields: EventFields) -> None:
    event.sphere_id = fields.sphere_id
    event.name = fields.name
    event.place = fields.place
    event.start_date = fields.dates.start
    event.end_date = fields.dates.end
    event.precision = fields.dates.precision
    event.dates_note = fields.dates.note
    event.result = fields.result
    event.participants = fields.participants
    event.participant_count = fields.participant_count


_EVENTS = Event.__table__
# Whether a dedup key is taken, asked at every submit: straight on the driver (storage.db).
_DEDUP_KEY_TAKEN = DriverStatement(
    select(
        exists().where(
            _EVENTS.c.organisation_id == bindparam("organisation_id"),
            _EVENTS.c.dedup_key == bindparam("dedup_key"),
        )
    ),
    [Boolean()],
)


def dates_of(event: Event) -> DateRange:
    """The stored dates of an event as a value."""
    return DateRange(event.start_date, event.end_date, event.precision, event.dates_note)  # type: ignore[arg-type]


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        fields: EventFields,
        *,
        period_id: int,
        organisation_id: int,
        author_id: int | None = None,
        status: str = "draft",
        submitted_at: datetime | None = None,
        dedup_key: str | None = None,
        review: str = "pending",
        flush: bool = True,
    ) -> Event:
        """A new event; `status="submitted"` files it straight away, waiting for review
        since then (`review="accepted"`: accepted at once, as an archive's events are)."""
        now = utcnow()
        event = Event(
            created_at=now,
            updated_at=now,
            period_id=period_id,
            organisation_id=organisation_id,
            author_id=author_id,
            status=status,
            dedup_key=dedup_key,
        )
        _apply(event, fields)
        if status == "submitted":
            event.submitted_at = submitted_at or now
            event.review = review
            event.review_since = event.submitted_at
            if review == "accepted":
                event.reviewed_at = now
        self.session.add(event)
        if flush:
            await self.session.flush()
        return event

    async def get(self, event_id: int) -> Event | None:
        """One event by id, whatever its status."""
        return await self.session.get(Event, event_id)

    async def update(
        self, event: Event, fields: EventFields, *, period_id: int | None = None
    ) -> list[Dissolved]:
        """Replace an event's fields (and, if given, move it to another period); a merge
        with an event it no longer resembles is dissolved. The merges dissolved."""
        _apply(event, fields)
        if period_id is not None:
            event.period_id = period_id
        await self.session.flush()
        return await DuplicateRepository(self.session).settle(event)

    async def by_dedup_key(self, organisation_id: int, dedup_key: str) -> Event | None:
        """The event stored under a dedup key, if any."""
        query = select(Event).where(
            Event.organisation_id == organisation_id, Event.dedup_key == dedup_key
        )
        return await self.session.scalar(query)

    async def dedup_key_taken(self, organisation_id: int, dedup_key: str) -> bool:
        """Whether an event is stored under a dedup key (`by_dedup_key` is not None)."""
        params = {"organisation_id": organisation_id, "dedup_key": dedup_key}
        rows = await _DEDUP_KEY_TAKEN.fetch(self.session, params)
        return bool(rows[0][0])

    async def by_dedup_key_of(self, author_id: int, dedup_key: str) -> Event | None:
        """The event a person stored under a dedup key (whatever their organisation)."""
        query = select(Event).where(Event.author_id == author_id, Event.dedup_key == dedup_key)
        return await self.session.scalar(query.limit(1))

    async def submit(self, event: Event) -> None:
        """File a draft into its period's report (a submitted event stays as it is)."""
        if event.status == "draft":
            event.status, event.submitted_at = "submitted", utcnow()
            await self.session.flush()

    async def delete(self, event: Event) -> list[Dissolved]:
        """Mark an event deleted; it leaves the report but stays in the database, and a
        merge it was in is dissolved (the other event is a row of its own again). The
        merges dissolved."""
        event.status = "deleted"
        await self.session.flush()
        return await DuplicateRepository(self.session).settle(event)

    async def dedup_keys(self, organisation_id: int) -> set[str]:
        """The dedup keys of an organisation's events (import hashes, dialogue tokens)."""
        query = select(Event.dedup_key).where(
            Event.organisation_id == organisation_id, Event.dedup_key.is_not(None)
        )
        return set(await self.session.scalars(query))

    async def of_period(self, period_id: int, *, status: str = "submitted") -> list[Event]:
        """A period's events of one status, in id order."""
        query = (
            select(Event)
            .where(Event.period_id == period_id, Event.status == status)
            .order_by(Event.id)
        )
        return list(await self.session.scalars(query))

    async def count_of_period(self, period_id: int, *, status: str = "submitted") -> int:
        """How many events of one status a period has."""
        query = select(func.count(Event.id)).where(
            Event.period_id == period_id, Event.status == status
        )
        return int(await self.session.scalar(query) or 0)

    async def of_organisation(self, organisation_id: int, period_ids: list[int]) -> list[Event]:
        """An organisation's not-deleted events in the given periods."""
        query = (
            select(Event)
            .where(
                Event.organisation_id == organisation_id,
                Event.period_id.in_(period_ids),
                Event.status != "deleted",
            )
            .order_by(Event.start_date, Event.id)
        )
        return list(await self.session.scalars(query))

    async def visible(
        self, author_id: int, organisation_ids: list[int], *, period_id: int | None = None
    ) -> list[Event]:
        """Not-deleted events a person wrote or their organisations hold, newest first
        (of one period if given)."""
        owner = Event.author_id == author_id
        if organisation_ids:
            owner = owner | Event.organisation_id.in_(organisation_ids)
        query = select(Event).where(owner, Event.status != "deleted")
        if period_id is not None:
            query = query.where(Event.period_id == period_id)
        query = query.order_by(Event.start_date.desc(), Event.id.desc())
        return list(await self.session.scalars(query))

    async def earlier(
        self, author_id: int, organisation_id: int | None, open_period_ids: list[int], limit: int
    ) -> list[Event]:
        """The latest events of a person or their organisation outside the open periods."""
        owner = Event.author_id == author_id
        if organisation_id is not None:
            owner = owner | (Event.organisation_id == organisation_id)
        query = (
            select(Event)
            .where(owner, Event.period_id.not_in(open_period_ids), Event.status != "deleted")
            .order_by(Event.start_date.desc(), Event.id.desc())
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def of_author(self, author_id: int, period_ids: list[int]) -> list[Event]:
        """A person's not-deleted events in the given periods."""
        query = (
            select(Event)
            .where(
                Event.author_id == author_id,
                Event.period_id.in_(period_ids),
                Event.status != "deleted",
            )
            .order_by(Event.start_date, Event.id)
        )
        return list(await self.session.scalars(query))

    async def all_of_author(self, author_id: int) -> list[Event]:
        """Every not-deleted event a person filed, any period, oldest first (with periods)."""
        query = (
            select(Event)
            .options(selectinload(Event.period))
            .where(Event.author_id == author_id, Event.status != "deleted")
            .order_by(Event.created_at, Event.id)
        )
        return list(await self.session.scalars(query))
