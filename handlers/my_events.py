"""/my: a person's events in open periods; open, edit, delete (confirmed) or copy one."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram import Bot, F, Router, html
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.access import can_change, can_edit, may_view, reviews
from handlers.draft import Draft
from handlers.filters import IsKnown
from handlers.report import Conversation, ask_about_draft, draft_asked, in_progress, start_dialogue
from handlers.review import card_markup, record_deletion
from handlers.texts import Common, MyEvents
from handlers.views import Clock, ensure_collecting_period, event_card
from reports.dates import DateRange, format_dates
from storage.models import Event, Person
from storage.repositories import EventRepository, PeriodRepository

if TYPE_CHECKING:
    from bot.settings import Settings

router = Router(name=__name__)
router.message.filter(IsKnown())
router.callback_query.filter(IsKnown())
log = logging.getLogger(__name__)

EARLIER_LIMIT = 20
PAGE_SIZE = 20  # events per page of /my: with the page and view buttons well under 100


LABEL_NOTE_MAX = 40  # a dates note this short (a list of days) is the label's dates


def _label(event: Event) -> str:
    """«dates · name» for a list button; a short dates note («12 и 14 ноября 2026 года») is
    printed as written, a long one (free text) as the range it spans."""
    note = event.dates_note if len(event.dates_note or "") <= LABEL_NOTE_MAX else None
    dates = DateRange(event.start_date, event.end_date, event.precision, note)  # type: ignore[arg-type]
    return f"{format_dates(dates)} · {event.name}"


async def _list(
    session: AsyncSession, person: Person, view: str, settings: Settings, clock: Clock
) -> tuple[str, list[Event], list[tuple[str, str]]]:
    await ensure_collecting_period(session, settings, clock())
    open_ids = [p.id for p in await PeriodRepository(session).open_periods()]
    events = EventRepository(session)
    switches = [("earlier", MyEvents.SHOW_EARLIER)]
    if view == "org" and person.organisation_id is not None:
        found = await events.of_organisation(person.organisation_id, open_ids)
        head, empty = MyEvents.ORG_HEAD, MyEvents.ORG_EMPTY
        switches.insert(0, ("mine", MyEvents.SHOW_MINE))
    elif view == "earlier":
        found = await events.earlier(person.id, person.organisation_id, open_ids, EARLIER_LIMIT)
        head, empty = MyEvents.EARLIER_HEAD, MyEvents.EARLIER_EMPTY
        switches = [("mine", MyEvents.SHOW_MINE)]
    else:
        found = await events.of_author(person.id, open_ids)
        head, empty = MyEvents.HEAD, MyEvents.EMPTY
        if person.organisation_id is not None:
            switches.insert(0, ("org", MyEvents.SHOW_ORG))
    return (head if found else empty), found, switches


async def _show_list(
    bot: Bot,
    chat_id: int,
    session: AsyncSession,
    person: Person,
    view: str,
    page: int = 0,
    **deps: object,
) -> None:
    text, found, switches = await _list(session, person, view, **deps)  # type: ignore[arg-type]
    pages = max(-(-len(found) // PAGE_SIZE), 1)
    page = min(page, pages - 1)  # the list got shorter since the button was sent
    shown = found[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    if pages > 1:
        text += MyEvents.PAGE.format(page=page + 1, pages=pages)
    markup = kb.events_keyboard(
        ((e.id, _label(e)) for e in shown), views=switches, view=view, page=page, pages=pages
    )
    await bot.send_message(chat_id, text, reply_markup=markup)


@router.message(Command("my"))
async def my_events(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    await _show_list(bot, message.chat.id, session, person, "mine", settings=settings, clock=clock)


@router.callback_query(kb.ListCb.filter())
async def switch_view(
    callback: CallbackQuery,
    callback_data: kb.ListCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    if callback_data.view not in ("mine", "org", "earlier"):
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    await callback.answer()
    await _show_list(
        bot,
        person.telegram_id,
        session,
        person,
        callback_data.view,
        callback_data.page,
        settings=settings,
        clock=clock,
    )


@router.callback_query(kb.EventCb.filter())
async def event_action(
    callback: CallbackQuery,
    callback_data: kb.EventCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    await _event_action(
        callback,
        callback_data.action,
        callback_data.id,
        bot,
        state,
        session,
        person,
        settings,
        clock,
    )


@router.callback_query(kb.DraftCb.filter((F.action == "anew") & F.what.in_({"copy", "edit"})))
async def copy_or_edit_instead(
    callback: CallbackQuery,
    callback_data: kb.DraftCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    """«Начать заново» after «Копировать» or «Изменить»: the draft makes way for the event."""
    if not await draft_asked(callback, callback_data.key, state, person):
        return
    await _event_action(
        callback,
        callback_data.what,
        callback_data.id,
        bot,
        state,
        session,
        person,
        settings,
        clock,
        replace=True,
    )


async def _event_action(
    callback: CallbackQuery,
    action: str,
    event_id: int,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
    *,
    replace: bool = False,
) -> None:
    """Do `action` on the event (checked again: a button may be stale); `replace`: the
    draft under way may be dropped for an edit or a copy (the person said so)."""
    events = EventRepository(session)
    event = await events.get(event_id)
    if event is None or action not in _ACTIONS or not await may_view(session, person, event):
        log.warning("person %s refused %r on event %s", person.id, action, event_id)
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    changeable = await can_change(session, person, event)
    allowed = await can_edit(session, person, event) if action == "edit" else changeable
    if action in ("edit", "del", "delyes") and not allowed:
        reviewer = action == "edit" and await reviews(session, person, event.organisation_id)
        if event.author_id == person.id or reviewer:
            await callback.answer(MyEvents.CLOSED, show_alert=True)  # its period is closed
        else:  # a colleague's event: open and copy only
            log.warning("person %s refused %r on event %s", person.id, action, event.id)
            await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    await callback.answer()
    chat_id = person.telegram_id
    if action == "open":
        text = await event_card(session, event)
        markup = await card_markup(session, person, event)
        await bot.send_message(chat_id, text, reply_markup=markup)
    elif action == "del":
        text = MyEvents.CONFIRM_DELETE.format(name=html.quote(kb.short(event.name, 200)))
        await bot.send_message(chat_id, text, reply_markup=kb.confirm_delete_keyboard(event.id))
    elif action == "delyes":
        if event.status == "submitted":
            await record_deletion(session, person, event, clock)
        await events.delete(event)
        await session.commit()
        await bot.send_message(chat_id, MyEvents.DELETED)
    elif action == "delno":
        await bot.send_message(chat_id, MyEvents.NOT_DELETED)
    else:  # edit or copy: the dialogue opens at the summary
        in_hand = None if replace else await in_progress(state)
        if in_hand is not None:  # not thrown away without asking
            await ask_about_draft(bot, chat_id, in_hand, action, event.id)
            return
        draft = Draft.of_event(event, copy=action == "copy")
        conversation = Conversation(bot, chat_id, state, session, settings, clock)
        if action == "copy":
            await bot.send_message(chat_id, MyEvents.COPIED)
        await start_dialogue(conversation, draft)


_ACTIONS = ("open", "edit", "del", "delyes", "delno", "copy")
