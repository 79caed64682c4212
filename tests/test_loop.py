"""The event loop of the bot's processes (bot/loop.py): uvloop's when it is installed,
asyncio's own when it is not; `python -m bot`, the scheduler and the demo run on it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import uvloop

import bot.cli
import bot.demo
from bot import loop
from bot.cli import main


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_the_coroutine_runs_on_uvloop_when_it_is_installed() -> None:
    running = loop.run(_running_loop())

    assert isinstance(running, uvloop.Loop)
    assert running.is_closed()  # like asyncio.run: the loop is closed at the end


def test_without_uvloop_the_coroutine_runs_on_asyncios_own_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError

    running = loop.run(_running_loop())

    assert not isinstance(running, uvloop.Loop)
    assert isinstance(running, asyncio.BaseEventLoop)


def test_the_result_and_the_error_of_the_coroutine_come_back() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def failing() -> None:
        raise LookupError("no such thing")

    assert loop.run(answer()) == 42
    with pytest.raises(LookupError, match="no such thing"):
        loop.run(failing())


@pytest.mark.parametrize("command", ["run", "scheduler", "demo"])
def test_the_bot_the_scheduler_and_the_demo_run_on_uvloop(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("BOT_TOKEN", "TIMEZONE", "SPHERES", "COORDINATOR_IDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}")
    loops: list[asyncio.AbstractEventLoop] = []

    async def record(*_args: object) -> int:
        loops.append(asyncio.get_running_loop())
        return 0

    if command == "demo":
        monkeypatch.setattr(bot.demo, "run_demo", record)
    else:
        monkeypatch.setattr(bot.cli, f"_{command}", record)

    assert main([command]) == 0
    assert len(loops) == 1
    assert isinstance(loops[0], uvloop.Loop)
