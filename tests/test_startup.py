"""Every failure at start is one Russian line saying what to fix, never a traceback.

The real `python -m bot` process, in an empty folder: bad settings, a token Telegram
rejects, a database or Redis nobody answers on, and the desk's file paths.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from http import HTTPStatus
from pathlib import Path

import pytest

from bot import texts
from handlers.commands import COORDINATOR_COMMANDS
from handlers.texts import Join
from tests.botapi_stub import BotApiStub
from tests.e2e import BotProcess, Person
from tests.telegram_rules import html_to_text
from tests.test_cli import run_bot

TOKEN = "123456:TEST-token-for-the-start-up-tests-0000"


def a_closed_port() -> int:
    """A local port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_russian_line(result: subprocess.CompletedProcess[str]) -> str:
    """The last line of stderr, asserting there is no traceback and it speaks Russian."""
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.search("[а-яё]{4,}", last), last
    return last


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/bot.db", "для SQLite нужен драйвер aiosqlite"),
        ("mysql://root@127.0.0.1/reports", "база данных «mysql» не поддерживается"),
        ("not a url", "адрес не распознан"),
    ],
)
def test_a_database_url_of_the_wrong_kind_is_one_line(
    tmp_path: Path, url: str, expected: str
) -> None:
    result = run_bot(tmp_path, "migrate", DATABASE_URL=url)

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert one_russian_line(result).startswith(f"Ошибка настройки DATABASE_URL: {expected}")


def test_a_postgresql_nobody_answers_on_is_one_line_without_the_password(tmp_path: Path) -> None:
    port = a_closed_port()
    url = f"postgresql+asyncpg://root:s3cret@127.0.0.1:{port}/reports"

    result = run_bot(tmp_path, "migrate", DATABASE_URL=url)

    assert result.returncode == 2
    assert one_russian_line(result) == texts.DATABASE_UNREACHABLE.format(
        where=f"127.0.0.1:{port}/reports", reason=texts.REASON_REFUSED
    )
    assert "s3cret" not in result.stderr + result.stdout


def test_a_postgresql_database_that_does_not_exist_is_named(tmp_path: Path) -> None:
    from tests.conftest import need_postgres

    need_postgres()
    url = "postgresql+asyncpg://root@127.0.0.1:5432/no_such_reports_db"

    result = run_bot(tmp_path, "migrate", DATABASE_URL=url)

    assert result.returncode == 2
    assert one_russian_line(result) == texts.DATABASE_UNREACHABLE.format(
        where="127.0.0.1:5432/no_such_reports_db",
        reason=texts.REASON_NO_DATABASE.format(name="no_such_reports_db"),
    )


def test_a_sqlite_file_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the folder should be")
    database = tmp_path / "taken" / "bot.db"

    result = run_bot(tmp_path, "migrate", DATABASE_URL=f"sqlite+aiosqlite:///{database}")

    assert result.returncode == 2
    assert one_russian_line(result) == texts.DATABASE_FILE_UNUSABLE.format(
        where=str(database), reason=texts.REASON_NOT_A_FOLDER
    )


def test_a_redis_nobody_answers_on_is_one_line(tmp_path: Path) -> None:
    port = a_closed_port()

    result = run_bot(tmp_path, BOT_TOKEN=TOKEN, REDIS_URL=f"redis://127.0.0.1:{port}/0")

    assert result.returncode == 2
    assert one_russian_line(result) == texts.REDIS_UNREACHABLE.format(
        where=f"127.0.0.1:{port}/0", reason=texts.REASON_REFUSED
    )


async def test_a_token_telegram_rejects_stops_the_start_with_one_line(tmp_path: Path) -> None:
    async with BotApiStub() as stub, BotProcess(tmp_path, stub.url) as bot:
        stub.fail_next(
            "getMe", status=HTTPStatus.UNAUTHORIZED, retry_after=None, description="Unauthorized"
        )
        await bot.restart()  # the fault is in place before the first getMe
        code = await bot.wait(timeout=60)

    stderr = bot.stderr_path.read_text(encoding="utf-8")
    assert code == 2
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == texts.TOKEN_REJECTED
    assert texts.STARTED not in bot.stdout()  # it never started: nothing says it did


def test_a_database_nobody_answers_on_stops_the_bot_with_one_line(tmp_path: Path) -> None:
    port = a_closed_port()
    url = f"postgresql+asyncpg://root@127.0.0.1:{port}/reports"

    result = run_bot(tmp_path, BOT_TOKEN=TOKEN, DATABASE_URL=url)

    assert result.returncode == 2
    assert one_russian_line(result) == texts.DATABASE_UNREACHABLE.format(
        where=f"127.0.0.1:{port}/reports", reason=texts.REASON_REFUSED
    )
    assert texts.STARTED not in result.stdout


def test_help_is_russian(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "--help")
    report = run_bot(tmp_path, "report", "--help")
    load = run_bot(tmp_path, "import", "--help")

    assert result.returncode == 0 and report.returncode == 0 and load.returncode == 0
    assert result.stdout.startswith("Использование: python -m bot")
    assert "показать эту справку и выйти" in result.stdout
    assert "сохранить отчёт за период в файл .docx" in result.stdout
    assert report.stdout.startswith("Использование: python -m bot report")
    for english in ("usage:", "options:", "positional arguments", "show this help"):
        assert english not in result.stdout + report.stdout
    # The placeholders too: no English word (nor an argument's Python name) in the usage.
    assert "[--out ФАЙЛ] ПЕРИОД" in report.stdout
    assert "[--organisation ОРГАНИЗАЦИЯ]" in load.stdout and "[--period ПЕРИОД]" in load.stdout
    for english in ("file", "period", "OUT", "PERIOD", "ORGANISATION"):
        assert not re.search(rf"(?<!-)\b{english}\b", report.stdout + load.stdout), english


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nonsense"], "неизвестная команда «nonsense»"),
        (["import"], "не указан аргумент ФАЙЛ"),
        (["report", "2023-Q4", "--out"], "параметру --out нужно значение"),
    ],
)
def test_a_wrong_command_line_is_answered_in_russian(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = run_bot(tmp_path, *args)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == texts.CLI_ERROR.format(message=expected)


def test_importing_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()

    result = run_bot(tmp_path, "import", "reports")

    assert result.returncode == 1
    assert one_russian_line(result) == texts.IMPORT_IS_FOLDER.format(path="reports")


def test_a_report_that_cannot_be_written_says_why(tmp_path: Path) -> None:
    events = {
        "period": "2023-Q4",
        "events": [
            {
                "sphere": "Сотрудничество в сфере культуры и туризма",
                "name": "Выставка",
                "place": "г. Минск",
                "start": "2023-10-26",
                "end": "2023-10-26",
                "precision": "day",
                "result": "Открыта выставка.",
                "participants": "Сотрудники музея.",
            }
        ],
    }
    (tmp_path / "events.json").write_text(json.dumps(events, ensure_ascii=False))
    (tmp_path / "folder.docx").mkdir()
    assert run_bot(tmp_path, "import", "events.json").returncode == 0

    into_folder = run_bot(tmp_path, "report", "2023-Q4", "--out", "folder.docx")
    under_a_file = run_bot(tmp_path, "report", "2023-Q4", "--out", "events.json/report.docx")

    assert into_folder.returncode == 1 and under_a_file.returncode == 1
    assert one_russian_line(into_folder) == texts.REPORT_CANNOT_WRITE.format(
        path="folder.docx", reason=texts.REASON_IS_FOLDER
    )
    assert one_russian_line(under_a_file) == texts.REPORT_CANNOT_WRITE.format(
        path="events.json/report.docx", reason=texts.REASON_NOT_A_FOLDER
    )


async def test_the_first_start_logs_a_one_time_link_that_makes_the_first_coordinator(
    tmp_path: Path,
) -> None:
    async with BotApiStub() as stub, BotProcess(tmp_path, stub.url) as bot:
        await bot.while_running(bot.wait_for_log("https://t.me/"))
        found = re.search(r"https://t\.me/\w+\?start=([\w-]+)", bot.stderr())
        assert found is not None
        olga = Person(stub, bot, 5005, "Ольга")

        asked = await olga.send(f"/start {found[1]}")
        welcome = await olga.send("Петрова Ольга Ивановна")
        late = await Person(stub, bot, 5006, "Пётр").send(f"/start {found[1]}")
        log = bot.log_mark()
        await bot.restart(graceful=True)
        await bot.while_running(stub.wait_for_polling(after=stub.mark()))

        assert asked.text == html_to_text(Join.SETUP_ASK_NAME)  # the stub drops the tags
        assert welcome.text == Join.SETUP_WELCOME.format(name="Петрова Ольга Ивановна")
        assert late.text == html_to_text(Join.bad_code(5006))
        assert stub.my_commands({"type": "chat", "chat_id": 5005}) == list(COORDINATOR_COMMANDS)
        assert "https://t.me/" not in bot.stderr(after=log), "no link once there is one"
        assert "Координаторов пока нет" in bot.stderr()
        assert bot.stdout().count(texts.STARTED) == 2  # once up, at each of the two starts


async def test_a_stop_while_telegram_does_not_answer_at_start_ends_the_process(
    tmp_path: Path,
) -> None:
    """systemctl stop while the start retries getMe: the process exits, not after a kill."""
    async with BotApiStub() as stub, BotProcess(tmp_path, stub.url) as bot:
        stub.fail_next("getMe", status=HTTPStatus.BAD_GATEWAY, retry_after=None, count=1000)
        await bot.restart()  # the fault is in place before the first getMe
        # The start's own retry says it in Russian at once (not a minute of English
        # "GetMe failed … retrying" from the request retries first).
        unanswered = texts.TELEGRAM_NOT_ANSWERING.split("(")[0]
        await bot.while_running(bot.wait_for_log(unanswered, timeout=60))
        code = await bot.terminate(timeout=30)

    stderr = bot.stderr_path.read_text(encoding="utf-8")
    assert code == 0, stderr  # SIGKILL after the timeout would be -9
    assert "Traceback" not in stderr
    assert "GetMe failed" not in stderr
    assert stderr.strip().splitlines()[-1].endswith(texts.STOPPED_AT_START)


async def test_a_stop_during_a_getme_telegram_never_answers_ends_the_process(
    tmp_path: Path,
) -> None:
    """The request itself may take TELEGRAM_REQUEST_TIMEOUT (60 s): the stop does not wait."""
    async with BotApiStub() as stub, BotProcess(tmp_path, stub.url) as bot:
        stub.stall_next("getMe")
        await bot.restart()
        await bot.while_running(stub.wait_for(lambda call: call.method == "getMe", timeout=60))
        code = await bot.terminate(timeout=30)

    stderr = bot.stderr_path.read_text(encoding="utf-8")
    assert code == 0, stderr
    assert stderr.strip().splitlines()[-1].endswith(texts.STOPPED_AT_START)
