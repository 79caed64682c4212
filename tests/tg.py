"""Telegram faked at the edge only: a recording session and people who talk to the bot.

Updates go through the real Dispatcher (`feed_update`) with the real storage; the session
records every request the bot makes and answers as Telegram would.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any, ClassVar

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import (
    AnswerCallbackQuery,
    GetFile,
    GetMe,
    SendDocument,
    SendMessage,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    Document,
    File,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    PhotoSize,
    Sticker,
    Update,
    User,
    Voice,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from handlers.texts import Dialogue
from reports.quarters import Quarter
from storage.models import Event, FsmRecord
from storage.models import Person as PersonRow
from storage.repositories import CounterRepository, PeriodRepository, PersonRepository
from storage.repositories.access import name_asked
from tests.telegram_rules import (
    BLOCKED,
    MAX_DOWNLOAD,
    Chats,
    Refusal,
    bad_request,
    check_request,
    listed_choice,
    method_params,
    raise_as_aiogram,
)

PLACEHOLDER = re.compile(r"\{[a-z_]*\}")  # what str.format would have filled in
MARKUP = re.compile(r"</?[a-z][a-z-]*[ >]|&(?:[a-z]+|#\d+);")  # tags and entities
CHOSEN_MARK = Dialogue.CHOSEN_MARK
BOT_USER = User(id=42, is_bot=True, first_name="Отчёты", username="report_test_bot")

# Messages that are not text, as fields of `Person.send_update`.
NON_TEXT_UPDATES: dict[str, dict[str, Any]] = {
    "photo": {"photo": [PhotoSize(file_id="p", file_unique_id="p", width=10, height=10)]},
    "sticker": {
        "sticker": Sticker(
            file_id="s",
            file_unique_id="s",
            type="regular",
            width=512,
            height=512,
            is_animated=False,
            is_video=False,
            emoji="👍",
        )
    },
    "voice": {"voice": Voice(file_id="v", file_unique_id="v", duration=3)},
    "document": {"document": Document(file_id="d", file_unique_id="d", file_name="отчёт.docx")},
}


@dataclass(frozen=True, slots=True)
class Refused:
    """A request Telegram would have refused, and whether the test said it would be."""

    method: TelegramMethod[Any]
    error: TelegramAPIError
    expected: bool

    def __str__(self) -> str:
        return f"{type(self.method).__name__}: {self.error.message}"


def telegram_now() -> datetime:
    """Now as Telegram dates messages: whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


class RecordingSession(BaseSession):
    """Records each request and answers as Telegram would: a Message for a send, and for
    what the Bot API refuses (tests/telegram_rules.py) aiogram's own exception.

    A refusal fails the test (conftest's `telegram_refusals_fail_the_test`) unless the test
    said it expects one (`expect_refusal`) or blocked the chat (`block`). Refused requests
    are in `refused`, not in `requests`: nobody saw them.
    """

    opened: ClassVar[list[RecordingSession]] = []  # this test's sessions, for the check

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.refused: list[Refused] = []
        self.chats = Chats()
        self._message_ids = count(1000)
        self._expecting = 0
        self._refusing: dict[str, Refusal] = {}
        self.files: dict[str, bytes] = {}  # file_id -> content people sent the bot
        self.file_sizes: dict[str, int] = {}  # sizes Telegram reports, if not the content's
        self.downloads: list[str] = []  # the file paths the bot downloaded, in order
        self.last_shown: dict[int, datetime] = {}  # chat → the date of the bot's latest message
        RecordingSession.opened.append(self)

    def add_file(self, file_id: str, content: bytes, *, size: int | None = None) -> None:
        """A file a person sent: getFile and the download serve it (`size` as reported)."""
        self.files[file_id] = content
        if size is not None:
            self.file_sizes[file_id] = size

    @property
    def blocked(self) -> set[int]:
        """The chats whose person blocked the bot (add to or discard from it, or `block`)."""
        return self.chats.blocked

    def block(self, chat_id: int) -> None:
        """The person blocked the bot: sends to the chat fail with 403 from now on."""
        self.chats.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self.chats.blocked.discard(chat_id)

    @contextmanager
    def expect_refusal(self) -> Iterator[list[Refused]]:
        """Within the block refusals are expected (and at least one must happen)."""
        before = len(self.refused)
        self._expecting += 1
        try:
            yield self.refused
        finally:
            self._expecting -= 1
        assert len(self.refused) > before, "Telegram was expected to refuse a request"

    def refuse_next(self, method: str, refusal: Refusal) -> None:
        """Telegram refuses the next request of the Bot API `method` (e.g.
        "deleteMyCommands") with `refusal`, as the test expects."""
        self._refusing[method] = refusal

    def unexpected_refusals(self) -> list[Refused]:
        return [refused for refused in self.refused if not refused.expected]

    def slips(self) -> list[str]:
        """What Telegram takes but a person should never see: a text with a `{placeholder}`
        left in it (a template never formatted), HTML in a button's answer (shown as is)."""
        found = []
        for request in self.requests:
            for key in ("text", "caption"):
                value = getattr(request, key, None)
                if isinstance(value, str) and PLACEHOLDER.search(value):
                    found.append(f"a placeholder left in {value!r}")
            if isinstance(request, AnswerCallbackQuery) and MARKUP.search(request.text or ""):
                found.append(f"HTML in the plain text of a button's answer: {request.text!r}")
        return found

    async def close(self) -> None:
        """Nothing to close."""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,
    ) -> TelegramType:
        name = method.__api_method__
        params, uploads = method_params(self, bot, method)
        planned = self._refusing.pop(name, None)
        try:
            if planned is not None:
                raise planned
            check_request(name, params, uploads)
            self.chats.check(name, params)
            if isinstance(method, GetFile):
                file = self._get_file(method.file_id)
        except Refusal as refusal:
            try:
                raise_as_aiogram(self, bot, method, refusal)
            except TelegramAPIError as error:
                expected = (
                    self._expecting > 0 or refusal.description == BLOCKED or refusal is planned
                )
                self.refused.append(Refused(method, error, expected))
                raise
        self.requests.append(method)
        if isinstance(method, GetMe):
            return BOT_USER  # type: ignore[return-value]
        if isinstance(method, GetFile):
            return file  # type: ignore[return-value]
        if isinstance(method, SendMessage | SendDocument):
            message_id = next(self._message_ids)
            self.chats.remember(name, params, message_id)
            date = telegram_now()
            self.last_shown[int(method.chat_id)] = date
            return Message(  # type: ignore[return-value]
                message_id=message_id,
                date=date,
                chat=Chat(id=int(method.chat_id), type="private"),
                from_user=BOT_USER,
                text=getattr(method, "text", None),
                reply_markup=method.reply_markup,
            )
        self.chats.remember(name, params, None)
        return True  # type: ignore[return-value]

    def written_now(self, chat_id: int) -> datetime:
        """The `date` of a person's message written now: whole seconds, as Telegram dates
        messages, and at the earliest the second after the bot's latest message to the
        chat (people read before they answer; bot/owed.py counts the same second as
        written before it), as tests/botapi_stub.py dates them."""
        shown = self.last_shown.get(chat_id)
        now = telegram_now()
        return now if shown is None else max(now, shown + timedelta(seconds=1))

    def _get_file(self, file_id: str) -> File:
        """getFile as Telegram answers it: bots may download files up to 20 MB only."""
        if file_id not in self.files:
            raise bad_request("invalid file_id")
        size = self.file_sizes.get(file_id, len(self.files[file_id]))
        if size > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return File(
            file_id=file_id,
            file_unique_id=f"u{file_id}",
            file_size=size,
            file_path=f"documents/{file_id}",
        )

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """A download of a file getFile gave the path of (`…/file/bot<token>/<path>`)."""
        path = url.split("/file/bot", 1)[1].split("/", 1)[1]
        file_id = path.removeprefix("documents/")
        if file_id not in self.files:
            raise AssertionError(f"the bot downloaded {path!r}, a path getFile never gave")
        self.downloads.append(path)
        content = self.files[file_id]
        for start in range(0, len(content), chunk_size):
            yield content[start : start + chunk_size]


class Person:
    """Someone writing to the bot in a private chat."""

    def __init__(self, world: World, user_id: int, first_name: str = "Иван") -> None:
        self.world = world
        self.user = User(id=user_id, is_bot=False, first_name=first_name, language_code="ru")
        self.chat = Chat(id=user_id, type="private")
        self.callback_ids: set[str] = set()  # the button presses this person made

    def message(self, **fields: Any) -> Message:
        """A message from this person (to build an update fed later, or twice)."""
        return self._message(**fields)

    def _message(self, **fields: Any) -> Message:
        return Message(
            message_id=next(self.world.ids),
            date=self.world.session.written_now(self.chat.id),
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

    async def send_document(
        self, file_name: str, content: bytes, *, size: int | None = None
    ) -> list[SendMessage]:
        """Send a file (served to the bot by getFile and the download); the bot's replies."""
        file_id = f"f{next(self.world.ids)}"
        self.world.session.add_file(file_id, content, size=size)
        document = Document(
            file_id=file_id,
            file_unique_id=f"u{file_id}",
            file_name=file_name,
            file_size=len(content) if size is None else size,
        )
        return await self.send_update(document=document)

    async def send_update(self, **fields: Any) -> list[SendMessage]:
        """A message with arbitrary fields (sticker, voice, document, ...)."""
        return await self.world.feed(self, Update(update_id=0, message=self._message(**fields)))

    async def press_data(self, data: str, message_id: int = 1) -> list[SendMessage]:
        """Press a button with raw callback data (forged data included)."""
        return await self.world.feed(self, self.press_update(data, message_id))

    def press_update(self, data: str, message_id: int = 1) -> Update:
        """The update of a button press, to feed later (or twice)."""
        callback_id = str(next(self.world.ids))
        self.callback_ids.add(callback_id)
        callback = CallbackQuery(
            id=callback_id,
            from_user=self.user,
            chat_instance="ci",
            data=data,
            message=Message(
                message_id=message_id,
                date=telegram_now(),
                chat=self.chat,
                from_user=BOT_USER,
                text="…",
            ),
        )
        return Update(update_id=0, callback_query=callback)

    async def press(self, label: str) -> list[SendMessage]:
        """Press the button whose text starts with `label` on the latest keyboard sent here."""
        return await self.press_data(self.button_data(label))

    def button_data(self, label: str) -> str:
        """The callback data of the button whose text starts with `label` (latest keyboard)."""
        keyboard = self.last_keyboard()
        wanted = [label]
        for request in reversed(self.replies()):  # a name from the list above short buttons
            if request.reply_markup is keyboard:
                wanted.append(listed_choice(getattr(request, "text", None), label) or label)
                break
        for prefix in wanted:
            for row in keyboard.inline_keyboard:
                for button in row:
                    # The sphere chosen before is marked «✓ »: a person sees it behind the mark.
                    text = button.text
                    if text.startswith(prefix) or text.removeprefix(CHOSEN_MARK).startswith(prefix):
                        assert button.callback_data is not None
                        return button.callback_data
        raise AssertionError(f"no button {label!r} among {self.labels()}")

    def labels(self) -> list[str]:
        """The button texts of the latest keyboard sent here."""
        return [button.text for row in self.last_keyboard().inline_keyboard for button in row]

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

    def answers(self) -> list[AnswerCallbackQuery]:
        """The bot's answers to this person's button presses."""
        return [
            r
            for r in self.world.session.requests
            if isinstance(r, AnswerCallbackQuery) and r.callback_query_id in self.callback_ids
        ]

    def alerts(self) -> list[str]:
        """The texts of the alerts shown to this person on button presses."""
        return [r.text or "" for r in self.answers() if r.show_alert]

    def documents(self) -> list[SendDocument]:
        return [
            r
            for r in self.world.session.requests
            if isinstance(r, SendDocument) and int(r.chat_id) == self.user.id
        ]

    def commands_menus(self) -> list[SetMyCommands]:
        """The commands menus set for this person's chat."""
        return [
            r
            for r in self.world.session.requests
            if isinstance(r, SetMyCommands) and getattr(r.scope, "chat_id", None) == self.user.id
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


# --- the reporting dialogue, state by state ---------------------------------------------

SPHERE = "Сотрудничество в сфере культуры и туризма"
Step = Callable[[Person], Awaitable[Any]]

# What takes a new report from one state to the next: (the ReportStates state reached, act).
WALK: tuple[tuple[str, Step], ...] = (
    ("sphere", lambda p: p.send("/new")),
    ("name", lambda p: p.press(SPHERE)),
    ("place", lambda p: p.send("Выставка «Смоленск – Минск»")),
    ("dates", lambda p: p.send("г. Минск, Республика Беларусь")),
    ("dates_confirm", lambda p: p.send("26-27 октября 2023")),
    ("result", lambda p: p.press("✔ Верно")),
    ("participants", lambda p: p.send("Открыта выставка.")),
    ("count", lambda p: p.send("Сотрудники музея")),
    ("period", lambda p: p.send("18")),
    ("summary", lambda p: p.press("IV квартал 2023 года")),
)
STATES = tuple(state for state, _ in WALK)


async def reach(person: Person, state: str) -> None:
    """Start a new report and answer until the dialogue waits in `state`."""
    for _, act in WALK[: STATES.index(state) + 1]:
        await act(person)


async def walk_on(person: Person, state: str) -> None:
    """From `state`, answer the rest of the walk up to the summary."""
    for _, act in WALK[STATES.index(state) + 1 :]:
        await act(person)


# --- what the bot stored ----------------------------------------------------------------

Sessions = async_sessionmaker[AsyncSession]


async def stored_events(sessions: Sessions) -> list[Event]:
    """Every event in the database with its sphere, period and organisation, in id order."""
    query = (
        select(Event)
        .options(
            selectinload(Event.sphere),
            selectinload(Event.period),
            selectinload(Event.organisation),
        )
        .order_by(Event.id)
    )
    async with sessions() as session:
        return list(await session.scalars(query))


async def stored_person(sessions: Sessions, telegram_id: int) -> PersonRow | None:
    async with sessions() as session:
        return await session.scalar(select(PersonRow).where(PersonRow.telegram_id == telegram_id))


async def fsm_rows(sessions: Sessions) -> list[FsmRecord]:
    """The live dialogues: one row per chat with a state or data."""
    async with sessions() as session:
        return list(await session.scalars(select(FsmRecord)))


async def fsm_of(sessions: Sessions, telegram_id: int) -> FsmRecord | None:
    """The FSM row of one private chat, if the person is in a dialogue."""
    return next(
        (row for row in await fsm_rows(sessions) if f":{telegram_id}:{telegram_id}:" in row.key),
        None,
    )


async def counter(sessions: Sessions, name: str) -> int:
    async with sessions() as session:
        return await CounterRepository(session).value(name)


async def asked_their_names(sessions: Sessions, telegram_ids: Iterable[int]) -> None:
    """Coordinators from COORDINATOR_IDS as in a bot in use: asked their names already
    (`handlers.join.ask_name_once` leaves them be; tests/test_first_run.py meets new ones)."""
    async with sessions() as session, session.begin():
        for telegram_id in telegram_ids:
            person = await PersonRepository(session).by_telegram_id(telegram_id)
            assert person is not None, f"{telegram_id} is not in COORDINATOR_IDS"
            await CounterRepository(session).first_time(name_asked(person.id))


async def add_period(sessions: Sessions, quarter: Quarter, *, status: str = "open") -> int:
    """A reporting period (opened, or closed) in the database; its id."""
    deadline = datetime.combine(quarter.next().first_day, datetime.min.time(), tzinfo=UTC)
    async with sessions() as session, session.begin():
        periods = PeriodRepository(session)
        period = await periods.ensure(quarter, deadline)
        await periods.set_status(period, status)
        return period.id


async def set_period_status(sessions: Sessions, quarter: Quarter, status: str) -> None:
    async with sessions() as session, session.begin():
        periods = PeriodRepository(session)
        period = await periods.get(quarter)
        assert period is not None
        await periods.set_status(period, status)
