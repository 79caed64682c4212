"""Factories for organisations, people, periods and events in a real database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.texts import Common, Dialogue
from handlers.views import examples
from reports.dates import DateRange
from reports.quarters import Quarter, collecting_quarter
from storage.models import Event, Organisation, Person, ReportingPeriod, Sphere
from storage.repositories import (
    EventFields,
    EventRepository,
    OrganisationRepository,
    PeriodRepository,
    PersonRepository,
    SphereRepository,
)

_numbers = count(1)
Q4_2023 = Quarter(2023, 4)
MOSCOW = ZoneInfo("Europe/Moscow")
MOSCOW_DEADLINE = datetime(2024, 1, 5, 15, 0, tzinfo=UTC)  # 18:00 in Moscow


async def organisation(
    session: AsyncSession, name: str | None = None, **kwargs: Any
) -> Organisation:
    return await OrganisationRepository(session).add(
        name or f"Учреждение {next(_numbers)}", **kwargs
    )


async def person(session: AsyncSession, org: Organisation | None = None, **kwargs: Any) -> Person:
    number = next(_numbers)
    kwargs.setdefault("organisation_id", org.id if org else None)
    return await PersonRepository(session).add(1_000_000 + number, f"Сотрудник {number}", **kwargs)


async def period(
    session: AsyncSession, quarter: Quarter = Q4_2023, deadline: datetime = MOSCOW_DEADLINE
) -> ReportingPeriod:
    return await PeriodRepository(session).ensure(quarter, deadline)


async def sphere(session: AsyncSession, name: str = "Сотрудничество в сфере спорта") -> Sphere:
    existing = await SphereRepository(session).by_name(name)
    if existing:
        return existing
    spheres = [s.name for s in await SphereRepository(session).active()]
    await SphereRepository(session).sync([*spheres, name])
    found = await SphereRepository(session).by_name(name)
    assert found is not None
    return found


async def event(
    session: AsyncSession,
    *,
    period_: ReportingPeriod | None = None,
    org: Organisation | None = None,
    sphere_: Sphere | None = None,
    start: date = date(2023, 10, 26),
    end: date | None = None,
    precision: str = "day",
    status: str = "submitted",
    **fields: Any,
) -> Event:
    number = next(_numbers)
    period_ = period_ or await period(session)
    org = org or await organisation(session)
    sphere_ = sphere_ or await sphere(session)
    values = EventFields(
        sphere_id=sphere_.id,
        name=fields.pop("name", f"Мероприятие {number}"),
        place=fields.pop("place", "г. Смоленск"),
        dates=DateRange(start, end or start, precision),  # type: ignore[arg-type]
        result=fields.pop("result", "Проведено."),
        participants=fields.pop("participants", "Представители учреждения"),
        participant_count=fields.pop("participant_count", None),
    )
    return await EventRepository(session).add(
        values, period_id=period_.id, organisation_id=org.id, status=status, **fields
    )


def shown_examples(now: datetime, tz: ZoneInfo = MOSCOW) -> dict[str, str]:
    """The examples the texts show at `now` under the default deadlines
    (handlers.views.collecting_examples without a database)."""
    return examples(collecting_quarter(now, tz), now.astimezone(tz).date())


def dates_prompt(now: datetime) -> str:
    """The dates step's question as shown at `now`, without its step number."""
    return Dialogue.ASK["dates"].format(**shown_examples(now))


def help_shown(now: datetime, *, coordinator: bool = False) -> str:
    """/help as shown at `now` to a reporter or a coordinator."""
    text = Common.HELP_REPORTER + (Common.HELP_COORDINATOR if coordinator else "")
    return text.format(**shown_examples(now))
