"""`python -m bot demo`: the real Dispatcher and handlers driven from the terminal.

Telegram is replaced by a session that prints what the bot sends; buttons are shown as
numbered choices, pressed by typing the number in brackets (`[3]`, or `#3`), so a plain
number typed at a question is an answer, as in the chat. The log goes to a file, not
between the messages. The database is a throw-away SQLite
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
from aiogram.methods import (
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
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

from bot import texts
from bot.app import build_bot, build_dispatcher
from bot.database import deadline_for, open_storage
from bot.settings import Settings
from storage.repositories import OrganisationRepository, PeriodRepository, PersonRepository

DEMO_USER = User(id=1, is_bot=False, first_name=texts.DEMO_FIRST_NAME, language_code="ru")
BOT_USER = User(id=2, is_bot=True, first_name=texts.DEMO_BOT_NAME, username="demo_report_bot")
_TAGS = re.compile(r"<[^>]+>")
_PRESS = re.compile(r"^\s*(?:\[\s*(\d+)\s*\]|#\s*(\d+))\s*$")
LOG_FILE = Path(tempfile.gettempdir()) / "report-bot-demo.log"


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
        elif isinstance(method, SendDocument | SendPhoto):  # /stats sends a picture
            document = method.document if isinstance(method, SendDocument) else method.photo
            if isinstance(document, BufferedInputFile):
                path = self.documents / (document.filename or "document.docx")
                path.write_bytes(document.data)
                saved = texts.DEMO_FILE_SAVED.format(path=path)
                caption = f"{method.caption or ''}\n{saved}".strip()
                self._print(caption, method.reply_markup)
        elif isinstance(method, EditMessageText):
            self._print(method.text, method.reply_markup)
            return True  # type: ignore[return-value]
        elif isinstance(method, EditMessageReplyMarkup):
            if isinstance(method.reply_markup, InlineKeyboardMarkup):
                self._print("", method.reply_markup)
            return True  # type: ignore[return-value]
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


def pressed(text: str, buttons: list[tuple[str, str]]) -> int | None:
    """The button a line presses (`[3]` or `#3`, counted from 1), or None for a message."""
    found = _PRESS.match(text)
    if found is None:
        return None
    number = int(found[1] or found[2])
    return number - 1 if 1 <= number <= len(buttons) else None


def _update(update_id: int, text: str, buttons: list[tuple[str, str]]) -> Update:
    chat = Chat(id=DEMO_USER.id, type="private")
    now = datetime.now(UTC)
    if (index := pressed(text, buttons)) is not None:
        message = Message(message_id=0, date=now, chat=chat, from_user=BOT_USER, text="…")
        callback = CallbackQuery(
            id=str(update_id),
            from_user=DEMO_USER,
            chat_instance="demo",
            data=buttons[index][1],
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


def _log_to_file() -> None:
    """Send every log record to `LOG_FILE` instead of the terminal the dialogue is on."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


async def run_demo(settings: Settings, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """Run the dialogue in the terminal until /exit or end of input; the log goes to
    `LOG_FILE`, so only the dialogue is on the screen."""
    _log_to_file()
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
            organisation = await OrganisationRepository(session).get_or_add(texts.DEMO_ORGANISATION)
            person = await PersonRepository(session).by_telegram_id(DEMO_USER.id)
            assert person is not None
            person.full_name, person.organisation_id = texts.DEMO_FULL_NAME, organisation.id
            # As the bot's scheduler does at start: the quarter being collected has its
            # period, so /report and /status work before anyone has reported.
            await PeriodRepository(session).ensure_collecting(
                datetime.now(UTC), demo_settings.timezone, deadline_for(demo_settings)
            )
        terminal = TerminalSession(out, Path.cwd())
        bot = build_bot(demo_settings, session=terminal)
        dispatcher = build_dispatcher(demo_settings, storage)
        print(texts.DEMO_HELLO.format(log=LOG_FILE), file=out, flush=True)
        try:
            for update_id in count(1):
                line = await asyncio.to_thread(stdin.readline)
                if not line or line.strip() in ("/exit", "/quit"):
                    break
                text = line.rstrip("\n")
                if not text.strip():
                    continue
                if _PRESS.match(text) and pressed(text, terminal.buttons) is None:
                    print(texts.DEMO_NO_SUCH_BUTTON, file=out, flush=True)
                    continue
                await dispatcher.feed_update(bot, _update(update_id, text, terminal.buttons))
        finally:
            await bot.session.close()
            await storage.close()
    return 0
