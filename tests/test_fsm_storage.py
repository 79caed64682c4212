"""The FSM storage on our engine: round trips, isolation, races, and a restart mid-dialogue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import DataNotDictLikeError
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import Chat, Message, TelegramObject, Update, User
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import create_engine, create_sessionmaker, current_session
from storage.fsm import SqlAlchemyStorage
from storage.models import FsmRecord

BOT_TOKEN = "42:TEST-TOKEN"
KEY = StorageKey(bot_id=42, chat_id=1001, user_id=1001)
DATA = {
    "name": "Фестиваль «Дружба народов»",
    "count": 120,
    "dates": {"start": "2023-10-01", "end": [2023, 10, 3]},
    "spheres": [{"id": 7, "title": "Культура"}, {"id": 8, "title": "Спорт"}],
}


class Dialogue(StatesGroup):
    step1 = State()
    step2 = State()


class RecordingSession(BaseSession):
    """A Bot API without a network: records each call and answers SendMessage with a Message."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self._message_ids = count(5000)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,
    ) -> Any:
        self.requests.append(method)
        if isinstance(method, SendMessage):
            return Message(
                message_id=next(self._message_ids),
                date=datetime.now(UTC),
                chat=Chat(id=int(method.chat_id), type="private"),
                from_user=User(id=bot.id, is_bot=True, first_name="Bot"),
                text=method.text,
            )
        raise AssertionError(f"unexpected Bot API call: {type(method).__name__}")

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise AssertionError(f"unexpected download: {url}")
        yield b""  # unreachable: makes this an async generator like the real one

    async def close(self) -> None:
        pass

    def sent_texts(self) -> list[str | None]:
        return [request.text for request in self.requests if isinstance(request, SendMessage)]


def dialogue_router() -> Router:
    """Two steps: the first message is `a`, the second `b`, the third gets both back."""
    router = Router(name="dialogue")

    @router.message(StateFilter(None))
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Dialogue.step1)
        await state.set_data({"a": message.text})
        await message.answer("Шаг 1")

    @router.message(Dialogue.step1)
    async def first_step(message: Message, state: FSMContext) -> None:
        await state.update_data(b=message.text)
        await state.set_state(Dialogue.step2)
        await message.answer("Шаг 2")

    @router.message(Dialogue.step2)
    async def second_step(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        await state.clear()
        await message.answer(f"{data['a']} | {data['b']} | {message.text}")

    return router


Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def session_per_update(sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    """The app's DbSessionMiddleware in miniature: read first, publish, commit on success."""

    async def middleware(handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with sessionmaker() as session:
            token = current_session.set(session)
            try:
                # Like the person lookup: on SQLite this already holds the write lock.
                await session.execute(select(func.count()).select_from(FsmRecord))
                result = await handler(event, data)
                await session.commit()
                return result
            finally:
                current_session.reset(token)

    return middleware


def dispatcher(sessionmaker: async_sessionmaker[AsyncSession]) -> Dispatcher:
    dp = Dispatcher(storage=SqlAlchemyStorage(sessionmaker))
    dp.update.outer_middleware(session_per_update(sessionmaker))
    dp.include_router(dialogue_router())
    return dp


_update_ids = count(1)


def text_update(text: str, user_id: int = 1001) -> Update:
    return Update(
        update_id=next(_update_ids),
        message=Message(
            message_id=next(_update_ids),
            date=datetime.now(UTC),
            chat=Chat(id=user_id, type="private"),
            from_user=User(id=user_id, is_bot=False, first_name="Ирина"),
            text=text,
        ),
    )


@asynccontextmanager
async def restarted(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions from a new engine over the same database, as after a restart of the process."""
    other = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        yield create_sessionmaker(other)
    finally:
        await other.dispose()


async def row_count(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(FsmRecord)) or 0


@asynccontextmanager
async def published(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session that has already read (so holds SQLite's write lock), published as current."""
    async with sessionmaker() as session:
        await session.execute(select(func.count()).select_from(FsmRecord))
        token = current_session.set(session)
        try:
            yield session
        finally:
            current_session.reset(token)


@pytest.fixture
def storage(sessionmaker: async_sessionmaker[AsyncSession]) -> SqlAlchemyStorage:
    return SqlAlchemyStorage(sessionmaker)


async def test_an_unknown_key_has_no_state_and_empty_data(storage: SqlAlchemyStorage) -> None:
    state = await storage.get_state(KEY)
    data = await storage.get_data(KEY)

    assert state is None
    assert data == {}


async def test_state_and_data_round_trip(storage: SqlAlchemyStorage) -> None:
    await storage.set_state(KEY, Dialogue.step1)
    await storage.set_data(KEY, DATA)

    state = await storage.get_state(KEY)
    data = await storage.get_data(KEY)

    assert state == "Dialogue:step1"
    assert data == DATA
    assert await storage.get_value(KEY, "count") == 120
    assert await storage.get_value(KEY, "missing", "нет") == "нет"


async def test_a_state_given_as_a_string_is_stored_as_is(storage: SqlAlchemyStorage) -> None:
    await storage.set_state(KEY, "Report:place")

    state = await storage.get_state(KEY)

    assert state == "Report:place"


async def test_setting_the_state_keeps_the_data_and_setting_data_keeps_the_state(
    storage: SqlAlchemyStorage,
) -> None:
    await storage.set_data(KEY, {"a": 1})
    await storage.set_state(KEY, Dialogue.step1)
    await storage.set_data(KEY, {"b": 2})

    state = await storage.get_state(KEY)
    data = await storage.get_data(KEY)

    assert state == "Dialogue:step1"
    assert data == {"b": 2}


async def test_data_read_back_is_a_copy(storage: SqlAlchemyStorage) -> None:
    await storage.set_data(KEY, {"items": [1]})
    data = await storage.get_data(KEY)

    data["items"].append(2)

    assert await storage.get_data(KEY) == {"items": [1]}


async def test_data_that_is_not_a_dict_is_refused(storage: SqlAlchemyStorage) -> None:
    with pytest.raises(DataNotDictLikeError):
        await storage.set_data(KEY, [("a", 1)])  # type: ignore[arg-type]


async def test_a_restarted_storage_sees_the_same_state_and_data(
    engine: AsyncEngine, storage: SqlAlchemyStorage
) -> None:
    await storage.set_state(KEY, Dialogue.step2)
    await storage.set_data(KEY, DATA)

    async with restarted(engine) as sessionmaker:
        after_restart = SqlAlchemyStorage(sessionmaker)
        state = await after_restart.get_state(KEY)
        data = await after_restart.get_data(KEY)

    assert state == "Dialogue:step2"
    assert data == DATA


@pytest.mark.parametrize(
    "other",
    [
        StorageKey(bot_id=42, chat_id=2002, user_id=1001),
        StorageKey(bot_id=42, chat_id=1001, user_id=2002),
        StorageKey(bot_id=43, chat_id=1001, user_id=1001),
        StorageKey(bot_id=42, chat_id=1001, user_id=1001, destiny="admin"),
        StorageKey(bot_id=42, chat_id=1001, user_id=1001, thread_id=7),
    ],
    ids=["chat", "user", "bot", "destiny", "thread"],
)
async def test_keys_differing_in_one_part_do_not_share_state_or_data(
    storage: SqlAlchemyStorage, other: StorageKey
) -> None:
    await storage.set_state(KEY, Dialogue.step1)
    await storage.set_data(KEY, {"who": "first"})

    await storage.set_state(other, Dialogue.step2)
    await storage.update_data(other, {"who": "second"})

    assert await storage.get_state(KEY) == "Dialogue:step1"
    assert await storage.get_data(KEY) == {"who": "first"}
    assert await storage.get_state(other) == "Dialogue:step2"
    assert await storage.get_data(other) == {"who": "second"}


async def test_clearing_state_and_data_removes_the_row(
    sessionmaker: async_sessionmaker[AsyncSession], storage: SqlAlchemyStorage
) -> None:
    await storage.set_state(KEY, Dialogue.step1)
    await storage.set_data(KEY, {"a": 1})

    await storage.set_state(KEY, None)
    await storage.set_data(KEY, {})

    assert await row_count(sessionmaker) == 0
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}


async def test_clearing_data_before_state_also_removes_the_row(
    sessionmaker: async_sessionmaker[AsyncSession], storage: SqlAlchemyStorage
) -> None:
    await storage.set_state(KEY, Dialogue.step1)
    await storage.set_data(KEY, {"a": 1})

    await storage.set_data(KEY, {})
    await storage.set_state(KEY, None)

    assert await row_count(sessionmaker) == 0


async def test_clearing_only_the_state_keeps_the_data(
    sessionmaker: async_sessionmaker[AsyncSession], storage: SqlAlchemyStorage
) -> None:
    await storage.set_state(KEY, Dialogue.step1)
    await storage.set_data(KEY, {"a": 1})

    await storage.set_state(KEY, None)

    assert await storage.get_data(KEY) == {"a": 1}
    assert await row_count(sessionmaker) == 1


async def test_clearing_an_unknown_key_leaves_no_row(
    sessionmaker: async_sessionmaker[AsyncSession], storage: SqlAlchemyStorage
) -> None:
    await storage.set_state(KEY, None)
    await storage.set_data(KEY, {})
    await storage.update_data(KEY, {})

    assert await row_count(sessionmaker) == 0


async def test_update_data_merges_top_level_keys_and_keeps_the_state(
    storage: SqlAlchemyStorage,
) -> None:
    await storage.set_state(KEY, Dialogue.step1)
    await storage.set_data(KEY, {"a": 1, "nested": {"x": 1}})

    result = await storage.update_data(KEY, {"nested": {"y": "два"}, "c": [3]})

    expected = {"a": 1, "nested": {"y": "два"}, "c": [3]}
    assert result == expected
    assert await storage.get_data(KEY) == expected
    assert await storage.get_state(KEY) == "Dialogue:step1"


async def test_update_data_on_an_unknown_key_creates_it(storage: SqlAlchemyStorage) -> None:
    result = await storage.update_data(KEY, {"a": "первый"})

    assert result == {"a": "первый"}
    assert await storage.get_data(KEY) == {"a": "первый"}
    assert await storage.get_state(KEY) is None


async def test_concurrent_update_data_on_one_key_loses_no_update(
    storage: SqlAlchemyStorage,
) -> None:
    tasks = [storage.update_data(KEY, {f"k{i}": i}) for i in range(20)]

    await asyncio.gather(*tasks)

    assert await storage.get_data(KEY) == {f"k{i}": i for i in range(20)}


async def test_concurrent_set_data_on_one_key_ends_with_one_of_the_writes(
    storage: SqlAlchemyStorage,
) -> None:
    written = [{"n": i, "tail": ["x"] * i} for i in range(20)]

    await asyncio.gather(*(storage.set_data(KEY, data) for data in written))

    assert await storage.get_data(KEY) in written


async def test_concurrent_set_data_and_update_data_end_in_a_consistent_value(
    storage: SqlAlchemyStorage,
) -> None:
    replaces = [storage.set_data(KEY, {"n": i}) for i in range(10)]
    merges = [storage.update_data(KEY, {"u": i}) for i in range(10)]

    await asyncio.gather(*(task for pair in zip(replaces, merges, strict=True) for task in pair))

    data = await storage.get_data(KEY)
    assert set(data) in ({"n"}, {"n", "u"})
    assert all(value in range(10) for value in data.values())


async def test_concurrent_first_writes_of_state_and_data_keep_both(
    storage: SqlAlchemyStorage,
) -> None:
    keys = [StorageKey(bot_id=42, chat_id=chat, user_id=chat) for chat in range(10)]

    await asyncio.gather(
        *(storage.set_state(key, Dialogue.step1) for key in keys),
        *(storage.set_data(key, {"chat": key.chat_id}) for key in keys),
    )

    for key in keys:
        assert await storage.get_state(key) == "Dialogue:step1"
        assert await storage.get_data(key) == {"chat": key.chat_id}


async def test_concurrent_clears_and_writes_do_not_raise(
    sessionmaker: async_sessionmaker[AsyncSession], storage: SqlAlchemyStorage
) -> None:
    await storage.set_state(KEY, Dialogue.step1)
    await storage.set_data(KEY, {"a": 1})

    await asyncio.gather(
        *(storage.set_state(KEY, None) for _ in range(5)),
        *(storage.set_data(KEY, {}) for _ in range(5)),
        *(storage.update_data(KEY, {}) for _ in range(5)),
    )

    assert await row_count(sessionmaker) == 0


async def test_inside_a_published_session_calls_join_it_instead_of_waiting_for_its_lock(
    sessionmaker: async_sessionmaker[AsyncSession], storage: SqlAlchemyStorage
) -> None:
    async with published(sessionmaker) as session:
        async with asyncio.timeout(5):
            await storage.set_state(KEY, Dialogue.step1)
            await storage.update_data(KEY, {"a": "первый"})
        seen_inside = (await storage.get_state(KEY), await storage.get_data(KEY))

        await session.commit()

    assert seen_inside == ("Dialogue:step1", {"a": "первый"})
    assert await storage.get_state(KEY) == "Dialogue:step1"
    assert await storage.get_data(KEY) == {"a": "первый"}


async def test_inside_a_published_session_a_rollback_undoes_the_step(
    storage: SqlAlchemyStorage, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await storage.set_state(KEY, Dialogue.step1)
    await storage.set_data(KEY, {"a": 1})

    async with published(sessionmaker) as session:
        await storage.set_state(KEY, Dialogue.step2)
        await storage.set_data(KEY, {})
        await storage.set_state(KEY, None)
        await session.rollback()

    assert await storage.get_state(KEY) == "Dialogue:step1"
    assert await storage.get_data(KEY) == {"a": 1}


async def test_a_dialogue_resumes_at_the_same_step_after_a_restart(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    before = RecordingSession()
    async with Bot(token=BOT_TOKEN, session=before) as bot:
        dp = dispatcher(sessionmaker)
        await dp.feed_update(bot, text_update("Выставка"))
        await dp.feed_update(bot, text_update("Казань"))
    async with sessionmaker() as session:
        record = await session.scalar(select(FsmRecord))

    after = RecordingSession()
    async with restarted(engine) as new_sessionmaker, Bot(token=BOT_TOKEN, session=after) as bot:
        await dispatcher(new_sessionmaker).feed_update(bot, text_update("50 человек"))

    assert before.sent_texts() == ["Шаг 1", "Шаг 2"]
    assert record is not None
    assert (record.key, record.state) == ("fsm:42:1001:1001:default", "Dialogue:step2")
    assert record.data == {"a": "Выставка", "b": "Казань"}
    assert after.sent_texts() == ["Выставка | Казань | 50 человек"]
    assert await row_count(sessionmaker) == 0
