"""Shared pieces of what the person sees: quarters, the fields of an event as text."""

from __future__ import annotations

import html as html_module
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from aiogram import html
from aiogram.types import InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.labels import period_label, quarter_label
from handlers.texts import Common, Desk, Dialogue, MyEvents, Periods, Review
from reports.dates import MONTHS_GENITIVE, DateRange, date_examples, format_dates
from reports.participants import read_total
from reports.quarters import Period, Quarter, QuarterError, Year
from reports.workdays import next_working_day
from storage.models import Event, Person, ReportingPeriod
from storage.repositories import PeriodRepository, PersonRepository, SphereRepository

if TYPE_CHECKING:  # handlers get the settings as workflow data; only the type comes from bot/
    from bot.settings import Settings

Clock = Callable[[], datetime]  # the Dispatcher's `clock`: now, aware (tests move it)

SHOWN_MAX = 600  # a long answer is cut in summaries, so a message stays under Telegram's limit
MESSAGE_MAX = 4096  # Telegram's limit on a message's text
TOAST_MAX = 200  # Telegram's limit on the text of a button's answer (toast or alert)
COMMENT_SHOWN = 1000  # a reviewer's comment on the card (the comment's own limit)
CARD_RESERVE = 400  # what a message may say around a card
ECHO_MAX = 100  # what a reply repeats of a command's argument
DEADLINE_FORMAT = "%d.%m.%Y %H:%M"
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*[^<>]*>")


def report_file_name(period: Period, kind: str) -> str:
    """`report_2023_Q4.docx`, or `report_2023.docx` for a year."""
    if isinstance(period, Year):
        return f"report_{period.year}.{kind}"
    return f"report_{period.year}_Q{period.quarter}.{kind}"


def long_date(day: date) -> str:
    """`5 января 2027 г.`, as an official letter writes a date."""
    return Common.LONG_DATE.format(day=day.day, month=MONTHS_GENITIVE[day.month - 1], year=day.year)


def examples(quarter: Quarter, today: date) -> dict[str, str]:
    """Example values for the texts' templates, taken from `quarter` (the one collected),
    so every example is accepted on `today` (reports.dates.date_examples): for IV квартал
    2023 года `26.10.2023`, `26-27 октября 2023`, `10 ноября – 3 декабря 2023`,
    `октябрь 2023`, the label `2023-Q4` and a deadline example `15.01.2024` (a working day
    of the month after the quarter)."""
    deadline = next_working_day(quarter.next().first_day.replace(day=15))
    return {
        **asdict(date_examples(quarter, today)),
        "label": quarter.label,
        "roman": quarter.roman,
        "year": str(quarter.year),
        "deadline": deadline.strftime("%d.%m.%Y"),
    }


async def collecting_examples(
    session: AsyncSession, settings: Settings, now: datetime
) -> dict[str, str]:
    """`examples` of the quarter being collected at `now`."""
    quarter = await collecting(session, settings, now)
    return examples(quarter, now.astimezone(settings.timezone).date())


def shown(text: str | None, limit: int = SHOWN_MAX) -> str:
    """User text made safe for HTML and cut to `limit` characters as Telegram counts them
    (UTF-16 units: an emoji outside the basic plane is two)."""
    if not text:
        return Dialogue.MISSING
    return html.quote(_cut(text, limit))


def _cut(text: str, limit: int) -> str:
    """`text` within `limit` UTF-16 units, ending in «…» if it had to be cut."""
    if units(text) <= limit:
        return text
    counted = 0
    for index, char in enumerate(text):
        counted += 2 if ord(char) > 0xFFFF else 1
        if counted > limit - 1:
            return text[:index] + "…"
    return text  # pragma: no cover (the length check above)


def echoed(text: str) -> str:
    """A command's argument repeated in a reply: escaped, cut to `ECHO_MAX` with «…»."""
    return shown(" ".join(text.split()), ECHO_MAX)


def toast(template: str, **values: object) -> str:
    """The plain text of a button's answer (Telegram shows no HTML there) within 200
    characters: `values` are given unescaped; the longest is cut with «…» until it fits."""
    texts = {key: " ".join(str(value).split()) for key, value in values.items()}
    text = template.format(**texts)
    while (over := units(text) - TOAST_MAX) > 0:
        key = max(texts, key=lambda name: units(texts[name]), default=None)
        if key is None or units(texts[key]) <= over + 1:
            return _cut(text, TOAST_MAX)
        texts[key] = _cut(texts[key], units(texts[key]) - over)
        text = template.format(**texts)
    return text


def units(text: str) -> int:
    """The length of `text` as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


async def collecting(session: AsyncSession, settings: Settings, now: datetime) -> Quarter:
    """The quarter being collected now, from the stored deadlines."""
    found = await PeriodRepository(session).collecting(
        now, settings.timezone, settings.default_deadline, copies=True
    )
    return found.quarter


async def ensure_collecting_period(
    session: AsyncSession, settings: Settings, now: datetime, *, closed_too: bool = False
) -> ReportingPeriod:
    """The period being collected, created if it does not exist yet (`closed_too`: closed
    periods count as if open, see PeriodRepository.collecting)."""
    period, _ = await PeriodRepository(session).ensure_collecting(
        now, settings.timezone, settings.default_deadline, closed_too=closed_too
    )
    return period


async def find_period(
    message: Message,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    label: str | None,
    example: str = "",
    *,
    bad: str = Periods.BAD_PERIOD,
    missing: str = Periods.NO_PERIOD,
    closed_too: bool = False,
) -> ReportingPeriod | None:
    """The period a command's quarter argument `label` names, or without one the period
    being collected (`closed_too`: counting closed periods); None, and the person told,
    when the label is malformed (`bad`, with `{value}` and either `{label}`, the quarter
    being collected, or `{example}`: `example` with `{label}` filled in) or names a period
    that does not exist (`missing`, with `{period}`)."""
    if not label:
        return await ensure_collecting_period(session, settings, clock(), closed_too=closed_too)
    try:
        quarter = Quarter.parse(label)
    except QuarterError:
        collected = (await collecting(session, settings, clock())).label
        example = example.format(label=collected)
        await message.answer(bad.format(value=echoed(label), example=example, label=collected))
        return None
    period = await PeriodRepository(session).get(quarter)
    if period is None:
        await message.answer(missing.format(period=quarter_label(quarter.year, quarter.quarter)))
    return period


async def period_choices(
    session: AsyncSession, settings: Settings, now: datetime, start: date | None
) -> tuple[list[ReportingPeriod], int]:
    """Open periods and the default one: the start date's quarter while open, else the one
    being collected (detached copies, for showing them: see PeriodRepository.collecting)."""
    current, periods = await PeriodRepository(session).ensure_collecting(
        now, settings.timezone, settings.default_deadline, copies=True
    )
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
    sphere = await SphereRepository(session).snapshot(sphere_id) if sphere_id else None
    period = await PeriodRepository(session).snapshot(period_id) if period_id else None
    return Dialogue.SUMMARY_FIELDS.format(
        sphere=shown(sphere.name if sphere else None),
        name=shown(name),
        place=shown(place),
        dates=shown(format_dates(dates) if dates else None),
        result=shown(result),
        participants=shown(participants),
        count=_count_shown(participants, count),
        period=period_label(period) if period else Dialogue.MISSING,
    )


def _count_shown(participants: str | None, count: int | None) -> str:
    """The total as the text states it (`более 1000` keeps its word), else the number."""
    if count is None:
        return Dialogue.UNKNOWN_COUNT
    total = read_total(participants or "")
    return total.shown if total is not None and total.count == count else str(count)


def author_name(author: Person | None) -> str:
    """An event's author as shown (HTML-escaped): «сотрудник удалён» once erased."""
    if author is None:
        return "—"
    if author.erased_at is not None:
        return Desk.ERASED_AUTHOR
    return html.quote(author.full_name)


@dataclass(frozen=True, slots=True)
class Notice:
    """A message owed to someone other than the person acting: sent after their reply."""

    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None = None


async def reachable(session: AsyncSession, person_id: int | None) -> Person | None:
    """The person, if the bot may write to them (active, not erased)."""
    if person_id is None:
        return None
    found = await PersonRepository(session).get(person_id)
    if found is None or not found.active or found.erased_at is not None:
        return None
    return found


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
    status = MyEvents.STATUS[event.status]
    if event.status == "submitted":
        status += f", {Review.STATES[event.review]}"
    card = MyEvents.CARD.format(id=event.id, status=status, fields=body, author=author_name(author))
    if event.status == "submitted" and event.review == "returned" and event.review_comment:
        # The comment is cut so the card, and a line or two around it, stays one message.
        room = MESSAGE_MAX - CARD_RESERVE - telegram_length(card) - 40
        limit = max(min(COMMENT_SHOWN, room), 100)
        card += Review.COMMENT_LINE.format(comment=shown(event.review_comment, limit))
    return card


def deadline_text(period: ReportingPeriod, settings: Settings) -> str:
    """A period's deadline in the deployment's local time: `05.01.2024 18:00`."""
    return period.deadline.astimezone(settings.timezone).strftime(DEADLINE_FORMAT)


def telegram_length(text: str) -> int:
    """The length Telegram counts for our HTML: tags removed, entities decoded, in UTF-16
    code units (an emoji outside the basic plane counts twice)."""
    return units(html_module.unescape(_TAG.sub("", text)))


def split_message(lines: Iterable[str], limit: int = MESSAGE_MAX) -> list[str]:
    """Lines joined into as few messages as fit under `limit`, never cutting a line (so
    never inside a tag or an entity); each line must itself fit.

    Measured as Telegram measures: the text after HTML parsing, in UTF-16 code units.
    """
    messages: list[str] = []
    current: list[str] = []
    length = 0
    for line in lines:
        size = telegram_length(line)
        added = size + (1 if current else 0)
        if current and length + added > limit:
            messages.append("\n".join(current))
            current, length = [], 0
            added = size
        current.append(line)
        length += added
    if current:
        messages.append("\n".join(current))
    return messages
