"""/start for known people, /help per role, /cancel anywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router, html
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import Check, CommandOrIn, IsKnown
from handlers.report import drop_question, in_progress
from handlers.states import ReviewStates
from handlers.texts import Common, Dialogue, Review
from handlers.views import Clock, collecting_examples
from storage.models import Person

if TYPE_CHECKING:
    from bot.settings import Settings

router = Router(name=__name__)
router.message.filter(CommandOrIn(), IsKnown())  # each handler takes a command
router.callback_query.filter(IsKnown())


def help_text(person: Person, examples: dict[str, str]) -> str:
    """The help of a person's role with `examples` of the quarter being collected
    (handlers.views.collecting_examples)."""
    text = Common.HELP_REPORTER
    if person.role == "coordinator":
        text += Common.HELP_COORDINATOR
    return text.format(**examples)


@router.message(Command("cancel"))
async def cancel(message: Message, state: FSMContext) -> None:
    draft = await in_progress(state)
    if draft is not None:  # a draft with answers is deleted only when confirmed
        text, markup = drop_question(draft)
        await message.answer(text, reply_markup=markup)
        return
    raw_state = await state.get_state()
    if raw_state == ReviewStates.comment.state:  # a reviewer's comment, not a draft
        event_id = (await state.get_data()).get("review")
        await state.clear()
        await message.answer(Review.RETURN_CANCELLED.format(id=event_id))
        return
    had_state = raw_state is not None
    await state.clear()
    await message.answer(Dialogue.CANCELLED if had_state else Dialogue.NOTHING_TO_CANCEL)


@router.message(CommandStart(), Check(F.text == "/start"))
async def start(message: Message, person: Person) -> None:
    await message.answer(Common.START_KNOWN.format(name=html.quote(person.full_name)))


@router.message(Command("help"))
async def help_(
    message: Message, person: Person, session: AsyncSession, settings: Settings, clock: Clock
) -> None:
    await message.answer(help_text(person, await collecting_examples(session, settings, clock())))
