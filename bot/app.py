"""Assembly: settings → storage → Dispatcher → polling. No logic of its own."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from reports.quarters import Quarter
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_database
from storage.repositories import PersonRepository, SphereRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Storage:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    async def close(self) -> None:
        await self.engine.dispose()


def deadline_for(settings: Settings) -> Callable[[Quarter], datetime]:
    """The default deadline of a quarter under these settings."""

    def deadline(quarter: Quarter) -> datetime:
        return quarter.deadline(
            settings.timezone, day=settings.deadline_day, at=settings.deadline_time
        )

    return deadline


async def open_storage(settings: Settings) -> Storage:
    """Engine, schema upgraded to head, spheres and coordinators from the settings."""
    engine = create_engine(settings.database_url)
    await upgrade_database(engine)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        await SphereRepository(session).sync(settings.spheres)
        await PersonRepository(session).bootstrap_coordinators(settings.coordinator_ids)
    return Storage(engine, sessionmaker)


async def run_polling(settings: Settings) -> None:
    """Start the bot with long polling until interrupted."""
    from aiogram import Bot, Dispatcher
    from aiogram.client.default import DefaultBotProperties
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.enums import ParseMode

    from handlers import setup_routers

    assert settings.bot_token is not None
    storage = await open_storage(settings)
    session = None
    if settings.telegram_api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    dispatcher = Dispatcher(settings=settings, sessionmaker=storage.sessionmaker)
    dispatcher.include_router(setup_routers())
    try:
        await dispatcher.start_polling(bot, handle_signals=True)
    finally:
        await bot.session.close()
        await storage.close()
