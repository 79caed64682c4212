"""Joining: a join link binds a Telegram account to an organisation after the full name."""

from __future__ import annotations

import logging

from aiogram import Router, html
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.draft import clean_answer
from handlers.filters import TEXT_NOT_COMMAND
from handlers.states import JoinStates
from handlers.texts import Join
from storage.models import Person
from storage.repositories import (
    CounterRepository,
    JoinCodeRepository,
    OrganisationRepository,
    PersonRepository,
)
from storage.repositories.access import STRANGER_REFUSALS

router = Router(name=__name__)
log = logging.getLogger(__name__)

FULL_NAME_MAX = 200


@router.message(CommandStart(deep_link=True))
async def start_with_code(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    person: Person | None,
) -> None:
    if person is not None:
        organisation = await OrganisationRepository(session).get(person.organisation_id or 0)
        name = organisation.name if organisation else "—"
        await message.answer(Join.ALREADY.format(organisation=html.quote(name)))
        return
    join_code = await JoinCodeRepository(session).usable(command.args or "")
    if join_code is None:
        await CounterRepository(session).increment(STRANGER_REFUSALS)
        await message.answer(Join.BAD_CODE)
        return
    organisation = await OrganisationRepository(session).get(join_code.organisation_id)
    assert organisation is not None
    await state.set_state(JoinStates.name)
    await state.set_data({"code": join_code.code})
    await message.answer(Join.ASK_NAME.format(organisation=html.quote(organisation.name)))


@router.message(StateFilter(JoinStates.name), Command("cancel"))
async def cancel_joining(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(Join.CANCELLED)


@router.message(StateFilter(JoinStates.name), TEXT_NOT_COMMAND)
async def got_name(
    message: Message, state: FSMContext, session: AsyncSession, person: Person | None
) -> None:
    assert message.text is not None and message.from_user is not None
    full_name = " ".join(clean_answer(message.text).split())
    if not full_name or len(full_name) > FULL_NAME_MAX:
        await message.answer(Join.BAD_NAME.format(limit=FULL_NAME_MAX))
        return
    codes = JoinCodeRepository(session)
    join_code = await codes.usable((await state.get_data()).get("code", ""))
    if join_code is None:
        await state.clear()
        await message.answer(Join.BAD_CODE)
        return
    people = PersonRepository(session)
    existing = await people.by_telegram_id(message.from_user.id)
    if existing is None:
        existing = await people.add(
            message.from_user.id,
            full_name,
            organisation_id=join_code.organisation_id,
            role=join_code.role,  # type: ignore[arg-type]
        )
    else:  # a deactivated person coming back through a new link
        existing.full_name, existing.active = full_name, True
        existing.organisation_id = join_code.organisation_id
    await codes.mark_used(join_code)
    await state.clear()
    organisation = await OrganisationRepository(session).get(join_code.organisation_id)
    assert organisation is not None
    log.info("person %s joined organisation %s", existing.id, organisation.id)
    await message.answer(
        Join.WELCOME.format(name=html.quote(full_name), organisation=html.quote(organisation.name))
    )


@router.message(StateFilter(JoinStates.name))
async def name_not_text(message: Message) -> None:
    await message.answer(Join.BAD_NAME.format(limit=FULL_NAME_MAX))
