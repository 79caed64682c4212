"""The commands menu per role (set_my_commands with scopes)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from handlers.texts import Menu

log = logging.getLogger(__name__)

# The menus in order, staff's first; the descriptions are handlers/texts.py `Menu`'s.
_REPORTER = ("new", "my", "nothing", "cancel", "name", "help")
_DESK = (
    "report",
    "stats",
    "status",
    "remind",
    "deadline",
    "close",
    "reopen",
    "note",
    "notes",
    "duplicates",
    "review",
    "parent",
    "reviewer",
    "unreviewer",
    "orgs",
    "neworg",
    "link",
    "revoke",
    "people",
    "deactivate",
    "persondata",
    "erase",
    "coordinator",
)
REPORTER_COMMANDS = tuple((name, Menu.COMMANDS[name]) for name in _REPORTER)
COORDINATOR_COMMANDS = (*REPORTER_COMMANDS, *((name, Menu.COMMANDS[name]) for name in _DESK))


def _commands(pairs: Iterable[tuple[str, str]]) -> list[BotCommand]:
    return [BotCommand(command=name, description=text) for name, text in pairs]


async def set_coordinator_commands(
    bot: Bot, telegram_id: int, shown: set[int] | None = None
) -> None:
    """Show a coordinator the desk's commands in their chat (and note it in `shown`)."""
    await bot.set_my_commands(
        _commands(COORDINATOR_COMMANDS), scope=BotCommandScopeChat(chat_id=telegram_id)
    )
    if shown is not None:
        shown.add(telegram_id)


async def reset_commands(bot: Bot, telegram_id: int, shown: set[int] | None = None) -> None:
    """Take the desk's commands off a former coordinator's chat (erased or deactivated):
    it shows the staff's menu again. The change is made already, so Telegram refusing
    (the chat gone, the bot blocked: 400, 403) or failing is logged, not raised."""
    if shown is not None:
        shown.discard(telegram_id)
    try:
        await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=telegram_id))
    except TelegramAPIError as error:
        log.warning("command menu of chat %s not reset: %s", telegram_id, error.message)


async def setup_commands(
    bot: Bot, coordinator_ids: Iterable[int], shown: set[int] | None = None
) -> None:
    """Staff's commands for everyone; the desk's commands for each coordinator's chat.

    A coordinator who has not opened the bot yet (or blocked it) has no chat to scope to:
    that one is skipped with a warning, and gets the menu with their first update
    (`bot.middlewares.CoordinatorMenus`, which skips the ones noted in `shown`).
    """
    await bot.set_my_commands(_commands(REPORTER_COMMANDS), scope=BotCommandScopeDefault())
    for telegram_id in coordinator_ids:
        try:
            await set_coordinator_commands(bot, telegram_id, shown)
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            log.warning("no command menu for coordinator %s: %s", telegram_id, error.message)
