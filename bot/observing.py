"""What moves the metrics of bot/metrics.py: update and Bot API middlewares, the listener
counting submitted events, and the /metrics page in Prometheus's text format."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject, Update
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import event as orm_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from bot.metrics import (
    API_REQUESTS,
    API_RETRIES,
    EVENTS_SUBMITTED,
    METRICS_PATH,
    REGISTRY,
    REMINDERS,
    REPORT_SECONDS,
    UPDATE_SECONDS,
    UPDATES,
    labelled,
)

log = logging.getLogger(__name__)


Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
TAKEN = "metrics_taken"  # the update's data: which router and handler took it


@dataclass(slots=True)
class _Taken:
    router: str = "none"
    handler: str = "none"


class UpdateMetrics(BaseMiddleware):
    """Outer update middleware (first of ours): counts each update by type, the router
    and handler that took it (told by `HandlerSeen`) and its outcome, and times it."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        taken = data[TAKEN] = _Taken()
        try:
            kind = event.event_type
        except Exception:  # an update type aiogram does not know
            kind = "unknown"
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await handler(event, data)
            outcome = "unhandled" if result is UNHANDLED else "handled"
            return result
        except TelegramForbiddenError:
            outcome = "blocked"  # the person blocked the bot: its reply could not be sent
            raise
        finally:
            labelled(UPDATE_SECONDS, kind).observe(time.perf_counter() - started)
            labelled(UPDATES, kind, taken.router, taken.handler, outcome).inc()


class HandlerSeen(BaseMiddleware):
    """Inner middleware of every event observer: notes the router and handler chosen."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        taken: _Taken | None = data.get(TAKEN)
        if taken is not None:
            router = data.get("event_router")
            chosen = data.get("handler")
            taken.router = getattr(router, "name", None) or "none"
            taken.handler = getattr(getattr(chosen, "callback", None), "__name__", "none")
        return await handler(event, data)


def install_update_metrics(dispatcher: Dispatcher) -> None:
    """Count and time the Dispatcher's updates; call before any other middleware of ours.
    Also counts submitted events (`count_submissions`) and compiled reports."""
    from handlers.desk import REPORT_COMPILED

    if report_compiled not in REPORT_COMPILED:
        REPORT_COMPILED.append(report_compiled)
    dispatcher.update.outer_middleware(UpdateMetrics())
    seen = HandlerSeen()
    for name, observer in dispatcher.observers.items():
        if name not in ("update", "error"):
            observer.middleware(seen)
    count_submissions()


def api_outcome(error: BaseException | None) -> str:
    """The outcome label of a Bot API request that raised `error` (None: it succeeded)."""
    if error is None:
        return "ok"
    if isinstance(error, TelegramRetryAfter):
        return "rate_limited"
    if isinstance(error, TelegramServerError):
        return "server_error"
    if isinstance(error, TelegramEntityTooLarge):
        return "refused"
    if isinstance(error, TelegramNetworkError):
        return "network_error"
    if isinstance(error, TelegramForbiddenError):
        return "forbidden"
    if isinstance(error, TelegramAPIError):
        return "refused"
    return "error"


class CountRequests(BaseRequestMiddleware):
    """The Bot session's innermost middleware: counts every attempt by method and outcome."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        try:
            result = await make_request(bot, method)
        except BaseException as error:
            labelled(API_REQUESTS, name, api_outcome(error)).inc()
            raise
        labelled(API_REQUESTS, name, "ok").inc()
        return result


def retried(method: str, error: BaseException) -> None:
    """A Bot API request about to be sent again after `error`."""
    API_RETRIES.labels(method, api_outcome(error)).inc()


def reminders_delivered(sent: int, failed: int, unreachable: int) -> None:
    REMINDERS.labels("sent").inc(sent)
    REMINDERS.labels("failed").inc(failed)
    REMINDERS.labels("unreachable").inc(unreachable)


def report_compiled(kind: str, seconds: float) -> None:
    REPORT_SECONDS.labels(kind).observe(seconds)


# --- events submitted: counted when the transaction that filed them commits --------------

_SUBMITTED = "metrics_submitted"  # Session.info: the period labels of events filed


def _after_flush(session: Session, _context: Any) -> None:
    from storage.models import Event, ReportingPeriod
    from storage.repositories.periods import quarter_read_along

    for item in chain(session.new, session.dirty):
        if not isinstance(item, Event) or item.status != "submitted":
            continue
        history = inspect(item).attrs.status.history
        if "submitted" not in (history.added or ()) or "submitted" in (history.deleted or ()):
            continue
        known = quarter_read_along(session, item.period_id)  # PostgreSQL: with the claim
        if known is None:
            with session.no_autoflush:
                period = session.get(ReportingPeriod, item.period_id)
            known = (period.year, period.quarter) if period is not None else None
        label = f"{known[0]}-Q{known[1]}" if known is not None else "unknown"
        session.info.setdefault(_SUBMITTED, []).append(label)


def _after_commit(session: Session) -> None:
    for label in session.info.pop(_SUBMITTED, ()):
        EVENTS_SUBMITTED.labels(label).inc()


def _after_rollback(session: Session) -> None:
    session.info.pop(_SUBMITTED, None)


def count_submissions() -> None:
    """Listen to every ORM session of the process (once) for events filed."""
    if orm_event.contains(Session, "after_commit", _after_commit):
        return
    orm_event.listen(Session, "after_flush", _after_flush)
    orm_event.listen(Session, "after_commit", _after_commit)
    orm_event.listen(Session, "after_rollback", _after_rollback)


# --- the /metrics page ------------------------------------------------------------------


async def metrics_page(_request: web.Request) -> web.Response:
    """The registry in Prometheus's text format."""
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def metrics_app() -> web.Application:
    app = web.Application()
    app.router.add_get(METRICS_PATH, metrics_page)
    return app


async def serve_metrics(host: str, port: int) -> web.AppRunner:
    """Serve /metrics on host:port (beside long polling, in the scheduler process) until the
    returned runner is cleaned up; OSError when the port cannot be taken."""
    runner = web.AppRunner(metrics_app(), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    log.info("metrics on http://%s:%s%s", host, port, METRICS_PATH)
    return runner
