"""The real `python -m bot` process for end-to-end tests, against tests/botapi_stub.py.

    async with BotApiStub() as stub, BotProcess(tmp_path, stub.url) as bot:
        mark = stub.mark()
        await stub.push_message(1001, "/start")
        reply = await bot.while_running(stub.wait_for_message(1001, after=mark))

The process is killed when the block ends; if the block fails, the tail of the bot's
output is attached to the error (pytest prints it under the traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

ROOT = Path(__file__).resolve().parents[1]
TEST_TOKEN = "123456:TEST-token-for-the-local-stub-0000"
LOG_TAIL = 150  # lines of each stream attached to a failure

T = TypeVar("T")


def _setting_names() -> set[str]:
    """Environment names the bot reads as settings; none leaks in from the test's shell."""
    from bot.settings import Settings

    return {name.upper() for name in Settings.model_fields}


class BotProcess:
    """`python -m bot` run in `folder` against the Bot API at `api_url`."""

    def __init__(
        self,
        folder: Path,
        api_url: str,
        *,
        coordinator_ids: Iterable[int] = (),
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        """`env` adds or overrides settings; `args` follow `python -m bot` (default: run)."""
        self.folder = folder
        self.args = tuple(args)
        self.database = folder / "bot.db"
        self.stdout_path = folder / "bot.stdout.log"
        self.stderr_path = folder / "bot.stderr.log"
        self.runs = 0
        stripped = _setting_names()
        self.env = {key: value for key, value in os.environ.items() if key.upper() not in stripped}
        self.env.update(
            BOT_TOKEN=TEST_TOKEN,
            TELEGRAM_API_URL=api_url,
            DATABASE_URL=f"sqlite+aiosqlite:///{self.database}",
            COORDINATOR_IDS=",".join(str(user_id) for user_id in coordinator_ids),
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        self.env.update(env or {})
        self._process: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Task[int] | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.kill()
        if exc is not None and not isinstance(exc, asyncio.CancelledError):
            exc.add_note(self.log(tail=LOG_TAIL))

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    async def start(self) -> None:
        """Start the process; its output is appended to the two log files in the folder."""
        if self.running:
            raise RuntimeError("the bot is already running")
        self.runs += 1
        banner = f"===== run {self.runs}: python -m bot {' '.join(self.args)}\n".encode()
        with self.stdout_path.open("ab") as stdout, self.stderr_path.open("ab") as stderr:
            stdout.write(banner)
            stderr.write(banner)
            stdout.flush()
            stderr.flush()
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *self.args,
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        self._exited = asyncio.create_task(self._process.wait())

    async def kill(self) -> int | None:
        """SIGKILL, as a crash or a power cut would; the exit code (None if never started)."""
        if self._process is None or self._exited is None:
            return None
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        return await self._exited

    async def terminate(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, as a service manager stops it; SIGKILL if still running after `timeout`."""
        if self._process is None or self._exited is None:
            return None
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(timeout):
                    return await asyncio.shield(self._exited)
            except TimeoutError:
                return await self.kill()
        return await self._exited

    async def restart(self, *, graceful: bool = False) -> None:
        """Stop (SIGTERM when `graceful`, else SIGKILL) and start again on the same folder."""
        if graceful:
            await self.terminate()
        else:
            await self.kill()
        await self.start()

    async def while_running(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, failing at once (with the log) if the process exits first."""
        if self._exited is None:
            raise RuntimeError("the bot was never started")
        task = asyncio.ensure_future(awaitable)
        await asyncio.wait({task, self._exited}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise AssertionError(
            f"the bot exited with code {self._exited.result()} before that happened\n"
            + self.log(tail=LOG_TAIL)
        )

    def stdout(self) -> str:
        return _read(self.stdout_path)

    def stderr(self) -> str:
        return _read(self.stderr_path)

    def log(self, *, tail: int | None = None) -> str:
        """Both output streams of every run so far (the last `tail` lines of each)."""
        sections = []
        for name, text in (("stdout", self.stdout()), ("stderr", self.stderr())):
            lines = text.splitlines()
            if tail is not None and len(lines) > tail:
                lines = [f"… {len(lines) - tail} earlier lines", *lines[-tail:]]
            sections.append(f"----- bot {name} ({self.folder}) -----\n" + "\n".join(lines))
        return "\n".join(sections)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
