"""Shared pieces of what the person sees: quarters, the fields of an event as text."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING

from aiogram import html
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.texts import Dialogue, MyEvents
from reports.dates import DateRange, format_dates
from reports.quarters import Quarter, collecting_quarter
from storage.models import Event, ReportingPeriod
from storage.repositories import PeriodRepository, PersonRepository, SphereRepository

if TYPE_CHECKING:  # handlers get the settings as workflow data; only the type comes from bot/
    from bot.settings import Settings

Clock = Callable[[], datetime]  # the Dispatcher's `clock`: now, aware (tests move it)

SHOWN_MAX = 600  # a long answer is cut in summaries, so a message stays under Telegram's limit
MESSAGE_MAX = 4096  # Telegram's limit on a message's text
DEADLINE_FORMAT = "%d.%m.%Y %H:%M"


def quarter_label(year: int, quarter: int) -> str:
    """`IV квартал 2023 года`."""
    return Dialogue.QUARTER.format(roman=Quarter(year, quarter).roman, year=year)


def period_label(period: ReportingPeriod) -> str:
    return quarter_label(period.year, period.quarter)


def shown(text: str | None, limit: int = SHOWN_MAX) -> str:
    """User text made safe for HTML and cut to `limit` characters."""
    if not text:
        return Dialogue.MISSING
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return html.quote(cut)


def collecting(settings: Settings, now: datetime) -> Quarter:
    """The quarter being collected now under these settings."""
    return collecting_quarter(
        now, settings.timezone, day=settings.deadline_day, at=settings.deadline_time
    )


async def ensure_collecting_period(
    session: AsyncSession, settings: Settings, now: datetime
) -> ReportingPeriod:
    """The period being collected, created if it does not exist yet."""
    quarter = collecting(settings, now)
    deadline = quarter.deadline(
        settings.timezone, day=settings.deadline_day, at=settings.deadline_time
    )
    return await PeriodRepository(session).ensure(quarter, deadline)


async def period_choices(
    session: AsyncSession, settings: Settings, now: datetime, start: date | None
) -> tuple[list[ReportingPeriod], int]:
    """Open periods and the default one: the start date's quarter while open, else collected."""
    current = await ensure_collecting_period(session, settings, now)
    periods = await PeriodRepository(session).open_periods()
    default = current.id
    if start is not None:
        own = Quarter.of(start)
        for period in periods:
            if (period.year, period.quarter) == (own.year, own.quarter):
                default = period.id
    return periods, default


async def fields_text(
    session: AsyncSession,
    *,
    sphere_id: int | None,
    name: str | None,
    place: str | None,
    dates: DateRange | None,
    result: str | None,
    participants: str | None,
    count: int | None,
    period_id: int | None,
) -> str:
    """An event's fields, escaped, as the summary and the event card show them."""
    sphere = await SphereRepository(session).get(sphere_id) if sphere_id else None
    period = await PeriodRepository(session).by_id(period_id) if period_id else None
    return Dialogue.SUMMARY_FIELDS.format(
        sphere=shown(sphere.name if sphere else None),
        name=shown(name),
        place=shown(place),
        dates=shown(format_dates(dates) if dates else None),
        result=shown(result),
        participants=shown(participants),
        count=count if count is not None else Dialogue.UNKNOWN_COUNT,
        period=period_label(period) if period else Dialogue.MISSING,
    )


async def event_card(session: AsyncSession, event: Event) -> str:
    """The card of a stored event: number, status, fields and author."""
    body = await fields_text(
        session,
        sphere_id=event.sphere_id,
        name=event.name,
        place=event.place,
        dates=DateRange(event.start_date, event.end_date, event.precision, event.dates_note),  # type: ignore[arg-type]
        result=event.result,
        participants=event.participants,
        count=event.participant_count,
        period_id=event.period_id,
    )
    author = await PersonRepository(session).get(event.author_id) if event.author_id else None
    return MyEvents.CARD.format(
        id=event.id,
        status=MyEvents.STATUS[event.status],
        fields=body,
        author=html.quote(author.full_name if author else "—"),
    )


def deadline_text(period: ReportingPeriod, settings: Settings) -> str:
    """A period's deadline in the deployment's local time: `05.01.2024 18:00`."""
    return period.deadline.astimezone(settings.timezone).strftime(DEADLINE_FORMAT)


def split_message(lines: Iterable[str], limit: int = MESSAGE_MAX) -> list[str]:
    """Lines joined into as few messages as fit under `limit`, never cutting a line.

    The HTML is measured as written (Telegram counts the text after parsing, which is never
    longer), so every message is safe; each line must itself fit.
    """
    messages: list[str] = []
    current: list[str] = []
    length = 0
    for line in lines:
        added = len(line) + (1 if current else 0)
        if current and length + added > limit:
            messages.append("\n".join(current))
            current, length = [], 0
            added = len(line)
        current.append(line)
        length += added
    if current:
        messages.append("\n".join(current))
    return messages
