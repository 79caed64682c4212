"""The coordinator's desk in chat: the report, organisations, join links, people."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeVar

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramEntityTooLarge
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers import keyboards as kb
from handlers.commands import reset_commands, set_coordinator_commands
from handlers.filters import IsCoordinator
from handlers.labels import period_label, period_title, quarter_label
from handlers.texts import Common, Desk, MyEvents, Review, Years
from handlers.views import Clock, collecting, echoed, report_file_name, split_message, toast
from reports.docx import render_docx
from reports.model import Report
from reports.quarters import Period, Quarter, QuarterError, Year, parse_period
from reports.xlsx import render_xlsx
from storage.db import current_session
from storage.models import Person, utcnow
from storage.report_source import DatabaseReportSource, PeriodNotFound
from storage.repositories import (
    EventRepository,
    JoinCodeRepository,
    OrganisationRepository,
    PeriodRepository,
    PersonRepository,
    ReviewRepository,
)
from storage.repositories.outbox import JOB_PREFIX, OutboxRepository, job_lease

if TYPE_CHECKING:
    from bot.settings import Settings

router = Router(name=__name__)
TELEGRAM_ID_DIGITS = 18  # below 2**63, the database's BIGINT
router.message.filter(IsCoordinator())
router.callback_query.filter(IsCoordinator())
log = logging.getLogger(__name__)
T = TypeVar("T")

CHOOSER_PERIODS = 8
CHOOSER_YEARS = 4  # with the quarters, a dozen buttons: far below Telegram's 100
DOCUMENT_MAX = 50 * 2**20  # the largest file a bot may send


async def _load_report(
    bot: Bot,
    chat_id: int,
    quarter: Period,
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
    accepted_only: bool = False,
) -> Report | None:
    """A period's report model (through read-only sessions); None, and the chat told why,
    if there is no such period or nothing in it."""
    label = period_title(quarter)
    try:
        report = await DatabaseReportSource(reader, settings.region_phrase).load_report(
            quarter, accepted_only=accepted_only
        )
    except PeriodNotFound:
        if isinstance(quarter, Year):
            await bot.send_message(chat_id, Years.NO_PERIOD.format(year=quarter.year))
        else:
            await bot.send_message(chat_id, Desk.NO_PERIOD.format(period=label))
        return None
    if report.row_count == 0:
        empty = Review.NO_ACCEPTED if accepted_only else Desk.EMPTY
        await bot.send_message(chat_id, empty.format(period=label))
        return None
    return report


@dataclass(frozen=True, slots=True)
class Sent:
    """A report file sent: to whom, for which period, what each event looked like in it."""

    telegram_id: int
    period_id: int
    events: dict[str, str]


async def _review_caption(
    reader: async_sessionmaker[AsyncSession], chat_id: int, quarter: Quarter, accepted_only: bool
) -> tuple[str, Sent | None]:
    """The caption's review lines (accepted, on review, returned; what changed since the
    last file sent to this coordinator for the period) and what this file holds."""
    async with reader() as session:
        period = await PeriodRepository(session).get(quarter)
        person = await PersonRepository(session).by_telegram_id(chat_id)
        if period is None:
            return "", None
        review = ReviewRepository(session)
        counts = await review.counts(period.id)
        total = {
            key: sum(c.get(key, 0) for c in counts.values())
            for key in ("accepted", "pending", "returned")
        }
        lines = [Review.CAPTION_REVIEW.format(**total)]
        if accepted_only:
            lines.insert(0, Review.CAPTION_ACCEPTED_ONLY)
        events = await review.fingerprints(period.id, accepted_only=accepted_only)
        last = await review.last_delivery(person.id, period.id) if person else None
    if last is not None:
        before = last.events
        new = [int(k) for k in events if k not in before]
        changed = [int(k) for k in events if k in before and before[k] != events[k]]
        withdrawn = [int(k) for k in before if k not in events]
        parts = [
            Review.CAPTION_PART.format(what=what, numbers=_numbers(numbers))
            for what, numbers in (
                (Review.CAPTION_NEW, new),
                (Review.CAPTION_CHANGED, changed),
                (Review.CAPTION_WITHDRAWN, withdrawn),
            )
            if numbers
        ]
        lines.append(
            Review.CAPTION_SINCE.format(parts="; ".join(parts)) if parts else Review.CAPTION_SAME
        )
    return "\n" + "\n".join(lines), Sent(chat_id, period.id, events)


CAPTION_NUMBERS = 15  # numbers named per kind of change (the rest counted): within 1024


def _numbers(numbers: list[int]) -> str:
    shown_now = ", ".join(f"№{n}" for n in sorted(numbers)[:CAPTION_NUMBERS])
    if len(numbers) > CAPTION_NUMBERS:
        shown_now += Review.CAPTION_MORE.format(more=len(numbers) - CAPTION_NUMBERS)
    return shown_now


async def send_report(
    bot: Bot,
    chat_id: int,
    quarter: Period,
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    period_id: int | None = None,
    kind: Literal["docx", "xlsx"] = "docx",
    accepted_only: bool = False,
) -> Sent | None:
    """Compile a period's report (a quarter's or a year's) and send it as a document:
    .docx (with buttons: a year's .xlsx, or a quarter's .xlsx and accepted events only when
    `period_id` is given) or .xlsx; what the file holds, once sent (a quarter's)."""
    started = time.perf_counter()
    report = await _load_report(bot, chat_id, quarter, reader, settings, accepted_only)
    if report is None:
        return None
    if kind == "xlsx":
        stats = await DatabaseReportSource(reader, settings.region_phrase).load_stats(quarter)
        document = await asyncio.to_thread(render_xlsx, report, stats)
    else:
        document = await asyncio.to_thread(render_docx, report)
    for observe in REPORT_COMPILED:
        observe(kind, time.perf_counter() - started)
    label = period_title(quarter)
    too_large = Desk.TOO_LARGE.format(
        period=label,
        size=f"{len(document) / 2**20:.1f}".replace(".", ","),
        limit=DOCUMENT_MAX // 2**20,
        command=f"python -m bot report {quarter.label}",
    )
    if len(document) > DOCUMENT_MAX:
        log.warning("report %s is %d bytes: too large for Telegram", quarter, len(document))
        await bot.send_message(chat_id, too_large)
        return None
    name = report_file_name(quarter, kind)
    if accepted_only:
        name = name.removesuffix(f".{kind}") + f"_accepted.{kind}"
    markup = None
    if kind == "docx" and isinstance(quarter, Year):
        markup = kb.year_xlsx_keyboard(quarter.year)
    elif kind == "docx" and period_id is not None:
        markup = kb.report_keyboard(period_id, accepted_only=accepted_only)
    extra, sent = "", None
    if isinstance(quarter, Quarter):
        extra, sent = await _review_caption(reader, chat_id, quarter, accepted_only)
    try:
        await bot.send_document(
            chat_id,
            BufferedInputFile(document, filename=name),
            caption=Desk.CAPTION.format(period=label, count=report.row_count) + extra,
            reply_markup=markup,
        )
    except TelegramEntityTooLarge:  # the multipart overhead tipped it over
        log.warning("report %s (%d bytes) refused by Telegram as too large", quarter, len(document))
        await bot.send_message(chat_id, too_large)
        return None
    return sent


# Told the format and the seconds of each report compiled (bot/observing.py counts them).
REPORT_COMPILED: list[Callable[[str, float], None]] = []
REPORT_JOB = "report"  # the outbox job that compiles and sends a report (bot/outbox.py)


async def as_job(
    bot: Bot,
    session: AsyncSession,
    chat_id: int,
    name: str,
    payload: dict[str, object],
    settings: Settings,
    send: Callable[[], Awaitable[T]],
    *,
    owner: str | None = None,
    sent: Callable[[AsyncSession, T], Awaitable[None]] | None = None,
) -> T:
    """`send()`, recorded first as the outbox job `name` with `payload` in the update's
    transaction: if the process stops or dies while it compiles or uploads, the job is
    redone after the restart (the runner registered for `name` in bot/app.py), or, with
    several workers, by another one once this process (`owner`) is known to be dead.
    `sent(session, result)`, if given, is written in the transaction that ends the job."""
    outbox = OutboxRepository(session)
    lease = job_lease(timedelta(seconds=settings.outbox_lease))
    job = await outbox.add(
        bot.id,
        chat_id,
        JOB_PREFIX + name,
        json.dumps(payload),
        due_at=utcnow() + lease,
        owner=owner,
    )
    await session.commit()  # compiling reads on its own connections: free the writer
    token = current_session.set(None)  # what it sends is the job's, owed no separately
    try:
        result = await send()
    except Exception:  # the update's error reply says so; redone later, it would surprise
        await outbox.done(job)
        await session.commit()
        raise
    finally:
        current_session.reset(token)
    if sent is not None:
        await sent(session, result)
    await outbox.done(job)
    await session.commit()
    return result


def period_payload(period: Period) -> dict[str, object]:
    """A period as a job's payload names it (`job_period` reads it back)."""
    return {
        "year": period.year,
        "quarter": None if isinstance(period, Year) else period.quarter,  # None: the year
    }


async def report_as_job(
    bot: Bot,
    session: AsyncSession,
    chat_id: int,
    quarter: Period,
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    period_id: int | None = None,
    kind: Literal["docx", "xlsx"] = "docx",
    owner: str | None = None,
    accepted_only: bool = False,
) -> None:
    """`send_report`, recorded first as a job in the update's transaction: if the process
    stops or dies while compiling or uploading, the report is compiled and sent after the
    restart (`run_report_job`), or, with several workers, by another one once this
    process (`owner`, the outbox's id of it) is known to be dead."""
    payload = {
        **period_payload(quarter),
        "period_id": period_id,
        "kind": kind,
        "accepted_only": accepted_only,
    }

    async def send() -> Sent | None:
        return await send_report(
            bot,
            chat_id,
            quarter,
            reader,
            settings,
            period_id=period_id,
            kind=kind,
            accepted_only=accepted_only,
        )

    await as_job(
        bot,
        session,
        chat_id,
        REPORT_JOB,
        payload,
        settings,
        send,
        owner=owner,
        sent=record_delivery,
    )


async def record_delivery(session: AsyncSession, sent: Sent | None) -> None:
    """Remember a quarter's file as sent (by the handler or by the job redone after a
    crash): the next file's caption to this coordinator says what changed since it."""
    if sent is None:
        return
    person = await PersonRepository(session).by_telegram_id(sent.telegram_id)
    if person is not None:
        await ReviewRepository(session).delivered(
            person.id, sent.period_id, sent.events, at=utcnow()
        )


def job_period(payload: dict[str, object]) -> Period:
    """The period a job's payload names: `quarter` None (or missing) is the whole year."""
    year, number = int(str(payload["year"])), payload.get("quarter")
    return Year(year) if number is None else Quarter(year, int(str(number)))


async def run_report_job(
    bot: Bot,
    chat_id: int,
    payload: dict[str, object],
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    writer: async_sessionmaker[AsyncSession],
) -> None:
    """Redo a report job left by a run that stopped before sending it; the file, once
    sent, is recorded as delivered (through `writer`) as when the handler sends it."""
    period_id = payload.get("period_id")
    kind = "xlsx" if payload.get("kind") == "xlsx" else "docx"
    sent = await send_report(
        bot,
        chat_id,
        job_period(payload),
        reader,
        settings,
        period_id=period_id if isinstance(period_id, int) else None,
        kind=kind,
        accepted_only=payload.get("accepted_only") is True,
    )
    if sent is not None:
        async with writer() as session:
            await record_delivery(session, sent)
            await session.commit()


@router.message(Command("report"))
async def report(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Clock,
    outbox_owner: str | None = None,
) -> None:
    args = (command.args or "").split()
    accepted_only = bool(args) and args[-1].lower() in Desk.ACCEPTED_WORDS
    if accepted_only:
        args.pop()
    if accepted_only and not args:
        args = [(await collecting(session, settings, clock())).label]
    if args:
        try:
            period = parse_period(" ".join(args))
        except QuarterError:
            collected = await collecting(session, settings, clock())
            await message.answer(
                Desk.BAD_PERIOD.format(value=echoed(command.args), label=collected.label)
            )
            return
        period_id = None
        if isinstance(period, Quarter):
            row = await PeriodRepository(session).get(period)
            period_id = row.id if row is not None else None
        await report_as_job(
            bot,
            session,
            message.chat.id,
            period,
            reader,
            settings,
            period_id=period_id,
            owner=outbox_owner,
            accepted_only=accepted_only,
        )
        return
    periods = await PeriodRepository(session).recent(CHOOSER_PERIODS)
    if not periods:
        await message.answer(Desk.NO_PERIODS)
        return
    default = await collecting(session, settings, clock())
    choices = [
        (p.id, period_label(p), (p.year, p.quarter) == (default.year, default.quarter))
        for p in periods
    ]
    years = await PeriodRepository(session).years_with_events(CHOOSER_YEARS)
    await message.answer(
        Desk.CHOOSE_PERIOD,
        reply_markup=kb.report_periods_keyboard(
            choices, [(year, period_title(Year(year))) for year in years]
        ),
    )


async def _chosen_quarter(
    callback: CallbackQuery, period_id: int, session: AsyncSession, person: Person
) -> Quarter | None:
    """The quarter of a report button's period, the button answered (the update's
    transaction committed first, so the answer is not held until the compiling ends);
    None, and the stale-button alert, if there is no such period."""
    period = await PeriodRepository(session).by_id(period_id)
    if period is None:
        log.warning("coordinator %s asked for unknown period %s", person.id, period_id)
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return None
    await session.commit()
    await callback.answer()
    return Quarter(period.year, period.quarter)


@router.callback_query(kb.ReportCb.filter())
async def report_chosen(
    callback: CallbackQuery,
    callback_data: kb.ReportCb,
    bot: Bot,
    session: AsyncSession,
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
    person: Person,
    outbox_owner: str | None = None,
) -> None:
    quarter = await _chosen_quarter(callback, callback_data.id, session, person)
    if quarter is None:
        return
    await report_as_job(
        bot,
        session,
        person.telegram_id,
        quarter,
        reader,
        settings,
        period_id=callback_data.id,
        owner=outbox_owner,
    )


@router.callback_query(kb.AcceptedCb.filter())
async def accepted_chosen(
    callback: CallbackQuery,
    callback_data: kb.AcceptedCb,
    bot: Bot,
    session: AsyncSession,
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
    person: Person,
    outbox_owner: str | None = None,
) -> None:
    """«Только принятые» under a report: the same period's accepted events only."""
    quarter = await _chosen_quarter(callback, callback_data.id, session, person)
    if quarter is None:
        return
    await report_as_job(
        bot,
        session,
        person.telegram_id,
        quarter,
        reader,
        settings,
        period_id=callback_data.id,
        accepted_only=True,
        owner=outbox_owner,
    )


@router.callback_query(kb.YearReportCb.filter())
async def year_report_chosen(
    callback: CallbackQuery,
    callback_data: kb.YearReportCb,
    bot: Bot,
    session: AsyncSession,
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
    person: Person,
    outbox_owner: str | None = None,
) -> None:
    """A year from the chooser (the .docx), or «Скачать .xlsx» under a year's .docx."""
    kind: Literal["docx", "xlsx"] = "xlsx" if callback_data.kind == "xlsx" else "docx"
    await session.commit()  # so the answer below is not held until the compiling ends
    await callback.answer()
    year = Year(callback_data.year)
    await report_as_job(
        bot, session, person.telegram_id, year, reader, settings, kind=kind, owner=outbox_owner
    )


@router.callback_query(kb.XlsxCb.filter())
async def xlsx_chosen(
    callback: CallbackQuery,
    callback_data: kb.XlsxCb,
    bot: Bot,
    session: AsyncSession,
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
    person: Person,
    outbox_owner: str | None = None,
) -> None:
    quarter = await _chosen_quarter(callback, callback_data.id, session, person)
    if quarter is None:
        return
    await report_as_job(
        bot, session, person.telegram_id, quarter, reader, settings, kind="xlsx", owner=outbox_owner
    )


async def _link_text(
    bot: Bot, session: AsyncSession, organisation_id: int, name: str, person: Person, days: int
) -> str:
    code = await JoinCodeRepository(session).create(
        organisation_id, valid_for=timedelta(days=days), created_by_id=person.id
    )
    me = await bot.me()
    return Desk.ORG_LINK.format(
        name=html.quote(name),
        expires=code.expires_at.strftime("%d.%m.%Y"),
        link=html.quote(f"https://t.me/{me.username}?start={code.code}"),
        code=html.quote(code.code),
    )


@router.message(Command("neworg"))
async def new_organisation(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    settings: Settings,
) -> None:
    name = " ".join((command.args or "").split())
    if not name or len(name) > 500:
        await message.answer(Desk.ORG_USAGE)
        return
    organisation = await OrganisationRepository(session).get_or_add(name)
    link = await _link_text(
        bot, session, organisation.id, organisation.name, person, settings.join_code_days
    )
    await session.commit()
    await message.answer(Desk.ORG_CREATED.format(name=html.quote(organisation.name)) + "\n" + link)


@router.message(Command("link"))
async def new_link(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    settings: Settings,
) -> None:
    name = " ".join((command.args or "").split())
    if not name:
        await message.answer(Desk.ORG_USAGE.replace("/neworg", "/link"))
        return
    organisation = await OrganisationRepository(session).by_name(name)
    if organisation is None:
        await message.answer(Desk.ORG_NOT_FOUND.format(name=echoed(name)))
        return
    link = await _link_text(
        bot, session, organisation.id, organisation.name, person, settings.join_code_days
    )
    await session.commit()
    await message.answer(link)


@router.message(Command("revoke"))
async def revoke(message: Message, command: CommandObject, session: AsyncSession) -> None:
    code = (command.args or "").strip()
    if not code:
        await message.answer(Desk.REVOKE_USAGE)
        return
    found = await JoinCodeRepository(session).revoke(code)
    await message.answer(Desk.REVOKED if found else Desk.REVOKE_NOT_FOUND)


@router.message(Command("orgs"))
async def organisations(message: Message, session: AsyncSession) -> None:
    found = await OrganisationRepository(session).all()
    if not found:
        await message.answer(Desk.ORGS_EMPTY)
        return
    people = PersonRepository(session)
    lines = [Desk.ORGS_HEAD]
    for organisation in found:
        count = len(await people.of_organisation(organisation.id))
        lines.append(Desk.ORG_LINE.format(name=html.quote(organisation.name), people=count))
    for text in split_message(lines):
        await message.answer(text)


def _telegram_id(args: str | None) -> int | None:
    """A Telegram id typed after a command: ASCII digits that fit the database's integer."""
    raw = (args or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > TELEGRAM_ID_DIGITS:
        return None
    return int(raw)


@router.message(Command("coordinator"))
async def make_coordinator(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    coordinator_menus: set[int] | None = None,
) -> None:
    telegram_id = _telegram_id(command.args)
    if telegram_id is None:
        await message.answer(Desk.COORD_USAGE)
        return
    people = PersonRepository(session)
    target = await people.by_telegram_id(telegram_id)
    if target is None or not target.active:
        await message.answer(Desk.COORD_NOT_FOUND.format(id=telegram_id))
        return
    await people.set_role(target, "coordinator")
    await session.commit()
    await set_coordinator_commands(bot, target.telegram_id, coordinator_menus)
    await message.answer(Desk.COORD_DONE.format(name=html.quote(target.full_name)))


# --- people ------------------------------------------------------------------------------


@router.message(Command("people"))
async def people_of_organisation(
    message: Message, command: CommandObject, session: AsyncSession, settings: Settings
) -> None:
    name = " ".join((command.args or "").split())
    if not name:
        await message.answer(Desk.PEOPLE_USAGE)
        return
    organisation = await OrganisationRepository(session).by_name(name)
    if organisation is None:
        await message.answer(Desk.ORG_NOT_FOUND.format(name=echoed(name)))
        return
    found = await PersonRepository(session).of_organisation(organisation.id, active_only=False)
    if not found:
        await message.answer(Desk.PEOPLE_EMPTY.format(name=html.quote(organisation.name)))
        return
    lines = [Desk.PEOPLE_HEAD.format(name=html.quote(organisation.name))]
    for someone in found:
        marks = Desk.COORDINATOR_MARK if someone.role == "coordinator" else ""
        marks += "" if someone.active else Desk.INACTIVE_MARK
        if someone.unreachable_since is not None:
            since = someone.unreachable_since.astimezone(settings.timezone)
            marks += Desk.UNREACHABLE_MARK.format(since=since.strftime("%d.%m.%Y"))
        lines.append(
            Desk.PERSON_LINE.format(
                name=html.quote(someone.full_name), telegram_id=someone.telegram_id, marks=marks
            )
        )
    for text in split_message(lines):
        await message.answer(text)


def _why_not_deactivate(target: Person, person: Person, settings: Settings) -> str | None:
    """Why `person` may not deactivate `target` (a text with `{name}`), or None if they may."""
    if not target.active:
        return Desk.DEACTIVATE_ALREADY
    if target.id == person.id:
        return Desk.DEACTIVATE_SELF
    if target.telegram_id in settings.coordinator_ids:
        return Desk.DEACTIVATE_CONFIGURED
    return None


WhyNot = Callable[[Person], str | None]  # why a person may not be changed (with `{name}`)


async def _person_named(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    usage: str,
    why_not: WhyNot | None = None,
) -> Person | None:
    """The person whose Telegram id follows the command, if `why_not` lets them be
    changed; None, and the coordinator told, when the id is malformed (`usage`), nobody
    has it, or `why_not` gives a refusal."""
    telegram_id = _telegram_id(command.args)
    if telegram_id is None:
        await message.answer(usage)
        return None
    target = await PersonRepository(session).by_telegram_id(telegram_id)
    if target is None:
        await message.answer(Desk.DEACTIVATE_NOT_FOUND.format(id=telegram_id))
        return None
    refusal = why_not(target) if why_not is not None else None
    if refusal is not None:
        await message.answer(refusal.format(name=html.quote(target.full_name)))
        return None
    return target


async def _person_confirmed(
    callback: CallbackQuery,
    callback_data: kb.PersonCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    why_not: WhyNot,
    *,
    spare: str,
    spared: str,
    erased_stale: bool = False,
) -> Person | None:
    """The person a confirmation names, when it was «Да» and `why_not` still lets them
    be changed; otherwise the button is answered and None: no such person (or, if
    `erased_stale`, one erased) is a stale button; the `spare` action says `spared`; a
    refusal is an alert."""
    target = await PersonRepository(session).get(callback_data.id)
    if target is None or (erased_stale and target.erased_at is not None):
        log.warning("coordinator %s pressed %r: no such person", person.id, callback.data)
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return None
    if callback_data.action == spare:
        await callback.answer()
        await bot.send_message(person.telegram_id, spared)
        return None
    refusal = why_not(target)
    if refusal is not None:
        await callback.answer(toast(refusal, name=target.full_name), show_alert=True)
        return None
    return target


@router.message(Command("deactivate"))
async def deactivate(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    person: Person,
    settings: Settings,
) -> None:
    target = await _person_named(
        message,
        command,
        session,
        Desk.DEACTIVATE_USAGE,
        lambda target: _why_not_deactivate(target, person, settings),
    )
    if target is None:
        return
    await message.answer(
        Desk.DEACTIVATE_CONFIRM.format(
            name=html.quote(target.full_name),
            organisation=await _organisation_name(session, target),
        ),
        reply_markup=kb.deactivate_keyboard(target.id),
    )


@router.callback_query(kb.PersonCb.filter(F.action.in_({"off", "keep"})))
async def deactivate_confirmed(
    callback: CallbackQuery,
    callback_data: kb.PersonCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    fsm_storage: BaseStorage,
    coordinator_menus: set[int] | None = None,
) -> None:
    target = await _person_confirmed(
        callback,
        callback_data,
        bot,
        session,
        person,
        lambda target: _why_not_deactivate(target, person, settings),
        spare="keep",
        spared=Desk.NOT_DEACTIVATED,
    )
    if target is None:
        return
    await PersonRepository(session).set_active(target, False)
    # A half-filled event of theirs would count as a draft pending in /status forever.
    key = StorageKey(bot_id=bot.id, chat_id=target.telegram_id, user_id=target.telegram_id)
    await FSMContext(fsm_storage, key).clear()
    await session.commit()
    log.info("coordinator %s deactivated person %s", person.id, target.id)
    if target.role == "coordinator":  # the desk's menu would stay in their chat
        await reset_commands(bot, target.telegram_id, coordinator_menus)
    await callback.answer()
    await bot.send_message(
        person.telegram_id, Desk.DEACTIVATED.format(name=html.quote(target.full_name))
    )


# --- personal data -----------------------------------------------------------------------


def _why_not_erase(target: Person, person: Person, settings: Settings) -> str | None:
    """Why `person` may not erase `target` (a text with `{name}`), or None if they may."""
    if target.id == person.id:
        return Desk.ERASE_SELF
    if target.telegram_id in settings.coordinator_ids:
        return Desk.ERASE_CONFIGURED
    return None


async def _organisation_name(session: AsyncSession, person: Person) -> str:
    organisation = await OrganisationRepository(session).get(person.organisation_id or 0)
    return html.quote(organisation.name) if organisation else Desk.NO_ORGANISATION


@router.message(Command("erase"))
async def erase(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    person: Person,
    settings: Settings,
) -> None:
    target = await _person_named(
        message,
        command,
        session,
        Desk.ERASE_USAGE,
        lambda target: _why_not_erase(target, person, settings),
    )
    if target is None:
        return
    await message.answer(
        Desk.ERASE_CONFIRM.format(
            name=html.quote(target.full_name),
            organisation=await _organisation_name(session, target),
        ),
        reply_markup=kb.erase_keyboard(target.id),
    )


@router.callback_query(kb.PersonCb.filter(F.action.in_({"erase", "spare"})))
async def erase_confirmed(
    callback: CallbackQuery,
    callback_data: kb.PersonCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    fsm_storage: BaseStorage,
    coordinator_menus: set[int] | None = None,
) -> None:
    target = await _person_confirmed(
        callback,
        callback_data,
        bot,
        session,
        person,
        lambda target: _why_not_erase(target, person, settings),
        spare="spare",
        spared=Desk.NOT_ERASED,
        erased_stale=True,
    )
    if target is None:
        return
    name = target.full_name
    count = len(await EventRepository(session).all_of_author(target.id))
    telegram_id = await PersonRepository(session).erase(target)
    key = StorageKey(bot_id=bot.id, chat_id=telegram_id, user_id=telegram_id)
    await FSMContext(fsm_storage, key).clear()  # their dialogue and its draft go too
    await session.commit()
    log.info("coordinator %s erased the personal data of person %s", person.id, target.id)
    if target.role == "coordinator":  # the desk's menu would stay in their chat
        await reset_commands(bot, telegram_id, coordinator_menus)
    await callback.answer()
    await bot.send_message(
        person.telegram_id, Desk.ERASED.format(name=html.quote(name), count=count)
    )


@router.message(Command("persondata"))
async def person_data(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
) -> None:
    """What the bot keeps about one person: the fields and the names of their events."""
    target = await _person_named(message, command, session, Desk.PERSONDATA_USAGE)
    if target is None:
        return
    events = await EventRepository(session).all_of_author(target.id)

    def day(moment: datetime | None) -> str:
        if moment is None:
            return Desk.NOT_SET
        return moment.astimezone(settings.timezone).strftime("%d.%m.%Y")

    lines = [
        Desk.PERSONDATA_HEAD.format(
            name=html.quote(target.full_name),
            telegram_id=target.telegram_id,
            organisation=await _organisation_name(session, target),
            role=Desk.ROLE.get(target.role, target.role),
            access=Desk.ACCESS_ON if target.active else Desk.ACCESS_OFF,
            joined=day(target.created_at),
            unreachable=day(target.unreachable_since),
            count=len(events),
        )
    ]
    for event in events:
        lines.append(
            Desk.PERSONDATA_EVENT.format(
                id=event.id,
                name=html.quote(event.name),
                period=quarter_label(event.period.year, event.period.quarter),
                status=MyEvents.STATUS[event.status],
            )
        )
    for text in split_message(lines):
        await message.answer(text)
