"""The catch-all, included last: strangers are refused, stale buttons answered."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.commands import COORDINATOR_COMMANDS, REPORTER_COMMANDS
from handlers.texts import Common
from storage.models import Person
from storage.repositories import CounterRepository
from storage.repositories.access import STRANGER_REFUSALS

router = Router(name=__name__)
_DESK_COMMANDS = {name for name, _ in COORDINATOR_COMMANDS} - {
    name for name, _ in REPORTER_COMMANDS
}
log = logging.getLogger(__name__)


@router.message()
async def any_message(message: Message, session: AsyncSession, person: Person | None) -> None:
    if person is None:
        await CounterRepository(session).increment(STRANGER_REFUSALS)
        assert message.from_user is not None  # private chats only (the root router)
        await message.answer(Common.stranger(message.from_user.id))
        return
    command = (message.text or "").split(maxsplit=1)[0].split("@")[0].lstrip("/")
    if (message.text or "").startswith("/") and command in _DESK_COMMANDS:
        log.warning("person %s (%s) tried /%s", person.id, person.role, command)
        await message.answer(Common.COORDINATOR_ONLY)
        return
    await message.answer(Common.NOT_UNDERSTOOD)


@router.callback_query()
async def any_button(callback: CallbackQuery, session: AsyncSession, person: Person | None) -> None:
    if person is None:
        await CounterRepository(session).increment(STRANGER_REFUSALS)
        await callback.answer(Common.stranger_alert(callback.from_user.id), show_alert=True)
        return
    log.warning(
        "refused button %r from person %s: stale, forged or not theirs", callback.data, person.id
    )
    await callback.answer(Common.STALE_BUTTON, show_alert=True)
