"""Reminder rounds: who is missing, claim a record per person, send through the Sender.

Every message is claimed first (storage.repositories.reminders: a unique row per
person, period and kind), so running a round twice, from two processes or after a
restart, reaches each person once. Kinds: `before_<N>` (N days before the deadline),
`deadline` (the deadline day), `digest` (to the coordinators, the morning after) and
`manual:<YYYY-MM-DDTHH>` (/remind, once per hour per organisation). A scheduled round to
reporters also reaches the authors of events returned to them and not yet fixed, naming
those events, as `<kind>:returned` (`before_7:returned`), once each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot, html
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.observing import reminders_delivered
from bot.sender import DeliveryReport, Outgoing, Sender
from bot.settings import Settings
from handlers.keyboards import EventCb, Keyboard, reminder_keyboard, short
from handlers.labels import quarter_label
from handlers.texts import Counted, Reminders
from reports.participants import plural
from storage.models import Event, Organisation, Person, Reminder, ReportingPeriod
from storage.repositories import (
    PeriodRepository,
    PersonRepository,
    ReminderRepository,
    ReportingRepository,
    ReviewRepository,
)

log = logging.getLogger(__name__)

DEADLINE = "deadline"
DIGEST = "digest"
RETURNED_SUFFIX = ":returned"  # the same round, to the authors of returned events
RETURNED_NAMED = 5  # events named in one reminder (and buttons under it); the rest counted
MANUAL_PREFIX = "manual:"
MANUAL_EVERY = timedelta(hours=1)  # /remind reaches an organisation at most this often
MANUAL_USEFUL = timedelta(hours=2)  # a manual nudge left unsent is dropped after this
RECOVER_AFTER = timedelta(minutes=15)  # a pending row this old has lost its sender
MAX_ATTEMPTS = 40  # requests per reminder over all recoveries, then it is failed for good
DEADLINE_FORMAT = "%d.%m.%Y %H:%M"
MESSAGE_MAX = 4000  # under Telegram's 4096, for the digest's list
DIGEST_MORE_ROOM = 120  # kept for the line that names how many more and points to /status
SECONDS_PER_CHUNK = 60  # claim and send at most a minute's worth of messages at a time


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ReminderDeps:
    """What a round needs from the process: Telegram, the database, settings, the pace."""

    bot: Bot
    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    sender: Sender
    clock: Callable[[], datetime] = utc_now

    @classmethod
    def create(
        cls,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        **sender_options: Any,
    ) -> ReminderDeps:
        """Deps with a Sender paced by the settings (`sender_options` override the rest)."""
        sender = Sender(
            bot,
            sessionmaker,
            rate_per_second=settings.send_rate_per_second,
            per_chat_interval=settings.send_per_chat_interval,
            wall_clock=clock,
            **sender_options,
        )
        return cls(bot, sessionmaker, settings, sender, clock)


@dataclass(slots=True)
class RoundResult:
    """What one round did."""

    period_id: int | None
    kind: str
    claimed: int = 0  # people claimed now (each gets one message)
    already: int = 0  # people reached earlier with this kind (claimed before)
    sent: int = 0
    blocked: int = 0  # people who blocked the bot, now unreachable
    failed: int = 0  # left for recovery or refused for good
    organisations: list[int] = field(default_factory=list)  # organisations reached
    skipped_organisations: list[int] = field(default_factory=list)  # nudged within the hour
    reason: str | None = None  # why the round did nothing


# --- kinds and times -----------------------------------------------------------------


def before_kind(days: int) -> str:
    return f"before_{days}"


def reminder_kinds(settings: Settings) -> list[str]:
    """The scheduled kinds to reporters, earliest first: `before_7`, ..., `deadline`."""
    return [before_kind(days) for days in settings.reminder_days_before] + [DEADLINE]


def manual_kind(now: datetime, settings: Settings) -> str:
    """`manual:2024-01-03T10`: the local hour /remind was used in."""
    return MANUAL_PREFIX + now.astimezone(settings.timezone).strftime("%Y-%m-%dT%H")


def _days_before(kind: str) -> int | None:
    if not kind.startswith("before_"):
        return None
    try:
        return int(kind.removeprefix("before_"))
    except ValueError:
        return None


def due_at(deadline: datetime, kind: str, settings: Settings) -> datetime | None:
    """When a scheduled kind goes out for this deadline (aware); None if never.

    `before_N`: N days before the deadline's local date at `reminder_time`; `deadline`: the
    deadline's date at `reminder_time`; both only if earlier than the deadline itself.
    `digest`: the day after the deadline at `digest_time`.
    """
    tz = settings.timezone
    day = deadline.astimezone(tz).date()
    if kind == DIGEST:
        return datetime.combine(day + timedelta(days=1), settings.digest_time, tzinfo=tz)
    if kind == DEADLINE:
        at = datetime.combine(day, settings.reminder_time, tzinfo=tz)
    elif (days := _days_before(kind)) is not None:
        at = datetime.combine(day - timedelta(days=days), settings.reminder_time, tzinfo=tz)
    else:
        return None
    return at if at < deadline else None


def current_kind(period: ReportingPeriod, now: datetime, settings: Settings) -> str | None:
    """The latest scheduled kind to reporters already due at `now`, while it is useful:
    the period is open and its deadline has not passed. A later kind supersedes an earlier
    one, so a bot that was down sends one reminder when it comes back, not several."""
    if period.status != "open" or now >= period.deadline:
        return None
    due = None
    for kind in reminder_kinds(settings):
        at = due_at(period.deadline, kind, settings)
        if at is not None and at <= now:
            due = kind
    return due


def _useful(kind: str, period: ReportingPeriod | None, now: datetime, settings: Settings) -> bool:
    """Whether an unsent reminder of `kind` is still worth sending at `now`."""
    if period is None or period.status != "open":
        return False
    if kind == DIGEST:
        return True
    kind = kind.removesuffix(RETURNED_SUFFIX)
    if kind.startswith(MANUAL_PREFIX):
        try:
            hour = datetime.strptime(kind.removeprefix(MANUAL_PREFIX), "%Y-%m-%dT%H")
        except ValueError:
            return False
        return now < hour.replace(tzinfo=settings.timezone) + MANUAL_USEFUL
    return kind == current_kind(period, now, settings)


# --- texts ---------------------------------------------------------------------------


def _deadline_text(period: ReportingPeriod, settings: Settings) -> str:
    return period.deadline.astimezone(settings.timezone).strftime(DEADLINE_FORMAT)


def _days_text(days: int) -> str:
    """«остался 1 день», «осталось 3 дня», «осталось 7 дней»: verb and noun agree."""
    return f"{plural(days, *Counted.DAYS_LEFT)} {days} {plural(days, *Counted.DAYS)}"


def reminder_text(kind: str, period: ReportingPeriod, organisation: str, settings: Settings) -> str:
    """The message to a reporter for a kind (organisation name escaped for HTML)."""
    values = {
        "period": quarter_label(period.year, period.quarter),
        "deadline": _deadline_text(period, settings),
        "organisation": html.quote(organisation),
    }
    if kind == DEADLINE:
        return Reminders.DEADLINE.format(**values)
    if (days := _days_before(kind)) is not None:
        return Reminders.BEFORE.format(days=_days_text(days), **values)
    return Reminders.MANUAL.format(**values)


def returned_text(period: ReportingPeriod, events: Sequence[Event], settings: Settings) -> str:
    """To an author: their events of the period returned and not yet fixed, by number."""
    lines = [
        Reminders.RETURNED_LINE.format(id=event.id, name=html.quote(short(event.name, 200)))
        for event in events[:RETURNED_NAMED]
    ]
    if len(events) > RETURNED_NAMED:
        more = len(events) - RETURNED_NAMED
        lines.append(Reminders.RETURNED_MORE.format(more=f"{more} {plural(more, *Counted.EVENTS)}"))
    return Reminders.RETURNED.format(
        period=quarter_label(period.year, period.quarter),
        deadline=_deadline_text(period, settings),
        events="\n".join(lines),
    )


def returned_keyboard(events: Sequence[Event]) -> InlineKeyboardMarkup:
    """«Исправить №N» under a reminder of returned events: each opens the author's edit."""
    builder = Keyboard()
    for event in events[:RETURNED_NAMED]:
        builder.button(
            text=Reminders.RETURNED_FIX.format(id=event.id),
            callback_data=EventCb(action="edit", id=event.id),
        )
    builder.adjust(1)
    return builder.as_markup()


async def _remind_returned(
    deps: ReminderDeps, period: ReportingPeriod, kind: str, result: RoundResult, now: datetime
) -> None:
    """The round's `<kind>:returned` to each reachable author with returned events."""
    returned_kind = kind + RETURNED_SUFFIX
    async with deps.sessionmaker() as session, session.begin():
        review = ReviewRepository(session)
        people = PersonRepository(session)
        owed: list[tuple[Person, list[Event]]] = []
        for author_id in await review.returned_authors(period.id):
            person = await people.get(author_id)
            if person is None or not person.active or not person.reachable:
                continue
            if person.erased_at is not None:
                continue
            owed.append((person, await review.returned_of_author(author_id, period.id)))
        if not owed:
            return
        claimed = await ReminderRepository(session).claim_many(
            period.id, returned_kind, [(person.id, None) for person, _ in owed], now=now
        )
    outgoing = [
        Outgoing(
            claimed[person.id],
            person.id,
            person.telegram_id,
            returned_text(period, events, deps.settings),
            returned_keyboard(events),
        )
        for person, events in owed
        if person.id in claimed
    ]
    if not outgoing:
        return
    report = await deps.sender.deliver(outgoing)
    result.sent += len(report.sent)
    result.blocked += len(report.blocked)
    result.failed += len(report.failed) - len(report.blocked)
    log.info(
        "returned-events reminders %s for period %s: %s sent", kind, period.id, len(report.sent)
    )


def digest_text(
    period: ReportingPeriod,
    missing: Sequence[Organisation],
    settings: Settings,
    unreachable: Collection[int] = (),
) -> str:
    """The coordinators' digest: who has not reported (cut to one message); those in
    `unreachable` (organisation ids) are marked: the bot's messages reach none of their
    staff."""
    head = Reminders.DIGEST_HEAD.format(
        period=quarter_label(period.year, period.quarter),
        deadline=_deadline_text(period, settings),
    )
    if not missing:
        return f"{head}\n\n{Reminders.DIGEST_ALL_DONE}"
    lines = [head, "", Reminders.DIGEST_MISSING.format(count=len(missing))]
    length = sum(len(line) + 1 for line in lines)
    for shown, organisation in enumerate(missing):
        line = Reminders.DIGEST_LINE.format(organisation=html.quote(organisation.name))
        if organisation.id in unreachable:
            line += Reminders.DIGEST_UNREACHABLE
        if length + len(line) + DIGEST_MORE_ROOM > MESSAGE_MAX:
            left = len(missing) - shown
            lines.append(
                Reminders.DIGEST_MORE.format(
                    more=f"{left} {plural(left, *Counted.ORGANISATIONS)}",
                    label=f"{period.year}-Q{period.quarter}",
                )
            )
            break
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines)


# --- rounds --------------------------------------------------------------------------


def delivered(report: DeliveryReport) -> None:
    """Count what became of a deliver()'s messages (bot_reminders_total)."""
    blocked = len(report.blocked)
    reminders_delivered(len(report.sent), len(report.failed) - blocked, blocked)


def _chunk_size(deps: ReminderDeps) -> int:
    return max(100, int(deps.settings.send_rate_per_second * SECONDS_PER_CHUNK))


async def _claim_and_send(
    deps: ReminderDeps,
    period: ReportingPeriod,
    kind: str,
    people: Sequence[tuple[Person, Organisation | None]],
    text_for: Callable[[Organisation | None], str],
    result: RoundResult,
    now: datetime,
) -> RoundResult:
    """Claim (person, period, kind) rows and send the ones claimed now, a chunk at a time
    (each chunk is sent right after its claim: see bot/sender.py on `give_up_after`)."""
    keyboard = reminder_keyboard(period.id) if kind != DIGEST else None
    reached: set[int] = set()
    size = _chunk_size(deps)
    for start in range(0, len(people), size):
        chunk = people[start : start + size]
        async with deps.sessionmaker() as session, session.begin():
            claimed = await ReminderRepository(session).claim_many(
                period.id,
                kind,
                [
                    (person.id, organisation.id if organisation else None)
                    for person, organisation in chunk
                ],
                now=now,
            )
        outgoing = [
            Outgoing(
                claimed[person.id], person.id, person.telegram_id, text_for(organisation), keyboard
            )
            for person, organisation in chunk
            if person.id in claimed
        ]
        reached.update(
            organisation.id
            for person, organisation in chunk
            if organisation and person.id in claimed
        )
        result.claimed += len(outgoing)
        result.already += len(chunk) - len(outgoing)
        report = await deps.sender.deliver(outgoing)
        delivered(report)
        result.sent += len(report.sent)
        result.blocked += len(report.blocked)
        result.failed += len(report.failed) - len(report.blocked)
    result.organisations = sorted(reached)
    log.info(
        "reminders %s for period %s: %s sent, %s blocked, %s failed, %s reached before",
        kind,
        period.id,
        result.sent,
        result.blocked,
        result.failed,
        result.already,
    )
    return result


async def _open_period(session: AsyncSession, period_id: int) -> ReportingPeriod | None:
    period = await PeriodRepository(session).by_id(period_id)
    return period if period is not None and period.status == "open" else None


async def reminder_round(
    deps: ReminderDeps,
    period_id: int,
    kind: str,
    *,
    now: datetime,
    organisation_ids: Iterable[int] | None = None,
) -> RoundResult:
    """Remind every active reporter of each organisation still missing in the period
    (but those whose chats refuse the bot's messages).

    A `before_N`/`deadline` round does nothing once the deadline has passed.
    """
    result = RoundResult(period_id, kind)
    async with deps.sessionmaker() as session, session.begin():
        period = await _open_period(session, period_id)
        if period is None:
            result.reason = "period closed or unknown"
            return result
        if kind != DIGEST and not kind.startswith(MANUAL_PREFIX) and now >= period.deadline:
            result.reason = "deadline passed"
            return result
        missing = await ReportingRepository(session).missing_reporters(period_id, organisation_ids)
    settings = deps.settings
    if kind != DIGEST and not kind.startswith(MANUAL_PREFIX) and organisation_ids is None:
        await _remind_returned(deps, period, kind, result, now)
    return await _claim_and_send(
        deps,
        period,
        kind,
        missing,
        lambda organisation: reminder_text(
            kind, period, organisation.name if organisation else "", settings
        ),
        result,
        now,
    )


async def remind_now(
    deps: ReminderDeps,
    period_id: int,
    *,
    now: datetime,
    organisation_ids: Iterable[int] | None = None,
) -> RoundResult:
    """/remind: nudge the missing organisations now, each at most once an hour.

    The kind is `manual:<local hour>`, so within an hour the unique record stops a second
    nudge; across the hour boundary the organisations nudged in the last hour are skipped.
    """
    kind = manual_kind(now, deps.settings)
    result = RoundResult(period_id, kind)
    async with deps.sessionmaker() as session, session.begin():
        period = await _open_period(session, period_id)
        if period is None:
            result.reason = "period closed or unknown"
            return result
        missing = await ReportingRepository(session).missing_reporters(period_id, organisation_ids)
        reminders = ReminderRepository(session)
        skipped = set()
        for organisation_id in sorted({organisation.id for _, organisation in missing}):
            if await reminders.manual_sent_since(organisation_id, period_id, now - MANUAL_EVERY):
                skipped.add(organisation_id)
    result.skipped_organisations = sorted(skipped)
    people = [
        (person, organisation) for person, organisation in missing if organisation.id not in skipped
    ]
    settings = deps.settings
    return await _claim_and_send(
        deps,
        period,
        kind,
        people,
        lambda organisation: reminder_text(
            kind, period, organisation.name if organisation else "", settings
        ),
        result,
        now,
    )


async def digest(deps: ReminderDeps, period_id: int, *, now: datetime) -> RoundResult:
    """Tell each active coordinator the bot reaches which organisations have not reported
    (once each), marking those whose staff the bot's messages do not reach."""
    result = RoundResult(period_id, DIGEST)
    async with deps.sessionmaker() as session, session.begin():
        period = await _open_period(session, period_id)
        if period is None:
            result.reason = "period closed or unknown"
            return result
        coordinators = await PersonRepository(session).coordinators(reachable_only=True)
        text = await _digest_message(session, period, deps.settings)
    people = [(person, None) for person in coordinators]
    return await _claim_and_send(deps, period, DIGEST, people, lambda _: text, result, now)


async def _digest_message(
    session: AsyncSession, period: ReportingPeriod, settings: Settings
) -> str:
    reporting = ReportingRepository(session)
    missing = await reporting.missing_organisations(period.id)
    unreachable = await reporting.unreachable_organisations(o.id for o in missing)
    return digest_text(period, missing, settings, unreachable)


async def digest_sent(deps: ReminderDeps, period_id: int) -> bool:
    """Whether the period's digest was ever claimed (sent, or on its way)."""
    async with deps.sessionmaker() as session:
        return bool(await ReminderRepository(session).of_period(period_id, DIGEST))


async def recover(
    deps: ReminderDeps, *, now: datetime, stale_after: timedelta = RECOVER_AFTER
) -> RoundResult:
    """Finish reminders a crash left pending (claimed before `now - stale_after`) and retry
    those that failed for a passing reason, if still useful; the rest are failed for good."""
    result = RoundResult(None, "recover")
    outgoing: list[Outgoing] = []
    async with deps.sessionmaker() as session, session.begin():
        reminders = ReminderRepository(session)
        reporting = ReportingRepository(session)
        periods: dict[int, ReportingPeriod | None] = {}
        for row in await reminders.unfinished(now - stale_after):
            if row.period_id not in periods:
                periods[row.period_id] = await PeriodRepository(session).by_id(row.period_id)
            period = periods[row.period_id]
            person = await session.get(Person, row.person_id)
            why_not = await _why_not_recover(reporting, row, period, person, now, deps.settings)
            if why_not is not None:
                await reminders.mark_failed(row.id, why_not)
                continue
            assert period is not None and person is not None
            if not await reminders.take(row, now):
                continue  # another process got to it first
            outgoing.append(await _recovered_message(session, row, period, person, deps.settings))
    result.claimed = len(outgoing)
    report = await deps.sender.deliver(outgoing)
    delivered(report)
    result.sent = len(report.sent)
    result.blocked = len(report.blocked)
    result.failed = len(report.failed) - len(report.blocked)
    if outgoing:
        log.info("recovered reminders: %s sent of %s", result.sent, len(outgoing))
    return result


async def _why_not_recover(
    reporting: ReportingRepository,
    row: Reminder,
    period: ReportingPeriod | None,
    person: Person | None,
    now: datetime,
    settings: Settings,
) -> str | None:
    if person is None or not person.active:
        return "inactive"
    if not person.reachable:
        return "unreachable"
    if row.attempts >= MAX_ATTEMPTS:
        return f"gave up after {row.attempts} requests: {row.error}"
    if not _useful(row.kind, period, now, settings):
        return "expired"
    if row.kind != DIGEST and row.organisation_id is not None:
        if not await reporting.is_missing(row.organisation_id, row.period_id):
            return "reported"
    if row.kind.endswith(RETURNED_SUFFIX):
        session = reporting.session
        if not await ReviewRepository(session).returned_of_author(person.id, row.period_id):
            return "fixed"
    return None


async def _recovered_message(
    session: AsyncSession,
    row: Reminder,
    period: ReportingPeriod,
    person: Person,
    settings: Settings,
) -> Outgoing:
    if row.kind == DIGEST:
        text = await _digest_message(session, period, settings)
        return Outgoing(row.id, person.id, person.telegram_id, text)
    if row.kind.endswith(RETURNED_SUFFIX):
        events = await ReviewRepository(session).returned_of_author(person.id, period.id)
        text = returned_text(period, events, settings)
        return Outgoing(row.id, person.id, person.telegram_id, text, returned_keyboard(events))
    organisation = (
        await session.get(Organisation, row.organisation_id) if row.organisation_id else None
    )
    text = reminder_text(row.kind, period, organisation.name if organisation else "", settings)
    return Outgoing(row.id, person.id, person.telegram_id, text, reminder_keyboard(period.id))
