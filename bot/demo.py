"""`python -m bot demo`: the real Dispatcher and handlers driven from the terminal.

Telegram is replaced by a session that prints what the bot sends; buttons are shown as
numbered choices (type the number to press one). The database is a throw-away SQLite
file, and the person at the terminal is a coordinator of a demo organisation, so the whole
dialogue and /report work without Telegram. Documents are saved in the current folder.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import sys
import tempfile
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any, TextIO

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import GetMe, SendDocument, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
    User,
)
from pydantic import SecretStr

from bot.app import build_bot, build_dispatcher
from bot.database import open_storage
from bot.settings import Settings
from storage.repositories import OrganisationRepository, PersonRepository

DEMO_USER = User(id=1, is_bot=False, first_name="Демо", language_code="ru")
BOT_USER = User(id=2, is_bot=True, first_name="Отчёты", username="demo_report_bot")
ORGANISATION = "Демонстрационное учреждение"
_TAGS = re.compile(r"<[^>]+>")
HELLO = (
    "Демо: бот работает в терминале, без Telegram, на временной базе.\n"
    "Пишите как в чате (/new — новое мероприятие, /my, /report, /help); "
    "чтобы нажать кнопку, введите её номер. Выход: /exit или Ctrl+D.\n"
)


def plain(text: str) -> str:
    """The chat's HTML as terminal text."""
    return html.unescape(_TAGS.sub("", text))


class TerminalSession(BaseSession):
    """Prints what the bot sends and remembers the latest buttons."""

    def __init__(self, out: TextIO, documents: Path) -> None:
        super().__init__()
        self.out, self.documents = out, documents
        self.buttons: list[tuple[str, str]] = []
        self.message_ids = count(1)

    async def close(self) -> None:
        """Nothing to close."""

    def _print(self, text: str, markup: Any) -> None:
        print("\n" + plain(text), file=self.out)
        if isinstance(markup, InlineKeyboardMarkup):
            self.buttons = [
                (button.text, button.callback_data or "")
                for row in markup.inline_keyboard
                for button in row
            ]
            for number, (label, _) in enumerate(self.buttons, start=1):
                print(f"  [{number}] {label}", file=self.out)
        self.out.flush()

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if isinstance(method, GetMe):
            return BOT_USER  # type: ignore[return-value]
        if isinstance(method, SendMessage):
            self._print(method.text, method.reply_markup)
        elif isinstance(method, SendDocument):
            document = method.document
            if isinstance(document, BufferedInputFile):
                path = self.documents / (document.filename or "document.docx")
                path.write_bytes(document.data)
                self._print(f"{method.caption or ''}\n[файл сохранён: {path}]", None)
        else:
            text = getattr(method, "text", None)
            if text and getattr(method, "show_alert", False):
                self._print(f"(!) {text}", None)
            return True  # type: ignore[return-value]
        return Message(  # type: ignore[return-value]
            message_id=next(self.message_ids),
            date=datetime.now(UTC),
            chat=Chat(id=DEMO_USER.id, type="private"),
            from_user=BOT_USER,
            text=getattr(method, "text", None),
        )

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""  # pragma: no cover


def _update(update_id: int, text: str, buttons: list[tuple[str, str]]) -> Update:
    chat = Chat(id=DEMO_USER.id, type="private")
    now = datetime.now(UTC)
    if text.isdigit() and 1 <= int(text) <= len(buttons):
        message = Message(message_id=0, date=now, chat=chat, from_user=BOT_USER, text="…")
        callback = CallbackQuery(
            id=str(update_id),
            from_user=DEMO_USER,
            chat_instance="demo",
            data=buttons[int(text) - 1][1],
            message=message,
        )
        return Update(update_id=update_id, callback_query=callback)
    entities = None
    if text.startswith("/"):
        entities = [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))]
    message = Message(
        message_id=update_id,
        date=now,
        chat=chat,
        from_user=DEMO_USER,
        text=text,
        entities=entities,
    )
    return Update(update_id=update_id, message=message)


async def run_demo(settings: Settings, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """Run the dialogue in the terminal until /exit or end of input."""
    logging.getLogger("aiogram").setLevel(logging.WARNING)  # the dialogue, not the log
    with tempfile.TemporaryDirectory(prefix="report-bot-demo-") as folder:
        demo_settings = settings.model_copy(
            update={
                "database_url": f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}",
                "bot_token": SecretStr("1:DEMO-token-never-sent-anywhere-000"),
                "coordinator_ids": [DEMO_USER.id],
            }
        )
        storage = await open_storage(demo_settings)
        async with storage.sessionmaker() as session, session.begin():
            organisation = await OrganisationRepository(session).get_or_add(ORGANISATION)
            person = await PersonRepository(session).by_telegram_id(DEMO_USER.id)
            assert person is not None
            person.full_name, person.organisation_id = "Демо Пользователь", organisation.id
        terminal = TerminalSession(out, Path.cwd())
        bot = build_bot(demo_settings, session=terminal)
        dispatcher = build_dispatcher(demo_settings, storage)
        print(HELLO, file=out, flush=True)
        try:
            for update_id in count(1):
                line = await asyncio.to_thread(stdin.readline)
                if not line or line.strip() in ("/exit", "/quit"):
                    break
                text = line.rstrip("\n")
                if not text.strip():
                    continue
                await dispatcher.feed_update(bot, _update(update_id, text, terminal.buttons))
        finally:
            await bot.session.close()
            await storage.close()
    return 0
