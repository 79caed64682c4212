"""What the Bot API refuses, in one place, for both Telegram doubles of the tests.

The recording session (`tests/tg.py`) and the HTTP stand-in (`tests/botapi_stub.py`) check
every request here. A refusal is a `Refusal`: the HTTP status and the description Telegram
gives (the descriptions are Telegram's own, as its servers and tdlib word them). The
recording session turns it into aiogram's exception through aiogram's own
`check_response`, the stand-in answers it as JSON: either way the bot sees what it would
see from Telegram (`TelegramBadRequest`, `TelegramForbiddenError`,
`TelegramEntityTooLarge`).

Limits (https://core.telegram.org/bots/api): message text 1-4096 characters after entity
parsing, caption 0-1024, callback answer 0-200, callback data 1-64 bytes, at most 100
buttons in an inline keyboard, uploads up to 50 MB. Telegram counts characters in UTF-16
code units.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NoReturn

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.types import InputFile

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
MAX_CALLBACK_DATA = 64  # bytes of UTF-8
MAX_BUTTONS = 100
MAX_UPLOAD = 50 * 1024 * 1024
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")

BLOCKED = "Forbidden: bot was blocked by the user"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)

# Tags Telegram accepts with parse_mode=HTML.
HTML_TAGS = frozenset(
    "b strong i em u ins s strike del span tg-spoiler a tg-emoji code pre blockquote".split()
)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^<>]*)>")
_ENTITY = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPAN_SPOILER = re.compile(r"""^\s+class\s*=\s*(["']?)tg-spoiler\1\s*$""")
_HREF = re.compile(r"""\bhref\s*=""")


class Refusal(Exception):
    """An error answer, as Telegram gives it: HTTP status, description, parameters."""

    def __init__(self, status: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        """The JSON body of Telegram's answer."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> Refusal:
    return Refusal(HTTPStatus.BAD_REQUEST, f"Bad Request: {description}")


def blocked() -> Refusal:
    return Refusal(HTTPStatus.FORBIDDEN, BLOCKED)


def not_modified() -> Refusal:
    return bad_request(NOT_MODIFIED)


def utf16_len(text: str) -> int:
    """The length Telegram measures: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _unescape(text: str) -> str:
    """Telegram's entities: &lt; &gt; &amp; &quot; and numeric ones; any other `&` stays."""

    def one(match: re.Match[str]) -> str:
        decimal, hexadecimal, name = match.groups()
        if name:
            return _NAMED[name]
        code = int(decimal) if decimal else int(hexadecimal, 16)
        return chr(code) if 0 < code <= 0x10FFFF else match.group()

    return _ENTITY.sub(one, text)


def _check_attributes(name: str, attributes: str, offset: int) -> None:
    if name == "span" and not _SPAN_SPOILER.match(attributes):
        raise bad_request(
            f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset '
            f"{offset}"
        )
    if name == "a" and not _HREF.search(attributes):
        return  # Telegram shows an <a> without href as plain text
    if name == "tg-emoji" and "emoji-id" not in attributes:
        raise bad_request(
            f'can\'t parse entities: Tag "tg-emoji" must have attribute "emoji-id" at byte '
            f"offset {offset}"
        )


def html_to_text(source: str) -> str:
    """The text Telegram shows for `source` sent with parse_mode=HTML; refuses what it would
    (an unsupported or unbalanced tag, a stray `<`)."""
    pieces: list[str] = []
    open_tags: list[str] = []
    position = 0
    while (start := source.find("<", position)) != -1:
        pieces.append(source[position:start])
        offset = len(source[:start].encode())
        match = _TAG.match(source, start)
        if match is None:
            raise bad_request(f"can't parse entities: Unexpected character at byte offset {offset}")
        closing, name, attributes = match.group(1), match.group(2).lower(), match.group(3)
        if name not in HTML_TAGS:
            raise bad_request(
                f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
            )
        if not closing:
            _check_attributes(name, attributes, offset)
            open_tags.append(name)
        elif open_tags and open_tags[-1] == name:
            open_tags.pop()
        else:
            expected = f'expected "</{open_tags[-1]}>", ' if open_tags else ""
            raise bad_request(
                f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                f'{expected}found "</{name}>"'
            )
        position = match.end()
    pieces.append(source[position:])
    if open_tags:
        raise bad_request(
            "can't parse entities: Can't find end tag corresponding to start tag "
            f'"{open_tags[-1]}"'
        )
    return _unescape("".join(pieces))


def shown_text(source: str, parse_mode: Any) -> str:
    """What the person sees of a text or caption sent with `parse_mode`."""
    mode = getattr(parse_mode, "value", parse_mode)  # aiogram's ParseMode is a str Enum
    if str(mode or "").upper() == "HTML":
        return html_to_text(source)
    return source


def check_text(source: Any, parse_mode: Any) -> str:
    """A message's text (sendMessage, editMessageText): the shown text, or a refusal."""
    shown = shown_text("" if source is None else str(source), parse_mode)
    if not shown.strip():
        raise bad_request("message text is empty")
    if utf16_len(shown.strip()) > MAX_TEXT:
        raise bad_request("message is too long")
    return shown


def check_caption(source: Any, parse_mode: Any) -> str | None:
    """A media caption: the shown text (None for no caption), or a refusal."""
    if source in (None, ""):
        return None
    shown = shown_text(str(source), parse_mode)
    if utf16_len(shown.strip()) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return shown


def check_markup(markup: Any) -> None:
    """A reply markup; for an inline keyboard: button texts, actions, data and count."""
    if not isinstance(markup, Mapping):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    for row in rows:
        for button in row:
            if not str(button.get("text") or "").strip():
                raise bad_request("Inline keyboard button text must be non-empty")
            actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
            if not actions:
                raise bad_request("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                raise bad_request("BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not re.match(r"(https?|tg)://\S+$", str(url)):
                raise bad_request(f"inline keyboard button URL '{url}' is invalid")


def check_callback_answer(params: Mapping[str, Any]) -> None:
    """answerCallbackQuery: the toast or alert is plain text of at most 200 characters."""
    text = params.get("text")
    if text is not None and utf16_len(str(text)) > MAX_CALLBACK_ANSWER:
        raise bad_request("MESSAGE_TOO_LONG")


def check_upload(size: int) -> None:
    """An uploaded file: Telegram takes at most 50 MB from bots."""
    if size > MAX_UPLOAD:
        raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")


_TEXT_METHODS = frozenset({"sendmessage", "editmessagetext"})


def check_request(method: str, params: Mapping[str, Any], upload_sizes: Mapping[str, int]) -> None:
    """Everything Telegram refuses in one request, whatever the chat's state."""
    for size in upload_sizes.values():
        check_upload(size)
    name = method.lower()
    if name in _TEXT_METHODS:
        check_text(params.get("text"), params.get("parse_mode"))
    elif name == "answercallbackquery":
        check_callback_answer(params)
    elif name.startswith("send") or name == "editmessagecaption":
        check_caption(params.get("caption"), params.get("parse_mode"))
    markup = params.get("reply_markup")
    if markup is not None:
        check_markup(markup)


# --- the recording session's side: aiogram's method objects ------------------------------


def _upload_size(file: InputFile) -> int | None:
    data = getattr(file, "data", None)
    if isinstance(data, bytes):
        return len(data)
    path = getattr(file, "path", None)
    if path is not None:
        return os.path.getsize(path)
    return None  # a URL: Telegram fetches it


def method_params(
    session: BaseSession, bot: Bot, method: TelegramMethod[Any]
) -> tuple[dict[str, Any], dict[str, int]]:
    """The parameters of `method` as aiogram sends them (defaults resolved, empty ones left
    out, as in its form data) and the sizes of the files it uploads, by parameter."""
    files: dict[str, InputFile] = {}
    params: dict[str, Any] = {}
    for key, value in method.model_dump(warnings=False).items():
        prepared = session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
        if prepared:
            params[key] = prepared
    sizes: dict[str, int] = {}
    for key, value in params.items():
        if isinstance(value, str) and value.startswith("attach://"):
            size = _upload_size(files[value.removeprefix("attach://")])
            if size is not None:
                sizes[key] = size
    return params, sizes


def raise_as_aiogram(
    session: BaseSession, bot: Bot, method: TelegramMethod[Any], refusal: Refusal
) -> NoReturn:
    """Raise what aiogram raises for this answer from Telegram (its own `check_response`)."""
    session.check_response(bot, method, refusal.status, json.dumps(refusal.payload()))
    raise AssertionError(f"aiogram accepted a refusal: {refusal.description}")  # pragma: no cover


@dataclass(slots=True)
class Chats:
    """What Telegram remembers between requests: blocked chats and the bot's messages
    (text and markup per chat and message id), for "message is not modified"."""

    blocked: set[int] = field(default_factory=set)
    messages: dict[tuple[int, int], tuple[str | None, Any]] = field(default_factory=dict)

    def check(self, method: str, params: Mapping[str, Any]) -> None:
        """Refuse a request to a blocked chat, or an edit that changes nothing."""
        name = method.lower()
        chat_id = _chat_id(params)
        if chat_id in self.blocked and (name.startswith(("send", "edit", "copy", "forward"))):
            raise blocked()
        key = (chat_id, _int(params.get("message_id")))
        if key not in self.messages:
            return  # a message these tests did not send (a button pressed on message 1)
        text, markup = self.messages[key]
        if name == "editmessagetext" and (params.get("text"), params.get("reply_markup")) == (
            text,
            markup,
        ):
            raise not_modified()
        if name == "editmessagereplymarkup" and params.get("reply_markup") == markup:
            raise not_modified()

    def remember(self, method: str, params: Mapping[str, Any], message_id: int | None) -> None:
        """Keep the text and markup of a message sent or edited."""
        name = method.lower()
        chat_id = _chat_id(params)
        markup = params.get("reply_markup")
        inline = {"inline_keyboard": markup["inline_keyboard"]} if _inline(markup) else None
        if name.startswith("send") and message_id is not None:
            self.messages[(chat_id, message_id)] = (params.get("text"), inline)
        elif name in ("editmessagetext", "editmessagereplymarkup"):
            key = (chat_id, _int(params.get("message_id")))
            text = (
                params.get("text")
                if name == "editmessagetext"
                else self.messages.get(key, (None, None))[0]
            )
            self.messages[key] = (text, inline)


def _inline(markup: Any) -> bool:
    return isinstance(markup, Mapping) and "inline_keyboard" in markup


def _chat_id(params: Mapping[str, Any]) -> int:
    return _int(params.get("chat_id"))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def listed_choice(text: str | None, label: str) -> str | None:
    """How a person picks from a numbered list above short buttons (the spheres): the
    list line «N. full name» that starts with `label` gives the button prefix «N. »."""
    for line in (text or "").splitlines():
        number, dot, name = line.partition(". ")
        if dot and number.isdigit() and name.startswith(label):
            return f"{number}. "
    return None
