"""The coordinator's desk on the command line, run as a real process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from docx import Document

ROOT = Path(__file__).resolve().parents[1]


def run_bot(
    tmp_path: Path, *args: str, entry: tuple[str, ...] = ("-m", "bot"), **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ...` in an empty folder (no .env), on a SQLite file there."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"BOT_TOKEN", "DATABASE_URL", "TIMEZONE", "SPHERES", "COORDINATOR_IDS"}
    }
    environment["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}"
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env)
    return subprocess.run(
        [sys.executable, *entry, *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def fixture_file(tmp_path: Path, fixture_data: dict[str, Any]) -> Path:
    path = tmp_path / "events.json"
    path.write_text(json.dumps(fixture_data, ensure_ascii=False), encoding="utf-8")
    return path


def test_import_then_report_writes_the_compiled_document(
    tmp_path: Path, fixture_file: Path
) -> None:
    first = run_bot(tmp_path, "import", str(fixture_file))
    second = run_bot(tmp_path, "import", str(fixture_file))
    report = run_bot(tmp_path, "report", "2023-Q4", "--out", "out/report.docx")

    assert first.returncode == 0, first.stderr
    assert "Загружено мероприятий: 42; уже были загружены ранее: 0" in first.stdout
    assert "Загружено мероприятий: 0; уже были загружены ранее: 42" in second.stdout
    assert report.returncode == 0, report.stderr
    assert "мероприятий: 42" in report.stdout
    document = Document(BytesIO((tmp_path / "out" / "report.docx").read_bytes()))
    assert "в IV квартале 2023 года" in document.paragraphs[0].text
    assert len(document.tables[0].rows) == 1 + 12 + 42


def test_an_imported_quarter_long_past_is_created_closed(
    tmp_path: Path, fixture_file: Path
) -> None:
    result = run_bot(tmp_path, "import", str(fixture_file))

    assert result.returncode == 0, result.stderr
    with closing(sqlite3.connect(tmp_path / "data" / "bot.db")) as database:
        rows = database.execute("SELECT year, quarter, status FROM reporting_periods").fetchall()
    assert rows == [(2023, 4, "closed")]  # 2023 is not offered to staff any more


def test_the_report_is_named_after_its_period_by_default(
    tmp_path: Path, fixture_file: Path
) -> None:
    run_bot(tmp_path, "import", str(fixture_file))

    result = run_bot(tmp_path, "report", "2023-q4")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report_2023_Q4.docx").exists()


def test_an_unknown_period_says_so_and_writes_nothing(tmp_path: Path, fixture_file: Path) -> None:
    run_bot(tmp_path, "import", str(fixture_file))

    unknown = run_bot(tmp_path, "report", "2024-Q1")
    malformed = run_bot(tmp_path, "report", "2024-Q5")

    assert unknown.returncode == 1
    assert "Отчётного периода 2024-Q1 в базе нет" in unknown.stderr
    assert malformed.returncode == 1
    assert "Период указан неверно" in malformed.stderr
    assert not list(tmp_path.glob("*.docx"))


def test_an_empty_period_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"period": "2024-Q2", "events": []}), encoding="utf-8")
    assert run_bot(tmp_path, "import", str(empty)).returncode == 0

    result = run_bot(tmp_path, "report", "2024-Q2")

    assert result.returncode == 1
    assert "нет поданных мероприятий" in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "не является JSON"),
        ('{"events": []}', "period должно быть вида 2023-Q4"),
        ('{"period": "2023-Q4", "events": [{"name": "x"}]}', "мероприятие №1"),
        (
            '{"period": "2023-Q4", "events": [{"sphere": "a", "name": "b", "place": "c",'
            ' "result": "d", "participants": "e", "start": "2023-02-31"}]}',
            "неверные даты",
        ),
    ],
)
def test_a_bad_import_file_is_refused_with_a_reason(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")

    result = run_bot(tmp_path, "import", str(path))

    assert result.returncode == 1
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1


def test_without_a_token_it_says_how_to_get_one(tmp_path: Path) -> None:
    result = run_bot(tmp_path)

    assert result.returncode == 1
    assert "@BotFather" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_bad_setting_stops_the_start_with_one_line_naming_it(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "migrate", TIMEZONE="Mars/Olympus")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Ошибка настройки TIMEZONE: неизвестный часовой пояс «Mars/Olympus» (пример: Europe/Moscow)"
    ]


def test_migrate_creates_the_database_directory(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "migrate")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "bot.db").exists()


def _typed_report() -> bytes:
    from tests.word import Event, Sphere, person_report

    return person_report(
        ["Отчет о мероприятиях в международной сфере во 2 квартале 2021 года"],
        [
            Sphere("Сотрудничество в сфере спорта"),
            Event(("1", "Турнир", "г. Смоленск", "12.05.2021", "Проведён", "Команды")),
            Event(("2", "Матч", "г. Минск", "", "Проведён", "Команды")),
        ],
        ["Заключительный абзац."],
    )


@pytest.mark.parametrize(
    ("number", "shown"),
    [(1, "1 мероприятие"), (3, "3 мероприятия"), (11, "11 мероприятий"), (21, "21 мероприятие")],
)
def test_the_import_counts_events_in_agreement(number: int, shown: str) -> None:
    from bot import texts
    from bot.cli import _counted

    assert _counted(number, texts.EVENTS) == shown


def test_a_docx_report_is_imported_once_into_a_closed_period(tmp_path: Path) -> None:
    path = tmp_path / "Отчёт 2 кв.docx"
    path.write_bytes(_typed_report())

    first = run_bot(tmp_path, "import", str(path), "--organisation", "Департамент спорта")
    second = run_bot(tmp_path, "import", str(path))

    assert first.returncode == 0, first.stderr
    assert "Отчёт за 2021-Q2 загружен" in first.stdout
    assert "docx: 1 мероприятие, 1 примечание. Приём сведений за II квартал 2021 года закрыт" in (
        first.stdout
    )
    assert "строка 4 (№ 2) «Матч»: не указаны сроки проведения" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "не загружен: сведения за II квартал 2021 года уже содержат 1 мероприятие" in (
        second.stdout
    )
    assert "Из файла не загружено: 1 мероприятие, 1 примечание." in second.stdout
    with closing(sqlite3.connect(tmp_path / "data" / "bot.db")) as db:
        rows = db.execute(
            "SELECT o.name, p.status FROM events e JOIN organisations o ON o.id = e.organisation_id"
            " JOIN reporting_periods p ON p.id = e.period_id"
        ).fetchall()
    assert rows == [("Департамент спорта", "closed")]


def test_the_period_option_names_the_quarter_of_an_untitled_report(tmp_path: Path) -> None:
    from tests.word import Event, Sphere, person_report

    path = tmp_path / "report.docx"
    path.write_bytes(
        person_report(["Справка"], [Sphere("Спорт"), Event(("1", "Турнир", "", "май", "", ""))])
    )

    without = run_bot(tmp_path, "import", str(path))
    given = run_bot(tmp_path, "import", str(path), "--period", "2021-Q2")

    assert without.returncode == 1
    assert "не указан квартал" in without.stderr
    assert given.returncode == 0, given.stderr
    assert "Отчёт за 2021-Q2 загружен" in given.stdout


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.docx", None, "Файл не найден: "),
        ("folder.docx", "folder", "Указана папка, а не файл: "),
        ("old.doc", b"\xd0\xcf\x11\xe0", "нужен документ Word в формате .docx"),
        ("fake.docx", b"not a zip", "не является документом Word (.docx)"),
    ],
)
def test_a_docx_that_cannot_be_imported_gets_one_russian_line(
    tmp_path: Path, name: str, content: bytes | str | None, expected: str
) -> None:
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)

    result = run_bot(tmp_path, "import", str(path))

    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "bot.db").exists()


def test_the_command_line_import_and_report_load_no_aiogram() -> None:
    """The desk's commands start fast: importing what `import` and `report` use loads
    neither aiogram nor the routers (a text module of handlers/ once pulled in all of them,
    four seconds of every `python -m bot import`)."""
    probe = (
        "import sys, bot.cli, bot.database, handlers.labels, reports.docx, "
        "reports.docx_import, storage.importer, storage.report_source; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'aiogram', 'handlers.routers'}), "
        "'handlers.routers' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["[]", "False"], done.stdout


# `python -m bot ARGS`, then what the process had loaded, on stderr: its last line.
_LOADED_AT_EXIT = """
import gc, json, runpy, sys
sys.argv = ["bot", *sys.argv[1:]]
try:
    runpy.run_module("bot", run_name="__main__", alter_sys=True)
finally:
    print(json.dumps({"modules": sorted(sys.modules), "gc": gc.isenabled()}), file=sys.stderr)
"""


def test_a_docx_import_loads_only_what_it_uses(tmp_path: Path) -> None:
    """The whole `python -m bot import FILE.docx`, start to exit, loads no metrics (the
    desk serves none: no prometheus_client), of the `holidays` package only the Russian
    calendar (not `holidays.countries`, which imports every country's), only the
    repositories it writes through, no Alembic for a fresh file, no uvloop (a one-shot
    command runs on asyncio's own loop, bot/cli.py); the garbage collector, paused while
    the start imports, runs again."""
    path = tmp_path / "report.docx"
    path.write_bytes(_typed_report())

    done = run_bot(tmp_path, "import", str(path), entry=("-c", _LOADED_AT_EXIT))

    assert done.returncode == 0, done.stderr
    assert "Отчёт за 2021-Q2 загружен" in done.stdout  # a new period: its deadline computed
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    modules = set(loaded["modules"])
    assert "holidays.countries.russia" in modules
    unused = {
        "prometheus_client",
        "bot.metrics",
        "holidays.countries",
        "holidays.countries.germany",
        "storage.repositories.access",
        "storage.repositories.reminders",
        "storage.repositories.updates",
        "alembic",
        "aiogram",
        "uvloop",
    }
    assert modules & unused == set()
    assert loaded["gc"] is True
