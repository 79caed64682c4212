"""Router-level filters: who may use a router."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from storage.models import Person


class IsKnown(Filter):
    """An active person registered in the bot."""

    async def __call__(self, event: Message | CallbackQuery, person: Person | None = None) -> bool:
        return person is not None


class IsCoordinator(Filter):
    """An active coordinator."""

    async def __call__(self, event: Message | CallbackQuery, person: Person | None = None) -> bool:
        return person is not None and person.role == "coordinator"


class InPrivateChat(Filter):
    """Messages and button presses in a private chat with the bot."""

    async def __call__(self, event: Message | CallbackQuery, **_: Any) -> bool:
        message = event.message if isinstance(event, CallbackQuery) else event
        if message is None:
            return False
        return message.chat.type == "private"
