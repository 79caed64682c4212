"""Webhook mode: aiogram's aiohttp integration behind a load balancer.

- `POST WEBHOOK_PATH`: aiogram's SimpleRequestHandler, answering Telegram only once the
  update is handled (`handle_in_background=False`), so a failed update is retried by
  Telegram (and a redelivery is skipped by the claim in `processed_updates`). A request
  without the right `X-Telegram-Bot-Api-Secret-Token` gets 401 and is not read.
- `GET /healthz`: 200 with `{"status": "ok"}` when the database answers, else 503.
- `GET /metrics`: the process's metrics in Prometheus's text format (bot/metrics.py); keep
  it off the public side of the proxy.
- SIGTERM/SIGINT: stop listening, let in-flight updates finish (SHUTDOWN_TIMEOUT), then
  close the scheduler, the Bot session, the FSM storage and the engine.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from sqlalchemy import text

from bot.database import Storage
from bot.metrics import METRICS_PATH
from bot.observing import metrics_page
from bot.settings import Settings

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
HEALTH_TIMEOUT = 3.0  # seconds the database has to answer the health check


def build_web_app(
    dispatcher: Dispatcher, bot: Bot, settings: Settings, storage: Storage
) -> web.Application:
    """The aiohttp application: the webhook route and the health endpoint.

    The webhook handler is added as a plain route, not with `register()`: that would
    close the Bot session in `on_shutdown`, which aiohttp runs before it waits for the
    in-flight requests, so their replies would fail.
    """
    assert settings.webhook_secret is not None
    handler = SimpleRequestHandler(
        dispatcher,
        bot,
        handle_in_background=False,
        secret_token=settings.webhook_secret.get_secret_value(),
    )
    app = web.Application()
    app.router.add_post(settings.webhook_path, handler.handle)

    async def health(_request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT), storage.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure is "unhealthy"; the log has the cause
            log.warning("health check: the database does not answer (%s)", error)
            return web.json_response({"status": "unavailable", "database": "error"}, status=503)
        return web.json_response({"status": "ok", "database": "ok"})

    app.router.add_get(HEALTH_PATH, health)
    app.router.add_get(METRICS_PATH, metrics_page)
    return app


async def serve(app: web.Application, settings: Settings, stop: asyncio.Event) -> None:
    """Listen on WEBHOOK_HOST:WEBHOOK_PORT until `stop` is set, then shut down gracefully:
    no new connections, in-flight requests get SHUTDOWN_TIMEOUT seconds to finish."""
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=settings.shutdown_timeout
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
        await site.start()
        log.info(
            "webhook listening on %s:%s%s",
            settings.webhook_host,
            settings.webhook_port,
            settings.webhook_path,
        )
        await stop.wait()
        log.info("stopping: finishing in-flight updates (at most %s s)", settings.shutdown_timeout)
    finally:
        await runner.cleanup()
    log.info("webhook server stopped")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop
