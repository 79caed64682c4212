"""Assembly: settings → storage → Dispatcher → polling. No logic of its own."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.types import ErrorEvent
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import texts
from bot.database import Storage, open_storage, redis_pool
from bot.metrics import UPDATE_SLOTS, PoolWaits
from bot.middlewares import (
    CommitBeforeSending,
    CoordinatorMenus,
    CoordinatorsName,
    Handling,
    install_middlewares,
)
from bot.observing import CountRequests, install_update_metrics, serve_metrics
from bot.outbox import Outbox, OwedElsewhere, StillOwned
from bot.reachability import on_forbidden
from bot.retry import RetryRequests
from bot.scheduler import ReminderScheduler
from bot.settings import Settings, StartupError
from bot.sole_worker import sole_webhook_worker
from bot.unsettled import MemoryUnsettled, RedisUnsettled, Unsettled, chat_of, remember_failure
from bot.workers import Heartbeat, PrefetchedRedisStorage, RenewedRedisIsolation
from handlers.commands import setup_commands
from handlers.desk import REPORT_JOB, run_report_job
from handlers.report import repeat_question
from handlers.routers import setup_routers
from handlers.stats import STATS_JOB, run_stats_job
from handlers.texts import Common
from handlers.views import Clock
from storage.db import current_session
from storage.fsm import SqlAlchemyStorage
from storage.repositories import JoinCodeRepository, PersonRepository

log = logging.getLogger(__name__)

START_RETRY_MAX_DELAY = 30.0
SCHEDULER_REFRESH = timedelta(minutes=5)
SETUP_CODE_VALID = timedelta(days=30)  # the first start's setup link
GC_YOUNG_THRESHOLD = 10_000  # allocations between collections of the youngest generation


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _on_error(
    event: ErrorEvent,
    bot: Bot,
    state: FSMContext | None = None,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    settings: Settings | None = None,
    clock: Clock = utc_now,
    unsettled: Unsettled | None = None,
) -> bool:
    """Log the failure with its update; show the person the step the stored dialogue is at,
    or (outside the dialogue, or when that fails too) say that nothing was lost.

    In that last case the update is remembered (`bot.unsettled`): had it been saved after
    all (a COMMIT whose answer was lost), the person's retry is not taken as a new answer.

    The step is read and rewritten in a transaction of its own, published like an update's
    (the update's own is closed by now): a newer step that another update of the chat saves
    meanwhile is not overwritten, and the transaction is committed before anything is sent.
    """
    update = event.update
    if isinstance(event.exception, OwedElsewhere):  # the worker that took it sends it
        log.warning("update %s: %s", update.update_id, event.exception)
        return True
    log.exception("update %s failed", update.update_id, exc_info=event.exception)
    chat = chat_of(update)
    if chat is None:
        return True
    if state is not None and sessionmaker is not None and settings is not None:
        try:
            async with sessionmaker() as session:
                token = current_session.set(session)
                try:
                    shown = await repeat_question(bot, chat, state, session, settings, clock)
                    await session.commit()
                finally:
                    current_session.reset(token)
            if shown:
                return True
        except Exception:  # the generic reply below still goes out
            log.exception("could not show chat %s its current step after the failure", chat)
    await remember_failure(unsettled, bot, update)
    try:
        await bot.send_message(chat, Common.ERROR)
    except Exception:  # the person is told when possible; the log has the cause
        log.exception("could not tell chat %s about the failure", chat)
    return True


def fsm_storage(
    settings: Settings, storage: Storage
) -> tuple[BaseStorage, BaseEventIsolation | None]:
    """aiogram's RedisStorage (with a per-chat Redis lock shared by all workers) when
    REDIS_URL is set, else our storage in the database (the update's own transaction)."""
    if settings.redis_url is None:
        return SqlAlchemyStorage(storage.sessionmaker, reader=storage.reader), None
    from redis.asyncio import Redis

    key_builder = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
    redis_storage = PrefetchedRedisStorage(
        Redis(connection_pool=redis_pool(settings)), key_builder=key_builder
    )
    # aiogram's RedisEventIsolation holds a chat for 60 s after its worker died: ours, a
    # short lock renewed while the update is in hand, which also reads the chat's state
    # and data in the lock's round trip (bot/workers.py).
    isolation = RenewedRedisIsolation(redis_storage.redis, key_builder, storage=redis_storage)
    return redis_storage, isolation


def build_dispatcher(
    settings: Settings, storage: Storage, clock: Clock = utc_now, outbox: Outbox | None = None
) -> Dispatcher:
    """The Dispatcher with the FSM storage, the session middleware and every router;
    given the process's `outbox`, a chat's owed messages come before its next update."""
    fsm, isolation = fsm_storage(settings, storage)
    redis = getattr(fsm, "redis", None)
    unsettled: Unsettled = MemoryUnsettled() if redis is None else RedisUnsettled(redis)
    dispatcher = Dispatcher(
        storage=fsm,
        events_isolation=isolation,
        disable_fsm=True,  # registered by install_middlewares, inside the update's session
        settings=settings,
        sessionmaker=storage.sessionmaker,
        reader=storage.reader,
        clock=clock,
        unsettled=unsettled,
        coordinator_menus=set(),  # whose desk menu is set (handlers.commands)
    )
    install_update_metrics(dispatcher)  # outermost of ours: the whole update is timed
    if outbox is not None:
        dispatcher["outbox_owner"] = outbox.owner  # the report's job is this process's
    dispatcher["handling"] = handling = Handling(
        settings.updates_in_hand, PoolWaits(UPDATE_SLOTS, settings.pool_slow_wait)
    )
    install_middlewares(dispatcher, storage.sessionmaker, unsettled, handling, outbox)
    dispatcher.update.outer_middleware(CoordinatorMenus(dispatcher["coordinator_menus"]))
    dispatcher.update.outer_middleware(CoordinatorsName())
    dispatcher.errors.register(on_forbidden, ExceptionTypeFilter(TelegramForbiddenError))
    dispatcher.errors.register(_on_error)
    dispatcher.include_router(setup_routers())
    return dispatcher


def settle_memory() -> None:
    """Once the process is set up: freeze what start-up allocated, and collect less often.

    What was allocated so far (aiogram's and SQLAlchemy's machinery, the routers, the
    engine) lives as long as the process: `gc.freeze()` takes it out of the collector's
    scans. A larger youngest generation means fewer collections while hundreds of
    dialogues are in flight (at the defaults, collecting took about 7% of the time in
    bench/dialogue.py, with pauses of a few hundred milliseconds).
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def build_bot(
    settings: Settings, session: BaseSession | None = None, outbox: Outbox | None = None
) -> Bot:
    """The Bot: HTML parse mode by default, a self-hosted API server if configured, each
    request given TELEGRAM_REQUEST_TIMEOUT seconds (a given session's timeout is set too),
    each message of an update kept in `outbox` until Telegram confirmed it."""
    assert settings.bot_token is not None
    if session is None:
        url = settings.telegram_api_url
        session = AiohttpSession(api=TelegramAPIServer.from_base(url) if url else PRODUCTION)
    # aiogram's AiohttpSession reads it at every request; getUpdates gets it plus the poll.
    session.timeout = settings.telegram_request_timeout
    bot = Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    if outbox is None:
        outbox = Outbox(timedelta(seconds=settings.outbox_lease))
    bot.session.middleware(CommitBeforeSending(outbox))  # outermost: commit once, then retry
    bot.session.middleware(RetryRequests())
    bot.session.middleware(StillOwned(outbox))  # each attempt: the row not taken by another
    bot.session.middleware(CountRequests())  # innermost: every attempt counted
    return bot


class StoppedAtStart(Exception):
    """SIGTERM or SIGINT arrived while the start waited for Telegram: exit quietly."""


async def _until_telegram_answers(
    call: Callable[[], Awaitable[object]], stop: asyncio.Event
) -> None:
    """Retry a start-up call while Telegram is unreachable, busy or failing (5xx, 429);
    a token Telegram rejects (401) is a `StartupError`: retrying cannot mend it. A stop
    signal ends the wait at once (`StoppedAtStart`), even in the middle of a request."""
    delay = 1.0
    while True:
        try:
            await _unless_stopped(call(), stop)
            return
        except TelegramUnauthorizedError:
            raise StartupError(texts.TOKEN_REJECTED) from None
        except TelegramRetryAfter as error:
            wait = float(error.retry_after)
        except (TelegramNetworkError, TelegramServerError) as error:
            wait, delay = delay, min(delay * 2, START_RETRY_MAX_DELAY)
            log.warning(texts.TELEGRAM_NOT_ANSWERING.format(reason=error, wait=f"{wait:g}"))
        await _unless_stopped(asyncio.sleep(wait), stop)


async def _unless_stopped(awaitable: Awaitable[object], stop: asyncio.Event) -> None:
    """Await `awaitable`, or raise `StoppedAtStart` as soon as `stop` is set."""
    task = asyncio.ensure_future(awaitable)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise StoppedAtStart
    task.result()


async def _setup_menus(bot: Bot, storage: Storage, dispatcher: Dispatcher) -> None:
    async with storage.sessionmaker() as session:
        coordinators = await PersonRepository(session).coordinators()
    ids = [person.telegram_id for person in coordinators]
    await setup_commands(bot, ids, dispatcher["coordinator_menus"])


async def announce_setup_link(bot: Bot, storage: Storage, settings: Settings) -> str | None:
    """With no coordinator at all (and none in COORDINATOR_IDS), log the one-time setup
    link in Russian: whoever opens it first becomes the first coordinator. The link."""
    if settings.coordinator_ids:
        return None
    async with storage.sessionmaker() as session, session.begin():
        if await PersonRepository(session).coordinators():
            return None
        code = await JoinCodeRepository(session).setup_code(valid_for=SETUP_CODE_VALID)
        expires = code.expires_at.astimezone(settings.timezone)
    me = await bot.me()
    link = f"https://t.me/{me.username}?start={code.code}"
    log.warning(texts.SETUP_LINK.format(link=link, until=expires.strftime("%d.%m.%Y %H:%M")))
    return link


def build_outbox(settings: Settings, storage: Storage) -> Outbox:
    """The process's outbox, able to redo the jobs the handlers record (report, stats)."""
    outbox = Outbox(timedelta(seconds=settings.outbox_lease), every=settings.outbox_every)

    async def report(bot: Bot, chat_id: int, payload: dict[str, object]) -> None:
        await run_report_job(
            bot, chat_id, payload, storage.reader, settings, writer=storage.sessionmaker
        )

    async def stats(bot: Bot, chat_id: int, payload: dict[str, object]) -> None:
        await run_stats_job(bot, chat_id, payload, storage.reader, settings)

    outbox.jobs[REPORT_JOB] = report
    outbox.jobs[STATS_JOB] = stats
    return outbox


async def _deliver_at_start(
    bot: Bot, outbox: Outbox, storage: Storage, *, everything: bool
) -> asyncio.Task[None]:
    """What a previous run owed (before any update is taken), then the periodic pass."""
    sent = await outbox.deliver_owed(bot, storage.sessionmaker, everything=everything)
    if sent:
        log.info("delivered %s message(s) owed by the previous run", sent)
    return asyncio.create_task(outbox.keep_delivering(bot, storage.sessionmaker))


async def _stop_delivering(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run_polling(settings: Settings, *, ready: Callable[[], None] | None = None) -> None:
    """Start the bot with long polling until SIGTERM or SIGINT; then stop taking updates,
    finish those in hand (at most SHUTDOWN_TIMEOUT seconds) and close. `ready` is called
    once the database and Telegram have answered, just before the first updates."""
    from bot.webhook import stop_on_signals

    stop = stop_on_signals()
    storage = await open_storage(settings)
    outbox = build_outbox(settings, storage)
    bot = build_bot(settings, outbox=outbox)
    dispatcher = build_dispatcher(settings, storage, outbox=outbox)
    handling: Handling = dispatcher["handling"]
    scheduler = ReminderScheduler.for_app(bot, storage.sessionmaker, settings)
    dispatcher.workflow_data.update(scheduler.workflow_data())
    settle_memory()
    delivering: asyncio.Task[None] | None = None
    metrics: web.AppRunner | None = None
    try:
        metrics = await start_metrics(settings)
        await _until_telegram_answers(bot.me, stop)
        # Only one process can poll a bot: all that is owed is this process's to send.
        await outbox.remember_deliveries(storage.sessionmaker)
        delivering = await _deliver_at_start(bot, outbox, storage, everything=True)
        await _until_telegram_answers(lambda: _setup_menus(bot, storage, dispatcher), stop)
        await announce_setup_link(bot, storage, settings)
        await scheduler.start()
        if ready is not None:
            ready()
        stopper = asyncio.create_task(_stop_polling_on(stop, dispatcher))
        try:
            await dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
        finally:
            stopper.cancel()
        await handling.finish(settings.shutdown_timeout)
    except StoppedAtStart:
        log.info(texts.STOPPED_AT_START)
    finally:
        await _stop_delivering(delivering)
        await scheduler.shutdown()
        await bot.session.close()
        await storage.close()
        if metrics is not None:
            await metrics.cleanup()


async def start_metrics(settings: Settings) -> web.AppRunner | None:
    """/metrics on METRICS_HOST:METRICS_PORT when the port is set (long polling, the
    scheduler process; a webhook worker serves it on its webhook port instead). A port
    that cannot be taken is a `StartupError`."""
    if settings.metrics_port is None:
        return None
    try:
        return await serve_metrics(settings.metrics_host, settings.metrics_port)
    except OSError as error:
        raise StartupError(
            texts.METRICS_PORT_UNUSABLE.format(
                host=settings.metrics_host, port=settings.metrics_port, reason=error.strerror
            )
        ) from None


def say_where_metrics_are(settings: Settings) -> None:
    """A webhook worker serves /metrics on its webhook server only: a METRICS_PORT given
    to it is said, at start, to be unused (one Russian line), not silently ignored."""
    if settings.metrics_port is not None:
        log.warning(
            texts.METRICS_ON_WEBHOOK.format(
                port=settings.metrics_port,
                host=settings.webhook_host,
                webhook_port=settings.webhook_port,
            )
        )


async def _stop_polling_on(stop: asyncio.Event, dispatcher: Dispatcher) -> None:
    await stop.wait()
    log.info("stopping: no new updates; finishing those in hand")
    await dispatcher.stop_polling()


async def run_webhook(settings: Settings, *, ready: Callable[[], None] | None = None) -> None:
    """Serve Telegram's webhook (and /healthz) until SIGTERM; in-flight updates finish.
    `ready` is called once the database and Telegram have answered."""
    from bot.webhook import build_web_app, serve, stop_on_signals

    assert settings.webhook_url is not None and settings.webhook_secret is not None
    say_where_metrics_are(settings)
    stop = stop_on_signals()
    storage = await open_storage(settings)
    outbox = build_outbox(settings, storage)
    bot = build_bot(settings, outbox=outbox)
    dispatcher = build_dispatcher(settings, storage, outbox=outbox)
    heartbeat = _heartbeat(dispatcher, bot, outbox)
    scheduler = ReminderScheduler.for_app(bot, storage.sessionmaker, settings)
    dispatcher.workflow_data.update(scheduler.workflow_data())
    settle_memory()
    delivering: asyncio.Task[None] | None = None
    guard = contextlib.AsyncExitStack()
    try:
        if heartbeat is None:  # without Redis: the only worker (bot/sole_worker.py)
            await guard.enter_async_context(sole_webhook_worker(storage.engine, bot.id))
        await _until_telegram_answers(bot.me, stop)
        if heartbeat is not None:
            await heartbeat.start()  # before this worker holds any row
        else:
            await outbox.remember_deliveries(storage.sessionmaker)
        # Other workers may be sending their rows: only those of dead workers, or past
        # their lease.
        delivering = await _deliver_at_start(bot, outbox, storage, everything=False)
        if settings.webhook_register:
            secret = settings.webhook_secret.get_secret_value()
            url = settings.webhook_url
            allowed = dispatcher.resolve_used_update_types()
            await _until_telegram_answers(
                lambda: bot.set_webhook(url, secret_token=secret, allowed_updates=allowed), stop
            )
            log.info("webhook registered with Telegram: %s", url)
            await _until_telegram_answers(lambda: _setup_menus(bot, storage, dispatcher), stop)
            await announce_setup_link(bot, storage, settings)
        await scheduler.start()
        await dispatcher.emit_startup(bot=bot, **dispatcher.workflow_data)
        if ready is not None:
            ready()
        await serve(build_web_app(dispatcher, bot, settings, storage), settings, stop)
    except StoppedAtStart:
        log.info(texts.STOPPED_AT_START)
    finally:
        await _stop_delivering(delivering)
        if heartbeat is not None:
            await heartbeat.stop()  # what is still owed is for the other workers now
        await scheduler.shutdown()
        await dispatcher.emit_shutdown(bot=bot, **dispatcher.workflow_data)
        await bot.session.close()
        await guard.aclose()
        await storage.close()


def _heartbeat(dispatcher: Dispatcher, bot: Bot, outbox: Outbox) -> Heartbeat | None:
    """With Redis (several workers may share the bot): this worker's heartbeat, which
    also tells the outbox which other workers are alive (bot/workers.py)."""
    redis = getattr(dispatcher.storage, "redis", None)
    if redis is None:
        return None
    heartbeat = Heartbeat(redis, bot.id, outbox.owner)
    outbox.liveness = heartbeat
    return heartbeat


async def run_scheduler(settings: Settings) -> None:
    """Only the reminder scheduler (no updates): the one process of a scale-out that sends
    reminders. It re-reads the periods every few minutes, since deadline changes made in
    the workers rebuild only their own (disabled) schedules."""
    from bot.webhook import stop_on_signals

    settings = settings.model_copy(update={"scheduler_enabled": True})
    stop = stop_on_signals()
    storage = await open_storage(settings)
    bot = build_bot(settings)
    scheduler = ReminderScheduler.for_app(bot, storage.sessionmaker, settings)
    metrics: web.AppRunner | None = None
    try:
        metrics = await start_metrics(settings)
        await _until_telegram_answers(bot.me, stop)
        await scheduler.start(refresh_every=SCHEDULER_REFRESH)
        log.info("reminder scheduler running (no updates handled in this process)")
        await stop.wait()
    except StoppedAtStart:
        log.info(texts.STOPPED_AT_START)
    finally:
        await scheduler.shutdown()
        await bot.session.close()
        await storage.close()
        if metrics is not None:
            await metrics.cleanup()
