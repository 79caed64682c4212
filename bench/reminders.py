"""Benchmark a reminder round: 3,000 reporters through a rate-limited Bot API stand-in.

    python bench/reminders.py [--reporters 3000] [--limit 300] [--latency 0.03]
                              [--bot-rate N]  (default: the limit; above it shows 429s)

The stand-in runs in a child process (an aiohttp server, so it does not share the bot's
CPU): it accepts at most `--limit` sendMessage calls in any sliding one-second window and
answers 429 with `retry_after` past it, waits `--latency` before answering, and counts the
deliveries per chat. The bot side is the real thing: a temporary SQLite database migrated
to head, `reminder_round` (missing reporters → claimed rows → Sender → rows marked sent)
with the Sender's limiter set to the same limit, aiogram's AiohttpSession over HTTP.

Printed: delivered/sent, duplicates, 429 answers, the most accepted in any one-second
window, and the achieved rate (delivered over the whole round's time, database work
included) as a fraction of the limit. Target: all delivered once, none twice, ≥ 0.9.
A second round is run to show that nobody is reminded twice. Both processes run on the
event loop the bot runs on (bot/loop.py: uvloop when installed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from collections import Counter, deque
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, web  # noqa: E402

from bot import loop  # noqa: E402

TOKEN = "123456:BENCH-token-for-the-local-stand-in-000"
TARGET = 0.9


# --- the stand-in (child process) ----------------------------------------------------


class StandIn:
    """The part of the Bot API a reminder round uses, with a sliding-window rate limit."""

    def __init__(self, limit: int, latency: float) -> None:
        self.limit = limit
        self.latency = latency
        self.window: deque[float] = deque()  # accepted sendMessage times, last second
        self.accepted: list[float] = []
        self.deliveries: Counter[int] = Counter()
        self.rejected = 0
        self.message_id = 0

    async def method(self, request: web.Request) -> web.Response:
        name = request.match_info["method"].lower()
        params: dict[str, Any] = dict(await request.post()) if request.can_read_body else {}
        if name == "getme":
            result: Any = {"id": 123456, "is_bot": True, "first_name": "Bench", "username": "b"}
        elif name == "sendmessage":
            now = time.monotonic()
            while self.window and self.window[0] <= now - 1.0:
                self.window.popleft()
            if len(self.window) >= self.limit:
                self.rejected += 1
                retry_after = max(1, math.ceil(self.window[0] + 1.0 - now))
                await asyncio.sleep(self.latency)
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": f"Too Many Requests: retry after {retry_after}",
                        "parameters": {"retry_after": retry_after},
                    },
                    status=429,
                )
            self.window.append(now)
            self.accepted.append(now)
            chat_id = int(params["chat_id"])
            self.deliveries[chat_id] += 1
            self.message_id += 1
            result = {
                "message_id": self.message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": params.get("text", ""),
            }
            await asyncio.sleep(self.latency)
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "accepted": len(self.accepted),
                "chats": len(self.deliveries),
                "duplicates": sum(count - 1 for count in self.deliveries.values() if count > 1),
                "rejected_429": self.rejected,
                "span": (self.accepted[-1] - self.accepted[0]) if self.accepted else 0.0,
                "max_per_second": _max_in_window(self.accepted, 1.0),
            }
        )


def _max_in_window(times: list[float], width: float) -> int:
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - width:
            start += 1
        best = max(best, end - start + 1)
    return best


async def serve(limit: int, latency: float) -> None:
    stand_in = StandIn(limit, latency)
    app = web.Application()
    app.router.add_get("/stats", stand_in.stats)
    app.router.add_route("*", "/bot{token}/{method}", stand_in.method)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {port}", flush=True)
    await asyncio.Event().wait()


# --- the bot side --------------------------------------------------------------------


async def populate(sessionmaker: Any, reporters: int, organisations: int) -> int:
    """Organisations with their reporters and one open period; returns the period id."""
    from reports.quarters import Quarter
    from storage.models import Organisation, Person
    from storage.repositories import PeriodRepository
    from tests.factories import MOSCOW_DEADLINE

    async with sessionmaker() as session, session.begin():
        orgs = [Organisation(name=f"Учреждение {n:04d}") for n in range(organisations)]
        session.add_all(orgs)
        await session.flush()
        session.add_all(
            Person(
                telegram_id=10_000_000 + n,
                full_name=f"Сотрудник {n}",
                organisation_id=orgs[n % organisations].id,
                role="reporter",
                active=True,
            )
            for n in range(reporters)
        )
        period = await PeriodRepository(session).ensure(Quarter(2023, 4), MOSCOW_DEADLINE)
        return period.id


async def bench(args: argparse.Namespace) -> bool:
    from sqlalchemy import func, select

    from bot.app import build_bot
    from bot.database import open_storage
    from bot.reminders import ReminderDeps, reminder_round
    from bot.settings import Settings
    from storage.models import Reminder
    from tests.factories import MOSCOW_DEADLINE

    child = await asyncio.create_subprocess_exec(
        *[sys.executable, __file__, "--serve", "--limit", str(args.limit)],
        *["--latency", str(args.latency)],
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        port = int((await child.stdout.readline()).split()[1])
        url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                bot_token=TOKEN,
                database_url=f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}",
                telegram_api_url=url,
                send_rate_per_second=float(args.bot_rate or args.limit),
                send_per_chat_interval=1.0,
            )
            storage = await open_storage(settings)
            bot = build_bot(settings)
            try:
                period_id = await populate(storage.sessionmaker, args.reporters, args.orgs)
                deps = ReminderDeps.create(bot, storage.sessionmaker, settings)
                now = MOSCOW_DEADLINE - timedelta(days=3)

                started = time.perf_counter()
                result = await reminder_round(deps, period_id, "before_3", now=now)
                elapsed = time.perf_counter() - started
                again = await reminder_round(deps, period_id, "before_3", now=now)

                async with storage.sessionmaker() as session:
                    marked = await session.scalar(
                        select(func.count()).where(Reminder.status == "sent")
                    )
                async with ClientSession() as client, client.get(f"{url}/stats") as answer:
                    stats = json.loads(await answer.text())
            finally:
                await bot.session.close()
                await storage.close()
    finally:
        child.terminate()
        await child.wait()

    delivered = stats["chats"]
    rate = delivered / elapsed
    fraction = rate / args.limit
    ok = (
        delivered == args.reporters
        and stats["duplicates"] == 0
        and marked == args.reporters
        and again.claimed == 0
        and fraction >= TARGET
    )
    print(f"reminder round: {args.reporters} reporters in {args.orgs} organisations")
    print(
        f"stand-in limit {args.limit} msg/s (sliding 1 s window, 429 + retry_after past it), "
        f"latency {args.latency * 1000:.0f} ms; bot limiter {settings.send_rate_per_second:g} "
        f"msg/s, {settings.send_per_chat_interval:g} s per chat"
    )
    print(f"delivered/sent:        {delivered}/{result.claimed} (rows marked sent: {marked})")
    print(f"duplicates:            {stats['duplicates']}")
    print(f"429 answers:           {stats['rejected_429']} (each retried after retry_after)")
    print(f"most in any 1 s:       {stats['max_per_second']} (limit {args.limit})")
    print(
        f"round time:            {elapsed:.2f} s (query, claims, sending, marks); "
        f"deliveries span {stats['span']:.2f} s at the stand-in"
    )
    print(f"achieved rate:         {rate:.1f} msg/s = {fraction:.3f} of the limit")
    print(f"second round:          {again.claimed} claimed, {again.sent} sent")
    print(f"target (all once, none twice, >= {TARGET} of the limit): {'met' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reporters", type=int, default=3000)
    parser.add_argument("--orgs", type=int, default=300)
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--bot-rate", type=float, default=None)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        loop.run(serve(args.limit, args.latency))
        return 0
    return 0 if loop.run(bench(args)) else 1


if __name__ == "__main__":
    sys.exit(main())
