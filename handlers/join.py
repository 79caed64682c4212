"""Joining: a join link binds a Telegram account to an organisation after the full name."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router, html
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.draft import clean_answer
from handlers.filters import TEXT_NOT_COMMAND, Check, CommandOrIn, InStates, IsKnown
from handlers.states import JoinStates
from handlers.texts import Join
from storage.models import JoinCode, Person
from storage.repositories import (
    CounterRepository,
    JoinCodeRepository,
    OrganisationRepository,
    PersonRepository,
)
from storage.repositories.access import STRANGER_REFUSALS, name_asked
from storage.repositories.people import has_placeholder_name

router = Router(name=__name__)
router.message.filter(CommandOrIn(JoinStates.name))  # each handler: a command, or the name
log = logging.getLogger(__name__)

FULL_NAME_MAX = 200
FULL_NAME_MIN_WORDS = 2


async def unnamed_coordinator(
    message: Message, person: Person | None, session: AsyncSession
) -> bool:
    """A coordinator from COORDINATOR_IDS who has not said their name, nor been asked it."""
    if person is None or not has_placeholder_name(person):
        return False
    return await CounterRepository(session).value(name_asked(person.id)) == 0


async def known_outside_a_dialogue(
    message: Message, state: FSMContext, person: Person | None
) -> bool:
    """A known person with no dialogue under way (asking a name must not drop a draft)."""
    return person is not None and await state.get_state() is None


@router.message(
    CommandStart(), Check(F.text == "/start"), unnamed_coordinator, known_outside_a_dialogue
)
async def ask_coordinators_name(message: Message, state: FSMContext) -> None:
    """A coordinator from the settings is asked their name once, at their first /start."""
    await state.set_state(JoinStates.name)
    await state.set_data({"rename": True})
    await message.answer(Join.ASK_OWN_NAME)


async def ask_name_once(
    bot: Bot, session: AsyncSession, state: FSMContext, person: Person | None, chat_id: int
) -> None:
    """After an update of a coordinator from COORDINATOR_IDS still under the placeholder
    name (handled as usual: the command they sent is what they need now), one line points
    them to /name. Asked once: noted in the counters table, so in any worker and after a
    restart. A /start or /name that asks the name itself counts as asking it; inside some
    other dialogue nothing is said, nor noted, until the person is out of it."""
    if person is None or person.role != "coordinator" or not has_placeholder_name(person):
        return
    counters, step = CounterRepository(session), await state.get_state()
    if step == JoinStates.name.state:  # being asked right now
        await counters.first_time(name_asked(person.id))
        return
    if step is not None or await counters.value(name_asked(person.id)):
        return
    now = await PersonRepository(session).snapshot(person.telegram_id)  # the update's doing
    if now is None or not now.active or not has_placeholder_name(now):
        return
    if not await counters.first_time(name_asked(person.id)):  # another worker asked just now
        return
    log.info("coordinator %s is asked their name", person.id)
    await bot.send_message(chat_id, Join.ASK_NAME_AFTER.format(name=html.quote(now.full_name)))


@router.message(Command("name"), known_outside_a_dialogue)
async def ask_new_name(message: Message, state: FSMContext) -> None:
    """Anyone known can correct the name they gave (outside a dialogue: /cancel first)."""
    await state.set_state(JoinStates.name)
    await state.set_data({"rename": True})
    await message.answer(Join.ASK_OWN_NAME)


@router.message(Command("name"), IsKnown())
async def name_after_the_dialogue(message: Message) -> None:
    """/name while a dialogue is under way: its draft stays; finish or cancel it first."""
    await message.answer(Join.NAME_AFTER_DIALOGUE)


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
        assert message.from_user is not None  # private chats only (the root router)
        await message.answer(Join.bad_code(message.from_user.id))
        return
    await state.set_state(JoinStates.name)
    await state.set_data({"code": join_code.code})
    if join_code.organisation_id is None:  # the first start's setup link
        await message.answer(Join.SETUP_ASK_NAME)
        return
    organisation = await OrganisationRepository(session).get(join_code.organisation_id)
    assert organisation is not None
    await message.answer(Join.ASK_NAME.format(organisation=html.quote(organisation.name)))


@router.message(InStates(JoinStates.name), Command("cancel"))
async def cancel_joining(message: Message, state: FSMContext) -> None:
    renaming = (await state.get_data()).get("rename", False)
    await state.clear()
    await message.answer(Join.RENAME_CANCELLED if renaming else Join.CANCELLED)


@router.message(InStates(JoinStates.name), TEXT_NOT_COMMAND)
async def got_name(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    person: Person | None,
) -> None:
    assert message.text is not None and message.from_user is not None
    full_name = " ".join(clean_answer(message.text).split())
    words = len(full_name.split())
    if words < FULL_NAME_MIN_WORDS or len(full_name) > FULL_NAME_MAX:
        await message.answer(Join.BAD_NAME.format(limit=FULL_NAME_MAX))
        return
    data = await state.get_data()
    if data.get("rename") and person is not None:
        own = await PersonRepository(session).get(person.id)
        assert own is not None
        own.full_name = full_name
        await state.clear()
        log.info("person %s corrected their name", person.id)
        await message.answer(Join.RENAMED.format(name=html.quote(full_name)))
        return
    codes = JoinCodeRepository(session)
    join_code = await codes.usable(data.get("code", ""))
    if join_code is None:
        await state.clear()
        await message.answer(Join.bad_code(message.from_user.id))
        return
    if join_code.organisation_id is None:
        await _first_coordinator(message, session, join_code, full_name)
        await state.clear()
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


async def _first_coordinator(
    message: Message, session: AsyncSession, join_code: JoinCode, full_name: str
) -> None:
    """The setup link's opener becomes a coordinator (of no organisation); the code is spent.
    Their command menu is set after this update (`bot.middlewares.CoordinatorMenus`)."""
    assert message.from_user is not None
    people = PersonRepository(session)
    person = await people.by_telegram_id(message.from_user.id)
    if person is None:
        person = await people.add(message.from_user.id, full_name, role="coordinator")
    else:
        person.full_name, person.role, person.active = full_name, "coordinator", True
    await JoinCodeRepository(session).spend(join_code)
    log.info("person %s became the first coordinator through the setup link", person.id)
    await message.answer(Join.SETUP_WELCOME.format(name=html.quote(full_name)))


@router.message(InStates(JoinStates.name))
async def name_not_text(message: Message) -> None:
    await message.answer(Join.BAD_NAME.format(limit=FULL_NAME_MAX))
