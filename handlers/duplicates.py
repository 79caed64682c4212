"""Suspected duplicates: the author warned at «Отправить», the coordinator's `/duplicates`.

Two institutions often report one joint event; `reports.similar` says which events look
alike. The author is told at submission and may still submit (the dialogue's «Всё равно
отправить», see `handlers.report.submit`); a coordinator goes through the period's pairs
one at a time and merges them into one report row or marks them distinct for good.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.access import reviews
from handlers.filters import IsCoordinator
from handlers.keyboards import DialogueCb, Keyboard, RowId
from handlers.labels import period_label
from handlers.texts import Common, Duplicates
from handlers.views import Clock, Notice, find_period, reachable, shown, toast
from reports.dates import format_dates
from storage.models import DuplicatePair, Event, Person, ReportingPeriod
from storage.repositories import (
    EventRepository,
    OrganisationRepository,
    PeriodRepository,
    PersonRepository,
)
from storage.repositories.duplicates import (
    Dissolved,
    DuplicateRepository,
    Lookalike,
    decision_version,
)
from storage.repositories.events import dates_of

if TYPE_CHECKING:
    from bot.settings import Settings

router = Router(name=__name__)
router.message.filter(IsCoordinator())
router.callback_query.filter(IsCoordinator())
log = logging.getLogger(__name__)

Index = Annotated[int, Field(ge=0, le=2**31 - 1)]  # 0 where no pair is named
Version = Annotated[int, Field(ge=0, le=2**63 - 1)]  # `decision_version`; 0 where none
SHOWN_LOOKALIKES = 3  # named in the author's warning; the rest counted
NAME_SHOWN = 300
PLACE_SHOWN = 300
ORGANISATION_SHOWN = 200
DISSOLVED_SHOWN = 5  # merges named in one notice of their dissolution; the rest counted
DISSOLVED_NAME_SHOWN = 150  # a name or an organisation there: the notice within 4096


# --- the author's warning ------------------------------------------------------------------


def warning(
    lookalikes: Sequence[Lookalike], *, key: str, editing: bool
) -> tuple[str, InlineKeyboardMarkup]:
    """What «Отправить» answers when other organisations' events look alike: which ones
    (name, organisation, dates), and «Всё равно отправить» / «Вернуться к сводке»."""
    lines = [
        Duplicates.LOOKALIKE.format(
            name=shown(item.event.name, NAME_SHOWN),
            organisation=shown(item.event.organisation.name, ORGANISATION_SHOWN),
            dates=shown(format_dates(dates_of(item.event))),
        )
        for item in lookalikes[:SHOWN_LOOKALIKES]
    ]
    if len(lookalikes) > SHOWN_LOOKALIKES:
        lines.append(Duplicates.MORE.format(more=len(lookalikes) - SHOWN_LOOKALIKES))
    template = Duplicates.WARNING_EDIT if editing else Duplicates.WARNING
    builder = Keyboard()
    builder.button(
        text=Duplicates.FORCE_SAVE if editing else Duplicates.FORCE,
        callback_data=DialogueCb(action="force", step=key),
    )
    builder.button(text=Duplicates.TO_SUMMARY, callback_data=DialogueCb(action="resume", step=key))
    builder.adjust(1)
    return template.format(lookalikes="\n".join(lines)), builder.as_markup()


async def note_pairs(session: AsyncSession, event_id: int, lookalikes: Sequence[Lookalike]) -> None:
    """Remember the pairs of a submitted event and the events it resembles."""
    duplicates = DuplicateRepository(session)
    for item in lookalikes:
        await duplicates.record(event_id, item.event.id, item.match)


async def dissolved_notices(session: AsyncSession, dissolved: Sequence[Dissolved]) -> list[Notice]:
    """Merges dissolved by a change (an event deleted, moved to another period, or no
    longer alike), one message to each person to tell: whoever decided the merge, or, if
    the bot cannot reach them, every coordinator (the merge must not vanish unnoticed).
    Each is pointed to their own list of pairs: `/duplicates` for a coordinator, `/review`
    for a body's reviewer (who has no `/duplicates`)."""
    events, organisations = EventRepository(session), OrganisationRepository(session)
    lines: dict[int, list[str]] = {}
    roles: dict[int, str] = {}  # a reviewer has /review for the pairs, not /duplicates
    for item in dissolved:
        changed = await events.get(item.changed_id)
        other = await events.get(
            item.second_id if item.changed_id == item.first_id else item.first_id
        )
        if changed is None or other is None:
            continue
        organisation = await organisations.get(changed.organisation_id)
        values: dict[str, object] = {
            "first": item.first_id,
            "second": item.second_id,
            "id": changed.id,
            "name": shown(changed.name, DISSOLVED_NAME_SHOWN),
            "organisation": shown(
                organisation.name if organisation else None, DISSOLVED_NAME_SHOWN
            ),
        }
        if changed.status != "submitted":
            line = Duplicates.DISSOLVED_DELETED.format(**values)
        elif changed.period_id != other.period_id:
            period = await PeriodRepository(session).by_id(changed.period_id)
            line = Duplicates.DISSOLVED_MOVED.format(
                **values, period=period_label(period) if period else ""
            )
        else:
            line = Duplicates.DISSOLVED_UNLIKE.format(**values, other=other.id)
        decider = await reachable(session, item.decided_by_id)
        told = [decider] if decider is not None else await PersonRepository(session).coordinators()
        for person in told:
            lines.setdefault(person.telegram_id, []).append(line)
            roles[person.telegram_id] = (
                "coordinator" if person.role == "coordinator" else "reviewer"
            )
    notices = []
    for chat_id, found in lines.items():
        named = found[:DISSOLVED_SHOWN]
        if len(found) > DISSOLVED_SHOWN:
            named.append(Duplicates.MORE.format(more=len(found) - DISSOLVED_SHOWN))
        text = Duplicates.DISSOLVED.format(
            lines="\n".join(named), next=Duplicates.DISSOLVED_NEXT[roles[chat_id]]
        )
        notices.append(Notice(chat_id, text))
    return notices


# --- the coordinator's list ----------------------------------------------------------------


class DupCb(CallbackData, prefix="du"):
    """A pair's button: `action` show (the suspected pair at `page` of the period's list),
    merge or apart (a decision on pair `pair`, shown at `page`), decided (the decided pair
    at `page`). (`undo` was the undo button before it named its decision: now stale.)"""

    action: str
    period: RowId
    pair: Index
    page: Index


class ReviewDupCb(CallbackData, prefix="rd"):
    """The same buttons reached from `/review`: only the pairs this person may decide
    (a coordinator, every pair; a body's reviewer, pairs of two events they review)."""

    action: str
    period: RowId
    pair: Index
    page: Index


class UndoCb(CallbackData, prefix="dx"):
    """«Отменить решение»: take back decision `version` (`decision_version`) of pair
    `pair`; once the pair is undone or decided anew, the button is stale."""

    period: RowId
    pair: Index
    version: Version


class ReviewUndoCb(CallbackData, prefix="rx"):
    """The same from `/review`: only a pair this person may decide."""

    period: RowId
    pair: Index
    version: Version


PairCb = type[DupCb] | type[ReviewDupCb]
ACTIONS = ("show", "merge", "apart", "decided")
REVIEW_ACTIONS = ("show", "merge", "apart")


async def may_decide(session: AsyncSession, person: Person, pair: DuplicatePair) -> bool:
    """Whether `person` reviews both events of the pair (coordinators review all)."""
    for event in (pair.first, pair.second):
        if not await reviews(session, person, event.organisation_id):
            return False
    return True


async def decidable(session: AsyncSession, person: Person, period_id: int) -> list[DuplicatePair]:
    """The period's suspected pairs `person` may decide, in the order they were found."""
    pairs = await DuplicateRepository(session).suspected(period_id)
    if person.role == "coordinator":
        return pairs
    return [pair for pair in pairs if await may_decide(session, person, pair)]


def pair_keyboard(
    pair: DuplicatePair,
    period_id: int,
    page: int,
    pages: int,
    *,
    open_: bool,
    decided: bool = False,
    cb: PairCb = DupCb,
) -> InlineKeyboardMarkup | None:
    """«Объединить» and «Это разные мероприятия» (while the period is open), the pages and
    «Решённые пары» (when the period has some); None when there is no button to show."""
    builder = Keyboard()
    sizes: list[int] = []
    if open_:
        builder.button(
            text=Duplicates.MERGE,
            callback_data=cb(action="merge", period=period_id, pair=pair.id, page=page),
        )
        builder.button(
            text=Duplicates.APART,
            callback_data=cb(action="apart", period=period_id, pair=pair.id, page=page),
        )
        sizes += [1, 1]
    nav = 0
    if page > 0:
        builder.button(
            text=Duplicates.PREVIOUS,
            callback_data=cb(action="show", period=period_id, pair=0, page=page - 1),
        )
        nav += 1
    if page < pages - 1:
        builder.button(
            text=Duplicates.NEXT,
            callback_data=cb(action="show", period=period_id, pair=0, page=page + 1),
        )
        nav += 1
    if nav:
        sizes.append(nav)
    if decided:
        builder.button(text=Duplicates.DECIDED_LIST, callback_data=_decided_cb(period_id, 0))
        sizes.append(1)
    if not sizes:
        return None
    builder.adjust(*sizes)
    return builder.as_markup()


def _decided_cb(period_id: int, page: int) -> DupCb:
    return DupCb(action="decided", period=period_id, pair=0, page=page)


def _decided_button(period_id: int) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=Duplicates.DECIDED_LIST, callback_data=_decided_cb(period_id, 0))
    return builder.as_markup()


def undo_keyboard(
    pair: DuplicatePair,
    period_id: int,
    page: int = 0,
    pages: int = 1,
    *,
    open_: bool = True,
    scoped: bool = False,
) -> InlineKeyboardMarkup | None:
    """«Отменить решение» of the pair's present decision (while the period is open) and
    the pages of the decided list."""
    builder = Keyboard()
    sizes: list[int] = []
    if open_:
        builder.button(
            text=Duplicates.UNDO,
            callback_data=(ReviewUndoCb if scoped else UndoCb)(
                period=period_id, pair=pair.id, version=decision_version(pair)
            ),
        )
        sizes.append(1)
    nav = 0
    if page > 0:
        builder.button(text=Duplicates.PREVIOUS, callback_data=_decided_cb(period_id, page - 1))
        nav += 1
    if page < pages - 1:
        builder.button(text=Duplicates.NEXT, callback_data=_decided_cb(period_id, page + 1))
        nav += 1
    if nav:
        sizes.append(nav)
    if not sizes:
        return None
    builder.adjust(*sizes)
    return builder.as_markup()


def _event_text(event: Event) -> str:
    return Duplicates.EVENT.format(
        organisation=shown(event.organisation.name, ORGANISATION_SHOWN),
        id=event.id,
        name=shown(event.name, NAME_SHOWN),
        place=shown(event.place, PLACE_SHOWN),
        dates=shown(format_dates(dates_of(event))),
    )


def pair_text(pair: DuplicatePair, period: ReportingPeriod, number: int, count: int) -> str:
    """One suspected pair as the coordinator sees it (well within one message)."""
    head = Duplicates.HEAD.format(number=number, count=count, period=period_label(period))
    foot = Duplicates.FOOT if period.status == "open" else Duplicates.CLOSED_NOTE
    return "\n\n".join((head, _event_text(pair.first), _event_text(pair.second), foot))


async def show_pair(
    bot: Bot,
    chat_id: int,
    session: AsyncSession,
    period: ReportingPeriod,
    page: int = 0,
    *,
    note: str | None = None,
    person: Person | None = None,
) -> None:
    """The period's suspected pair at `page` (the last one if the list got shorter), after
    `note` if one is given. With `person` (from `/review`): only the pairs they may decide,
    without the decided list (that stays in `/duplicates`)."""
    duplicates = DuplicateRepository(session)
    if person is None:
        pairs = await duplicates.suspected(period.id)
        decided = await duplicates.count_decided(period.id) > 0
        cb: PairCb = DupCb
    else:
        pairs = await decidable(session, person, period.id)
        decided, cb = False, ReviewDupCb
    if not pairs:
        text = Duplicates.NONE.format(period=period_label(period))
        markup = _decided_button(period.id) if decided else None
        await bot.send_message(chat_id, text, reply_markup=markup)
        return
    page = min(max(page, 0), len(pairs) - 1)
    pair = pairs[page]
    text = pair_text(pair, period, page + 1, len(pairs))
    await bot.send_message(
        chat_id,
        f"{note}\n\n{text}" if note else text,
        reply_markup=pair_keyboard(
            pair,
            period.id,
            page,
            len(pairs),
            open_=period.status == "open",
            decided=decided,
            cb=cb,
        ),
    )


def decided_text(pair: DuplicatePair, period: ReportingPeriod, number: int, count: int) -> str:
    """One decided pair as the coordinator sees it, with the decision."""
    head = Duplicates.DECIDED_HEAD.format(number=number, count=count, period=period_label(period))
    if period.status != "open":
        foot = Duplicates.DECIDED_CLOSED_NOTE
    elif pair.status == "merged":
        foot = Duplicates.DECIDED_MERGED_NOTE
    else:
        foot = Duplicates.DECIDED_APART_NOTE
    return "\n\n".join((head, _event_text(pair.first), _event_text(pair.second), foot))


async def show_decided(
    bot: Bot, chat_id: int, session: AsyncSession, period: ReportingPeriod, page: int = 0
) -> None:
    """The period's decided pair at `page` (latest decision first), with «Отменить решение»."""
    pairs = await DuplicateRepository(session).decided(period.id)
    if not pairs:
        await bot.send_message(chat_id, Duplicates.DECIDED_NONE.format(period=period_label(period)))
        return
    page = min(max(page, 0), len(pairs) - 1)
    pair = pairs[page]
    await bot.send_message(
        chat_id,
        decided_text(pair, period, page + 1, len(pairs)),
        reply_markup=undo_keyboard(
            pair, period.id, page, len(pairs), open_=period.status == "open"
        ),
    )


@router.message(Command("duplicates"))
async def list_duplicates(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    """`/duplicates [quarter]`: the period matched again, its first suspected pair shown;
    `/duplicates решённые [quarter]`: its decided pairs, latest first."""
    words = (command.args or "").split()
    decided = any(word.lower() in Duplicates.DECIDED_WORDS for word in words)
    label = " ".join(word for word in words if word.lower() not in Duplicates.DECIDED_WORDS)
    period = await find_period(
        message,
        session,
        settings,
        clock,
        label,
        bad=Duplicates.BAD_PERIOD,
        missing=Duplicates.NO_PERIOD,
        closed_too=True,
    )
    if period is None:
        return
    await DuplicateRepository(session).refresh(period.id)
    if decided:
        await show_decided(bot, message.chat.id, session, period)
    else:
        await show_pair(bot, message.chat.id, session, period)


@router.callback_query(DupCb.filter())
async def pair_button(
    callback: CallbackQuery,
    callback_data: DupCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
) -> None:
    await pair_action(callback, callback_data, bot, session, person, scoped=False)


async def pair_action(
    callback: CallbackQuery,
    callback_data: DupCb | ReviewDupCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    *,
    scoped: bool,
) -> None:
    """A pair's button from `/duplicates` or, `scoped`, from `/review` (where only the
    pairs the person may decide are shown and decided)."""
    period = await PeriodRepository(session).by_id(callback_data.period)
    action = callback_data.action
    if period is None or action not in (REVIEW_ACTIONS if scoped else ACTIONS):
        await _refuse(callback, person)
        return
    viewer = person if scoped else None
    if action == "show":
        await callback.answer()
        await show_pair(bot, person.telegram_id, session, period, callback_data.page, person=viewer)
        return
    if action == "decided":
        await callback.answer()
        await show_decided(bot, person.telegram_id, session, period, callback_data.page)
        return
    duplicates = DuplicateRepository(session)
    pair = await duplicates.get(callback_data.pair)
    if pair is None or pair.status != "suspected" or not _in_period(pair, period.id):
        await _refuse(callback, person)  # forged, decided already, or changed since
        return
    if scoped and not await may_decide(session, person, pair):
        await _refuse(callback, person)  # another body's institution
        return
    if period.status != "open":
        await callback.answer(
            toast(Duplicates.CLOSED, period=period_label(period)), show_alert=True
        )
        return
    await duplicates.decide(pair, "merged" if action == "merge" else "distinct", person.id)
    done = Duplicates.MERGED if action == "merge" else Duplicates.KEPT_APART
    await callback.answer()
    await bot.send_message(
        person.telegram_id,
        done.format(first=pair.first_id, second=pair.second_id),
        reply_markup=undo_keyboard(pair, period.id, scoped=scoped),
    )
    left = len(await decidable(session, person, period.id)) if scoped else None
    if left is None:
        left = await duplicates.count_suspected(period.id)
    if left:
        await show_pair(bot, person.telegram_id, session, period, callback_data.page, person=viewer)
    else:
        await bot.send_message(
            person.telegram_id,
            Duplicates.DONE.format(period=period_label(period)),
            reply_markup=None if scoped else _decided_button(period.id),
        )


@router.callback_query(UndoCb.filter())
async def undo_button(
    callback: CallbackQuery,
    callback_data: UndoCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
) -> None:
    await undo_action(callback, callback_data, bot, session, person, scoped=False)


async def undo_action(
    callback: CallbackQuery,
    callback_data: UndoCb | ReviewUndoCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    *,
    scoped: bool,
) -> None:
    """«Отменить решение» of the decision the button was made for: the pair waits for a
    decision again and is shown for one (`scoped`, from `/review`: to a person who may
    decide it, among the pairs they may decide)."""
    period = await PeriodRepository(session).by_id(callback_data.period)
    pair = await DuplicateRepository(session).get(callback_data.pair)
    if (
        period is None
        or pair is None
        or pair.status == "suspected"
        or decision_version(pair) != callback_data.version
        or not _in_period(pair, period.id)
    ):
        await _refuse(callback, person)  # forged, undone or decided anew, or dissolved since
        return
    if scoped and not await may_decide(session, person, pair):
        await _refuse(callback, person)  # another body's institution
        return
    if period.status != "open":
        await callback.answer(
            toast(Duplicates.UNDO_CLOSED, period=period_label(period)), show_alert=True
        )
        return
    await DuplicateRepository(session).undo(pair)
    await callback.answer()
    viewer = person if scoped else None
    if viewer is None:
        pairs = await DuplicateRepository(session).suspected(period.id)
    else:
        pairs = await decidable(session, viewer, period.id)
    page = next((n for n, item in enumerate(pairs) if item.id == pair.id), 0)
    note = Duplicates.UNDONE.format(first=pair.first_id, second=pair.second_id)
    await show_pair(bot, person.telegram_id, session, period, page, note=note, person=viewer)


def _in_period(pair: DuplicatePair, period_id: int) -> bool:
    return all(
        event.period_id == period_id and event.status == "submitted"
        for event in (pair.first, pair.second)
    )


async def _refuse(callback: CallbackQuery, person: Person) -> None:
    log.warning("person %s pressed %r: stale or forged", person.id, callback.data)
    await callback.answer(Common.STALE_BUTTON, show_alert=True)
