"""Middlewares: one database session (and transaction) per update, with the person in it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import (
    AnswerCallbackQuery,
    GetMe,
    Response,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import SENDING, Outbox, OwedElsewhere
from bot.owed import OWED_LOOK, OWED_SEEN, ChatOwed, OwedFirst, OwedLook, TypedBeforeOwed
from bot.settings import Settings
from bot.unsettled import SavedRetries, Unsettled
from bot.workers import send_held_writes
from handlers.commands import set_coordinator_commands
from handlers.join import ask_name_once
from storage.db import current_session
from storage.models import Person
from storage.repositories import PersonRepository, ProcessedUpdateRepository

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """Opens a session per update, publishes it, commits when the handler succeeds.

    Registered before aiogram's FSM middleware (see `install_middlewares`), so the FSM
    step is read inside this session's transaction, which on SQLite holds the write lock:
    two updates of one chat are then handled one after the other, each seeing the step the
    other left. The session is published through `storage.db.current_session`, so the FSM
    storage reads and writes inside the same transaction: an update's answers and its new
    step are saved together or not at all.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session = self.sessionmaker()
        try:
            async with session:
                token = current_session.set(session)
                try:
                    data["session"] = session
                    result = await handler(event, data)
                    if session.in_transaction():  # else all was committed before replying
                        await session.commit()
                    return result
                finally:
                    current_session.reset(token)
        finally:
            # Only now, the transaction ended (committed, or rolled back on failure).
            bot: Bot | None = data.get("bot")
            if bot is not None:
                await send_deferred(bot, session)


class UpdateMiddleware(BaseMiddleware):
    """Claims the update and reads the person, in the update's transaction.

    The handlers get the person as a detached snapshot (`PersonRepository.snapshot`): its
    columns as stored, for reading; a handler that changes a person loads it first.

    The update is claimed in `processed_updates`: a redelivery (Telegram retrying a webhook
    it thinks failed, possibly to another worker) finds the claim and is skipped; an update
    whose handling failed was rolled back with its claim and is handled again.

    Asked by `OwedFirst` (`OWED_LOOK`, PostgreSQL with several workers), the claim also
    reads what the chat is owed: nothing, and `OWED_SEEN` is set as `settle_chat` would
    have; something, and `ChatOwed` is raised at once, before anything is logged or
    handled (`OwedFirst` rolls the claim back and delivers first: bot/owed.py).
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: AsyncSession = data["session"]
        user: User | None = data.get("event_from_user")
        person = None
        if isinstance(event, Update):
            claimed, person = await self._claim(session, event, data, user)
            if not claimed:
                return UNHANDLED
        elif user is not None:
            person = await PersonRepository(session).snapshot(user.id)
        if person is not None and person.unreachable_since is not None:
            await _reachable_again(session, event, data, person)
        data["person"] = person if person is not None and person.active else None
        return await handler(event, data)

    @staticmethod
    async def _claim(
        session: AsyncSession, update: Update, data: dict[str, Any], user: User | None
    ) -> tuple[bool, Person | None]:
        """The claim, and the sender (read with it: one statement on PostgreSQL)."""
        bot: Bot | None = data.get("bot")
        bot_id = bot.id if bot is not None else 0
        clock = data.get("clock")
        now = clock() if callable(clock) else None
        updates = ProcessedUpdateRepository(session)
        settings: Settings | None = data.get("settings")
        zone = settings.timezone if settings is not None else None  # the periods read along
        look: OwedLook | None = data.pop(OWED_LOOK, None)
        if look is not None:
            seen = await updates.claim_seeing_owed(
                bot_id,
                update.update_id,
                user.id if user is not None else None,
                look.chat_id,
                delivered_since=look.delivered_since,
                now=now,
                periods_in=zone,
            )
            if seen.owed:
                raise ChatOwed(look.chat_id)
            if seen.delivered_at is not None:
                data[OWED_SEEN] = seen.delivered_at
            claimed, person = seen.claimed, seen.person
        elif user is None:
            claimed, person = await updates.claim(bot_id, update.update_id, now=now), None
        else:
            claimed, person = await updates.claim_with_person(
                bot_id, update.update_id, user.id, now=now, periods_in=zone
            )
        if not claimed:
            log.info("update %s of bot %s was already processed; skipped", update.update_id, bot_id)
        return claimed, person


async def _reachable_again(
    session: AsyncSession, event: TelegramObject, data: dict[str, Any], person: Person
) -> None:
    """A person marked unreachable who writes or presses a button in their private chat
    with the bot can be written to again (a `my_chat_member` update is left to its
    handler: it may be the block itself)."""
    chat: Chat | None = data.get("event_chat")
    if isinstance(event, Update) and event.my_chat_member is not None:
        return
    if chat is None or chat.type != "private":
        return
    await PersonRepository(session).mark_reachable(person.telegram_id)
    person.unreachable_since = None  # the snapshot handlers get
    log.info("person %s is reachable again", person.id)


class Handling(BaseMiddleware):
    """The updates in hand, so that a stopping process can finish them (`finish`), and at
    most `limit` of them handled at once (UPDATES_IN_HAND; the others wait their turn here,
    before they take a chat's lock or a connection, and count as in hand).

    aiogram's polling stops on SIGTERM without waiting for the update tasks it started;
    the process would then close the database under them and exit mid-reply. Without a
    limit a burst of thousands of updates is handled all at once: each gets a slice of
    the event loop so rarely that a chat's Redis lock outlived its renewals (10 s) and
    every update took the burst's whole length (bench/dialogue.py --burst 2000).
    """

    def __init__(
        self, limit: int | None = None, waits: Callable[[float], None] | None = None
    ) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._slots = asyncio.Semaphore(limit) if limit else None
        self._waits = waits  # told how long each update waited for its turn

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        task = asyncio.current_task()
        if task is None or task in self._tasks:
            return await handler(event, data)
        self._tasks.add(task)
        self._idle.clear()
        try:
            if self._slots is None:
                return await handler(event, data)
            waited = time.monotonic()
            async with self._slots:
                if self._waits is not None:
                    self._waits(time.monotonic() - waited)
                return await handler(event, data)
        finally:
            self._tasks.discard(task)
            if not self._tasks:
                self._idle.set()

    @property
    def in_hand(self) -> int:
        return len(self._tasks)

    async def finish(self, timeout: float) -> bool:
        """Wait until no update is in hand, at most `timeout` seconds; whether it was so.

        Those still in hand then are cancelled (their transactions roll back, or their
        replies stay owed in the outbox) before the database is closed under them.
        """
        if self._tasks:
            log.info("finishing %s update(s) in hand (at most %s s)", len(self._tasks), timeout)
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            left = list(self._tasks)
            log.warning("stopping with %s update(s) unfinished: cancelled", len(left))
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
            return False
        return True


def install_middlewares(
    dispatcher: Dispatcher,
    sessionmaker: async_sessionmaker[AsyncSession],
    unsettled: Unsettled | None = None,
    handling: Handling | None = None,
    outbox: Outbox | None = None,
) -> None:
    """The update middlewares in their order: (given) the count of updates in hand,
    session, FSM (aiogram's, with the chat's lock), (given the outbox) what a dead worker
    owed the chat, claim and person, (given the outbox) a text written before the owed
    question, then (given the memory of failed updates) the retries of updates saved
    after all.

    The Dispatcher must be made with `disable_fsm=True`: its FSM middleware is registered
    here, after the session, instead of first.
    """
    if handling is not None:
        dispatcher.update.outer_middleware(handling)
    dispatcher.update.outer_middleware(DbSessionMiddleware(sessionmaker))
    dispatcher.update.outer_middleware(dispatcher.fsm)
    if outbox is not None:
        dispatcher.update.outer_middleware(OwedFirst(outbox, sessionmaker))
    dispatcher.update.outer_middleware(UpdateMiddleware())
    if outbox is not None:
        dispatcher.update.outer_middleware(TypedBeforeOwed())
    if unsettled is not None:
        dispatcher.update.outer_middleware(SavedRetries(unsettled))


DEFERRED = "answers_after_commit"  # Session.info: callback answers held until commit


class CommitBeforeSending(BaseRequestMiddleware):
    """Commits the update's transaction before the bot says anything to anyone, and never
    waits for Telegram while the transaction is open. With an `outbox`, a message is first
    written to it in that transaction and forgotten once Telegram answered (bot.outbox):
    a crash in between leaves it owed, and it is delivered after the restart.

    aiogram confirms an update to Telegram as soon as it starts handling it, so an update
    whose reply the person has seen must already be saved: otherwise a crash between the
    reply and the end of the handler loses the answer (and the next answer lands in the
    wrong field). Committing here makes "the person saw the next question" imply "the
    previous answer and the new step are in the database".

    A callback answer (the button's spinner or a short alert) shows nothing new, so it does
    not end the transaction: the handler's reads and writes stay one unit. It is held and
    sent when the update's handling ends (`send_deferred`, after the reply): a slow
    Telegram then never holds the database (on SQLite, the process's one writer
    connection) for everyone else.
    """

    def __init__(self, outbox: Outbox | None = None) -> None:
        self.outbox = outbox

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        session = current_session.get()
        if session is None or isinstance(method, GetMe):
            return await make_request(bot, method)
        await send_held_writes(session)  # the new step is in Redis before anyone sees it
        outbox = self.outbox
        if outbox is None or not outbox.owes(method):
            if not session.in_transaction():
                return await make_request(bot, method)
            if isinstance(method, AnswerCallbackQuery):
                session.info.setdefault(DEFERRED, []).append(method)
                return True  # type: ignore[return-value]  # what answerCallbackQuery returns
            await session.commit()
            return await make_request(bot, method)
        # In the update's transaction, or (the handler committed already) one of its own.
        claim = outbox.claim(lambda: AsyncSession(bind=session.bind))  # None: one process
        row = await outbox.record(session, bot, method)
        await session.commit()
        outbox.in_flight.add(row)  # until deleted: no delivery pass takes it meanwhile
        if claim is not None:
            claim.row_id = row
        sending = SENDING.set(claim)  # each attempt checks it is still ours (StillOwned)
        try:
            try:
                result = await make_request(bot, method)
            except OwedElsewhere:
                # Another worker took this process for dead and the row with it: that one
                # sends it (the update's error reply would repeat it).
                raise
            except Exception:
                # Refused, or Telegram failing past the retries: the update fails, and its
                # error reply shows the stored step (bot.app._on_error). Kept, this message
                # would come later, out of date. Only a process that dies leaves it owed.
                await outbox.forget(session, row)
                raise
            await outbox.forget(session, row)
        finally:
            SENDING.reset(sending)
            outbox.in_flight.discard(row)
        return result


async def send_deferred(bot: Bot, session: AsyncSession) -> None:
    """Send the callback answers held during the transaction; a failure is only logged."""
    for method in session.info.pop(DEFERRED, ()):
        try:
            await bot(method)
        except Exception:  # a spinner that stops late is not worth failing the update for
            log.exception("could not answer a callback query")


class CoordinatorMenus(BaseMiddleware):
    """A coordinator's command menu, set after their first update in this process.

    At start the menus are set for the coordinators Telegram knows a chat with; one who had
    never written to the bot then ("chat not found"), or who became a coordinator through
    the setup link, gets the desk's commands here, after the update's own reply. `shown`
    (the Dispatcher's `coordinator_menus`) holds whose menu is set, so it is done once.
    """

    def __init__(self, shown: set[int]) -> None:
        self.shown = shown

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        result = await handler(event, data)
        user: User | None = data.get("event_from_user")
        bot: Bot | None = data.get("bot")
        if user is None or bot is None or user.id in self.shown:
            return result
        person = data.get("person")
        if person is None:  # a stranger: did this update make them a coordinator?
            session: AsyncSession | None = data.get("session")
            if session is None:
                return result
            person = await PersonRepository(session).snapshot(user.id)
        if person is None or person.role != "coordinator" or not person.active:
            return result
        try:
            await set_coordinator_commands(bot, user.id, self.shown)
        except TelegramAPIError as error:  # tried again at their next update
            log.warning("no command menu for coordinator %s: %s", user.id, error)
        return result


class CoordinatorsName(BaseMiddleware):
    """After a message or a button press in a private chat, a coordinator from
    COORDINATOR_IDS still under the placeholder name is asked their name once
    (`handlers.join.ask_name_once`); their update itself is handled first, as usual."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        result = await handler(event, data)
        person: Person | None = data.get("person")
        if person is None or person.role != "coordinator":  # staff: nothing to do
            return result
        chat: Chat | None = data.get("event_chat")
        if not isinstance(event, Update) or (event.message or event.callback_query) is None:
            return result
        bot: Bot | None = data.get("bot")
        session: AsyncSession | None = data.get("session")
        state = data.get("state")
        if chat is None or chat.type != "private" or bot is None or session is None or not state:
            return result
        try:
            await ask_name_once(bot, session, state, person, chat.id)
        except TelegramAPIError as error:  # noted as asked: a prompt is not worth a failure
            log.warning("could not ask coordinator %s their name: %s", person.id, error)
        return result
