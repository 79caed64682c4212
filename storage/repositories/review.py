"""The review of submitted events: decisions, versions, who reviews which organisations."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    Event,
    EventVersion,
    Organisation,
    Person,
    ReportDelivery,
    Reviewer,
    utcnow,
)

PENDING, ACCEPTED, RETURNED = "pending", "accepted", "returned"


class ReviewRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- versions ------------------------------------------------------------------------

    async def record(
        self,
        event_id: int,
        person_id: int | None,
        changes: Iterable[tuple[str, str | None, str | None]],
        *,
        at: datetime | None = None,
    ) -> int:
        """Keep each (field, before, after) as a version of the event; how many were kept."""
        moment = at or utcnow()
        kept = 0
        for field, before, after in changes:
            self.session.add(
                EventVersion(
                    event_id=event_id,
                    person_id=person_id,
                    at=moment,
                    field=field,
                    before=before,
                    after=after,
                )
            )
            kept += 1
        if kept:
            await self.session.flush()
        return kept

    async def versions(self, event_id: int) -> list[EventVersion]:
        """An event's versions, oldest first."""
        query = (
            select(EventVersion)
            .where(EventVersion.event_id == event_id)
            .order_by(EventVersion.at, EventVersion.id)
        )
        return list(await self.session.scalars(query))

    async def has_versions(self, event_id: int) -> bool:
        query = select(EventVersion.id).where(EventVersion.event_id == event_id).limit(1)
        return await self.session.scalar(query) is not None

    # --- decisions -----------------------------------------------------------------------

    async def decide(
        self,
        event: Event,
        review: str,
        reviewer_id: int | None,
        *,
        comment: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Accept (`accepted`) or return (`returned`, with `comment`) an event, or put it
        back on review (`pending`, after the author's fix)."""
        moment = at or utcnow()
        event.review = review
        if review == PENDING:
            event.review_since = moment
        else:
            event.review_comment = comment if review == RETURNED else None
            event.reviewed_by_id = reviewer_id
            event.reviewed_at = moment
        await self.session.flush()

    async def waiting(
        self, period_ids: Sequence[int], organisation_ids: Sequence[int] | None
    ) -> list[Event]:
        """Submitted events on review in these periods (of these organisations; None: of
        every one), the longest waiting first, with their organisations."""
        query = (
            select(Event)
            .options(selectinload(Event.organisation), selectinload(Event.period))
            .where(
                Event.period_id.in_(period_ids),
                Event.status == "submitted",
                Event.review == PENDING,
            )
            .order_by(Event.review_since, Event.submitted_at, Event.id)
        )
        if organisation_ids is not None:
            query = query.where(Event.organisation_id.in_(organisation_ids))
        return list(await self.session.scalars(query))

    async def returned_of_author(self, author_id: int, period_id: int) -> list[Event]:
        """A person's submitted events of a period returned to them and not yet fixed."""
        query = (
            select(Event)
            .where(
                Event.author_id == author_id,
                Event.period_id == period_id,
                Event.status == "submitted",
                Event.review == RETURNED,
            )
            .order_by(Event.id)
        )
        return list(await self.session.scalars(query))

    async def returned_authors(self, period_id: int) -> list[int]:
        """Ids of the people with returned, not yet fixed events in a period."""
        query = (
            select(Event.author_id)
            .where(
                Event.period_id == period_id,
                Event.status == "submitted",
                Event.review == RETURNED,
                Event.author_id.is_not(None),
            )
            .distinct()
        )
        return [author for author in await self.session.scalars(query) if author is not None]

    async def count_returned(self, period_id: int) -> int:
        return len(await self.of_review(period_id, RETURNED))

    async def of_review(self, period_id: int, review: str) -> list[Event]:
        query = select(Event).where(
            Event.period_id == period_id, Event.status == "submitted", Event.review == review
        )
        return list(await self.session.scalars(query.order_by(Event.id)))

    async def counts(self, period_id: int) -> dict[int, dict[str, int]]:
        """Per organisation, its submitted events of a period by review state."""
        query = (
            select(Event.organisation_id, Event.review, func.count())
            .where(Event.period_id == period_id, Event.status == "submitted")
            .group_by(Event.organisation_id, Event.review)
        )
        found: dict[int, dict[str, int]] = {}
        for organisation_id, review, number in (await self.session.execute(query)).all():
            found.setdefault(organisation_id, {})[review] = number
        return found

    # --- the files sent ------------------------------------------------------------------

    async def fingerprints(self, period_id: int, *, accepted_only: bool) -> dict[str, str]:
        """Event id → a digest of its printed fields, for the events a report file holds."""
        query = select(Event).where(Event.period_id == period_id, Event.status == "submitted")
        if accepted_only:
            query = query.where(Event.review == ACCEPTED)
        found: dict[str, str] = {}
        for event in await self.session.scalars(query.order_by(Event.id)):
            fields = (
                event.sphere_id,
                event.organisation_id,
                event.name,
                event.place,
                event.start_date.isoformat(),
                event.end_date.isoformat(),
                event.precision,
                event.dates_note,
                event.result,
                event.participants,
                event.participant_count,
            )
            found[str(event.id)] = hashlib.sha256(repr(fields).encode()).hexdigest()[:16]
        return found

    async def last_delivery(self, person_id: int, period_id: int) -> ReportDelivery | None:
        query = (
            select(ReportDelivery)
            .where(ReportDelivery.person_id == person_id, ReportDelivery.period_id == period_id)
            .order_by(ReportDelivery.id.desc())
            .limit(1)
        )
        return await self.session.scalar(query)

    async def delivered(
        self, person_id: int, period_id: int, events: dict[str, str], *, at: datetime
    ) -> None:
        self.session.add(
            ReportDelivery(person_id=person_id, period_id=period_id, events=events, sent_at=at)
        )
        await self.session.flush()

    # --- who reviews what ----------------------------------------------------------------

    async def add_reviewer(self, person_id: int, organisation_id: int) -> bool:
        """Name a person a reviewer of an executive body; False if they already were."""
        found = await self.session.scalar(
            select(Reviewer).where(
                Reviewer.person_id == person_id, Reviewer.organisation_id == organisation_id
            )
        )
        if found is not None:
            return False
        self.session.add(Reviewer(person_id=person_id, organisation_id=organisation_id))
        await self.session.flush()
        return True

    async def remove_reviewer(self, person_id: int, organisation_id: int) -> bool:
        result = await self.session.execute(
            delete(Reviewer).where(
                Reviewer.person_id == person_id, Reviewer.organisation_id == organisation_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def bodies_of(self, person_id: int) -> list[int]:
        """The executive bodies a person reviews."""
        query = select(Reviewer.organisation_id).where(Reviewer.person_id == person_id)
        return list(await self.session.scalars(query))

    async def reviewed_organisations(self, person_id: int) -> list[int]:
        """The organisations whose events a person reviews: the bodies and the
        institutions directly under them."""
        bodies = await self.bodies_of(person_id)
        if not bodies:
            return []
        children = select(Organisation.id).where(Organisation.parent_id.in_(bodies))
        return sorted({*bodies, *await self.session.scalars(children)})

    async def reviewers_of(self, organisation_id: int) -> list[Person]:
        """The active reviewers of an organisation: of it as a body, or of its parent."""
        organisation = await self.session.get(Organisation, organisation_id)
        bodies = [organisation_id]
        if organisation is not None and organisation.parent_id is not None:
            bodies.append(organisation.parent_id)
        query = (
            select(Person)
            .join(Reviewer, Reviewer.person_id == Person.id)
            .where(Reviewer.organisation_id.in_(bodies), Person.active.is_(True))
            .order_by(Person.id)
            .distinct()
        )
        return list(await self.session.scalars(query))

    async def reviewers(self) -> list[tuple[Person, Organisation]]:
        """Every reviewer and the body they review, by body and name."""
        query = (
            select(Person, Organisation)
            .join(Reviewer, Reviewer.person_id == Person.id)
            .join(Organisation, Organisation.id == Reviewer.organisation_id)
            .order_by(Organisation.name, Person.full_name)
        )
        return [(person, org) for person, org in (await self.session.execute(query)).all()]
