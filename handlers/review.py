"""The review of submitted events: accept, return with a comment, versions, history.

A submitted event is «на проверке» until a reviewer (a coordinator, or a reviewer of its
executive body) accepts it or returns it to its author with a comment; the author's fix
puts it on review again and tells the reviewer who returned it. Every change of a
submitted event, by anyone, is kept as a version (`storage.models.EventVersion`); a
reviewer's own correction goes through the author's edit flow (`handlers.my_events`,
`handlers.report.submit`), and the author is told in one message what was changed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from aiogram import Bot, Router, html
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.access import can_change, can_review, may_view, reviews
from handlers.draft import Draft, clean_answer
from handlers.duplicates import ReviewDupCb, ReviewUndoCb, decidable, pair_action, undo_action
from handlers.filters import HAS_TEXT, IS_ANSWER, NO_TEXT, InStates, IsCoordinator, IsKnown
from handlers.labels import period_label, quarter_label
from handlers.states import ReportStates, ReviewStates
from handlers.texts import Common, Counted, Desk, Dialogue, MyEvents, Review, ReviewPairs
from handlers.views import (
    MESSAGE_MAX,
    Clock,
    Notice,
    author_name,
    collecting,
    echoed,
    event_card,
    reachable,
    shown,
    split_message,
    toast,
    units,
)
from reports.dates import format_dates
from reports.participants import characters, plural
from reports.quarters import Quarter, QuarterError
from storage.models import Event, Organisation, Person, ReportingPeriod
from storage.repositories import (
    EventRepository,
    OrganisationRepository,
    PeriodRepository,
    PersonRepository,
    SphereRepository,
)
from storage.repositories.duplicates import DuplicateRepository
from storage.repositories.events import dates_of
from storage.repositories.review import ACCEPTED, PENDING, RETURNED, ReviewRepository

if TYPE_CHECKING:
    from bot.settings import Settings

router = Router(name=__name__)
router.message.filter(IsKnown())
router.callback_query.filter(IsKnown())
log = logging.getLogger(__name__)

COMMENT_MAX = 1000  # a return's comment, in characters as Telegram counts them
CHANGE_SHOWN = 180  # a value in the author's notice of a reviewer's changes
HISTORY_SHOWN = 300  # a value in the history
NAME_SHOWN = 200
# The fields a version may name, in the card's order (a dialogue step, or the total).
FIELDS = ("sphere", "name", "place", "dates", "result", "participants", "count", "period")
AT_FORMAT = "%d.%m.%Y %H:%M"


def field_label(field: str) -> str:
    return Dialogue.FIELD_NAMES.get(field) or Review.FIELDS.get(field, field)


async def snapshot(session: AsyncSession, event: Event) -> dict[str, str]:
    """An event's fields as the card shows them: what a version keeps."""
    sphere = await SphereRepository(session).get(event.sphere_id)
    period = await PeriodRepository(session).by_id(event.period_id)
    return {
        "sphere": sphere.name if sphere else "",
        "name": event.name,
        "place": event.place,
        "dates": format_dates(dates_of(event)),
        "result": event.result,
        "participants": event.participants,
        "count": "" if event.participant_count is None else str(event.participant_count),
        "period": period_label(period) if period else "",
    }


def changes(before: dict[str, str], after: dict[str, str]) -> list[tuple[str, str, str]]:
    """(field, before, after) of every field that differs, in the card's order."""
    return [(f, before[f], after[f]) for f in FIELDS if before.get(f) != after.get(f)]


async def after_edit(
    session: AsyncSession,
    person: Person,
    event: Event,
    before: dict[str, str],
    clock: Clock,
) -> list[Notice]:
    """Keep the versions of a saved edit of a submitted event and say who must hear of it:
    the author's change of a returned (or accepted) event puts it on review again and
    tells the reviewer who decided; a reviewer's change is listed to the author."""
    if event.status != "submitted":
        return []
    changed = changes(before, await snapshot(session, event))
    if not changed:
        return []
    review = ReviewRepository(session)
    now = clock()
    await review.record(event.id, person.id, changed, at=now)
    notices: list[Notice] = []
    if event.author_id == person.id:
        if event.review != PENDING:
            was, decided_by = event.review, event.reviewed_by_id
            back = ("review", Review.STATES[was], Review.STATES[PENDING])
            await review.record(event.id, person.id, [back], at=now)
            await review.decide(event, PENDING, None, at=now)
            reviewer = await reachable(session, decided_by)
            if reviewer is not None and reviewer.id != person.id:
                organisation = await OrganisationRepository(session).get(event.organisation_id)
                text = Review.FIXED_TO_REVIEWER.format(
                    id=event.id,
                    name=shown(event.name, NAME_SHOWN),
                    organisation=shown(organisation.name if organisation else None, NAME_SHOWN),
                )
                notices.append(Notice(reviewer.telegram_id, text, kb.open_event_keyboard(event.id)))
        return notices
    author = await reachable(session, event.author_id)
    if author is not None:
        lines = [
            Review.CHANGE.format(
                field=field_label(field),
                before=_value(old, CHANGE_SHOWN),
                after=_value(new, CHANGE_SHOWN),
            )
            for field, old, new in changed
        ]
        text = Review.TO_AUTHOR_CHANGED.format(
            reviewer=author_name(person),
            id=event.id,
            name=shown(event.name, NAME_SHOWN),
            changes="\n".join(lines),
        )
        notices.append(Notice(author.telegram_id, text, kb.open_event_keyboard(event.id)))
    return notices


async def record_deletion(
    session: AsyncSession, person: Person, event: Event, clock: Clock
) -> None:
    """A submitted event deleted: kept as a version of its status."""
    change = ("status", MyEvents.STATUS["submitted"], MyEvents.STATUS["deleted"])
    await ReviewRepository(session).record(event.id, person.id, [change], at=clock())


async def send_notices(bot: Bot, notices: list[Notice]) -> None:
    for notice in notices:
        await bot.send_message(notice.chat_id, notice.text, reply_markup=notice.markup)


def _value(text: str | None, limit: int) -> str:
    return shown(text, limit) if text else Review.EMPTY_VALUE


async def card_markup(session: AsyncSession, person: Person, event: Event) -> InlineKeyboardMarkup:
    """The card's buttons for this person: the author's, a reviewer's, «История»."""
    changeable = await can_change(session, person, event)
    reviewing = event.author_id != person.id and await can_review(session, person, event)
    if not reviewing and event.author_id == person.id and person.role == "coordinator":
        reviewing = await can_review(session, person, event)
    return kb.event_keyboard(
        event.id,
        can_change=changeable,
        review=event.review if reviewing else None,
        can_edit=reviewing,
        history=await ReviewRepository(session).has_versions(event.id),
    )


# --- the buttons -------------------------------------------------------------------------


@router.callback_query(kb.ReviewCb.filter())
async def review_button(
    callback: CallbackQuery,
    callback_data: kb.ReviewCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    action, event_id = callback_data.action, callback_data.id
    event = await EventRepository(session).get(event_id)
    if (
        event is None
        or action not in ("ok", "ret", "cancel", "hist")
        or not await may_view(session, person, event)
    ):
        log.warning("person %s refused %r on event %s", person.id, action, event_id)
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    if action == "hist":
        await callback.answer()
        await _history(bot, session, person, event, callback_data.page, settings)
        return
    if action == "cancel":
        data = await state.get_data()
        if await state.get_state() != ReviewStates.comment.state or data.get("review") != event.id:
            await callback.answer(Common.STALE_BUTTON, show_alert=True)
            return
        await state.clear()
        await callback.answer()
        await bot.send_message(person.telegram_id, Review.RETURN_CANCELLED.format(id=event.id))
        return
    if not await can_review(session, person, event):
        if event.status == "submitted" and await reviews(session, person, event.organisation_id):
            await callback.answer(Review.CLOSED, show_alert=True)  # its period is closed
        else:
            log.warning("person %s refused %r on event %s", person.id, action, event_id)
            await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    if action == "ok":
        if event.review == ACCEPTED:
            state_name = Review.STATES[ACCEPTED]
            await callback.answer(toast(Review.ALREADY, id=event.id, state=state_name))
            return
        await callback.answer()
        await _accept(bot, session, person, event, clock)
        return
    raw_state = await state.get_state()
    drafting = raw_state is not None and raw_state in ReportStates
    if drafting and Draft.load(await state.get_data()).answered():  # not thrown away
        await callback.answer(Review.DRAFT_FIRST, show_alert=True)
        return
    await callback.answer()
    await state.set_state(ReviewStates.comment)
    await state.set_data({"review": event.id})
    text = Review.ASK_COMMENT.format(
        id=event.id, name=shown(event.name, NAME_SHOWN), limit=COMMENT_MAX
    )
    await bot.send_message(person.telegram_id, text, reply_markup=kb.comment_keyboard(event.id))


async def _accept(
    bot: Bot, session: AsyncSession, person: Person, event: Event, clock: Clock
) -> None:
    review = ReviewRepository(session)
    was = event.review
    await review.decide(event, ACCEPTED, person.id, at=clock())
    await review.record(
        event.id, person.id, [("review", Review.STATES[was], Review.STATES[ACCEPTED])], at=clock()
    )
    author = await reachable(session, event.author_id)
    await bot.send_message(person.telegram_id, Review.ACCEPTED.format(id=event.id))
    if author is not None and author.id != person.id:
        text = Review.TO_AUTHOR_ACCEPTED.format(
            id=event.id, name=shown(event.name, NAME_SHOWN), reviewer=author_name(person)
        )
        await bot.send_message(author.telegram_id, text)


# --- the comment of a return ---------------------------------------------------------------


@router.message(InStates(ReviewStates.comment), HAS_TEXT, IS_ANSWER)
async def got_comment(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    clock: Clock,
) -> None:
    event_id = (await state.get_data()).get("review")
    event = await EventRepository(session).get(event_id) if isinstance(event_id, int) else None
    if event is None or not await can_review(session, person, event):
        await state.clear()
        await message.answer(Review.CLOSED if event is not None else Common.STALE_BUTTON)
        return
    comment = clean_answer(message.text or "")
    if not comment:
        await message.answer(Review.COMMENT_EMPTY, reply_markup=kb.comment_keyboard(event.id))
        return
    length = units(comment)
    if length > COMMENT_MAX:
        await message.answer(
            Review.COMMENT_TOO_LONG.format(length=characters(length), limit=COMMENT_MAX),
            reply_markup=kb.comment_keyboard(event.id),
        )
        return
    review = ReviewRepository(session)
    was = event.review
    await review.decide(event, RETURNED, person.id, comment=comment, at=clock())
    after = f"{Review.STATES[RETURNED]}: {comment}"
    await review.record(event.id, person.id, [("review", Review.STATES[was], after)], at=clock())
    await state.clear()
    author = await reachable(session, event.author_id)
    reply = Review.RETURNED.format(id=event.id)
    if author is None:
        reply += Review.NO_AUTHOR
    await message.answer(reply)
    if author is not None and author.id != person.id:
        text = Review.TO_AUTHOR_RETURNED.format(
            id=event.id,
            reviewer=author_name(person),
            card=await event_card(session, event),
        )
        markup = kb.returned_keyboard(event.id)
        await bot.send_message(author.telegram_id, text, reply_markup=markup)


@router.message(InStates(ReviewStates.comment), NO_TEXT)
async def comment_not_text(message: Message) -> None:
    await message.answer(Dialogue.NEED_TEXT)


# --- the history ---------------------------------------------------------------------------


async def _history(
    bot: Bot,
    session: AsyncSession,
    person: Person,
    event: Event,
    page: int,
    settings: Settings,
) -> None:
    """One page of an event's versions, oldest first, within one message."""
    versions = await ReviewRepository(session).versions(event.id)
    if not versions:
        await bot.send_message(person.telegram_id, Review.HISTORY_EMPTY.format(id=event.id))
        return
    people = PersonRepository(session)
    names: dict[int | None, str] = {None: "—"}
    lines = []
    for version in versions:
        if version.person_id not in names:
            names[version.person_id] = author_name(await people.get(version.person_id))  # type: ignore[arg-type]
        lines.append(
            Review.HISTORY_LINE.format(
                at=version.at.astimezone(settings.timezone).strftime(AT_FORMAT),
                who=names[version.person_id],
                field=field_label(version.field),
                before=_value(version.before, HISTORY_SHOWN),
                after=_value(version.after, HISTORY_SHOWN),
            )
            + "\n"  # a blank line between versions
        )
    pages = split_message(lines, MESSAGE_MAX - 200)  # room for the head and the page
    page = min(page, len(pages) - 1)
    text = Review.HISTORY_HEAD.format(id=event.id) + "\n\n" + pages[page].rstrip("\n")
    if len(pages) > 1:
        text += "\n\n" + Review.HISTORY_PAGE.format(page=page + 1, pages=len(pages))
    markup = kb.history_keyboard(event.id, page, len(pages))
    await bot.send_message(person.telegram_id, text, reply_markup=markup)


# --- /review: what waits for this person's decision --------------------------------------

QUEUE_PAGE = 10
QUEUE_NAME_SHOWN = 120


class QueueCb(CallbackData, prefix="rq"):
    """A page of /review: `period` 0 for the open periods."""

    period: Annotated[int, Field(ge=0, le=2**31 - 1)]
    page: Annotated[int, Field(ge=0, le=9999)] = 0


def _waited(since: datetime | None, now: datetime) -> str:
    days = (now - since).days if since is not None else 0
    if days < 1:
        return Review.QUEUE_LESS_THAN_DAY
    return f"{days} {plural(days, *Counted.DAYS)}"


async def reviewed_scope(session: AsyncSession, person: Person) -> list[int] | None:
    """The organisations whose events wait for this person: None for every one (a
    coordinator), [] for nobody's."""
    if person.role == "coordinator":
        return None
    return await ReviewRepository(session).reviewed_organisations(person.id)


async def show_queue(
    bot: Bot,
    session: AsyncSession,
    person: Person,
    period: ReportingPeriod | None,
    page: int,
    clock: Clock,
) -> None:
    scope = await reviewed_scope(session, person)
    if scope == []:
        await bot.send_message(person.telegram_id, Review.NOT_REVIEWER)
        return
    if period is None:
        period_ids = [p.id for p in await PeriodRepository(session).open_periods()]
        label = Review.OPEN_PERIODS
    else:
        period_ids, label = [period.id], period_label(period)
    waiting = await ReviewRepository(session).waiting(period_ids, scope)
    pairs = await _pairs_waiting(session, person, period_ids)
    if not waiting:
        text, markup = Review.QUEUE_EMPTY.format(period=label), None
        if pairs:
            builder = kb.Keyboard()
            _pair_buttons(builder, pairs)
            builder.adjust(1)
            text = "\n".join([text, *_pair_lines(pairs)])
            markup = builder.as_markup()
        await bot.send_message(person.telegram_id, text, reply_markup=markup)
        return
    pages = -(-len(waiting) // QUEUE_PAGE)
    page = min(page, pages - 1)
    shown_now = waiting[page * QUEUE_PAGE : (page + 1) * QUEUE_PAGE]
    now = clock()
    lines = [Review.QUEUE_HEAD.format(period=label, count=len(waiting))]
    builder = kb.Keyboard()
    sizes: list[int] = []
    for event in shown_now:
        lines.append(
            Review.QUEUE_LINE.format(
                id=event.id,
                name=shown(event.name, QUEUE_NAME_SHOWN),
                organisation=shown(event.organisation.name, QUEUE_NAME_SHOWN),
                waited=_waited(event.review_since or event.submitted_at, now),
            )
        )
        builder.button(
            text=kb.short(f"№{event.id} · {event.name}"),
            callback_data=kb.EventCb(action="open", id=event.id),
        )
        sizes.append(1)
    turns = [(page - 1, MyEvents.PREVIOUS), (page + 1, MyEvents.NEXT)]
    turns = [(number, text) for number, text in turns if 0 <= number < pages]
    for number, text in turns:
        builder.button(
            text=text, callback_data=QueueCb(period=period.id if period else 0, page=number)
        )
    if turns:
        sizes.append(len(turns))
    if pages > 1:
        lines.append(MyEvents.PAGE.format(page=page + 1, pages=pages).strip())
    if pairs:
        lines += _pair_lines(pairs)
        _pair_buttons(builder, pairs)
        sizes += [1] * len(pairs)
    builder.adjust(*sizes)
    await bot.send_message(person.telegram_id, "\n".join(lines), reply_markup=builder.as_markup())


async def _pairs_waiting(
    session: AsyncSession, person: Person, period_ids: list[int]
) -> list[tuple[ReportingPeriod, int]]:
    """(period, how many suspected pairs this person may decide) where there are some."""
    periods = PeriodRepository(session)
    found: list[tuple[ReportingPeriod, int]] = []
    for period_id in period_ids:
        period = await periods.by_id(period_id)
        if period is None:
            continue
        await DuplicateRepository(session).refresh(period.id)
        count = len(await decidable(session, person, period.id))
        if count:
            found.append((period, count))
    return found


def _pair_lines(pairs: list[tuple[ReportingPeriod, int]]) -> list[str]:
    return [
        ReviewPairs.LINE.format(period=period_label(period), count=count) for period, count in pairs
    ]


def _pair_buttons(builder: kb.Keyboard, pairs: list[tuple[ReportingPeriod, int]]) -> None:
    for period, count in pairs:
        text = (
            ReviewPairs.BUTTON.format(count=count)
            if len(pairs) == 1
            else ReviewPairs.BUTTON_PERIOD.format(period=period_label(period), count=count)
        )
        builder.button(
            text=text, callback_data=ReviewDupCb(action="show", period=period.id, pair=0, page=0)
        )


async def _reviews_nothing(callback: CallbackQuery, session: AsyncSession, person: Person) -> bool:
    """Someone who reviews nothing pressed a pair's button: answered as on a stale one."""
    if await reviewed_scope(session, person) != []:
        return False
    log.warning("person %s pressed %r: reviews nothing", person.id, callback.data)
    await callback.answer(Common.STALE_BUTTON, show_alert=True)
    return True


@router.callback_query(ReviewDupCb.filter())
async def review_pair_button(
    callback: CallbackQuery,
    callback_data: ReviewDupCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
) -> None:
    """«Возможные повторы» and its pairs' buttons: the duplicates' own, scoped to the
    pairs this person may decide; nobody's reviewer is refused as on a stale button."""
    if await _reviews_nothing(callback, session, person):
        return
    await pair_action(callback, callback_data, bot, session, person, scoped=True)


@router.callback_query(ReviewUndoCb.filter())
async def review_undo_button(
    callback: CallbackQuery,
    callback_data: ReviewUndoCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
) -> None:
    """«Отменить решение» under a decision made from `/review`: the duplicates' own, for a
    pair this person may decide; nobody's reviewer is refused as on a stale button."""
    if await _reviews_nothing(callback, session, person):
        return
    await undo_action(callback, callback_data, bot, session, person, scoped=True)


@router.message(Command("review"))
async def review_queue(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    """`/review [quarter]`: the events waiting for this person's decision, oldest first."""
    label = (command.args or "").strip()
    period = None
    if label:
        try:
            quarter = Quarter.parse(label)
        except QuarterError:
            collected = await collecting(session, settings, clock())
            await message.answer(
                Review.BAD_PERIOD.format(value=echoed(label), label=collected.label)
            )
            return
        period = await PeriodRepository(session).get(quarter)
        if period is None:
            name = quarter_label(quarter.year, quarter.quarter)
            await message.answer(Review.NO_PERIOD.format(period=name))
            return
    await show_queue(bot, session, person, period, 0, clock)


@router.callback_query(QueueCb.filter())
async def queue_page(
    callback: CallbackQuery,
    callback_data: QueueCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    clock: Clock,
) -> None:
    period = None
    if callback_data.period:
        period = await PeriodRepository(session).by_id(callback_data.period)
        if period is None:
            await callback.answer(Common.STALE_BUTTON, show_alert=True)
            return
    if await reviewed_scope(session, person) == []:
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    await callback.answer()
    await show_queue(bot, session, person, period, callback_data.page, clock)


# --- the coordinator: the structure and the reviewers ---------------------------------------

desk_router = Router(name=f"{__name__}.desk")
desk_router.message.filter(IsCoordinator())
desk_router.callback_query.filter(IsCoordinator())
TELEGRAM_ID_DIGITS = 18


@desk_router.message(Command("parent"))
async def set_parent(message: Message, command: CommandObject, session: AsyncSession) -> None:
    """`/parent Организация | Вышестоящий орган` (or `| -` to remove it)."""
    args = command.args or ""
    if args.count("|") != 1:
        await message.answer(Review.PARENT_USAGE)
        return
    name, parent_name = (" ".join(part.split()) for part in args.split("|"))
    if not name or not parent_name:
        await message.answer(Review.PARENT_USAGE)
        return
    organisations = OrganisationRepository(session)
    organisation = await organisations.by_name(name)
    if organisation is None:
        await message.answer(Desk.ORG_NOT_FOUND.format(name=echoed(name)))
        return
    if parent_name == "-":
        organisation.parent_id = None
        await session.flush()
        await message.answer(Review.PARENT_REMOVED.format(name=html.quote(organisation.name)))
        return
    parent = await organisations.by_name(parent_name)
    if parent is None:
        await message.answer(Desk.ORG_NOT_FOUND.format(name=echoed(parent_name)))
        return
    if parent.id == organisation.id:
        await message.answer(Review.PARENT_SELF)
        return
    if parent.parent_id is not None:
        grand = await organisations.get(parent.parent_id)
        await message.answer(
            Review.PARENT_IS_CHILD.format(
                parent=html.quote(parent.name), grand=html.quote(grand.name if grand else "")
            )
        )
        return
    if await organisations.children(organisation.id):
        await message.answer(Review.PARENT_HAS_CHILDREN.format(name=html.quote(organisation.name)))
        return
    organisation.parent_id = parent.id
    await session.flush()
    await message.answer(
        Review.PARENT_SET.format(name=html.quote(organisation.name), parent=html.quote(parent.name))
    )


async def _reviewer_args(
    message: Message, command: CommandObject, session: AsyncSession
) -> tuple[Person, Organisation] | None:
    """The person (by Telegram id) and the executive body named after /reviewer or
    /unreviewer; None when the person was told why not."""
    raw_id, _, body_name = (command.args or "").strip().partition(" ")
    body_name = " ".join(body_name.split())
    if not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > TELEGRAM_ID_DIGITS:
        await message.answer(Review.REVIEWER_USAGE)
        return None
    if not body_name:
        await message.answer(Review.REVIEWER_USAGE)
        return None
    target = await PersonRepository(session).by_telegram_id(int(raw_id))
    if target is None or not target.active or target.erased_at is not None:
        await message.answer(Review.PERSON_NOT_FOUND.format(id=int(raw_id)))
        return None
    organisations = OrganisationRepository(session)
    body = await organisations.by_name(body_name)
    if body is None:
        await message.answer(Desk.ORG_NOT_FOUND.format(name=echoed(body_name)))
        return None
    if body.parent_id is not None:
        parent = await organisations.get(body.parent_id)
        await message.answer(
            Review.NOT_A_BODY.format(
                name=html.quote(body.name), parent=html.quote(parent.name if parent else "")
            )
        )
        return None
    return target, body


@desk_router.message(Command("reviewer"))
async def add_reviewer(
    message: Message, command: CommandObject, bot: Bot, session: AsyncSession
) -> None:
    """`/reviewer ID Орган`; bare, the list of reviewers."""
    if not (command.args or "").strip():
        found = await ReviewRepository(session).reviewers()
        if not found:
            await message.answer(Review.REVIEWERS_EMPTY + "\n\n" + Review.REVIEWER_USAGE)
            return
        lines = [Review.REVIEWERS_HEAD]
        for someone, body in found:
            lines.append(
                Review.REVIEWER_LINE.format(
                    organisation=html.quote(body.name),
                    name=html.quote(someone.full_name),
                    telegram_id=someone.telegram_id,
                )
            )
        for text in split_message(lines):
            await message.answer(text)
        return
    named = await _reviewer_args(message, command, session)
    if named is None:
        return
    target, body = named
    values = {"name": html.quote(target.full_name), "organisation": html.quote(body.name)}
    if not await ReviewRepository(session).add_reviewer(target.id, body.id):
        await message.answer(Review.REVIEWER_ALREADY.format(**values))
        return
    await message.answer(Review.REVIEWER_ADDED.format(**values))
    if target.role != "coordinator":
        await bot.send_message(
            target.telegram_id, Review.TO_NEW_REVIEWER.format(organisation=values["organisation"])
        )


@desk_router.message(Command("unreviewer"))
async def remove_reviewer(message: Message, command: CommandObject, session: AsyncSession) -> None:
    named = await _reviewer_args(message, command, session)
    if named is None:
        return
    target, body = named
    values = {"name": html.quote(target.full_name), "organisation": html.quote(body.name)}
    if not await ReviewRepository(session).remove_reviewer(target.id, body.id):
        await message.answer(Review.REVIEWER_NOT.format(**values))
        return
    await message.answer(Review.REVIEWER_REMOVED.format(**values))
