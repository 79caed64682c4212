"""Who may see and change which event."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event, Person
from storage.repositories import PeriodRepository


def can_view(person: Person, event: Event) -> bool:
    """Coordinators see every event; staff see their own and their organisation's."""
    if event.status == "deleted":
        return False
    if person.role == "coordinator":
        return True
    return event.author_id == person.id or (
        person.organisation_id is not None and event.organisation_id == person.organisation_id
    )


async def can_change(session: AsyncSession, person: Person, event: Event) -> bool:
    """Only the author changes an event, and only while its period is open."""
    if event.status == "deleted" or event.author_id != person.id:
        return False
    period = await PeriodRepository(session).by_id(event.period_id)
    return period is not None and period.status == "open"
