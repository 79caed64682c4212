"""A local stand-in for the Telegram Bot API, for end-to-end tests of the real bot process.

Start it, give the bot `TELEGRAM_API_URL=stub.url`, push updates as a person would and
wait for what the bot sends::

    async with BotApiStub() as stub:
        ...  # start `python -m bot` (tests/e2e.py: BotProcess)
        mark = stub.mark()
        await stub.push_message(1001, "/start")
        reply = await stub.wait_for_message(1001, after=mark)
        await stub.press(1001, "Подать мероприятие")

It behaves like Telegram where a test would notice: long polling that confirms updates
by `offset`, message ids counted per chat, "message is not modified", chats that never
wrote to the bot or blocked it, and everything else the Bot API refuses (too long, bad
HTML, too many buttons, 413: `tests/telegram_rules.py`, shared with the recording session
of the flow tests), answered in Telegram's JSON error shape. Every request is kept in
`stub.calls`, in arrival order.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import mimetypes
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Self

import aiogram.methods
from aiohttp import BodyPartReader, web

from tests.telegram_rules import (
    BLOCKED,
    Refusal,
    bad_request,
    check_markup,
    check_request,
    html_to_text,
    listed_choice,
    not_modified,
    shown_text,
    utf16_len,
)

BOT_USERNAME = "report_test_bot"
BOT_FIRST_NAME = "Отчёты (тест)"
DEFAULT_BOT_ID = 42

Rows = list[list[tuple[str, str | None]]]

# Parameters that are plain strings even when they look like JSON ("123", "true").
_STRING_PARAMS = frozenset(
    "text caption callback_query_id inline_message_id parse_mode url query name title "
    "description short_description first_name last_name emoji language_code "
    "business_connection_id message_effect_id file_id secret_token question explanation "
    "payload start_parameter custom_emoji_id".split()
)
_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_BOT_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_MESSAGE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post")

# How long a test waits for the bot's next request. Generous: CI shares two cores with
# other work, and the bot process needs seconds to start there; a wait that ends at once is
# the normal case, so this costs nothing when things work.
WAIT = 60.0


def _canonical_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for name in aiogram.methods.__all__:
        api_name = getattr(getattr(aiogram.methods, name), "__api_method__", None)
        if isinstance(api_name, str):
            names[api_name.lower()] = api_name
    return names


_METHOD_NAMES = _canonical_names()


def canonical_method(name: str) -> str:
    """The Bot API spelling of a method name given in any case (`SENDMESSAGE` → `sendMessage`)."""
    return _METHOD_NAMES.get(name.lower(), name)


# An error answer, as Telegram gives it (the rules are tests/telegram_rules.py).
TelegramError = Refusal
__all__ = ["BotApiStub", "TelegramError", "bad_request", "html_to_text"]


def command_entities(text: str) -> list[dict[str, Any]]:
    """`bot_command` entities for every /command in `text`, offsets in UTF-16 units."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
        }
        for match in _COMMAND.finditer(text)
    ]


def inline_rows(markup: Any) -> Rows:
    """An inline keyboard as rows of (text, callback_data); [] for anything else."""
    if not isinstance(markup, dict):
        return []
    return [
        [(button.get("text", ""), button.get("callback_data")) for button in row]
        for row in markup.get("inline_keyboard", [])
    ]


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file the bot uploaded (or a test offered to it): its name and bytes."""

    name: str
    content: bytes
    mime_type: str


@dataclass(slots=True, eq=False)
class BotMessage:
    """A message the bot sent, as it stands now (edits applied, deletion marked)."""

    chat_id: int
    message_id: int
    method: str
    text: str | None  # what the person sees: the text or caption, HTML markup removed
    source: str | None  # what the bot sent, markup included
    reply_markup: dict[str, Any] | None
    document: UploadedFile | None = None
    deleted: bool = False
    edits: int = 0

    @property
    def buttons(self) -> Rows:
        """The inline keyboard as rows of (text, callback_data)."""
        return inline_rows(self.reply_markup)


@dataclass(slots=True, eq=False)
class Call:
    """One request the bot made, in arrival order; answered once `status` is set."""

    index: int
    method: str  # Bot API spelling, e.g. "sendMessage"
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    token: str
    at: float  # time.monotonic() on arrival
    status: int | None = None
    result: Any = None
    error: str | None = None
    message: BotMessage | None = None  # the bot message this call created or changed

    @property
    def done(self) -> bool:
        return self.status is not None

    @property
    def ok(self) -> bool:
        return self.status == HTTPStatus.OK

    def is_(self, method: str) -> bool:
        return self.method.lower() == method.lower()

    def __str__(self) -> str:
        params = json.dumps(self.params, ensure_ascii=False, default=str)
        if len(params) > 200:
            params = params[:200] + "…"
        outcome = "pending" if self.status is None else str(self.status)
        if self.error:
            outcome += f" {self.error}"
        return f"#{self.index} {self.method} {params} → {outcome}"


@dataclass(slots=True)
class _Fault:
    method: str
    status: int
    retry_after: int | None
    description: str | None
    disconnect: bool
    remaining: int

    def error(self) -> TelegramError:
        if self.status == HTTPStatus.TOO_MANY_REQUESTS:
            seconds = self.retry_after or 1
            return TelegramError(
                self.status,
                self.description or f"Too Many Requests: retry after {seconds}",
                retry_after=seconds,
            )
        return TelegramError(self.status, self.description or HTTPStatus(self.status).phrase)


@dataclass(slots=True)
class _Chat:
    data: dict[str, Any]  # the Chat object
    last_message_id: int = 0
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)  # live Message objects
    last_shown: int = 0  # the second (Unix time) the bot's latest message or edit arrived

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass(frozen=True, slots=True)
class _StoredFile:
    file_id: str
    unique_id: str
    path: str
    upload: UploadedFile

    def document(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.unique_id,
            "file_name": self.upload.name,
            "mime_type": self.upload.mime_type,
            "file_size": len(self.upload.content),
        }


class BotApiStub:
    """The Bot API on 127.0.0.1 with an ephemeral port; an async context manager."""

    def __init__(self, *, bot_id: int | None = None, known_chats_only: bool = True) -> None:
        """`bot_id` defaults to the number before ":" in the token, as in Telegram.

        With `known_chats_only`, sending to a chat that never wrote to the bot (see
        `push_message`, `add_chat`) fails with "chat not found", as in Telegram.
        """
        self.calls: list[Call] = []
        self.url = ""
        self._bot_id = bot_id
        self._known_chats_only = known_chats_only
        self._chats: dict[int, _Chat] = {}
        self._blocked: set[int] = set()
        self._bot_messages: list[BotMessage] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 100
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._callbacks: dict[str, bool] = {}  # query id → answered
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._faults: list[_Fault] = []
        self._holds: list[tuple[str, asyncio.Event]] = []  # (method, release) not yet taken
        self._stalls: list[tuple[str, asyncio.Event]] = []  # the same, for stall_next
        self._releases: list[asyncio.Event] = []  # every hold and stall, set at stop
        self._serial = itertools.count(1)
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._paused_port: int | None = None  # the port `pause` closed, for `resume`

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await self._listen(0)

    async def _listen(self, port: int) -> None:
        """Serve on 127.0.0.1:`port` (0: one the OS picks) and set `url`."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a long poll of a killed process ends with its connection.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is None:
            return
        async with self._changed:
            self._closing = True
            for release in self._releases:
                release.set()
            self._changed.notify_all()
        await self._runner.cleanup()
        self._runner = None

    async def pause(self) -> None:
        """Telegram unreachable: the port is closed (connections are refused) and the open
        connections are cut, long polls and held answers included, until `resume`. What
        the stub knows (updates, chats, messages, calls, faults) is kept; updates pushed
        meanwhile wait, as Telegram keeps them."""
        runner = self._runner
        if runner is None:
            raise RuntimeError("the stub is not serving")
        self._paused_port = int(runner.addresses[0][1])
        for site in list(runner.sites):
            await site.stop()  # no new connections from here on
        if runner.server is not None:
            for connection in runner.server.connections:
                connection.force_close()  # cut now rather than after the runner's grace
        await runner.cleanup()
        self._runner = None

    async def resume(self) -> None:
        """Listen again on the port `pause` closed: `url` is the same as before."""
        if self._runner is not None or self._paused_port is None:
            raise RuntimeError("the stub is not paused")
        port, self._paused_port = self._paused_port, None
        await self._listen(port)

    # --- the test's side: updates ------------------------------------------------------

    async def push_message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        first_name: str = "Иван",
        chat_type: str = "private",
        chat_id: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Queue a message from a person; returns the Update. `fields` go into the Message
        (e.g. `document=stub.add_file(...)`, `caption=...`, `photo=[...]`)."""
        user = self._person(user_id, first_name)
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else -user_id
        chat = self._chat(chat_id, chat_type, user)
        message: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            # People read before they answer: a message comes at the earliest in the
            # second after the bot's latest one to the chat (bot/owed.py counts the same
            # second as written before it).
            "date": max(int(time.time()), chat.last_shown + 1),
            "chat": chat.data,
            "from": user,
        }
        if text is not None:
            message["text"] = text
            if entities := command_entities(text):
                message["entities"] = entities
        message.update(fields)
        chat.messages[message["message_id"]] = message
        return await self._enqueue({"message": message})

    async def push_callback(
        self,
        user_id: int,
        message_id: int,
        data: str,
        *,
        first_name: str = "Иван",
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a button press on a message in the chat (the private one by default)."""
        chat_id = user_id if chat_id is None else chat_id
        chat = self._chats.get(chat_id)
        message = chat.messages.get(message_id) if chat else None
        if message is None:
            raise LookupError(f"chat {chat_id} has no message {message_id} to press a button on")
        query_id = f"cb{next(self._serial)}"
        self._callbacks[query_id] = False
        query = {
            "id": query_id,
            "from": self._person(user_id, first_name),
            "message": json.loads(json.dumps(message)),
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        return await self._enqueue({"callback_query": query})

    async def press(
        self, user_id: int, button: str, *, first_name: str = "Иван", chat_id: int | None = None
    ) -> dict[str, Any]:
        """Press the inline button labelled `button` on the latest message that has one."""
        chat_id = user_id if chat_id is None else chat_id
        for message in reversed(self.sent(chat_id)):
            if message.deleted:
                continue
            listed = listed_choice(message.text, button)  # a name from the list above
            for text, data in itertools.chain.from_iterable(message.buttons):
                if text == button or (listed is not None and text.startswith(listed)):
                    if data is None:
                        raise LookupError(f"button {button!r} has no callback_data")
                    return await self.push_callback(
                        user_id, message.message_id, data, first_name=first_name, chat_id=chat_id
                    )
        raise LookupError(
            f"no button {button!r} in chat {chat_id}; latest keyboard: {self.last_markup(chat_id)}"
        )

    async def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue any Update; `update_id`, and a message's `message_id` and `date`, are filled
        in when missing, and its chat becomes known."""
        update = json.loads(json.dumps(update))
        for kind in _MESSAGE_KINDS:
            message = update.get(kind)
            if not isinstance(message, dict) or "chat" not in message:
                continue
            chat = self._chats.get(message["chat"]["id"])
            if chat is None:
                chat = self._chats[message["chat"]["id"]] = _Chat(message["chat"])
            if "message_id" not in message:
                message["message_id"] = chat.next_message_id()
            chat.last_message_id = max(chat.last_message_id, message["message_id"])
            message.setdefault("date", int(time.time()))
            if kind == "message":
                chat.messages[message["message_id"]] = message
        return await self._enqueue(update)

    def add_chat(self, user_id: int, *, first_name: str = "Иван") -> None:
        """Make a private chat known, as if the person had started the bot earlier."""
        self._chat(user_id, "private", self._person(user_id, first_name))

    def block(self, user_id: int) -> None:
        """The person blocks the bot: sending to them fails with 403 from now on."""
        self._blocked.add(user_id)

    def add_file(
        self, content: bytes, file_name: str, mime_type: str | None = None
    ) -> dict[str, Any]:
        """Offer a file as a person's upload; returns a Document for `push_message`."""
        return self._store_file(UploadedFile(file_name, content, _mime(file_name, mime_type)))

    @property
    def pending_updates(self) -> list[int]:
        """Ids of updates not yet confirmed by a getUpdates offset."""
        return [update["update_id"] for update in self._updates]

    # --- the test's side: faults -------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = HTTPStatus.TOO_MANY_REQUESTS,
        retry_after: int | None = 1,
        count: int = 1,
        description: str | None = None,
        disconnect: bool = False,
    ) -> None:
        """Make the next `count` calls of `method` fail: with `status` (429 carries
        `retry_after`), or by closing the connection without an answer (`disconnect`)."""
        self._faults.append(
            _Fault(method.lower(), int(status), retry_after, description, disconnect, count)
        )

    def recover(self, method: str) -> None:
        """Drop the faults still armed for `method` (`fail_next`): its next calls succeed."""
        self._faults = [fault for fault in self._faults if fault.method != method.lower()]

    def hold_next(self, method: str) -> asyncio.Event:
        """Carry out the next successful call of `method` at once (a sent message is in the
        chat, as Telegram shows it to the person), but keep the answer from the bot until
        the returned event is set, the bot goes away or the stub stops."""
        release = asyncio.Event()
        self._holds.append((method.lower(), release))
        self._releases.append(release)
        return release

    def stall_next(self, method: str) -> asyncio.Event:
        """Leave the next call of `method` neither carried out nor answered until the
        returned event is set (Telegram not getting to it); if the bot gives up first (its
        request timed out, the connection closed) the call is never carried out, and is
        marked as the client having gone away."""
        release = asyncio.Event()
        self._stalls.append((method.lower(), release))
        self._releases.append(release)
        return release

    # --- the test's side: what the bot did ---------------------------------------------

    def mark(self) -> int:
        """The index the next request will get: pass it as `after=` to wait for what follows."""
        return len(self.calls)

    def calls_of(self, method: str, *, after: int = 0) -> list[Call]:
        return [call for call in self.calls[after:] if call.is_(method)]

    def sent(self, chat_id: int) -> list[BotMessage]:
        """The bot's messages in the chat in the order sent (edits applied, deleted marked)."""
        return [message for message in self._bot_messages if message.chat_id == chat_id]

    def last_markup(self, chat_id: int) -> Rows:
        """The inline keyboard of the latest live bot message that has one, else []."""
        for message in reversed(self.sent(chat_id)):
            if not message.deleted and message.buttons:
                return message.buttons
        return []

    def delivered(self, *, after: int = 0) -> list[int]:
        """Update ids handed out by answered getUpdates calls since `after`."""
        return [
            update["update_id"]
            for call in self.calls_of("getUpdates", after=after)
            if call.ok
            for update in call.result
        ]

    def my_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[tuple[str, str]]:
        """The command menu set for the scope, as (command, description) pairs."""
        commands = self._commands.get(_commands_key(scope, language_code), [])
        return [(item["command"], item["description"]) for item in commands]

    def describe(self, *, after: int = 0, last: int = 40) -> str:
        """The requests since `after` (the last `last` of them), one a line."""
        calls = self.calls[after:][-last:]
        return "\n".join(str(call) for call in calls) or "(no requests)"

    async def wait_for(
        self, predicate: Callable[[Call], bool], *, after: int = 0, timeout: float = WAIT
    ) -> Call:
        """The first request since `after` that satisfies `predicate` (re-checked on every
        arrival and every answer); AssertionError listing the requests after `timeout`."""
        found: list[Call] = []

        def check() -> bool:
            for call in itertools.islice(self.calls, after, None):
                if predicate(call):
                    found.append(call)
                    return True
            return False

        try:
            async with self._changed, asyncio.timeout(timeout):
                await self._changed.wait_for(check)
        except TimeoutError:
            raise AssertionError(
                f"no matching request within {timeout} s; requests since #{after}:\n"
                + self.describe(after=after)
            ) from None
        return found[0]

    async def wait_for_message(
        self, chat_id: int, contains: str | None = None, *, after: int = 0, timeout: float = WAIT
    ) -> BotMessage:
        """The first message the bot sent to the chat since `after` (with `contains` in its
        shown or sent text)."""
        call = await self.wait_for(
            lambda call: _sent_to(call, ("sendMessage",), chat_id, contains),
            after=after,
            timeout=timeout,
        )
        assert call.message is not None
        return call.message

    async def wait_for_edit(
        self, chat_id: int, contains: str | None = None, *, after: int = 0, timeout: float = WAIT
    ) -> BotMessage:
        """The first bot message in the chat edited (text or keyboard) since `after`."""
        call = await self.wait_for(
            lambda call: _sent_to(
                call, ("editMessageText", "editMessageReplyMarkup"), chat_id, contains
            ),
            after=after,
            timeout=timeout,
        )
        assert call.message is not None
        return call.message

    async def wait_for_document(
        self, chat_id: int, *, after: int = 0, timeout: float = WAIT
    ) -> BotMessage:
        """The first document the bot sent to the chat since `after` (see `.document`)."""
        call = await self.wait_for(
            lambda call: _sent_to(call, ("sendDocument",), chat_id, None),
            after=after,
            timeout=timeout,
        )
        assert call.message is not None
        return call.message

    async def wait_for_polling(self, *, after: int = 0, timeout: float = WAIT) -> Call:
        """The first getUpdates since `after`: the bot is up and listening."""
        return await self.wait_for(
            lambda call: call.is_("getUpdates"), after=after, timeout=timeout
        )

    async def wait_until_confirmed(
        self, update_id: int, *, after: int = 0, timeout: float = WAIT
    ) -> Call:
        """The first getUpdates since `after` whose offset confirms `update_id`."""
        return await self.wait_for(
            lambda call: call.is_("getUpdates") and _int(call.params.get("offset", 0)) > update_id,
            after=after,
            timeout=timeout,
        )

    # --- HTTP ----------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        params, files = await _read_params(request)
        call = await self._record(
            canonical_method(request.match_info["method"]),
            params,
            files,
            request.match_info["token"],
        )
        try:
            stall = self._take_stall(call.method)
            if stall is not None:
                await stall.wait()
            fault = self._take_fault(call.method)
            if fault is not None and fault.disconnect:
                call.status, call.error = 0, "connection closed by fail_next"
                await self._notify()
                if request.transport is not None:
                    request.transport.close()
                return web.Response()
            if fault is not None:
                raise fault.error()
            result = await self._dispatch(call)
        except TelegramError as error:
            return await self._answer(call, error.status, error.payload())
        except asyncio.CancelledError:
            call.status, call.error = 499, "the client went away"
            raise
        response = await self._answer(call, HTTPStatus.OK, {"ok": True, "result": result})
        release = self._take_hold(call.method)
        if release is not None:
            try:
                await release.wait()
            except asyncio.CancelledError:
                call.error = "held, and the client went away before the answer"
                raise
        return response

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        call = await self._record("downloadFile", {"path": path}, {}, request.match_info["token"])
        for stored in self._files.values():
            if stored.path == path:
                call.status = HTTPStatus.OK
                await self._notify()
                return web.Response(
                    body=stored.upload.content, content_type=stored.upload.mime_type
                )
        call.status, call.error = HTTPStatus.NOT_FOUND, "no such file"
        await self._notify()
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _record(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile], token: str
    ) -> Call:
        call = Call(len(self.calls), method, params, files, token, time.monotonic())
        self.calls.append(call)
        await self._notify()
        return call

    async def _answer(self, call: Call, status: int, payload: dict[str, Any]) -> web.Response:
        call.status = status
        call.result = payload.get("result")
        call.error = payload.get("description")
        await self._notify()
        return web.json_response(payload, status=status)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _take_hold(self, method: str) -> asyncio.Event | None:
        for index, (held, release) in enumerate(self._holds):
            if held == method.lower():
                del self._holds[index]
                return release
        return None

    def _take_stall(self, method: str) -> asyncio.Event | None:
        for index, (stalled, release) in enumerate(self._stalls):
            if stalled == method.lower():
                del self._stalls[index]
                return release
        return None

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method.lower() and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _dispatch(self, call: Call) -> Any:
        handlers: dict[str, Callable[[Call], Any]] = {
            "getme": self._get_me,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "senddocument": self._send_document,
            "sendchataction": self._send_chat_action,
            "getfile": self._get_file,
        }
        name = call.method.lower()
        if name == "getupdates":
            return await self._get_updates(call)
        uploads = {key: len(upload.content) for key, upload in call.files.items()}
        check_request(call.method, call.params, uploads)
        if name in handlers:
            return handlers[name](call)
        if name.startswith("send"):
            return self._send_other(call)
        return True

    # --- methods -------------------------------------------------------------------------

    def _bot_user(self, token: str) -> dict[str, Any]:
        head = token.partition(":")[0]
        bot_id = self._bot_id or (int(head) if head.isdigit() else DEFAULT_BOT_ID)
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }

    def _get_me(self, call: Call) -> dict[str, Any]:
        return {
            **self._bot_user(call.token),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, call: Call) -> list[dict[str, Any]]:
        params = call.params
        offset = _int(params.get("offset", 0))
        limit = min(max(_int(params.get("limit", 100)), 1), 100)
        timeout = max(float(params.get("timeout", 0) or 0), 0.0)
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"] or []) or None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation

        def ready() -> bool:
            return (
                self._closing
                or generation != self._poll_generation
                or bool(self._deliverable(limit))
            )

        async with self._changed:
            self._changed.notify_all()  # a long poll this one replaces ends now
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(ready)
            except TimeoutError:
                pass
        if generation != self._poll_generation:
            raise TelegramError(
                HTTPStatus.CONFLICT,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        return self._deliverable(limit)

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        allowed = self._allowed_updates
        return [
            update
            for update in self._updates
            if allowed is None or any(kind in update for kind in allowed)
        ][:limit]

    def _delete_webhook(self, call: Call) -> bool:
        if call.params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    def _get_webhook_info(self, call: Call) -> dict[str, Any]:
        return {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for item in commands:
            if not _BOT_COMMAND_NAME.fullmatch(str(item.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(item.get("description", ""))) <= 256:
                raise bad_request("command description must be non-empty")
        self._commands[self._commands_key(call)] = commands
        return True

    def _get_my_commands(self, call: Call) -> list[dict[str, Any]]:
        return self._commands.get(self._commands_key(call), [])

    def _delete_my_commands(self, call: Call) -> bool:
        self._commands.pop(self._commands_key(call), None)
        return True

    def _commands_key(self, call: Call) -> tuple[str, str]:
        """The menu a call is about; a chat scope needs a chat that wrote to the bot."""
        scope = call.params.get("scope")
        if isinstance(scope, dict) and "chat_id" in scope:
            chat_id = scope["chat_id"]
            if self._known_chats_only and chat_id not in self._chats:
                raise bad_request("chat not found")
        return _commands_key(scope, call.params.get("language_code", ""))

    def _send_message(self, call: Call) -> dict[str, Any]:
        chat = self._chat_to_send(call)
        text, source = _text_of(call.params, "text")
        return self._new_message(chat, call, text=text, source=source)

    def _send_document(self, call: Call) -> dict[str, Any]:
        chat = self._chat_to_send(call)
        given = call.params.get("document")
        if "document" in call.files:
            document = self._store_file(call.files["document"])
        elif isinstance(given, str) and given in self._files:
            document = self._files[given].document()
        else:
            raise bad_request("wrong file identifier/HTTP URL specified")
        caption, source = _caption_of(call.params)
        raw = self._new_message(chat, call, text=caption, source=source, key="caption")
        raw["document"] = document
        assert call.message is not None
        call.message.document = self._files[document["file_id"]].upload
        return raw

    def _send_other(self, call: Call) -> dict[str, Any]:
        chat = self._chat_to_send(call)
        caption, source = _caption_of(call.params)
        return self._new_message(chat, call, text=caption, source=source, key="caption")

    def _send_chat_action(self, call: Call) -> bool:
        self._chat_to_send(call)
        return True

    def _edit_message_text(self, call: Call) -> dict[str, Any] | bool:
        if "inline_message_id" in call.params:
            return True
        raw, message = self._message_to_edit(call)
        if "text" not in raw:
            raise bad_request("there is no text in the message to edit")
        text, source = _text_of(call.params, "text")
        markup = _inline_markup(call.params)
        if source == message.source and markup == _inline_only(message.reply_markup):
            raise not_modified()
        raw["text"] = text
        message.text, message.source = text, source
        return self._apply_edit(call, raw, message, markup)

    def _edit_message_reply_markup(self, call: Call) -> dict[str, Any] | bool:
        if "inline_message_id" in call.params:
            return True
        raw, message = self._message_to_edit(call)
        markup = _inline_markup(call.params)
        if markup == _inline_only(message.reply_markup):
            raise not_modified()
        return self._apply_edit(call, raw, message, markup)

    def _delete_message(self, call: Call) -> bool:
        chat = self._chats.get(_int(call.params.get("chat_id")))
        message_id = _int(call.params.get("message_id"))
        if chat is None or chat.messages.pop(message_id, None) is None:
            raise bad_request("message to delete not found")
        for message in self.sent(chat.data["id"]):
            if message.message_id == message_id:
                message.deleted = True
                call.message = message
        return True

    def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params.get("callback_query_id", ""))
        if self._callbacks.get(query_id, True):
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._callbacks[query_id] = True
        return True

    def _get_file(self, call: Call) -> dict[str, Any]:
        stored = self._files.get(str(call.params.get("file_id", "")))
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": len(stored.upload.content),
            "file_path": stored.path,
        }

    # --- state helpers -------------------------------------------------------------------

    def _person(self, user_id: int, first_name: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "ru"}

    def _chat(self, chat_id: int, chat_type: str, user: dict[str, Any]) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_type == "private":
                data = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            else:
                data = {"id": chat_id, "type": chat_type, "title": "Тестовая группа"}
            chat = self._chats[chat_id] = _Chat(data)
        return chat

    def _chat_to_send(self, call: Call) -> _Chat:
        if "chat_id" not in call.params:
            raise bad_request("chat_id is empty")
        chat_id = call.params["chat_id"]
        if chat_id in self._blocked:
            raise TelegramError(HTTPStatus.FORBIDDEN, BLOCKED)
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            if self._known_chats_only or not isinstance(chat_id, int):
                raise bad_request("chat not found")
            chat = self._chat(chat_id, "private", self._person(chat_id, "?"))
        return chat

    def _new_message(
        self, chat: _Chat, call: Call, *, text: str | None, source: str | None, key: str = "text"
    ) -> dict[str, Any]:
        markup = call.params.get("reply_markup")
        if markup is not None:
            check_markup(markup)
        raw: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            "date": int(time.time()),
            "chat": chat.data,
            "from": self._bot_user(call.token),
        }
        chat.last_shown = raw["date"]
        if text is not None:
            raw[key] = text
        if (inline := _inline_only(markup)) is not None:
            raw["reply_markup"] = inline
        chat.messages[raw["message_id"]] = raw
        message = BotMessage(chat.data["id"], raw["message_id"], call.method, text, source, markup)
        self._bot_messages.append(message)
        call.message = message
        return raw

    def _message_to_edit(self, call: Call) -> tuple[dict[str, Any], BotMessage]:
        chat = self._chats.get(_int(call.params.get("chat_id")))
        message_id = _int(call.params.get("message_id"))
        raw = chat.messages.get(message_id) if chat else None
        if chat is None or raw is None:
            raise bad_request("message to edit not found")
        for message in self.sent(chat.data["id"]):
            if message.message_id == message_id and not message.deleted:
                return raw, message
        raise bad_request("message can't be edited")

    def _apply_edit(
        self, call: Call, raw: dict[str, Any], message: BotMessage, markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        # Telegram drops the inline keyboard of an edit that does not repeat it.
        message.reply_markup = markup
        if markup is None:
            raw.pop("reply_markup", None)
        else:
            raw["reply_markup"] = markup
        raw["edit_date"] = int(time.time())
        chat = self._chats.get(_int(call.params.get("chat_id")))
        if chat is not None:
            chat.last_shown = raw["edit_date"]
        message.edits += 1
        call.message = message
        return raw

    def _store_file(self, upload: UploadedFile) -> dict[str, Any]:
        number = next(self._serial)
        suffix = "." + upload.name.rsplit(".", 1)[1] if "." in upload.name else ""
        stored = _StoredFile(
            f"FILE{number}", f"U{number}", f"documents/file_{number}{suffix}", upload
        )
        self._files[stored.file_id] = stored
        return stored.document()

    async def _enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        if "update_id" not in update:
            update = {"update_id": self._next_update_id, **update}
        self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
        self._updates.append(update)
        self._updates.sort(key=lambda item: item["update_id"])
        await self._notify()
        return update


# --- request parsing and small helpers -----------------------------------------------


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """The request's parameters, decoded as Telegram would, and its uploaded files by the
    parameter that refers to them (`document` for `attach://...`)."""
    raw: dict[str, Any] = dict(request.query)
    uploads: dict[str, UploadedFile] = {}
    if request.content_type == "multipart/form-data":
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is None:
                raw[part.name] = await part.text()
            else:
                content = await part.read(decode=True)
                mime = _mime(part.filename, part.headers.get("Content-Type"))
                uploads[part.name] = UploadedFile(part.filename, bytes(content), mime)
    elif request.content_type == "application/x-www-form-urlencoded":
        raw.update(await request.post())
    elif request.content_type == "application/json" and request.can_read_body:
        body = await request.json()
        if isinstance(body, dict):
            params = {key: _decode(key, value) for key, value in raw.items()}
            return {**params, **body}, uploads
    params = {key: _decode(key, value) for key, value in raw.items()}
    files: dict[str, UploadedFile] = {}
    for key, value in params.items():
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name in uploads:
                files[key] = uploads.pop(name)
    files.update(uploads)  # files sent directly under their parameter name
    return params, files


def _decode(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _mime(file_name: str, given: str | None) -> str:
    if given and given != "application/octet-stream":
        return given
    return mimetypes.guess_type(file_name)[0] or "application/octet-stream"


def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
    return json.dumps(scope or {"type": "default"}, sort_keys=True), str(language_code or "")


def _text_of(params: dict[str, Any], key: str) -> tuple[str, str]:
    """(shown text, sent text) of a text parameter (checked by `check_request`)."""
    source = params.get(key)
    source = "" if source is None else str(source)
    return shown_text(source, params.get("parse_mode")), source


def _caption_of(params: dict[str, Any]) -> tuple[str | None, str | None]:
    if params.get("caption") in (None, ""):
        return None, None
    source = str(params["caption"])
    return shown_text(source, params.get("parse_mode")), source


def _inline_only(markup: Any) -> dict[str, Any] | None:
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None


def _inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    if markup is None:
        return None
    check_markup(markup)
    inline = _inline_only(markup)
    if inline is None:
        raise bad_request("inline keyboard expected")
    return inline


def _sent_to(call: Call, methods: Iterable[str], chat_id: int, contains: str | None) -> bool:
    if not call.ok or call.message is None or call.message.chat_id != chat_id:
        return False
    if not any(call.is_(method) for method in methods):
        return False
    if contains is None:
        return True
    shown = call.result.get("text") or call.result.get("caption") or ""
    sent = str(call.params.get("text") or call.params.get("caption") or "")
    return contains in shown or contains in sent
