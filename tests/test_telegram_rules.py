"""The strict doubles refuse what the Bot API refuses, at the boundary, with aiogram's errors."""

from __future__ import annotations

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge, TelegramForbiddenError
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from tests.telegram_rules import MAX_UPLOAD, NOT_MODIFIED, Refusal, html_to_text
from tests.tg import World

CHAT = 555


def keyboard(count: int, *, text: str = "Кнопка", data: str = "x") -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=text, callback_data=data) for _ in range(count)]
    return InlineKeyboardMarkup(inline_keyboard=[buttons[i : i + 8] for i in range(0, count, 8)])


async def refused(world: World, call: object) -> TelegramBadRequest:
    """The error a call raises; the refusal is expected by the test."""
    with world.session.expect_refusal(), pytest.raises(TelegramBadRequest) as raised:
        await call  # type: ignore[misc]
    return raised.value


# --- message text ------------------------------------------------------------------------


async def test_a_text_of_4096_characters_is_sent_and_of_4097_refused(world: World) -> None:
    await world.bot.send_message(CHAT, "я" * 4096)

    error = await refused(world, world.bot.send_message(CHAT, "я" * 4097))

    assert error.message == "Bad Request: message is too long"
    assert len(world.session.requests) == 1  # the refused one was not delivered


async def test_the_length_is_counted_after_entity_parsing(world: World) -> None:
    await world.bot.send_message(CHAT, "<b>" + "&amp;" * 4096 + "</b>")

    error = await refused(world, world.bot.send_message(CHAT, "<b>" + "&amp;" * 4097 + "</b>"))

    assert error.message == "Bad Request: message is too long"


async def test_the_length_is_counted_in_utf16_units(world: World) -> None:
    await world.bot.send_message(CHAT, "😀" * 2048)  # 4096 units

    error = await refused(world, world.bot.send_message(CHAT, "😀" * 2048 + "a"))

    assert error.message == "Bad Request: message is too long"


@pytest.mark.parametrize(
    ("source", "description"),
    [
        ("<br>", 'Unsupported start tag "br"'),
        ("<b>текст", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("1 < 2", "Unexpected character at byte offset 2"),
        ('<span class="x">x</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_invalid_html_cannot_be_parsed(world: World, source: str, description: str) -> None:
    error = await refused(world, world.bot.send_message(CHAT, source))

    assert error.message.startswith("Bad Request: can't parse entities: ")
    assert description in error.message


def test_telegrams_tags_and_entities_parse_to_the_shown_text() -> None:
    source = (
        "<b>a</b><strong>b</strong><i>c</i><em>d</em><u>e</u><ins>f</ins><s>g</s><del>h</del>"
        '<tg-spoiler>i</tg-spoiler><span class="tg-spoiler">j</span><a href="https://x.ru">k</a>'
        "<code>l</code><pre>m</pre><blockquote expandable>n</blockquote>"
        "&lt;&gt;&amp;&quot;&#1071;&#x44F;&nbsp;"
    )

    assert html_to_text(source) == 'abcdefghijklmn<>&"Яя&nbsp;'


async def test_an_empty_text_is_refused(world: World) -> None:
    error = await refused(world, world.bot.send_message(CHAT, "<b> </b>"))

    assert error.message == "Bad Request: message text is empty"


async def test_a_caption_of_1024_is_sent_and_of_1025_refused(world: World) -> None:
    document = BufferedInputFile(b"x", filename="a.docx")
    await world.bot.send_document(CHAT, document, caption="я" * 1024)

    error = await refused(world, world.bot.send_document(CHAT, document, caption="я" * 1025))

    assert error.message == "Bad Request: message caption is too long"


# --- callback answers and keyboards ------------------------------------------------------


async def test_a_callback_answer_of_200_is_shown_and_of_201_refused(world: World) -> None:
    await world.bot.answer_callback_query("1", text="я" * 200, show_alert=True)

    error = await refused(world, world.bot.answer_callback_query("2", text="я" * 201))

    assert error.message == "Bad Request: MESSAGE_TOO_LONG"


async def test_callback_data_of_64_bytes_is_sent_and_of_65_refused(world: World) -> None:
    await world.bot.send_message(CHAT, "a", reply_markup=keyboard(1, data="я" * 32))

    error = await refused(
        world, world.bot.send_message(CHAT, "a", reply_markup=keyboard(1, data="я" * 32 + "a"))
    )

    assert error.message == "Bad Request: BUTTON_DATA_INVALID"


async def test_100_buttons_are_sent_and_101_refused(world: World) -> None:
    await world.bot.send_message(CHAT, "a", reply_markup=keyboard(100))

    error = await refused(world, world.bot.send_message(CHAT, "a", reply_markup=keyboard(101)))

    assert error.message == "Bad Request: reply markup is too long"


async def test_a_button_without_text_is_refused(world: World) -> None:
    error = await refused(
        world, world.bot.send_message(CHAT, "a", reply_markup=keyboard(1, text=""))
    )

    assert error.message == "Bad Request: Inline keyboard button text must be non-empty"


# --- state: edits, blocked chats; uploads ------------------------------------------------


async def test_an_edit_that_changes_nothing_is_not_modified(world: World) -> None:
    sent = await world.bot.send_message(CHAT, "<b>Итог</b>", reply_markup=keyboard(2))
    await world.bot.edit_message_text("<b>Итог</b>", chat_id=CHAT, message_id=sent.message_id)
    await world.bot.edit_message_reply_markup(
        chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard(1)
    )

    text = await refused(
        world,
        world.bot.edit_message_text(
            "<b>Итог</b>", chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard(1)
        ),
    )
    markup = await refused(
        world,
        world.bot.edit_message_reply_markup(
            chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard(1)
        ),
    )

    assert text.message == markup.message == "Bad Request: " + NOT_MODIFIED


async def test_a_chat_that_blocked_the_bot_is_forbidden(world: World) -> None:
    world.session.block(CHAT)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await world.bot.send_message(CHAT, "Напоминание")
    world.session.unblock(CHAT)
    await world.bot.send_message(CHAT, "Напоминание")

    assert len(world.session.requests) == 1


async def test_a_document_over_50_mb_is_too_large(world: World) -> None:
    await world.bot.send_document(CHAT, BufferedInputFile(b"x" * MAX_UPLOAD, filename="a.docx"))

    with world.session.expect_refusal(), pytest.raises(TelegramEntityTooLarge):
        await world.bot.send_document(
            CHAT, BufferedInputFile(b"x" * (MAX_UPLOAD + 1), filename="a.docx")
        )


async def test_an_unexpected_refusal_is_kept_for_the_check_after_the_test(world: World) -> None:
    with pytest.raises(TelegramBadRequest):
        await world.bot.send_message(CHAT, "я" * 4097)

    [refusal] = world.session.unexpected_refusals()
    assert "message is too long" in str(refusal)
    world.session.refused.clear()  # this test expected it after all


def test_a_refusal_has_telegrams_json_shape() -> None:
    assert Refusal(400, "Bad Request: message is too long").payload() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message is too long",
    }


async def test_a_placeholder_left_in_a_text_or_html_in_a_toast_is_a_slip(world: World) -> None:
    await world.bot.send_message(CHAT, "Не напоминали: {names}.")
    await world.bot.answer_callback_query("1", text="Уже отмечено: «Музей &amp; архив»")
    await world.bot.send_message(CHAT, "Фигурные скобки {в тексте} остаются")

    slips = world.session.slips()

    assert slips == [
        "a placeholder left in 'Не напоминали: {names}.'",
        "HTML in the plain text of a button's answer: 'Уже отмечено: «Музей &amp; архив»'",
    ]
    world.session.requests.clear()  # seen: the check after the test has nothing to report
