"""The commands menu per role (set_my_commands with scopes)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

log = logging.getLogger(__name__)

REPORTER_COMMANDS = (
    ("new", "Сообщить о мероприятии"),
    ("my", "Мои мероприятия"),
    ("nothing", "Мероприятий не было"),
    ("cancel", "Прервать заполнение"),
    ("name", "Исправить ФИО"),
    ("help", "Справка"),
)
COORDINATOR_COMMANDS = (
    *REPORTER_COMMANDS,
    ("report", "Отчёт за квартал или год (.docx, .xlsx)"),
    ("stats", "Показатели и диаграмма"),
    ("status", "Кто отчитался за квартал"),
    ("remind", "Напомнить не отчитавшимся"),
    ("deadline", "Перенести срок сдачи"),
    ("close", "Закрыть квартал"),
    ("reopen", "Открыть квартал снова"),
    ("note", "Добавить примечание к отчёту"),
    ("notes", "Примечания к отчёту"),
    ("duplicates", "Возможные повторы мероприятий"),
    ("review", "Мероприятия, ожидающие проверки"),
    ("parent", "Вышестоящий орган организации"),
    ("reviewer", "Назначить проверяющего"),
    ("unreviewer", "Снять проверяющего"),
    ("orgs", "Организации"),
    ("neworg", "Добавить организацию и ссылку"),
    ("link", "Новая ссылка для организации"),
    ("revoke", "Отозвать ссылку"),
    ("people", "Сотрудники организации"),
    ("deactivate", "Отключить сотрудника"),
    ("persondata", "Сведения, хранимые о сотруднике"),
    ("erase", "Удалить персональные данные"),
    ("coordinator", "Назначить координатора"),
)


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
