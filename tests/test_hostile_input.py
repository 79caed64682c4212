"""Bad and hostile input, one table: what the person sends, what the bot answers, and what
the database holds afterwards.

Each row starts a reporter in a step of the dialogue (or outside one), feeds one hostile
update through the real Dispatcher, and checks the bot's replies, its alerts, the stored
step and answers, and that no event was stored. The simpler bad input (non-text messages,
the plain limits, blank answers, markup in the summary, garbage button data) is covered in
test_dialogue_input.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberUpdated,
    InlineQuery,
    Message,
    MessageEntity,
    Poll,
    PollOption,
    Update,
    User,
)

from bot.database import Storage
from handlers.keyboards import sphere_lines
from handlers.states import STEPS
from handlers.texts import Common, Desk, Dialogue
from reports.model import DEFAULT_SPHERES
from reports.participants import characters
from storage.models import Event
from tests.conftest import COORDINATOR_ID, NOW
from tests.factories import dates_prompt, help_shown
from tests.test_dialogue import join
from tests.tg import BOT_USER, Person, World, fsm_of, reach, stored_events

DEACTIVATE, COORD = Desk.DEACTIVATE_USAGE, Desk.COORD_USAGE
SAME: Any = object()  # the stored step or answers are what they were before the update
LONG_NAME = 500


@dataclass(frozen=True)
class Case:
    """One hostile update: where the person is, what arrives, what must follow."""

    id: str
    at: str | None  # the dialogue step reached first (None: no dialogue)
    act: Callable[[Person, World], Awaitable[Any]]
    replies: list[str] | None  # the texts sent to the person (None: do not check the texts)
    alerts: list[str] = field(default_factory=list)
    state: Any = SAME  # the stored state afterwards ("report:name", None, or SAME)
    draft: dict[str, Any] | Any = SAME  # answers that must be stored (or SAME)
    contains: str | None = None  # a piece the single reply must contain


def say(text: str) -> Callable[[Person, World], Awaitable[Any]]:
    return lambda person, world: person.send(text)


def press(data: str) -> Callable[[Person, World], Awaitable[Any]]:
    return lambda person, world: person.press_data(data)


def state(step: str) -> str:
    return f"ReportStates:{step}"


def question(step: str) -> str:
    asked = dates_prompt(NOW) if step == "dates" else Dialogue.ASK[step]
    text = Dialogue.STEP.format(number=STEPS.index(step) + 1) + asked
    if step == "sphere":  # the spheres in full above their short buttons
        text += "\n" + sphere_lines(list(enumerate(DEFAULT_SPHERES, 1)))
    return text


def too_long(length: int, limit: int) -> str:
    return Dialogue.TOO_LONG.format(length=characters(length), limit=limit)


# --- updates that are not a private message of the person --------------------------------


def _message_in(chat: Chat, person: Person, text: str, **fields: Any) -> Message:
    return Message(
        message_id=next(person.world.ids),
        date=datetime.now(UTC),
        chat=chat,
        from_user=person.user if chat.type != "channel" else None,
        text=text,
        **fields,
    )


def in_group(text: str) -> Callable[[Person, World], Awaitable[Any]]:
    async def act(person: Person, world: World) -> Any:
        group = Chat(id=-100500, type="supergroup", title="Отдел")
        entities = [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))]
        message = _message_in(group, person, text, entities=entities if text[0] == "/" else None)
        return await world.feed(person, Update(update_id=0, message=message))

    return act


async def channel_post(person: Person, world: World) -> Any:
    channel = Chat(id=-100600, type="channel", title="Новости")
    post = _message_in(channel, person, "/new")
    return await world.feed(person, Update(update_id=0, channel_post=post))


async def edited_answer(person: Person, world: World) -> Any:
    edited = _message_in(person.chat, person, "Совсем другое название", edit_date=1)
    return await world.feed(person, Update(update_id=0, edited_message=edited))


async def button_in_group(person: Person, world: World) -> Any:
    group = Chat(id=-100500, type="supergroup", title="Отдел")
    callback = CallbackQuery(
        id=str(next(world.ids)),
        from_user=person.user,
        chat_instance="group",
        data="d:cancel:name",
        message=Message(
            message_id=1, date=datetime.now(UTC), chat=group, from_user=BOT_USER, text="…"
        ),
    )
    return await world.feed(person, Update(update_id=0, callback_query=callback))


async def inline_button_without_message(person: Person, world: World) -> Any:
    """A press on a button of an inline-mode message: no message, no chat."""
    callback = CallbackQuery(
        id=str(next(world.ids)),
        from_user=person.user,
        chat_instance="inline",
        inline_message_id="AAAA",
        data="d:cancel:name",
    )
    return await world.feed(person, Update(update_id=0, callback_query=callback))


async def inline_query(person: Person, world: World) -> Any:
    query = InlineQuery(id="q1", from_user=person.user, query="DROP TABLE events", offset="")
    return await world.feed(person, Update(update_id=0, inline_query=query))


async def poll(person: Person, world: World) -> Any:
    options = [
        PollOption(persistent_id=str(number), text=text, voter_count=0)
        for number, text in enumerate(("да", "нет"))
    ]
    update = Update(
        update_id=0,
        poll=Poll(
            id="p1",
            question="?",
            options=options,
            total_voter_count=0,
            is_closed=False,
            is_anonymous=True,
            type="regular",
            allows_multiple_answers=False,
            allows_revoting=False,
            members_only=False,
        ),
    )
    return await world.feed(person, update)


async def blocked_the_bot(person: Person, world: World) -> Any:
    """The person blocks the bot: Telegram sends a my_chat_member update."""
    bot = User(id=BOT_USER.id, is_bot=True, first_name=BOT_USER.first_name)
    update = Update(
        update_id=0,
        my_chat_member=ChatMemberUpdated(
            chat=person.chat,
            from_user=person.user,
            date=datetime.now(UTC),
            old_chat_member=ChatMemberMember(user=bot),
            new_chat_member=ChatMemberLeft(user=bot),
        ),
    )
    return await world.feed(person, update)


async def forwarded_command(person: Person, world: World) -> Any:
    """A /cancel that is not at the start of the message is an answer, not a command."""
    return await person.send_update(text="Семинар /cancel")


async def command_for_another_bot(person: Person, world: World) -> Any:
    text = "/cancel@some_other_bot"
    entities = [MessageEntity(type="bot_command", offset=0, length=len(text))]
    return await person.send_update(text=text, entities=entities)


async def another_persons_submit(person: Person, world: World) -> Any:
    """Someone else presses «Отправить» with this person's data: their own chat has none."""
    other = await join(world, 991, "Смоленский театр")
    replies = await other.press_data("d:submit:summary")
    assert other.alerts() == [Common.STALE_BUTTON]
    return replies


async def stale_period_button(person: Person, world: World) -> Any:
    """The period keyboard of an earlier question pressed at the summary."""
    [data] = [
        button.callback_data
        for reply in person.replies()
        if reply.reply_markup is not None
        for row in reply.reply_markup.inline_keyboard  # type: ignore[union-attr]
        for button in row
        if button.text.startswith("IV квартал 2023 года")
    ][-1:]
    assert data is not None
    return await person.press_data(data)


def coordinator_says(text: str) -> Callable[[Person, World], Awaitable[Any]]:
    """The coordinator (not the person) sends a desk command with hostile arguments."""
    return lambda person, world: world.person(COORDINATOR_ID).send(text)


# --- the table ---------------------------------------------------------------------------

RTL = "\u202eвыставка\u202c \u200fمعرض\u200f"
EMOJI = "Выставка 🎨🇧🇾👨‍👩‍👧 «Культура»"
SQL = "'); DROP TABLE events; --"
HTML = "<script>alert(1)</script> & <b>жирный</b>"
MARKDOWN = "*жирный* _курсив_ `код` [ссылка](http://x) ~~зачёркнуто~~ ||спойлер||"
ESCAPED_HTML = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;жирный&lt;/b&gt;"

CASES = [
    # oversized and empty texts
    Case("name-one-over", "name", say("я" * 501), [too_long(501, LONG_NAME)]),
    Case(
        "name-emoji-over",  # limits count characters, an emoji is one
        "name",
        say("🎨" * 501),
        [too_long(501, LONG_NAME)],
    ),
    Case(
        "name-emoji-at-limit",
        "name",
        say("🎨" * 500),
        [question("place")],
        state=state("place"),
        draft={"name": "🎨" * 500},
    ),
    Case(
        "result-over-the-limit",  # longer than a message can be: as a paste joined whole
        "result",
        say("ж" * 8001),
        [too_long(8001, 8000)],
    ),
    Case(
        "result-telegram-maximum-waits-for-the-rest",  # likely a part of a split paste
        "result",
        say("ж" * 4096),
        [Dialogue.PASTE_PART.format(length=4096)],
        state=state("result"),
    ),
    Case("place-zero-width-only", "place", say("\u200b\u200b"), [Dialogue.EMPTY]),
    Case("name-marks-only", "name", say("\u200f\u200e\ufeff"), [Dialogue.EMPTY]),
    Case("dates-blank-lines", "dates", say("\n\n\n"), [Dialogue.EMPTY]),
    Case("count-blank", "count", say("   "), [Dialogue.BAD_COUNT]),
    Case("count-huge", "count", say("9" * 40), [Dialogue.BAD_COUNT]),
    Case("count-negative", "count", say("-5"), [Dialogue.BAD_COUNT]),
    Case("count-superscript", "count", say("²"), [Dialogue.BAD_COUNT]),
    Case(
        "count-arabic-digits-are-digits",
        "count",
        say("١٨"),
        None,
        state=state("period"),
        draft={"count": 18},
    ),
    Case(
        "count-spaced",
        "count",
        say("1 200"),
        None,
        state=state("period"),
        draft={"count": 1200},
    ),
    # control characters, direction marks, emoji
    Case(
        "name-control-characters-dropped",
        "name",
        say("Выставка\x00\x07\x1b[31m «Ок»\x7f"),
        [question("place")],
        state=state("place"),
        draft={"name": "Выставка[31m «Ок»"},
    ),
    Case(
        "result-keeps-newlines-and-tabs",
        "result",
        say("Строка 1\n\tСтрока 2\r\n"),
        [question("participants")],
        state=state("participants"),
        draft={"result": "Строка 1\n\tСтрока 2"},
    ),
    Case(
        "name-right-to-left-kept",
        "name",
        say(RTL),
        [question("place")],
        state=state("place"),
        draft={"name": RTL},
    ),
    Case(
        "name-emoji-kept",
        "name",
        say(EMOJI),
        [question("place")],
        state=state("place"),
        draft={"name": EMOJI},
    ),
    Case(
        "participants-emoji-count",
        "participants",
        say("Школьники 👧👦, 25 человек"),
        [question("period")],
        state=state("period"),
        draft={"count": 25},
    ),
    # HTML, Markdown and SQL-looking text are kept as typed and shown escaped
    Case(
        "name-html",
        "name",
        say(HTML),
        [question("place")],
        state=state("place"),
        draft={"name": HTML},
    ),
    Case(
        "name-markdown",
        "name",
        say(MARKDOWN),
        [question("place")],
        state=state("place"),
        draft={"name": MARKDOWN},
    ),
    Case(
        "place-sql",
        "place",
        say(SQL),
        [question("dates")],
        state=state("dates"),
        draft={"place": SQL},
    ),
    Case(
        "dates-sql",
        "dates",
        say("1' OR '1'='1"),
        None,
        state=state("dates"),
    ),
    Case(
        "dates-control-characters",
        "dates",
        say("26\x00.10\x1b.2023"),
        None,
        state=state("dates_confirm"),
        contains="26 октября 2023 года",
    ),
    Case(
        "participants-html-count-read",
        "participants",
        say("<i>Гости</i> & хозяева, 12 человек"),
        [question("period")],
        state=state("period"),
        draft={"participants": "<i>Гости</i> & хозяева, 12 человек", "count": 12},
    ),
    # forged and stale callback data
    Case("forged-sphere-injection", "sphere", press("sp:1 OR 1=1"), [], [Common.STALE_BUTTON]),
    Case("forged-sphere-zero", "sphere", press("sp:0"), [], [Common.STALE_BUTTON]),
    Case("forged-period-negative", "period", press("pe:-1"), [], [Common.STALE_BUTTON]),
    Case("forged-edit-field", "summary", press("d:edit:__class__"), [], [Common.STALE_BUTTON]),
    Case(
        "forged-unicode-data", "summary", press("d:submit:summary\u202e"), [], [Common.STALE_BUTTON]
    ),
    Case("forged-64-bytes", "summary", press("d:" + "ж" * 31), [], [Common.STALE_BUTTON]),
    Case("stale-period-at-summary", "summary", stale_period_button, [], [Common.STALE_BUTTON]),
    Case(
        "stale-submit-outside-dialogue", None, press("d:submit:summary"), [], [Common.STALE_BUTTON]
    ),
    Case("stale-sphere-outside-dialogue", None, press("sp:1"), [], [Common.STALE_BUTTON]),
    # other people's event ids
    Case("event-id-zero", None, press("ev:open:0"), [], [Common.STALE_BUTTON]),
    Case("event-id-negative", None, press("ev:del:-7"), [], [Common.STALE_BUTTON]),
    Case("event-id-huge", None, press("ev:delyes:9223372036854775807"), [], [Common.STALE_BUTTON]),
    Case("event-unknown-action", None, press("ev:drop:1"), [], [Common.STALE_BUTTON]),
    # commands in the middle of a dialogue
    # a draft with answers is kept until the person says otherwise
    Case("cancel-mid-dialogue-asks-first", "place", say("/cancel"), [Dialogue.CONFIRM_DROP]),
    Case("new-mid-dialogue-asks-first", "result", say("/new"), [Dialogue.DRAFT_IN_PROGRESS]),
    Case("forged-draft-drop", "place", press("df:drop:-:0:" + "0" * 32), [], [Common.STALE_BUTTON]),
    Case("forged-draft-what", "place", press("df:anew:all:0:x"), [], [Common.STALE_BUTTON]),
    Case("forged-draft-id", "place", press("df:anew:copy:-1:x"), [], [Common.STALE_BUTTON]),
    Case("help-keeps-the-step", "dates", say("/help"), [help_shown(NOW)]),
    Case("coordinator-command-mid-dialogue", "name", say("/report"), [Common.COORDINATOR_ONLY]),
    Case("unknown-command-mid-dialogue", "name", say("/drop_table"), [Common.NOT_UNDERSTOOD]),
    Case("command-for-another-bot", "name", command_for_another_bot, [Common.NOT_UNDERSTOOD]),
    Case(
        "command-not-at-the-start-is-an-answer",
        "name",
        forwarded_command,
        [question("place")],
        state=state("place"),
        draft={"name": "Семинар /cancel"},
    ),
    Case("start-with-a-code-when-registered", "name", say("/start abc"), None),
    # messages from groups and channels, edits, and updates the bot does not handle
    Case("group-command", "name", in_group("/new"), []),
    Case("group-answer", "name", in_group("Выставка"), []),
    Case("group-button", "name", button_in_group, [], []),
    Case("channel-post", "name", channel_post, []),
    Case("edited-answer", "place", edited_answer, []),
    Case("inline-button-without-message", "name", inline_button_without_message, [], []),
    Case("inline-query", "name", inline_query, []),
    Case("poll", "name", poll, []),
    Case("blocked-the-bot", "name", blocked_the_bot, []),
    Case("someone-elses-submit", "summary", another_persons_submit, [], []),
    # hostile arguments of the coordinator's commands
    Case("deactivate-superscript-id", "name", coordinator_says("/deactivate ²"), [DEACTIVATE]),
    Case("deactivate-huge-id", "name", coordinator_says("/deactivate " + "9" * 30), [DEACTIVATE]),
    Case("coordinator-sql-id", "name", coordinator_says("/coordinator 1 OR 1=1"), [COORD]),
    Case("coordinator-huge-id", "name", coordinator_says("/coordinator " + "9" * 19), [COORD]),
]


async def snapshot(storage: Storage, person: Person) -> tuple[str | None, dict[str, Any]]:
    row = await fsm_of(storage.sessionmaker, person.user.id)
    return (row.state, row.data) if row else (None, {})


def columns(events: list[Event]) -> list[tuple[Any, ...]]:
    return [(e.id, e.status, e.name, e.place, e.result, e.organisation_id) for e in events]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_hostile_input(world: World, app_storage: Storage, case: Case) -> None:
    person = await join(world, 990)
    if case.at is not None:
        await reach(person, case.at)
    before_state, before_data = await snapshot(app_storage, person)
    before_events = columns(await stored_events(app_storage.sessionmaker))
    before_requests = len(world.session.requests)

    replies = await case.act(person, world)

    texts = [reply.text for reply in replies]
    if case.replies is not None:
        assert texts == case.replies
    if case.contains is not None:
        [text] = texts
        assert case.contains in text
    assert person.alerts() == case.alerts
    after_state, after_data = await snapshot(app_storage, person)
    assert after_state == (before_state if case.state is SAME else case.state)
    if case.draft is SAME:
        if case.state is SAME:
            assert after_data == before_data
    else:
        draft = after_data.get("draft", {})
        assert {key: draft.get(key) for key in case.draft} == case.draft
    assert columns(await stored_events(app_storage.sessionmaker)) == before_events
    # Nothing but answers to this person: no message to a group, a channel or anyone else.
    for request in world.session.requests[before_requests:]:
        chat_id = getattr(request, "chat_id", None)
        assert chat_id is None or int(chat_id) in (person.user.id, 991, COORDINATOR_ID), request


def test_the_table_has_at_least_forty_cases() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
