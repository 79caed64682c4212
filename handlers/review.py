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
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.access import can_change, can_review, may_view, reviews
from handlers.draft import Draft, clean_answer
from handlers.filters import HAS_TEXT, IS_ANSWER, NO_TEXT, IsKnown
from handlers.states import ReportStates, ReviewStates
from handlers.texts import Common, Dialogue, Review
from handlers.views import (
    MESSAGE_MAX,
    Clock,
    author_name,
    event_card,
    period_label,
    shown,
    split_message,
    toast,
    units,
)
from reports.dates import format_dates
from reports.participants import characters
from storage.models import Event, Person
from storage.repositories import (
    EventRepository,
    OrganisationRepository,
    PeriodRepository,
    PersonRepository,
    SphereRepository,
)
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


@dataclass(frozen=True, slots=True)
class Notice:
    """A message owed to someone other than the person acting: sent after their reply."""

    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None = None


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


async def _reachable(session: AsyncSession, person_id: int | None) -> Person | None:
    """The person, if the bot may write to them (active, not erased)."""
    if person_id is None:
        return None
    found = await PersonRepository(session).get(person_id)
    if found is None or not found.active or found.erased_at is not None:
        return None
    return found


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
            reviewer = await _reachable(session, decided_by)
            if reviewer is not None and reviewer.id != person.id:
                organisation = await OrganisationRepository(session).get(event.organisation_id)
                text = Review.FIXED_TO_REVIEWER.format(
                    id=event.id,
                    name=shown(event.name, NAME_SHOWN),
                    organisation=shown(organisation.name if organisation else None, NAME_SHOWN),
                )
                notices.append(Notice(reviewer.telegram_id, text, kb.open_event_keyboard(event.id)))
        return notices
    author = await _reachable(session, event.author_id)
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
    await ReviewRepository(session).record(
        event.id, person.id, [("status", "отправлено", "удалено")], at=clock()
    )


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
    author = await _reachable(session, event.author_id)
    await bot.send_message(person.telegram_id, Review.ACCEPTED.format(id=event.id))
    if author is not None and author.id != person.id:
        text = Review.TO_AUTHOR_ACCEPTED.format(
            id=event.id, name=shown(event.name, NAME_SHOWN), reviewer=author_name(person)
        )
        await bot.send_message(author.telegram_id, text)


# --- the comment of a return ---------------------------------------------------------------


@router.message(StateFilter(ReviewStates.comment), HAS_TEXT, IS_ANSWER)
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
    author = await _reachable(session, event.author_id)
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


@router.message(StateFilter(ReviewStates.comment), NO_TEXT)
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
