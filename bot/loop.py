"""The event loop the bot's long-running processes run on: uvloop's when it is installed
(a dependency everywhere but Windows, where it does not exist), else asyncio's own.

uvloop spends less than half the CPU of asyncio's loop on a socket round trip (the
PostgreSQL, Redis and Telegram requests of every update). `run` is `asyncio.run` with that
loop: the same Runner, so the same handling of Ctrl+C and the same clean-up at the end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's `new_event_loop`, or None (asyncio's default loop) without uvloop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run the coroutine to its end on a new loop (see `loop_factory`), like `asyncio.run`."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
