"""Router-level filters: who may use a router."""

from __future__ import annotations

from typing import Any

from aiogram import F
from aiogram.filters import Filter, StateFilter
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message, TelegramObject
from magic_filter import MagicFilter

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


class CommandOrIn(Filter):
    """A router's gate: a command (a text or caption starting with "/", as aiogram's
    `Command` reads it), or a message in one of `states`.

    aiogram tries a router's handlers one by one, each with its filters; for the routers
    whose every message handler wants a command or one of their states, this one check
    spares the answers of the dialogue about ten handlers' checks (tests/test_routers.py
    keeps the routers' handlers within their gates)."""

    def __init__(self, *states: State) -> None:
        self.names = frozenset(state.state for state in states)

    async def __call__(self, message: Message, raw_state: str | None = None) -> bool:
        text = message.text or message.caption
        return (text is not None and text.startswith("/")) or raw_state in self.names


class InStates(StateFilter):
    """aiogram's StateFilter for states (and None: no state), their names worked out once.

    aiogram's works out the name of each State it is given (a formatted string, with its
    group's full name) at every check, for every update the handler is tried on: thirty
    times an update of the dialogue. The same answer: whether the chat's state is one of
    them. No "*" and no groups (aiogram's own filter takes those)."""

    def __init__(self, *states: State | None) -> None:
        super().__init__(*states)
        if not all(state is None or isinstance(state, State) for state in states):
            raise TypeError("InStates takes states and None (StateFilter takes groups)")
        self.names = frozenset(state.state if state is not None else None for state in states)
        if "*" in self.names:
            raise ValueError("InStates takes no '*' (StateFilter does)")

    async def __call__(self, obj: TelegramObject, raw_state: str | None = None) -> bool:
        return raw_state in self.names


class Check(Filter):
    """A magic filter (`F.…`) checked in the event loop.

    aiogram runs a bare magic filter, like any plain function (a bare `State` too: use
    `StateFilter`), in a worker thread (`asyncio.to_thread`) each time it is checked: the
    hop costs far more than the check. tests/test_routers.py keeps them out.
    """

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        return self.magic.resolve(event)


HAS_TEXT = Check(F.text)
NO_TEXT = Check(~F.text)
# An answer is any text that is not a command: commands keep working in the middle.
IS_ANSWER = Check(F.func(lambda message: not (message.text or "").startswith("/")))
TEXT_NOT_COMMAND = Check(F.text & ~F.text.startswith("/"))
