"""Chats that block the bot and come back: Telegram's `my_chat_member` updates.

A private chat whose person blocks the bot arrives as the bot's own membership turning
`kicked`; unblocking (or /start after it) turns it `member` again. The person stays a
member of their organisation either way: only `Person.unreachable_since` changes, so the
organisation is still expected to report and the coordinator sees why nobody answers.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import IS_MEMBER, IS_NOT_MEMBER, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import Check
from storage.repositories import PersonRepository

router = Router(name=__name__)
router.my_chat_member.filter(Check(F.chat.type == "private"))
log = logging.getLogger(__name__)


@router.my_chat_member(ChatMemberUpdatedFilter(IS_NOT_MEMBER))
async def blocked(update: ChatMemberUpdated, session: AsyncSession) -> None:
    """The person blocked the bot (or deleted their account): nothing reaches them now."""
    marked = await PersonRepository(session).mark_unreachable(
        telegram_id=update.chat.id, at=update.date
    )
    if marked:
        log.info("chat %s blocked the bot", update.chat.id)


@router.my_chat_member(ChatMemberUpdatedFilter(IS_MEMBER))
async def unblocked(update: ChatMemberUpdated, session: AsyncSession) -> None:
    """The person unblocked the bot: its messages reach them again."""
    if await PersonRepository(session).mark_reachable(update.chat.id):
        log.info("chat %s unblocked the bot", update.chat.id)
