"""Assembly: settings → storage → Dispatcher → polling. No logic of its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import ErrorEvent

from bot.database import Storage, open_storage
from bot.middlewares import CommitBeforeSending, DbSessionMiddleware
from bot.scheduler import ReminderScheduler
from bot.settings import Settings
from handlers import setup_routers
from handlers.commands import setup_commands
from handlers.texts import Common
from storage.fsm import SqlAlchemyStorage
from storage.repositories import PersonRepository

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
START_RETRY_MAX_DELAY = 30.0


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _on_error(event: ErrorEvent, bot: Bot) -> bool:
    """Log the failure with its update, and tell the person nothing was lost."""
    update = event.update
    log.exception("update %s failed", update.update_id, exc_info=event.exception)
    chat = None
    if update.message is not None:
        chat = update.message.chat.id
    elif update.callback_query is not None:
        chat = update.callback_query.from_user.id
    if chat is not None:
        try:
            await bot.send_message(chat, Common.ERROR)
        except Exception:  # the person is told when possible; the log has the cause
            log.exception("could not tell chat %s about the failure", chat)
    return True


def build_dispatcher(settings: Settings, storage: Storage, clock: Clock = utc_now) -> Dispatcher:
    """The Dispatcher with our FSM storage, the session middleware and every router."""
    dispatcher = Dispatcher(
        storage=SqlAlchemyStorage(storage.sessionmaker),
        settings=settings,
        sessionmaker=storage.sessionmaker,
        reader=storage.reader,
        clock=clock,
    )
    dispatcher.update.outer_middleware(DbSessionMiddleware(storage.sessionmaker))
    dispatcher.errors.register(_on_error)
    dispatcher.include_router(setup_routers())
    return dispatcher


def build_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """The Bot: HTML parse mode by default, a self-hosted API server if configured."""
    assert settings.bot_token is not None
    if session is None and settings.telegram_api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    bot.session.middleware(CommitBeforeSending())
    return bot


async def _until_telegram_answers(call: Callable[[], Awaitable[object]]) -> None:
    """Retry a start-up call while Telegram is unreachable, busy or failing (5xx, 429)."""
    delay = 1.0
    while True:
        try:
            await call()
            return
        except TelegramRetryAfter as error:
            wait = float(error.retry_after)
        except (TelegramNetworkError, TelegramServerError) as error:
            wait, delay = delay, min(delay * 2, START_RETRY_MAX_DELAY)
            log.warning("Telegram is not answering at start (%s); retrying", error)
        await asyncio.sleep(wait)


async def _setup_menus(bot: Bot, storage: Storage) -> None:
    async with storage.sessionmaker() as session:
        coordinators = await PersonRepository(session).coordinators()
    await setup_commands(bot, [person.telegram_id for person in coordinators])


async def run_polling(settings: Settings) -> None:
    """Start the bot with long polling until interrupted."""
    storage = await open_storage(settings)
    bot = build_bot(settings)
    dispatcher = build_dispatcher(settings, storage)
    scheduler = ReminderScheduler.for_app(bot, storage.sessionmaker, settings)
    dispatcher.workflow_data.update(scheduler.workflow_data())
    try:
        await _until_telegram_answers(bot.me)
        await _until_telegram_answers(lambda: _setup_menus(bot, storage))
        await scheduler.start()
        await dispatcher.start_polling(bot, handle_signals=True)
    finally:
        await scheduler.shutdown()
        await bot.session.close()
        await storage.close()
