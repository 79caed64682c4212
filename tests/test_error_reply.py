"""The reply to a failed update: inside the reporting dialogue it shows the step stored now
(saved or not, the failed answer never lands in the next field); elsewhere a short error."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from unittest.mock import patch

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramServerError
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.database import Storage
from bot.retry import RetryRequests
from handlers.texts import Common, Dialogue
from storage.db import InlineSqliteConnection
from storage.repositories import PeriodRepository, SphereRepository
from tests.conftest import NOW
from tests.factories import dates_prompt, help_shown
from tests.test_dialogue import join
from tests.test_retry import FakeTime
from tests.tg import (
    SPHERE,
    STATES,
    WALK,
    Person,
    Step,
    World,
    fsm_of,
    reach,
    stored_events,
    walk_on,
)

QUARTER = "IV квартал 2023 года"


class Telegram:
    """The recording session, failing (502, every retry) the messages chosen to be lost."""

    def __init__(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answer = world.session.make_request
        self.lose_next_to: int | None = None  # the chat whose next message is lost
        self.down_for: int | None = None  # the chat none of whose messages gets through
        self.lost: list[SendMessage] = []  # each lost message once
        self.tries: list[str] = []  # the text of every failed try, retries included
        self.on_loss: Callable[[], None] = lambda: None
        self.time = FakeTime()  # the retries wait on it instead of the clock
        retry = next(m for m in world.bot.session.middleware if isinstance(m, RetryRequests))
        monkeypatch.setattr(retry, "clock", self.time.clock)
        monkeypatch.setattr(retry, "sleep", self.time.sleep)
        monkeypatch.setattr(world.session, "make_request", self.make_request)

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if isinstance(method, SendMessage) and self._loses(method):
            if method not in self.lost:
                self.lost.append(method)
            self.tries.append(method.text)
            self.on_loss()
            raise TelegramServerError(method=method, message="Bad Gateway")
        return await self.answer(bot, method, timeout)

    def _loses(self, method: SendMessage) -> bool:
        chat = int(method.chat_id)
        if chat == self.down_for or any(method is lost for lost in self.lost):
            return True
        if chat == self.lose_next_to:
            self.lose_next_to = None
            return True
        return False


@pytest.fixture
def telegram(world: World, monkeypatch: pytest.MonkeyPatch) -> Telegram:
    return Telegram(world, monkeypatch)


async def snapshot(storage: Storage, user_id: int) -> tuple[str | None, dict[str, Any]]:
    row = await fsm_of(storage.sessionmaker, user_id)
    return (row.state, row.data) if row else (None, {})


def fail_once(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[int]:
    """`owner.name` raises a database error the first time it is called, then works; the
    returned list counts the calls."""
    original = getattr(owner, name)
    calls: list[int] = []

    async def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("statement", {}, sqlite3.OperationalError("disk I/O error"))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, failing)
    return calls


STATEMENTS = {"execute", "executemany", "_execute_fetchall"}  # aiosqlite's calls that run SQL


@contextmanager
def database_down(storage: Storage) -> Iterator[list[bool]]:
    """Every statement of the bot fails once the yielded flag list holds True: those run
    through SQLAlchemy and those run straight on the SQLite driver (SqliteStatement)."""
    down: list[bool] = []

    def refuse(*_: Any) -> None:
        if down:
            raise sqlite3.OperationalError("unable to open database file")

    inline = InlineSqliteConnection._execute

    async def refusing(self: InlineSqliteConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__name__", "") in STATEMENTS:  # rollback and close still work
            refuse()
        return await inline(self, fn, *args, **kwargs)

    engines = [storage.engine, storage.reader_engine]
    for engine in engines:
        if engine is not None:
            event.listen(engine.sync_engine, "before_cursor_execute", refuse)
    try:
        with patch.object(InlineSqliteConnection, "_execute", refusing):
            yield down
    finally:
        for engine in engines:
            if engine is not None:
                event.remove(engine.sync_engine, "before_cursor_execute", refuse)


def act_of(state: str) -> Callable[[Person], Any]:
    """What takes the dialogue into `state` (see tests.tg.WALK)."""
    return dict(WALK)[state]


async def reach_before(person: Person, state: str) -> None:
    """Answer up to the state just before `state` (nothing at all before "sphere")."""
    index = STATES.index(state)
    if index:
        await reach(person, STATES[index - 1])


def repeated(text: str) -> str:
    return f"{Dialogue.AFTER_ERROR}\n\n{text}"


# --- the reply lost after its answer was saved ---------------------------------------------


async def test_a_lost_reply_to_a_saved_answer_is_followed_by_the_next_question(
    world: World, app_storage: Storage, telegram: Telegram
) -> None:
    person = await join(world, 2001)
    await reach(person, "name")
    telegram.lose_next_to = 2001

    replies = await person.send("Выставка")
    after_error = await snapshot(app_storage, 2001)
    retyped = await person.send("г. Минск")

    [lost] = telegram.lost
    assert lost.text == Dialogue.STEP.format(number=3) + Dialogue.ASK["place"]
    assert len(telegram.tries) > 1 and sum(telegram.time.waits) > 50  # retried for a minute
    assert [reply.text for reply in replies] == [repeated(lost.text)]
    assert replies[0].reply_markup == lost.reply_markup
    state, data = after_error
    assert state == "ReportStates:place"
    assert [field for field, value in data["draft"].items() if value == "Выставка"] == ["name"]
    assert retyped[-1].text.endswith(dates_prompt(NOW))
    state, data = await snapshot(app_storage, 2001)
    assert state == "ReportStates:dates"
    assert (data["draft"]["name"], data["draft"]["place"]) == ("Выставка", "г. Минск")


@pytest.mark.parametrize("state", STATES)
async def test_after_a_lost_reply_the_stored_step_is_shown_as_the_dialogue_shows_it(
    world: World, app_storage: Storage, telegram: Telegram, state: str
) -> None:
    person = await join(world, 2002)
    await reach_before(person, state)
    telegram.lose_next_to = 2002

    replies = await act_of(state)(person)
    stored, _ = await snapshot(app_storage, 2002)
    await walk_on(person, state)
    await person.press(Dialogue.SUBMIT)

    [lost] = telegram.lost
    assert [(reply.text, reply.reply_markup) for reply in replies] == [
        (repeated(lost.text), lost.reply_markup)
    ]
    assert stored == f"ReportStates:{state}"
    [filed] = await stored_events(app_storage.sessionmaker)
    assert (filed.sphere.name, filed.name, filed.place) == (
        SPHERE,
        "Выставка «Смоленск – Минск»",
        "г. Минск, Республика Беларусь",
    )
    assert (filed.start_date, filed.end_date) == (date(2023, 10, 26), date(2023, 10, 27))
    assert (filed.result, filed.participants, filed.participant_count) == (
        "Открыта выставка.",
        "Сотрудники музея",
        18,
    )


# --- the update failed before anything was saved ---------------------------------------------


@pytest.mark.parametrize(
    ("state", "owner", "method", "act"),
    [
        ("sphere", SphereRepository, "snapshot", lambda person: person.press(SPHERE)),
        ("period", PeriodRepository, "snapshot", lambda person: person.press(QUARTER)),
        ("place", AsyncSession, "commit", lambda person: person.send("г. Минск")),
    ],
    ids=["sphere-lookup", "period-lookup", "commit"],
)
async def test_an_update_failing_before_its_commit_shows_the_same_step_again(
    world: World,
    app_storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    state: str,
    owner: type,
    method: str,
    act: Callable[[Person], Any],
) -> None:
    person = await join(world, 2003)
    await reach(person, state)
    question = person.replies()[-1]
    before = await snapshot(app_storage, 2003)
    calls = fail_once(monkeypatch, owner, method)

    replies = await act(person)

    assert calls  # the failure did happen
    assert [(reply.text, reply.reply_markup) for reply in replies] == [
        (repeated(question.text), question.reply_markup)
    ]
    assert await snapshot(app_storage, 2003) == before


async def test_dates_offered_to_be_kept_as_written_stay_offered_through_a_failure(
    world: World, app_storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = await join(world, 2008)
    await reach(person, "dates")
    [offer] = await person.send("отборочный этап 15 октября, финал 20 ноября 2023 года")
    keep = next(
        button.callback_data
        for row in offer.reply_markup.inline_keyboard  # type: ignore[union-attr]
        for button in row
        if button.text == Dialogue.KEEP_NOTE
    )
    before = await snapshot(app_storage, 2008)
    fail_once(monkeypatch, AsyncSession, "commit")

    replies = await person.send("когда-то осенью")
    after = await snapshot(app_storage, 2008)
    [question] = await person.press_data(keep or "")

    assert [reply.text for reply in replies] == [
        repeated(Dialogue.STEP.format(number=4) + dates_prompt(NOW))
    ]
    assert after == before and "pending" in after[1]
    assert question.text.endswith(Dialogue.ASK["result"])  # the offer still holds


# --- outside the dialogue ---------------------------------------------------------------------


async def test_a_failure_outside_the_dialogue_gets_the_short_error(
    world: World, app_storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = await join(world, 2004)
    fail_once(monkeypatch, PeriodRepository, "open_periods")

    replies = await person.send("/my")

    assert [reply.text for reply in replies] == [Common.ERROR]
    assert await snapshot(app_storage, 2004) == (None, {})


async def test_a_lost_reply_outside_the_dialogue_gets_the_short_error(
    world: World, app_storage: Storage, telegram: Telegram
) -> None:
    person = await join(world, 2005)
    telegram.lose_next_to = 2005

    replies = await person.send("/help")

    [lost] = telegram.lost
    assert lost.text.startswith(help_shown(NOW))
    assert [reply.text for reply in replies] == [Common.ERROR]
    assert await snapshot(app_storage, 2005) == (None, {})


# --- the database failing in the error path too ----------------------------------------------


async def test_with_the_database_down_too_the_person_gets_the_short_error(
    world: World, app_storage: Storage, telegram: Telegram
) -> None:
    person = await join(world, 2006)
    await reach(person, "name")
    telegram.lose_next_to = 2006

    with database_down(app_storage) as down:
        telegram.on_loss = lambda: down.append(True)  # the answer is committed by now
        replies = await person.send("Выставка")

    assert down  # the database was down while the error was handled
    assert [reply.text for reply in replies] == [Common.ERROR]
    state, data = await snapshot(app_storage, 2006)
    assert (state, data["draft"]["name"]) == ("ReportStates:place", "Выставка")


# --- the retry after the short error --------------------------------------------------------


def saved_already(text: str) -> str:
    return f"{Dialogue.ALREADY_SAVED}\n\n{text}"


async def fail_unseen(person: Person, app_storage: Storage, telegram: Telegram, act: Step) -> Any:
    """`act`, its answer committed, then its reply lost with the database going down: the
    error reply cannot read the step, so the person is told to try again."""
    telegram.lose_next_to = person.user.id
    with database_down(app_storage) as down:
        telegram.on_loss = lambda: down.append(True)
        replies = await act(person)
    assert [reply.text for reply in replies] == [Common.ERROR]
    return replies


async def test_a_retry_of_an_answer_saved_unseen_shows_the_step_instead_of_filling_the_next(
    world: World, app_storage: Storage, telegram: Telegram
) -> None:
    person = await join(world, 2009)
    await reach(person, "name")
    await fail_unseen(person, app_storage, telegram, lambda p: p.send("Выставка"))

    retried = await person.send("Выставка")  # as the error reply asked
    after_retry = await snapshot(app_storage, 2009)
    following = await person.send("г. Минск")

    assert [reply.text for reply in retried] == [
        saved_already(Dialogue.STEP.format(number=3) + Dialogue.ASK["place"])
    ]
    state, data = after_retry
    assert (state, data["draft"]["name"], data["draft"].get("place")) == (
        "ReportStates:place",
        "Выставка",
        None,
    )
    assert following[-1].text.endswith(dates_prompt(NOW))
    _, data = await snapshot(app_storage, 2009)
    assert (data["draft"]["name"], data["draft"]["place"]) == ("Выставка", "г. Минск")


async def test_a_retried_button_saved_unseen_shows_the_step_and_stops_the_spinner(
    world: World, app_storage: Storage, telegram: Telegram
) -> None:
    person = await join(world, 2010)
    await reach(person, "sphere")
    await fail_unseen(person, app_storage, telegram, lambda p: p.press(SPHERE))
    answered = len(person.answers())

    retried = await person.press(SPHERE)  # the sphere keyboard is the latest one seen

    assert [reply.text for reply in retried] == [
        saved_already(Dialogue.STEP.format(number=2) + Dialogue.ASK["name"])
    ]
    assert len(person.answers()) == answered + 1
    state, _ = await snapshot(app_storage, 2010)
    assert state == "ReportStates:name"


async def test_a_different_message_after_the_short_error_is_the_next_answer(
    world: World, app_storage: Storage, telegram: Telegram
) -> None:
    person = await join(world, 2011)
    await reach(person, "name")
    await fail_unseen(person, app_storage, telegram, lambda p: p.send("Выставка"))

    replies = await person.send("г. Минск")  # the person moved on instead of retrying
    again = await person.send("Выставка")  # the memory is spent: now a normal answer

    assert replies[-1].text.endswith(dates_prompt(NOW))
    assert Dialogue.ALREADY_SAVED not in again[-1].text
    _, data = await snapshot(app_storage, 2011)
    assert (data["draft"]["name"], data["draft"]["place"]) == ("Выставка", "г. Минск")


@contextmanager
def commit_failing_then_database_down(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The update's COMMIT fails (nothing saved), and the error reply cannot read either."""
    with database_down(storage) as down, monkeypatch.context() as patched:

        async def failing(self: AsyncSession) -> None:
            down.append(True)
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error"))

        patched.setattr(AsyncSession, "commit", failing)
        yield


async def test_a_retry_of_an_answer_that_was_not_saved_is_taken(
    world: World, app_storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = await join(world, 2012)
    await reach(person, "name")

    with commit_failing_then_database_down(app_storage, monkeypatch):
        replies = await person.send("Выставка")
    remembered = await world.dispatcher["unsettled"].recall(world.bot.id, 2012)
    retried = await person.send("Выставка")

    assert [reply.text for reply in replies] == [Common.ERROR]
    assert len(remembered) == 1  # the failure was remembered; the claim says it was not saved
    assert [reply.text for reply in retried] == [
        Dialogue.STEP.format(number=3) + Dialogue.ASK["place"]
    ]
    state, data = await snapshot(app_storage, 2012)
    assert (state, data["draft"]["name"]) == ("ReportStates:place", "Выставка")


async def test_the_failed_update_redelivered_is_taken_as_the_answer(
    world: World, app_storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = await join(world, 2013)
    await reach(person, "name")
    update = Update(update_id=7001, message=person.message(text="Выставка"))

    with commit_failing_then_database_down(app_storage, monkeypatch):
        await world.feed_raw(update)
    before = len(person.replies())
    await world.feed_raw(update)  # Telegram posts the same update again (webhook mode)
    redelivered = person.replies()[before:]

    assert [reply.text for reply in redelivered] == [
        Dialogue.STEP.format(number=3) + Dialogue.ASK["place"]
    ]
    state, data = await snapshot(app_storage, 2013)
    assert (state, data["draft"]["name"]) == ("ReportStates:place", "Выставка")


async def test_a_command_repeated_after_the_short_error_is_run_again(
    world: World, app_storage: Storage, telegram: Telegram
) -> None:
    person = await join(world, 2014)
    await reach(person, "name")
    await fail_unseen(person, app_storage, telegram, lambda p: p.send("/help"))

    again = await person.send("/help")

    assert Dialogue.ALREADY_SAVED not in "".join(reply.text for reply in again)
    assert again and again[-1].text == telegram.lost[-1].text  # the help, as first sent


async def test_with_telegram_and_the_database_down_nothing_escapes_the_error_handler(
    world: World, app_storage: Storage, telegram: Telegram
) -> None:
    person = await join(world, 2007)
    await reach(person, "name")
    telegram.down_for = 2007

    with database_down(app_storage) as down:
        telegram.on_loss = lambda: down.append(True)
        replies = await person.send("Выставка")  # raises if the error handler does

    assert replies == []
    assert telegram.tries[-1] == Common.ERROR  # it still tried to say so
    assert Dialogue.AFTER_ERROR not in "".join(telegram.tries)
