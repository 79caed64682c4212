"""/my: a person's events in open periods; open, edit, delete (confirmed) or copy one.

Earlier years for «Копировать»: the same quarter of last year and a search by a word of
the name (`/my слово`, or the button), over the person's own events, their organisation's
and the archive of reports loaded from .docx (the organisation `DEFAULT_ORGANISATION`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram import Bot, F, Router, html
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.access import can_change, can_edit, may_view, reviews
from handlers.draft import Draft
from handlers.duplicates import dissolved_notices
from handlers.filters import NO_TEXT, TEXT_NOT_COMMAND, InStates, IsKnown
from handlers.labels import quarter_label
from handlers.report import Conversation, ask_about_draft, draft_asked, in_progress, start_dialogue
from handlers.review import card_markup, record_deletion, send_notices
from handlers.states import MyStates
from handlers.texts import Common, MyEvents
from handlers.views import Clock, echoed, ensure_collecting_period, event_card
from reports.dates import DateRange, format_dates
from reports.quarters import Quarter
from storage.models import Event, Person
from storage.repositories import EventRepository, OrganisationRepository, PeriodRepository

if TYPE_CHECKING:
    from bot.settings import Settings

router = Router(name=__name__)
router.message.filter(IsKnown())
router.callback_query.filter(IsKnown())
log = logging.getLogger(__name__)

EARLIER_LIMIT = 20
PAGE_SIZE = 20  # events per page of /my: with the page and view buttons well under 100
SEARCH = "my_search"  # the FSM data key of the word searched for (kept for the pages)
WORD_MIN, WORD_MAX = 2, 40
VIEWS = ("mine", "org", "earlier", "year", "search", "find")


LABEL_NOTE_MAX = 40  # a dates note this short (a list of days) is the label's dates


def _label(event: Event) -> str:
    """«dates · name» for a list button; a short dates note («12 и 14 ноября 2026 года») is
    printed as written, a long one (free text) as the range it spans."""
    note = event.dates_note if len(event.dates_note or "") <= LABEL_NOTE_MAX else None
    dates = DateRange(event.start_date, event.end_date, event.precision, note)  # type: ignore[arg-type]
    return f"{format_dates(dates)} · {event.name}"


def _folded(text: str) -> str:
    return text.casefold().replace("ё", "е")


async def _owners(session: AsyncSession, person: Person, settings: Settings) -> list[int]:
    """The organisations whose events a person may copy: their own and the archive."""
    owners = [] if person.organisation_id is None else [person.organisation_id]
    archive = await OrganisationRepository(session).by_name(settings.default_organisation)
    if archive is not None and archive.id not in owners:
        owners.append(archive.id)
    return owners


async def in_archive(session: AsyncSession, event: Event, settings: Settings) -> bool:
    """An event of the archive loaded from past reports (anyone may open and copy it)."""
    if event.status == "deleted":
        return False
    archive = await OrganisationRepository(session).by_name(settings.default_organisation)
    return archive is not None and event.organisation_id == archive.id


async def _list(
    session: AsyncSession,
    person: Person,
    view: str,
    settings: Settings,
    clock: Clock,
    word: str | None = None,
) -> tuple[str, list[Event], list[tuple[str, str]]]:
    collecting = await ensure_collecting_period(session, settings, clock())
    open_ids = [p.id for p in await PeriodRepository(session).open_periods()]
    events = EventRepository(session)
    switches = [("earlier", MyEvents.SHOW_EARLIER)]
    history = [("year", MyEvents.SHOW_YEAR), ("find", MyEvents.SHOW_SEARCH)]
    if view == "org" and person.organisation_id is not None:
        found = await events.of_organisation(person.organisation_id, open_ids)
        head, empty = MyEvents.ORG_HEAD, MyEvents.ORG_EMPTY
        switches.insert(0, ("mine", MyEvents.SHOW_MINE))
    elif view == "earlier":
        found = await events.earlier(person.id, person.organisation_id, open_ids, EARLIER_LIMIT)
        head, empty = MyEvents.EARLIER_HEAD, MyEvents.EARLIER_EMPTY
        switches = [("mine", MyEvents.SHOW_MINE)]
    elif view == "year":
        quarter = Quarter(collecting.year - 1, collecting.quarter)
        label = quarter_label(quarter.year, quarter.quarter)
        period = await PeriodRepository(session).get(quarter)
        owners = await _owners(session, person, settings)
        found = (
            [] if period is None else await events.visible(person.id, owners, period_id=period.id)
        )
        found.sort(key=lambda event: (event.start_date, event.id))
        head = MyEvents.YEAR_HEAD.format(period=label)
        empty = MyEvents.YEAR_EMPTY.format(period=label)
        switches = [("mine", MyEvents.SHOW_MINE)]
        history = [("find", MyEvents.SHOW_SEARCH)]
    elif view == "search":
        wanted = _folded(word or "")
        owners = await _owners(session, person, settings)
        found = [e for e in await events.visible(person.id, owners) if wanted in _folded(e.name)]
        head = MyEvents.SEARCH_HEAD.format(word=echoed(word or ""))
        empty = MyEvents.SEARCH_EMPTY.format(word=echoed(word or ""))
        switches = [("mine", MyEvents.SHOW_MINE)]
    else:
        found = await events.of_author(person.id, open_ids)
        head, empty = MyEvents.HEAD, MyEvents.EMPTY
        if person.organisation_id is not None:
            switches.insert(0, ("org", MyEvents.SHOW_ORG))
    return (head if found else empty), found, switches + history


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


async def _search(
    bot: Bot,
    chat_id: int,
    session: AsyncSession,
    state: FSMContext,
    person: Person,
    text: str,
    **deps: object,
) -> None:
    """Search for a typed word, or say what a word to search for must be."""
    word = " ".join(text.split())
    if not WORD_MIN <= len(word) <= WORD_MAX:
        await state.set_state(MyStates.search)
        await bot.send_message(
            chat_id, MyEvents.SEARCH_BAD_WORD.format(low=WORD_MIN, high=WORD_MAX)
        )
        return
    await state.set_state(None)
    await state.update_data({SEARCH: word})
    await _show_list(bot, chat_id, session, person, "search", word=word, **deps)


@router.message(Command("my"))
async def my_events(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    state: FSMContext,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    if command.args:
        await _search(
            bot,
            message.chat.id,
            session,
            state,
            person,
            command.args,
            settings=settings,
            clock=clock,
        )
        return
    await _show_list(bot, message.chat.id, session, person, "mine", settings=settings, clock=clock)


@router.message(InStates(MyStates.search), TEXT_NOT_COMMAND)
async def search_word(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    state: FSMContext,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    assert message.text is not None
    await _search(
        bot, message.chat.id, session, state, person, message.text, settings=settings, clock=clock
    )


@router.message(InStates(MyStates.search), NO_TEXT)
async def search_not_text(message: Message) -> None:
    await message.answer(MyEvents.SEARCH_NEED_TEXT)


@router.callback_query(kb.ListCb.filter())
async def switch_view(
    callback: CallbackQuery,
    callback_data: kb.ListCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    if callback_data.view not in VIEWS:
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    await callback.answer()
    word = None
    if callback_data.view == "search":
        word = (await state.get_data()).get(SEARCH)
    if callback_data.view == "find" or (callback_data.view == "search" and not word):
        await state.set_state(MyStates.search)
        await bot.send_message(person.telegram_id, MyEvents.SEARCH_ASK)
        return
    await _show_list(
        bot,
        person.telegram_id,
        session,
        person,
        callback_data.view,
        callback_data.page,
        settings=settings,
        clock=clock,
        word=word,
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
    visible = event is not None and (
        await may_view(session, person, event)
        or (action in ("open", "copy") and await in_archive(session, event, settings))
    )
    if event is None or not visible or action not in _ACTIONS:
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
        notices = await dissolved_notices(session, await events.delete(event))
        await session.commit()
        await bot.send_message(chat_id, MyEvents.DELETED)
        await send_notices(bot, notices)
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
