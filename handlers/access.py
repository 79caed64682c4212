"""Who may see and change which event, and who reviews it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event, Person
from storage.repositories import PeriodRepository
from storage.repositories.review import ReviewRepository


def can_view(person: Person, event: Event) -> bool:
    """Coordinators see every event; staff see their own and their organisation's."""
    if event.status == "deleted":
        return False
    if person.role == "coordinator":
        return True
    return event.author_id == person.id or (
        person.organisation_id is not None and event.organisation_id == person.organisation_id
    )


async def reviews(session: AsyncSession, person: Person, organisation_id: int) -> bool:
    """Whether `person` reviews the organisation's events: coordinators review every
    organisation; an executive body's reviewers, the body and its institutions."""
    if person.role == "coordinator":
        return True
    return organisation_id in await ReviewRepository(session).reviewed_organisations(person.id)


async def may_view(session: AsyncSession, person: Person, event: Event) -> bool:
    """`can_view`, and a reviewer sees the submitted events they review."""
    if can_view(person, event):
        return True
    return event.status == "submitted" and await reviews(session, person, event.organisation_id)


async def _period_open(session: AsyncSession, event: Event) -> bool:
    period = await PeriodRepository(session).by_id(event.period_id)
    return period is not None and period.status == "open"


async def can_change(session: AsyncSession, person: Person, event: Event) -> bool:
    """Only the author deletes an event, and only while its period is open."""
    if event.status == "deleted" or event.author_id != person.id:
        return False
    return await _period_open(session, event)


async def can_review(session: AsyncSession, person: Person, event: Event) -> bool:
    """Whether `person` may accept, return or correct a submitted event: its reviewer,
    while its period is open (a closed period's events are read-only for everyone)."""
    if event.status != "submitted" or not await reviews(session, person, event.organisation_id):
        return False
    return await _period_open(session, event)


async def can_edit(session: AsyncSession, person: Person, event: Event) -> bool:
    """The author edits their event, a reviewer the submitted events they review, while
    the period is open."""
    if await can_change(session, person, event):
        return True
    return event.author_id != person.id and await can_review(session, person, event)
