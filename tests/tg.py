"""Telegram faked at the edge only: a recording session and people who talk to the bot.

Updates go through the real Dispatcher (`feed_update`) with the real storage; the session
records every request the bot makes and answers as Telegram would.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from itertools import count
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    AnswerCallbackQuery,
    GetMe,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)

BOT_USER = User(id=42, is_bot=True, first_name="Отчёты", username="report_test_bot")


class RecordingSession(BaseSession):
    """Records each request and returns what Telegram would (a Message for a send)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self._message_ids = count(1000)

    async def close(self) -> None:
        """Nothing to close."""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,
    ) -> TelegramType:
        self.requests.append(method)
        if isinstance(method, GetMe):
            return BOT_USER  # type: ignore[return-value]
        if isinstance(method, SendMessage | SendDocument):
            return Message(  # type: ignore[return-value]
                message_id=next(self._message_ids),
                date=datetime.now(UTC),
                chat=Chat(id=int(method.chat_id), type="private"),
                from_user=BOT_USER,
                text=getattr(method, "text", None),
                reply_markup=method.reply_markup,
            )
        return True  # type: ignore[return-value]

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""  # pragma: no cover


class Person:
    """Someone writing to the bot in a private chat."""

    def __init__(self, world: World, user_id: int, first_name: str = "Иван") -> None:
        self.world = world
        self.user = User(id=user_id, is_bot=False, first_name=first_name, language_code="ru")
        self.chat = Chat(id=user_id, type="private")

    def _message(self, **fields: Any) -> Message:
        return Message(
            message_id=next(self.world.ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=self.user,
            **fields,
        )

    async def send(self, text: str) -> list[SendMessage]:
        """Send a text (a leading /command gets its entity); return the bot's replies."""
        entities = None
        if text.startswith("/"):
            length = len(text.split()[0])
            entities = [MessageEntity(type="bot_command", offset=0, length=length)]
        return await self.world.feed(
            self, Update(update_id=0, message=self._message(text=text, entities=entities))
        )

    async def send_photo(self) -> list[SendMessage]:
        photo = [PhotoSize(file_id="p", file_unique_id="p", width=10, height=10)]
        return await self.world.feed(self, Update(update_id=0, message=self._message(photo=photo)))

    async def send_update(self, **fields: Any) -> list[SendMessage]:
        """A message with arbitrary fields (sticker, voice, document, ...)."""
        return await self.world.feed(self, Update(update_id=0, message=self._message(**fields)))

    async def press_data(self, data: str, message_id: int = 1) -> list[SendMessage]:
        """Press a button with raw callback data (forged data included)."""
        callback = CallbackQuery(
            id=str(next(self.world.ids)),
            from_user=self.user,
            chat_instance="ci",
            data=data,
            message=Message(
                message_id=message_id,
                date=datetime.now(UTC),
                chat=self.chat,
                from_user=BOT_USER,
                text="…",
            ),
        )
        return await self.world.feed(self, Update(update_id=0, callback_query=callback))

    async def press(self, label: str) -> list[SendMessage]:
        """Press the button whose text starts with `label` on the latest keyboard sent here."""
        markup = self.last_keyboard()
        for row in markup.inline_keyboard:
            for button in row:
                if button.text.startswith(label):
                    assert button.callback_data is not None
                    return await self.press_data(button.callback_data)
        labels = [button.text for row in markup.inline_keyboard for button in row]
        raise AssertionError(f"no button {label!r} among {labels}")

    def replies(self) -> list[SendMessage]:
        return [
            r
            for r in self.world.session.requests
            if isinstance(r, SendMessage) and int(r.chat_id) == self.user.id
        ]

    def last_text(self) -> str:
        return self.replies()[-1].text

    def last_keyboard(self) -> InlineKeyboardMarkup:
        for request in reversed(self.replies()):
            if isinstance(request.reply_markup, InlineKeyboardMarkup):
                return request.reply_markup
        raise AssertionError("no keyboard was sent to this person")

    def alerts(self) -> list[str]:
        return [
            r.text or ""
            for r in self.world.session.requests
            if isinstance(r, AnswerCallbackQuery) and r.text
        ]

    def documents(self) -> list[SendDocument]:
        return [
            r
            for r in self.world.session.requests
            if isinstance(r, SendDocument) and int(r.chat_id) == self.user.id
        ]


class World:
    """A Dispatcher, a Bot with a recording session, and the people around them."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, session: RecordingSession) -> None:
        self.dispatcher, self.bot, self.session = dispatcher, bot, session
        self.ids = count(1)
        self.update_ids = count(1)

    def person(self, user_id: int, first_name: str = "Иван") -> Person:
        return Person(self, user_id, first_name)

    async def feed(self, person: Person, update: Update) -> list[SendMessage]:
        """Feed one update through the Dispatcher; return the messages sent to `person`."""
        before = len(person.replies())
        update = update.model_copy(update={"update_id": next(self.update_ids)})
        await self.dispatcher.feed_update(self.bot, update)
        return person.replies()[before:]

    async def feed_raw(self, update: Update) -> None:
        await self.dispatcher.feed_update(self.bot, update)
