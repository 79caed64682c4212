"""The coordinator's periods: deadline, close and reopen, status, reminders, closing notes.

Every command takes an optional quarter (`2023-Q4`); without one it acts on the period
being collected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TYPE_CHECKING

from aiogram import Bot, Router, html
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.filters import IsCoordinator
from handlers.keyboards import Keyboard, RowId
from handlers.labels import period_label
from handlers.texts import Common, Counted, Periods
from handlers.views import (
    Clock,
    collecting_examples,
    deadline_text,
    echoed,
    find_period,
    long_date,
    split_message,
)
from reports.participants import characters, plural
from reports.quarters import Quarter, QuarterError
from reports.workdays import next_working_day
from storage.models import Person, ReportingPeriod
from storage.repositories import (
    OrgStatus,
    PeriodRepository,
    ReportingRepository,
    ReviewRepository,
)

if TYPE_CHECKING:
    from bot.reminders import RoundResult
    from bot.settings import Settings

router = Router(name=__name__)
router.message.filter(IsCoordinator())
router.callback_query.filter(IsCoordinator())
log = logging.getLogger(__name__)

# Workflow data set by the reminder scheduler (bot/scheduler.py), absent when not configured.
RemindNow = Callable[..., Awaitable["RoundResult"]]
RebuildSchedule = Callable[[], Awaitable[object]]

NOTE_MAX = 3500  # a note and its number fit one message in /notes
_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")


async def _rebuild(rebuild_schedule: RebuildSchedule | None) -> str:
    """Replan the reminders after a period changed; a line for the reply if that failed."""
    if rebuild_schedule is None:
        return ""
    try:
        await rebuild_schedule()
    except Exception:  # the change is saved; the nightly rebuild will catch up
        log.exception("could not rebuild the reminder schedule")
        return Periods.SCHEDULE_FAILED
    return ""


# --- /deadline, /close, /reopen ----------------------------------------------------------


def latest_deadline_day(quarter: Quarter) -> date:
    """The last day a quarter's deadline may be moved to: a year after the quarter ends.

    Later ones are mistakes (`31.12.9999`), and past a year the schedule of reminders
    has no meaning.
    """
    last = quarter.last_day
    return last.replace(year=last.year + 1)


def _parse_deadline(args: str) -> tuple[str | None, str, str | None] | None:
    """`[period] DD.MM.YYYY [HH:MM]` → (period label, date, time); None if not that shape."""
    tokens = args.split()
    label = tokens.pop(0) if tokens and not _DATE.match(tokens[0]) else None
    if not 1 <= len(tokens) <= 2 or not _DATE.match(tokens[0]):
        return None
    if len(tokens) == 2 and not _TIME.match(tokens[1]):
        return None
    return label, tokens[0], tokens[1] if len(tokens) == 2 else None


@router.message(Command("deadline"))
async def move_deadline(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    person: Person,
    rebuild_schedule: RebuildSchedule | None = None,
) -> None:
    parsed = _parse_deadline(command.args or "")
    if parsed is None:
        examples = await collecting_examples(session, settings, clock())
        await message.answer(Periods.DEADLINE_USAGE.format(**examples))
        return
    label, day_text, time_text = parsed
    period = await find_period(message, session, settings, clock, label, "/deadline {label} …")
    if period is None:
        return
    day = _DATE.match(day_text)
    assert day is not None
    hour, minute = settings.deadline_time.hour, settings.deadline_time.minute
    if time_text is not None:
        at = _TIME.match(time_text)
        assert at is not None
        hour, minute = int(at.group(1)), int(at.group(2))
    try:
        deadline = datetime(
            int(day.group(3)),
            int(day.group(2)),
            int(day.group(1)),
            hour,
            minute,
            tzinfo=settings.timezone,
        )
    except ValueError:
        value = " ".join(part for part in (day_text, time_text) if part)
        await message.answer(Periods.DEADLINE_NO_SUCH_DATE.format(value=echoed(value)))
        return
    shown = deadline.strftime("%d.%m.%Y %H:%M")
    quarter = Quarter(period.year, period.quarter)
    latest = latest_deadline_day(quarter)
    if deadline.date() > latest:  # checked first: such a date may not even convert to UTC
        await message.answer(
            Periods.DEADLINE_TOO_LATE.format(
                period=period_label(period), latest=latest.strftime("%d.%m.%Y")
            )
        )
        return
    if deadline <= clock():
        await message.answer(Periods.DEADLINE_PAST.format(deadline=shown))
        return
    if deadline.date() <= quarter.last_day:
        await message.answer(
            Periods.DEADLINE_BEFORE_END.format(
                period=period_label(period),
                last_day=quarter.last_day.strftime("%d.%m.%Y"),
                first_day=quarter.next().first_day.strftime("%d.%m.%Y"),
            )
        )
        return
    day_off = ""
    working = next_working_day(deadline.date())
    if working != deadline.date():  # a day off in Russia: the next working day, same time
        day_off = Periods.DEADLINE_DAY_OFF.format(
            day=long_date(deadline.date()), moved=long_date(working)
        )
        deadline = deadline.replace(year=working.year, month=working.month, day=working.day)
    previous = deadline_text(period, settings)
    await PeriodRepository(session).set_deadline(period, deadline)
    await session.commit()
    log.info("coordinator %s moved the deadline of period %s to %s", person.id, period.id, shown)
    text = day_off + Periods.DEADLINE_SET.format(
        period=period_label(period), deadline=deadline_text(period, settings), previous=previous
    )
    if period.status != "open":
        text += Periods.DEADLINE_CLOSED_NOTE
    await message.answer(text + await _rebuild(rebuild_schedule))


async def _set_status(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    person: Person,
    rebuild_schedule: RebuildSchedule | None,
    status: str,
) -> None:
    label = (command.args or "").strip() or None
    example = f"/{command.command} {{label}}"
    # /reopen without a period: the one being collected counting closed ones, so that
    # /close and then /reopen act on the same quarter.
    period = await find_period(
        message, session, settings, clock, label, example, closed_too=status == "open"
    )
    if period is None:
        return
    name = period_label(period)
    if period.status == status:
        already = Periods.ALREADY_CLOSED if status == "closed" else Periods.ALREADY_OPEN
        await message.answer(already.format(period=name))
        return
    if status == "closed":
        returned = await ReviewRepository(session).count_returned(period.id)
        if returned:  # events still with their authors: closed only when confirmed
            count = f"{returned} {plural(returned, *Counted.EVENTS)}"
            await message.answer(
                Periods.CLOSE_RETURNED.format(period=name, count=count),
                reply_markup=close_keyboard(period.id),
            )
            return
    await PeriodRepository(session).set_status(period, status)
    await session.commit()
    log.info("coordinator %s set period %s %s", person.id, period.id, status)
    done = Periods.CLOSED if status == "closed" else Periods.REOPENED
    await message.answer(done.format(period=name) + await _rebuild(rebuild_schedule))


class CloseCb(CallbackData, prefix="cl"):
    """/close of a period with returned events: `action` yes (close) or no."""

    action: str
    period: RowId


def close_keyboard(period_id: int) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=Periods.CLOSE_YES, callback_data=CloseCb(action="yes", period=period_id))
    builder.button(text=Periods.CLOSE_NO, callback_data=CloseCb(action="no", period=period_id))
    builder.adjust(2)
    return builder.as_markup()


@router.callback_query(CloseCb.filter())
async def close_confirmed(
    callback: CallbackQuery,
    callback_data: CloseCb,
    session: AsyncSession,
    person: Person,
    rebuild_schedule: RebuildSchedule | None = None,
) -> None:
    periods = PeriodRepository(session)
    period = await periods.by_id(callback_data.period)
    if period is None or callback_data.action not in ("yes", "no"):
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    name = period_label(period)
    await callback.answer()
    assert callback.message is not None
    if callback_data.action == "no":
        await callback.message.answer(Periods.CLOSE_KEPT_OPEN.format(period=name))
        return
    if period.status == "closed":
        await callback.message.answer(Periods.ALREADY_CLOSED.format(period=name))
        return
    await periods.set_status(period, "closed")
    await session.commit()
    log.info("coordinator %s set period %s closed (returned events)", person.id, period.id)
    await callback.message.answer(
        Periods.CLOSED.format(period=name) + await _rebuild(rebuild_schedule)
    )


@router.message(Command("close"))
async def close_period(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    person: Person,
    rebuild_schedule: RebuildSchedule | None = None,
) -> None:
    await _set_status(
        message, command, session, settings, clock, person, rebuild_schedule, "closed"
    )


@router.message(Command("reopen"))
async def reopen_period(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    person: Person,
    rebuild_schedule: RebuildSchedule | None = None,
) -> None:
    await _set_status(message, command, session, settings, clock, person, rebuild_schedule, "open")


# --- /status -----------------------------------------------------------------------------


def _drafts(status: OrgStatus) -> str:
    """The marks after an organisation's line: drafts being filled in, unreachable staff."""
    marks = Periods.LINE_DRAFTS.format(drafts=status.drafts) if status.drafts else ""
    if status.nobody_reachable:
        marks += Periods.LINE_NOBODY_REACHABLE
    elif status.unreachable:
        marks += Periods.LINE_UNREACHABLE.format(
            unreachable=status.unreachable, reporters=status.reporters
        )
    return marks


def status_lines(
    period: ReportingPeriod,
    statuses: list[OrgStatus],
    settings: Settings,
    reviews: dict[int, dict[str, int]] | None = None,
) -> list[str]:
    """The summary, then the organisations: missing, reported (late ones marked, and once
    the review has begun, accepted and returned ones counted), nothing."""
    reviews = reviews or {}
    reviewed = any(c.get("accepted") or c.get("returned") for c in reviews.values())
    reported = [s for s in statuses if s.submitted > 0]
    nothing = [s for s in statuses if s.submitted == 0 and s.said_nothing]
    missing = [s for s in statuses if s.missing]
    lines = [
        Periods.STATUS_HEAD.format(
            period=period_label(period),
            deadline=deadline_text(period, settings),
            state=Periods.STATE_OPEN if period.status == "open" else Periods.STATE_CLOSED,
        )
    ]
    if not statuses:
        return [*lines, Periods.STATUS_EMPTY]
    lines.append(
        Periods.STATUS_SUMMARY.format(
            total=len(statuses),
            reported=len(reported),
            events=sum(s.submitted for s in reported),
            late=sum(s.late for s in reported),
            nothing=len(nothing),
            missing=len(missing),
            drafts=sum(s.drafts for s in statuses),
        )
    )
    if reviewed:
        lines.append(
            Periods.STATUS_REVIEW.format(
                **{
                    key: sum(c.get(key, 0) for c in reviews.values())
                    for key in ("pending", "accepted", "returned")
                }
            )
        )
    if unreachable := sum(s.unreachable for s in statuses):
        lines.append(Periods.STATUS_UNREACHABLE.format(people=unreachable))
    if missing:
        lines.append(Periods.STATUS_MISSING_HEAD)
        lines += [
            Periods.LINE_MISSING.format(name=html.quote(s.name)) + _drafts(s) for s in missing
        ]
    if reported:
        lines.append(Periods.STATUS_REPORTED_HEAD)
        for s in reported:
            events = Periods.EVENTS_COUNT.format(count=s.submitted)
            counted = reviews.get(s.organisation_id, {})
            if reviewed and (counted.get("accepted") or counted.get("returned")):
                events += Periods.LINE_REVIEW.format(
                    accepted=counted.get("accepted", 0), returned=counted.get("returned", 0)
                )
            if s.late:
                events += Periods.LINE_LATE.format(late=s.late)
            line = Periods.LINE_REPORTED.format(name=html.quote(s.name), events=events)
            lines.append(line + _drafts(s))
    if nothing:
        lines.append(Periods.STATUS_NOTHING_HEAD)
        lines += [
            Periods.LINE_NOTHING.format(name=html.quote(s.name)) + _drafts(s) for s in nothing
        ]
    return lines


@router.message(Command("status"))
async def status(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    label = (command.args or "").strip() or None
    period = await find_period(message, session, settings, clock, label, "/status {label}")
    if period is None:
        return
    statuses = await ReportingRepository(session).org_status(period.id, period.deadline)
    reviews = await ReviewRepository(session).counts(period.id)
    for text in split_message(status_lines(period, statuses, settings, reviews)):
        await message.answer(text)


# --- /remind -----------------------------------------------------------------------------


@router.message(Command("remind"))
async def remind(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    person: Person,
    remind_now: RemindNow | None = None,
) -> None:
    if remind_now is None:
        await message.answer(Periods.REMIND_NOT_CONFIGURED)
        return
    label = (command.args or "").strip() or None
    period = await find_period(message, session, settings, clock, label, "/remind {label}")
    if period is None:
        return
    name = period_label(period)
    if period.status != "open":
        await message.answer(Periods.REMIND_CLOSED.format(period=name))
        return
    reporting = ReportingRepository(session)
    missing = await reporting.missing_organisations(period.id)
    if not missing:
        await message.answer(Periods.REMIND_NOBODY.format(period=name))
        return
    names = {organisation.id: organisation.name for organisation in missing}
    unreachable = await reporting.unreachable_organisations(names)  # the round skips them
    # The round writes its records in transactions of its own: on SQLite this update's
    # transaction (holding the write lock) has to end first.
    await session.commit()
    result = await remind_now(period.id)
    log.info("coordinator %s reminded period %s: %s", person.id, period.id, result)
    if result.reason is not None:
        await message.answer(Periods.REMIND_CLOSED.format(period=name))
        return
    if result.organisations:
        head = Periods.REMIND_DONE.format(
            period=name, organisations=len(result.organisations), people=result.sent
        )
    else:
        head = Periods.REMIND_NONE_SENT.format(period=name)
    lines = [head]
    if result.failed or result.blocked:
        lines.append(Periods.REMIND_FAILED.format(count=result.failed + result.blocked))
    if result.skipped_organisations:
        lines.append(Periods.REMIND_SKIPPED)
        lines += [
            f"• {html.quote(names.get(organisation_id, str(organisation_id)))}"
            for organisation_id in result.skipped_organisations
        ]
    if unreachable:
        lines.append(Periods.REMIND_UNREACHABLE)
        lines += [
            f"• {html.quote(names[organisation_id])}"
            for organisation_id in sorted(
                unreachable, key=lambda organisation_id: names[organisation_id]
            )
        ]
    for text in split_message(lines):
        await message.answer(text)


# --- /note, /notes -----------------------------------------------------------------------


def _split_note(args: str) -> tuple[str | None, str]:
    """`[period] text` → (period label or None, text)."""
    first, _, rest = args.strip().partition(" ")
    try:
        Quarter.parse(first)
    except QuarterError:
        return None, args.strip()
    return first, rest.strip()


@router.message(Command("note"))
async def add_note(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    label, text = _split_note(command.args or "")
    if not text:
        examples = await collecting_examples(session, settings, clock())
        await message.answer(Periods.NOTE_USAGE.format(**examples))
        return
    if len(text) > NOTE_MAX:
        await message.answer(
            Periods.NOTE_TOO_LONG.format(length=characters(len(text)), limit=NOTE_MAX)
        )
        return
    period = await find_period(message, session, settings, clock, label, Periods.NOTE_EXAMPLE)
    if period is None:
        return
    await PeriodRepository(session).add_note(period.id, text)
    await session.commit()
    await message.answer(Periods.NOTE_ADDED.format(period=period_label(period)))


@router.message(Command("notes"))
async def list_notes(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    label = (command.args or "").strip() or None
    period = await find_period(message, session, settings, clock, label, "/notes {label}")
    if period is None:
        return
    notes = await PeriodRepository(session).notes(period.id)
    name = period_label(period)
    if not notes:
        await message.answer(Periods.NOTES_EMPTY.format(period=name))
        return
    await message.answer(Periods.NOTES_HEAD.format(period=name))
    for number, note in enumerate(notes, start=1):
        await message.answer(
            Periods.NOTE_LINE.format(number=number, text=html.quote(note.text)),
            reply_markup=kb.note_keyboard(period.id, note.id),
        )


@router.callback_query(kb.NoteCb.filter())
async def delete_note(
    callback: CallbackQuery,
    callback_data: kb.NoteCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
) -> None:
    periods = PeriodRepository(session)
    notes = {note.id: note for note in await periods.notes(callback_data.period)}
    note = notes.get(callback_data.id)
    if note is None:
        await callback.answer(Periods.NOTE_GONE, show_alert=True)
        return
    await periods.remove_note(callback_data.period, note.id)
    await session.commit()
    log.info("coordinator %s removed note %s", person.id, note.id)
    await callback.answer()
    text = Periods.NOTE_DELETED.format(text=html.quote(kb.short(note.text, 200)))
    await bot.send_message(person.telegram_id, text)
