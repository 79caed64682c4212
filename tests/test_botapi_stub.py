"""The local Bot API stand-in, checked with a plain aiogram Bot over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)

from tests.botapi_stub import BotApiStub
from tests.e2e import TEST_TOKEN

ANNA = 1001
BORIS = 1002


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
            for row in rows
        ]
    )


class LocalSession(AiohttpSession):
    """AiohttpSession without the 250 ms pause it takes on close for TLS connections."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


@pytest.fixture
async def stub() -> AsyncIterator[BotApiStub]:
    async with BotApiStub() as stub:
        stub.add_chat(ANNA, first_name="Анна")
        stub.add_chat(BORIS, first_name="Борис")
        yield stub


@pytest.fixture
async def bot(stub: BotApiStub) -> AsyncIterator[Bot]:
    session = LocalSession(api=TelegramAPIServer.from_base(stub.url))
    async with Bot(
        TEST_TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
    ) as bot:
        yield bot


async def test_get_me_answers_as_the_test_bot(bot: Bot, stub: BotApiStub) -> None:
    me = await bot.get_me()

    assert me.username == "report_test_bot"
    assert me.is_bot
    assert me.id == bot.id
    assert [call.method for call in stub.calls] == ["getMe"]


async def test_sent_messages_get_increasing_ids_per_chat_and_echo_the_keyboard(
    bot: Bot, stub: BotApiStub
) -> None:
    markup = keyboard([("Да", "yes"), ("Нет", "no")])

    first = await bot.send_message(ANNA, "Первое")
    second = await bot.send_message(ANNA, "Второе <b>жирным</b>", reply_markup=markup)
    other = await bot.send_message(BORIS, "Другой чат")

    assert second.message_id == first.message_id + 1
    assert other.message_id == 1
    assert second.chat.id == ANNA
    assert second.from_user is not None and second.from_user.username == "report_test_bot"
    assert second.text == "Второе жирным"
    assert second.reply_markup is not None
    assert second.reply_markup.model_dump() == markup.model_dump()
    assert [(m.text, m.source) for m in stub.sent(ANNA)] == [
        ("Первое", "Первое"),
        ("Второе жирным", "Второе <b>жирным</b>"),
    ]
    assert stub.last_markup(ANNA) == [[("Да", "yes"), ("Нет", "no")]]
    assert stub.last_markup(BORIS) == []


async def test_a_sent_document_keeps_its_name_and_bytes_and_can_be_downloaded(
    bot: Bot, stub: BotApiStub
) -> None:
    content = b"PK\x03\x04 report bytes"

    message = await bot.send_document(
        ANNA, BufferedInputFile(content, "report_2023_Q4.docx"), caption="Отчёт"
    )
    sent = await stub.wait_for_document(ANNA)
    downloaded = await bot.download(message.document.file_id) if message.document else None

    assert sent.document is not None
    assert (sent.document.name, sent.document.content) == ("report_2023_Q4.docx", content)
    assert sent.text == "Отчёт"
    assert message.document is not None and message.document.file_name == "report_2023_Q4.docx"
    assert downloaded is not None and downloaded.read() == content


async def test_get_updates_hands_out_updates_from_the_offset_and_forgets_earlier_ones(
    bot: Bot, stub: BotApiStub
) -> None:
    first = await stub.push_message(ANNA, "один")
    second = await stub.push_message(ANNA, "два")
    third = await stub.push_message(ANNA, "три")

    everything = await bot.get_updates(timeout=0)
    from_second = await bot.get_updates(offset=second["update_id"], timeout=0)
    without_offset = await bot.get_updates(timeout=0)
    after_all = await bot.get_updates(offset=third["update_id"] + 1, timeout=0)

    ids = [first["update_id"], second["update_id"], third["update_id"]]
    assert [update.update_id for update in everything] == ids
    assert [update.update_id for update in from_second] == ids[1:]
    assert [update.update_id for update in without_offset] == ids[1:]
    assert after_all == []
    assert stub.pending_updates == []
    assert stub.delivered() == [*ids, *ids[1:], *ids[1:]]


async def test_get_updates_honours_limit_and_allowed_updates(bot: Bot, stub: BotApiStub) -> None:
    sent = await bot.send_message(ANNA, "Кнопка", reply_markup=keyboard([("Жми", "go")]))
    await stub.push_message(ANNA, "текст")
    await stub.push_callback(ANNA, sent.message_id, "go")
    await stub.push_message(ANNA, "ещё текст")

    limited = await bot.get_updates(limit=2, timeout=0)
    buttons_only = await bot.get_updates(allowed_updates=["callback_query"], timeout=0)

    assert [update.message.text for update in limited if update.message] == ["текст"]
    assert limited[1].callback_query is not None
    assert [update.callback_query is not None for update in buttons_only] == [True]


async def test_a_long_poll_returns_as_soon_as_an_update_is_pushed(
    bot: Bot, stub: BotApiStub
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await stub.wait_for_polling()

    pushed = await stub.push_message(ANNA, "/start")
    async with asyncio.timeout(5):
        updates = await poll

    assert [update.update_id for update in updates] == [pushed["update_id"]]
    assert time.monotonic() - started < 5


async def test_a_new_long_poll_ends_the_one_waiting_with_a_conflict(
    bot: Bot, stub: BotApiStub
) -> None:
    waiting = asyncio.create_task(bot.get_updates(timeout=30))
    await stub.wait_for_polling()

    newer = await bot.get_updates(timeout=0)

    assert newer == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await waiting


async def test_a_command_message_carries_bot_command_entities_in_utf16_units(
    bot: Bot, stub: BotApiStub
) -> None:
    await stub.push_message(ANNA, "🙂 /report 2023-Q4", first_name="Анна")

    [update] = await bot.get_updates(timeout=0)

    message = update.message
    assert message is not None and message.from_user is not None
    assert message.from_user.first_name == "Анна"
    assert message.chat.type == "private"
    assert message.entities is not None
    [entity] = message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 3, 7)
    assert entity.extract_from(message.text or "") == "/report"


async def test_a_button_press_carries_the_message_and_can_be_answered_once(
    bot: Bot, stub: BotApiStub
) -> None:
    sent = await bot.send_message(
        ANNA, "Выберите", reply_markup=keyboard([("Культура", "sph:1")], [("Спорт", "sph:2")])
    )

    await stub.press(ANNA, "Спорт")
    [update] = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None
    answered = await bot.answer_callback_query(query.id, text="Принято")

    assert query.data == "sph:2"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.message.reply_markup == sent.reply_markup
    assert answered is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)
    with pytest.raises(LookupError, match="no button 'Туризм'"):
        await stub.press(ANNA, "Туризм")


async def test_editing_without_a_keyboard_removes_it_as_telegram_does(
    bot: Bot, stub: BotApiStub
) -> None:
    sent = await bot.send_message(ANNA, "Шаг 1", reply_markup=keyboard([("Далее", "next")]))
    mark = stub.mark()

    edited = await bot.edit_message_text("Шаг 2", chat_id=ANNA, message_id=sent.message_id)
    seen = await stub.wait_for_edit(ANNA, "Шаг 2", after=mark)

    assert edited is not True and edited.reply_markup is None
    assert (seen.message_id, seen.text, seen.edits, seen.buttons) == (
        sent.message_id,
        "Шаг 2",
        1,
        [],
    )
    assert stub.last_markup(ANNA) == []


async def test_deleted_messages_stay_listed_but_marked(bot: Bot, stub: BotApiStub) -> None:
    sent = await bot.send_message(ANNA, "Удалить", reply_markup=keyboard([("x", "x")]))

    assert await bot.delete_message(ANNA, sent.message_id) is True

    assert [(m.text, m.deleted) for m in stub.sent(ANNA)] == [("Удалить", True)]
    assert stub.last_markup(ANNA) == []
    with pytest.raises(LookupError):
        await stub.push_callback(ANNA, sent.message_id, "x")


async def _unchanged_edit(bot: Bot) -> Any:
    sent = await bot.send_message(ANNA, "Тот же", reply_markup=keyboard([("a", "a")]))
    return await bot.edit_message_text(
        "Тот же", chat_id=ANNA, message_id=sent.message_id, reply_markup=keyboard([("a", "a")])
    )


@pytest.mark.parametrize(
    ("request_", "error", "description"),
    [
        (
            lambda bot: bot.send_message(ANNA, "Имя: <Иван>"),
            TelegramBadRequest,
            "can't parse entities",
        ),
        (
            lambda bot: bot.send_message(ANNA, "<b>не закрыт"),
            TelegramBadRequest,
            "Can't find end tag",
        ),
        (lambda bot: bot.send_message(ANNA, "x" * 4097), TelegramBadRequest, "too long"),
        (lambda bot: bot.send_message(7777, "Привет"), TelegramBadRequest, "chat not found"),
        (
            lambda bot: bot.send_message(ANNA, "ok", reply_markup=keyboard([("a", "я" * 33)])),
            TelegramBadRequest,
            "BUTTON_DATA_INVALID",
        ),
        (_unchanged_edit, TelegramBadRequest, "message is not modified"),
        (
            lambda bot: bot.edit_message_text("x", chat_id=ANNA, message_id=999),
            TelegramBadRequest,
            "message to edit not found",
        ),
        (lambda bot: bot.delete_message(ANNA, 999), TelegramBadRequest, "not found"),
        (
            lambda bot: bot.set_my_commands(
                [BotCommand(command="new", description="x")],
                scope=BotCommandScopeChat(chat_id=7777),
            ),
            TelegramBadRequest,
            "chat not found",
        ),
        (
            lambda bot: bot.set_my_commands([BotCommand(command="New", description="x")]),
            TelegramBadRequest,
            "BOT_COMMAND_INVALID",
        ),
        (
            lambda bot: bot.send_message(ANNA, "ok", reply_markup=keyboard([("a", "b")] * 101)),
            TelegramBadRequest,
            "reply markup is too long",
        ),
        (
            lambda bot: bot.answer_callback_query("1", text="я" * 201),
            TelegramBadRequest,
            "MESSAGE_TOO_LONG",
        ),
        (
            lambda bot: bot.send_document(
                ANNA, BufferedInputFile(b"x" * (50 * 2**20 + 1), filename="report.docx")
            ),
            TelegramEntityTooLarge,
            "Request Entity Too Large",
        ),
    ],
    ids=[
        "unescaped-angle-brackets",
        "unclosed-tag",
        "text-too-long",
        "unknown-chat",
        "callback-data-over-64-bytes",
        "edit-that-changes-nothing",
        "edit-of-a-missing-message",
        "delete-of-a-missing-message",
        "commands-for-an-unknown-chat",
        "command-with-capitals",
        "101-buttons",
        "callback-answer-over-200",
        "document-over-50-mb",
    ],
)
async def test_what_telegram_refuses_is_refused(
    bot: Bot,
    stub: BotApiStub,
    request_: Callable[[Bot], Awaitable[Any]],
    error: type[Exception],
    description: str,
) -> None:
    with pytest.raises(error, match=description):
        await request_(bot)

    assert stub.calls[-1].status == (413 if error is TelegramEntityTooLarge else 400)


async def test_a_blocked_person_cannot_be_written_to(bot: Bot, stub: BotApiStub) -> None:
    stub.block(BORIS)

    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(BORIS, "Напоминание")


async def test_fail_next_answers_429_with_retry_after_then_recovers(
    bot: Bot, stub: BotApiStub
) -> None:
    stub.fail_next("sendMessage", status=429, retry_after=3, count=2)

    errors = []
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(ANNA, "Попытка")
        errors.append(caught.value.retry_after)
    sent = await bot.send_message(ANNA, "Попытка")

    assert errors == [3, 3]
    assert sent.message_id == 1
    assert [call.status for call in stub.calls_of("sendMessage")] == [429, 429, 200]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 500}, TelegramServerError),
        ({"status": 502}, TelegramServerError),
        ({"disconnect": True}, TelegramNetworkError),
    ],
    ids=["500", "502", "connection-closed"],
)
async def test_fail_next_can_answer_a_server_error_or_drop_the_connection(
    bot: Bot, stub: BotApiStub, fault: dict[str, Any], error: type[Exception]
) -> None:
    stub.fail_next("SENDMESSAGE", **fault)

    with pytest.raises(error):
        await bot.send_message(ANNA, "Попытка")
    sent = await bot.send_message(ANNA, "Снова")

    assert sent.text == "Снова"


async def test_hold_next_shows_the_message_at_once_and_answers_the_bot_on_release(
    bot: Bot, stub: BotApiStub
) -> None:
    release = stub.hold_next("SendMessage")

    sending = asyncio.create_task(bot.send_message(ANNA, "Вопрос"))
    shown = await stub.wait_for_message(ANNA)
    answered_before_release = sending.done()
    release.set()
    sent = await sending
    again = await bot.send_message(ANNA, "Без задержки")

    assert shown.text == "Вопрос"
    assert not answered_before_release
    assert sent.message_id == shown.message_id
    assert again.message_id == shown.message_id + 1


async def test_commands_menus_are_kept_per_scope(bot: Bot, stub: BotApiStub) -> None:
    await bot.set_my_commands([BotCommand(command="new", description="Новое")])
    await bot.set_my_commands(
        [BotCommand(command="report", description="Отчёт")],
        scope=BotCommandScopeChat(chat_id=ANNA),
    )

    default = await bot.get_my_commands()
    await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=ANNA))

    assert [(command.command, command.description) for command in default] == [("new", "Новое")]
    assert stub.my_commands() == [("new", "Новое")]
    assert stub.my_commands({"type": "chat", "chat_id": ANNA}) == []


async def test_json_urlencoded_and_query_parameters_are_decoded(stub: BotApiStub) -> None:
    base = f"{stub.url}/bot{TEST_TOKEN}"
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}

    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/SendMessage", json={"chat_id": ANNA, "text": "123", "reply_markup": markup}
        ) as response:
            by_json = await response.json()
        async with http.post(
            f"{base}/sendmessage", data={"chat_id": str(ANNA), "text": "true"}
        ) as response:
            by_form = await response.json()
        async with http.get(f"{base}/getUpdates", params={"offset": "5", "timeout": "0"}) as resp:
            by_query = await resp.json()

    assert by_json["result"]["text"] == "123"
    assert by_json["result"]["reply_markup"] == markup
    assert by_form["result"]["text"] == "true"
    assert by_query == {"ok": True, "result": []}
    assert [call.method for call in stub.calls] == ["sendMessage", "sendMessage", "getUpdates"]
    assert stub.calls[1].params == {"chat_id": ANNA, "text": "true"}
    assert stub.calls[2].params == {"offset": 5, "timeout": 0}


async def test_any_other_method_is_recorded_and_answered_true(stub: BotApiStub) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{stub.url}/bot{TEST_TOKEN}/setChatMenuButton", data={"x": "1"}) as response,
    ):
        body = await response.json()

    assert body == {"ok": True, "result": True}
    assert stub.calls[-1].method == "setChatMenuButton"


async def test_wait_for_gives_up_listing_the_requests_it_saw(bot: Bot, stub: BotApiStub) -> None:
    await bot.send_message(ANNA, "Не то")

    with pytest.raises(AssertionError, match=r"(?s)no matching request.*Не то"):
        await stub.wait_for_message(ANNA, "То самое", timeout=0.05)
