"""Staff buttons: «Мероприятий не было» (/nothing and under reminders), and a reminder's
«Сообщить о мероприятии», which starts the dialogue with the reminder's period chosen."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram import Bot, F, Router, html
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.draft import Draft
from handlers.filters import IsKnown
from handlers.labels import period_label
from handlers.report import Conversation, ask_about_draft, draft_asked, in_progress, start_dialogue
from handlers.texts import Common, Nothing, Reminders
from handlers.views import Clock, ensure_collecting_period, toast
from storage.models import Organisation, Person, ReportingPeriod
from storage.repositories import (
    EventRepository,
    OrganisationRepository,
    PeriodRepository,
    ReportingRepository,
)

if TYPE_CHECKING:
    from bot.settings import Settings

router = Router(name=__name__)
router.message.filter(IsKnown())
router.callback_query.filter(IsKnown())
log = logging.getLogger(__name__)


async def _submitted(session: AsyncSession, organisation_id: int, period_id: int) -> int:
    """How many events the organisation has submitted into the period."""
    events = await EventRepository(session).of_organisation(organisation_id, [period_id])
    return sum(1 for event in events if event.status == "submitted")


async def _organisation(session: AsyncSession, person: Person) -> Organisation | None:
    if person.organisation_id is None:
        return None
    return await OrganisationRepository(session).get(person.organisation_id)


@router.message(Command("nothing"))
async def offer_nothing(
    message: Message,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    organisation = await _organisation(session, person)
    if organisation is None:
        await message.answer(Reminders.NOTHING_NO_ORG)
        return
    period = await ensure_collecting_period(session, settings, clock())
    values = {"organisation": html.quote(organisation.name), "period": period_label(period)}
    if period.status != "open":
        await message.answer(Reminders.NOTHING_CLOSED.format(**values))
        return
    if await ReportingRepository(session).said_nothing(organisation.id, period.id):
        markup = kb.nothing_undo_keyboard(period.id)
        await message.answer(Nothing.ALREADY.format(**values), reply_markup=markup)
        return
    count = await _submitted(session, organisation.id, period.id)
    if count:
        await message.answer(Nothing.HAS_EVENTS.format(count=count, **values))
        return
    markup = kb.nothing_keyboard(period.id)
    await message.answer(Nothing.OFFER.format(**values), reply_markup=markup)


@router.callback_query(kb.NothingCb.filter(F.action.in_({"say", "undo"})))
async def nothing_button(
    callback: CallbackQuery,
    callback_data: kb.NothingCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
) -> None:
    period = await PeriodRepository(session).by_id(callback_data.period)
    if period is None:
        log.warning("person %s sent an unknown period id %s", person.id, callback_data.period)
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    organisation = await _organisation(session, person)
    if organisation is None:
        await callback.answer(Reminders.NOTHING_NO_ORG, show_alert=True)
        return
    values = {"organisation": html.quote(organisation.name), "period": period_label(period)}
    if period.status != "open":
        await callback.answer(toast(Reminders.NOTHING_CLOSED, **values), show_alert=True)
        return
    if callback_data.action == "say":
        await _say(callback, bot, session, person, organisation, period, values)
    else:
        await _undo(callback, bot, session, person, organisation, period, values)


def _plain(organisation: Organisation, values: dict[str, str]) -> dict[str, str]:
    """`values` for a button's answer, which Telegram shows as plain text: the name unescaped."""
    return {**values, "organisation": organisation.name}


async def _say(
    callback: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    organisation: Organisation,
    period: ReportingPeriod,
    values: dict[str, str],
) -> None:
    count = await _submitted(session, organisation.id, period.id)
    if count:
        alert = toast(Nothing.HAS_EVENTS, count=count, **_plain(organisation, values))
        await callback.answer(alert, show_alert=True)
        return
    reporting = ReportingRepository(session)
    if not await reporting.say_nothing(organisation.id, period.id, person.id):
        await callback.answer(toast(Nothing.ALREADY, **_plain(organisation, values)))
        return
    await session.commit()
    log.info("person %s: nothing for %s in period %s", person.id, organisation.id, period.id)
    await callback.answer()
    await bot.send_message(
        person.telegram_id,
        Reminders.NOTHING_DONE.format(**values),
        reply_markup=kb.nothing_undo_keyboard(period.id),
    )


async def _undo(
    callback: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    person: Person,
    organisation: Organisation,
    period: ReportingPeriod,
    values: dict[str, str],
) -> None:
    if not await ReportingRepository(session).withdraw_nothing(organisation.id, period.id):
        await callback.answer(toast(Nothing.NOT_SAID, **_plain(organisation, values)))
        return
    await session.commit()
    log.info("person %s: undo for %s in period %s", person.id, organisation.id, period.id)
    await callback.answer()
    await bot.send_message(person.telegram_id, Reminders.NOTHING_UNDONE.format(**values))


@router.callback_query(kb.NewReportCb.filter())
async def new_report(
    callback: CallbackQuery,
    callback_data: kb.NewReportCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    draft = await in_progress(state)
    if draft is not None and await PeriodRepository(session).by_id(callback_data.period):
        await callback.answer()
        await ask_about_draft(bot, person.telegram_id, draft, "rem", callback_data.period)
        return
    await _new_report(callback, callback_data.period, bot, state, session, person, settings, clock)


@router.callback_query(kb.DraftCb.filter((F.action == "anew") & (F.what == "rem")))
async def new_report_instead(
    callback: CallbackQuery,
    callback_data: kb.DraftCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    """«Начать заново» after a reminder's «Сообщить о мероприятии»."""
    if not await draft_asked(callback, callback_data.key, state, person):
        return
    await _new_report(callback, callback_data.id, bot, state, session, person, settings, clock)


async def _new_report(
    callback: CallbackQuery,
    period_id: int,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    settings: Settings,
    clock: Clock,
) -> None:
    """A new draft with the reminder's period chosen (the draft under way, if any, goes)."""
    period = await PeriodRepository(session).by_id(period_id)
    if period is None:
        log.warning("person %s sent an unknown period id %s", person.id, period_id)
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    await callback.answer()
    draft = Draft.new()
    if period.status == "open":
        draft.period_id = period.id  # offered as the default at the period step
    else:
        text = Nothing.PERIOD_CLOSED_FOR_NEW.format(period=period_label(period))
        await bot.send_message(person.telegram_id, text)
    conversation = Conversation(bot, person.telegram_id, state, session, settings, clock)
    await start_dialogue(conversation, draft)
