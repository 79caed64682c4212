"""The real `python -m bot` process for end-to-end tests, against tests/botapi_stub.py.

    async with BotApiStub() as stub, BotProcess(tmp_path, stub.url) as bot:
        mark = stub.mark()
        await stub.push_message(1001, "/start")
        reply = await bot.while_running(stub.wait_for_message(1001, after=mark))

        person = Person(stub, bot, 1001)
        question = await person.send("/new")  # the same, in one line

The process is killed when the block ends; if the block or a `while_running` wait fails,
the tail of the bot's output is attached to the error (pytest prints it under the
traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from tests.botapi_stub import WAIT, BotApiStub, BotMessage

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
        asked_their_names: bool = False,
    ) -> None:
        """`env` adds or overrides settings; `args` follow `python -m bot` (default: run).
        `asked_their_names`: the coordinators are as in a bot in use, asked their names
        already (else each one's first message is followed by the question)."""
        self.folder = folder
        self.coordinator_ids = list(coordinator_ids) if asked_their_names else []
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
        self._copying: asyncio.Task[None] | None = None
        self._logged = asyncio.Condition()  # notified whenever stderr grows

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
            self._attach_log(exc)

    async def _ask_their_names(self) -> None:
        """The database made before the first run, its coordinators asked their names."""
        from pydantic import SecretStr

        from bot.database import open_storage
        from bot.settings import Settings
        from tests.tg import asked_their_names

        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            bot_token=SecretStr(TEST_TOKEN),
            database_url=self.env["DATABASE_URL"],
            coordinator_ids=self.coordinator_ids,
        )
        storage = await open_storage(settings)
        try:
            await asked_their_names(storage.sessionmaker, self.coordinator_ids)
        finally:
            await storage.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    async def start(self) -> None:
        """Start the process; its output is appended to the two log files in the folder
        (stderr, where the logging goes, through a pipe so that `wait_for_log` can wake)."""
        if self.running:
            raise RuntimeError("the bot is already running")
        if self._copying is not None:
            await self._copying  # the previous run's last lines are in the file
        if self.runs == 0 and self.coordinator_ids:
            await self._ask_their_names()
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
                stderr=subprocess.PIPE,
            )
        assert self._process.stderr is not None
        self._copying = asyncio.create_task(self._copy_stderr(self._process.stderr))
        self._exited = asyncio.create_task(self._process.wait())

    async def _copy_stderr(self, stream: asyncio.StreamReader) -> None:
        with self.stderr_path.open("ab") as log:
            while chunk := await stream.read(1 << 16):
                log.write(chunk)
                log.flush()
                async with self._logged:
                    self._logged.notify_all()

    async def kill(self) -> int | None:
        """SIGKILL, as a crash or a power cut would; the exit code (None if never started)."""
        if self._process is None or self._exited is None:
            return None
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        return await self._stopped()

    async def _stopped(self) -> int:
        """The exit code, once the process has exited and its stderr is all in the file."""
        assert self._exited is not None and self._copying is not None
        code = await asyncio.shield(self._exited)
        await asyncio.shield(self._copying)
        return code

    async def terminate(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, as a service manager stops it; SIGKILL if still running after `timeout`."""
        if self._process is None or self._exited is None:
            return None
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(timeout):
                    return await self._stopped()
            except TimeoutError:
                return await self.kill()
        return await self._stopped()

    async def wait(self, timeout: float = 60.0) -> int:
        """The exit code of a process that ends by itself (`migrate`, `report`)."""
        if self._exited is None:
            raise RuntimeError("the bot was never started")
        async with asyncio.timeout(timeout):
            return await self._stopped()

    def send_signal(self, signum: int) -> None:
        """Send `signum` to the running process and return at once."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signum)

    async def restart(self, *, graceful: bool = False) -> None:
        """Stop (SIGTERM when `graceful`, else SIGKILL) and start again on the same folder."""
        if graceful:
            await self.terminate()
        else:
            await self.kill()
        await self.start()

    async def while_running(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, failing at once if the process exits first; either failure
        carries the tail of the bot's log."""
        if self._exited is None:
            raise RuntimeError("the bot was never started")
        task = asyncio.ensure_future(awaitable)
        await asyncio.wait({task, self._exited}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            if not task.cancelled() and (error := task.exception()) is not None:
                self._attach_log(error)
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        code = await self._stopped()
        raise AssertionError(
            f"the bot exited with code {code} before that happened\n" + self.log(tail=LOG_TAIL)
        )

    async def wait_for_log(self, text: str, *, after: int = 0, timeout: float = WAIT) -> None:
        """Until stderr from `after` (see `log_mark`) contains `text`; AssertionError with
        the log after `timeout`. Wrap it in `while_running` to fail at once on an exit."""
        try:
            async with self._logged, asyncio.timeout(timeout):
                await self._logged.wait_for(lambda: text in self.stderr(after=after))
        except TimeoutError:
            raise AssertionError(f"the bot did not log {text!r} within {timeout} s") from None

    async def wait_until_handled(self, update_id: int, *, after: int = 0) -> None:
        """Until aiogram logs the update as done ("Update id=… is handled"), which it does
        after the middlewares: the update's transaction is committed (or rolled back)."""
        await self.while_running(self.wait_for_log(f"Update id={update_id} is ", after=after))

    def log_mark(self) -> int:
        """Where the stderr log ends now: pass it as `after=` to `stderr` for what follows."""
        return self.stderr_path.stat().st_size if self.stderr_path.exists() else 0

    def stdout(self) -> str:
        return _read(self.stdout_path)

    def stderr(self, *, after: int = 0) -> str:
        """Everything every run wrote to stderr (the logging goes there), from `after` on."""
        return _read(self.stderr_path, after)

    def log(self, *, tail: int | None = None) -> str:
        """Both output streams of every run so far (the last `tail` lines of each)."""
        sections = []
        for name, text in (("stdout", self.stdout()), ("stderr", self.stderr())):
            lines = text.splitlines()
            if tail is not None and len(lines) > tail:
                lines = [f"… {len(lines) - tail} earlier lines", *lines[-tail:]]
            sections.append(f"{self._log_head(name)}\n" + "\n".join(lines))
        return "\n".join(sections)

    def _log_head(self, stream: str) -> str:
        return f"----- bot {stream} ({self.folder}) -----"

    def _attach_log(self, error: BaseException) -> None:
        """Add the log's tail to `error` once, however many waits it passed through."""
        head = self._log_head("stdout")
        if not any(note.startswith(head) for note in getattr(error, "__notes__", ())):
            error.add_note(self.log(tail=LOG_TAIL))


class Person:
    """Someone in a private chat with the running bot, through the stub.

    The HTTP twin of tests/tg.py's Person: `send` and `press` push an update and return
    the first message the bot sends to the chat after it.
    """

    def __init__(
        self, stub: BotApiStub, bot: BotProcess, user_id: int, first_name: str = "Иван"
    ) -> None:
        self.stub, self.bot = stub, bot
        self.user_id, self.first_name = user_id, first_name
        self.last_update_id: int | None = None  # of the latest message or press

    async def send(self, text: str) -> BotMessage:
        """Write `text` (a /command gets its entity) and wait for the bot's reply."""
        mark = self.stub.mark()
        update = await self.stub.push_message(self.user_id, text, first_name=self.first_name)
        return await self._reply(update, mark)

    async def press(self, button: str) -> BotMessage:
        """Press the button labelled `button` on the latest message that has it; the reply."""
        mark = self.stub.mark()
        update = await self.stub.press(self.user_id, button, first_name=self.first_name)
        return await self._reply(update, mark)

    async def _reply(self, update: dict[str, Any], mark: int) -> BotMessage:
        self.last_update_id = update["update_id"]
        return await self.bot.while_running(self.stub.wait_for_message(self.user_id, after=mark))


def _read(path: Path, after: int = 0) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as file:
        file.seek(after)
        return file.read().decode("utf-8", errors="replace")


# --- webhook mode ---------------------------------------------------------------------

WEBHOOK_SECRET = "test-webhook-secret_0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_env(port: int, **extra: str) -> dict[str, str]:
    """Settings of a webhook worker listening on `port` (Telegram would call WEBHOOK_URL)."""
    return {
        "WEBHOOK_URL": "https://bot.example.org/tg/webhook",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_PATH": "/tg/webhook",
        **extra,
    }


class Webhook:
    """Telegram's side of a webhook: POSTs updates to a worker, as Telegram would."""

    def __init__(self, port: int, path: str = "/tg/webhook") -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.url = self.base + path

    async def post(
        self, update: dict[str, Any], *, secret: str | None = WEBHOOK_SECRET
    ) -> tuple[int, bytes]:
        """Deliver `update`; the HTTP status and body of the answer."""
        import aiohttp

        headers = {} if secret is None else {SECRET_HEADER: secret}
        async with (
            aiohttp.ClientSession() as client,
            client.post(self.url, json=update, headers=headers) as response,
        ):
            return response.status, await response.read()

    async def health(self) -> tuple[int, Any]:
        import aiohttp

        async with (
            aiohttp.ClientSession() as client,
            client.get(self.base + "/healthz") as response,
        ):
            return response.status, await response.json()

    async def wait_until_up(self, bot: BotProcess, *, after: int = 0) -> None:
        """Until the worker logs that it listens (wrapped in `while_running`)."""
        await bot.while_running(bot.wait_for_log("webhook listening on", after=after, timeout=60))


# --- several webhook workers on PostgreSQL and Redis ----------------------------------


async def fresh_postgres_database(suffix: str) -> str:
    """An empty PostgreSQL database of a test file's own, named after TEST_POSTGRES_URL's
    (`<database>_<suffix>`, so that two suites on one server never share it); its URL."""
    from sqlalchemy import make_url, text

    from storage.db import create_engine
    from tests.conftest import POSTGRES_URL

    url = make_url(POSTGRES_URL)
    name = f"{url.database}_{suffix}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            await connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


async def empty_redis(url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def webhook_workers(
    stub: BotApiStub,
    folders: Callable[[str], Path],
    *,
    database_url: str,
    redis_url: str,
    coordinator_ids: Iterable[int] = (),
    count: int = 2,
    asked_their_names: bool = False,
    **env: str,
) -> AsyncIterator[list[tuple[BotProcess, Webhook]]]:
    """`count` webhook workers on one database (migrated first) and one Redis, the first
    registering the webhook, the scheduler off, `env` added; killed when the block ends.
    `folders(name)` makes each process's folder (e.g. `tmp_path_factory.mktemp`)."""
    migrate = BotProcess(
        folders("migrate"), stub.url, env={"DATABASE_URL": database_url}, args=["migrate"]
    )
    await migrate.start()
    assert await migrate.wait() == 0, migrate.log(tail=40)
    started: list[tuple[BotProcess, Webhook]] = []
    try:
        for number in range(1, count + 1):
            port = free_port()
            settings = webhook_env(
                port,
                DATABASE_URL=database_url,
                REDIS_URL=redis_url,
                SCHEDULER_ENABLED="false",
                WEBHOOK_REGISTER="true" if number == 1 else "false",
                **env,
            )
            bot = BotProcess(
                folders(f"worker{number}"),
                stub.url,
                coordinator_ids=coordinator_ids,
                env=settings,
                asked_their_names=asked_their_names,
            )
            started.append((bot, Webhook(port)))
        for bot, _ in started:
            await bot.start()  # all at once: they migrate under PostgreSQL's lock
        for bot, webhook in started:
            await webhook.wait_until_up(bot)
        yield started
    finally:
        for bot, _ in started:
            await bot.kill()


@dataclass(frozen=True, slots=True)
class StartedWorkers:
    """What `pg_redis_workers` started: the stand-in, the workers, their database."""

    stub: BotApiStub
    started: list[tuple[BotProcess, Webhook]]
    database_url: str


@contextlib.asynccontextmanager
async def pg_redis_workers(
    folders: Callable[[str], Path],
    *,
    name: str,
    redis_url: str,
    coordinator: int,
    **env: str,
) -> AsyncIterator[StartedWorkers]:
    """Two webhook workers (`webhook_workers`) on a fresh PostgreSQL database of their own
    (`<database>_<name>`) and an emptied Redis database, with a Bot API stand-in that knows
    the coordinator's chat; the coordinator was asked their name already. Skipped without
    PostgreSQL or Redis (run with CI=true)."""
    from tests.conftest import need_postgres, need_redis

    need_postgres()
    need_redis()
    database_url = await fresh_postgres_database(name)
    await empty_redis(redis_url)
    async with BotApiStub() as stub:
        stub.add_chat(coordinator, first_name="Ольга")
        async with webhook_workers(
            stub,
            folders,
            database_url=database_url,
            redis_url=redis_url,
            coordinator_ids=[coordinator],
            asked_their_names=True,
            **env,
        ) as started:
            yield StartedWorkers(stub, started, database_url)
