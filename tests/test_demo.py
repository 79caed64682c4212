"""`python -m bot demo`: the whole dialogue and /report in a terminal, as a real process."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from docx import Document

from reports.quarters import collecting_quarter
from tests.test_cli import ROOT, run_bot


def test_the_demo_walks_a_dialogue_and_writes_the_report(tmp_path: Path) -> None:
    quarter = collecting_quarter(datetime.now(UTC), ZoneInfo("Europe/Moscow"))
    day = quarter.first_day.strftime("%d.%m.%Y")
    script = "\n".join(
        [
            "/new",
            "[1]",  # the first sphere
            "Форум <b>«Россия – Беларусь»</b>",
            "г. Минск",
            day,
            "[1]",  # ✔ Верно
            "Подписано соглашение",
            "Делегация из 12 человек",
            "[1]",  # the default quarter
            "#8",  # ✅ Отправить (the other syntax)
            f"/report {quarter.label}",
            "/exit",
        ]
    )

    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=tmp_path,
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )

    assert result.returncode == 0, result.stderr
    assert "Шаг 1 из 7" in result.stdout and "Шаг 7 из 7" in result.stdout
    assert "1. Сотрудничество в сфере инвестиционного развития" in result.stdout  # the list
    assert "[1] 1. В сфере инвестиционного развития" in result.stdout  # its button
    assert "Мероприятие сохранено" in result.stdout
    document = Document(
        BytesIO((tmp_path / f"report_{quarter.year}_Q{quarter.quarter}.docx").read_bytes())
    )
    assert document.tables[0].rows[2].cells[1].text == "Форум <b>«Россия – Беларусь»</b>"
    assert not list(tmp_path.glob("*.db")), "the demo database is thrown away"


def test_the_demo_is_reachable_from_the_command_line_help(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "--help")

    assert "demo" in result.stdout


def run_demo_script(tmp_path: Path, lines: list[str]) -> subprocess.CompletedProcess[str]:
    """`python -m bot demo` fed `lines`, in `tmp_path`."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=tmp_path,
        input="\n".join(lines),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_a_typed_number_is_an_answer_and_the_documents_button_works(tmp_path: Path) -> None:
    quarter = collecting_quarter(datetime.now(UTC), ZoneInfo("Europe/Moscow"))
    day = quarter.first_day.strftime("%d.%m.%Y")

    result = run_demo_script(
        tmp_path,
        [
            "/new",
            "[1]",
            "Круглый стол",
            "г. Минск",
            day,
            "[1]",
            "Обсуждены планы",
            "Сотрудники музея",  # no total: the bot asks for it
            "3",  # a number typed at a question is the answer, not the third button
            "[1]",
            "[8]",
            f"/report {quarter.label}",
            "[1]",  # «Скачать .xlsx» under the document
            "[40]",  # no such button: said so, nothing sent
            "/exit",
        ],
    )

    assert result.returncode == 0, result.stderr
    assert "Сколько всего было участников?" in result.stdout
    assert "Количество участников: 3" in result.stdout
    assert "Мероприятие сохранено" in result.stdout
    assert (tmp_path / f"report_{quarter.year}_Q{quarter.quarter}.docx").exists()
    assert list(tmp_path.glob("*.xlsx")), result.stdout
    assert "Кнопки с таким номером сейчас нет." in result.stdout
    assert result.stderr == "", "log lines stay out of the terminal"
    assert " INFO " not in result.stdout


def test_a_fresh_demo_offers_the_quarter_being_collected_to_report_on(tmp_path: Path) -> None:
    """Before anyone has reported, /report already offers the quarter (as the bot does)."""
    quarter = collecting_quarter(datetime.now(UTC), ZoneInfo("Europe/Moscow"))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=tmp_path,
        input="/report\n/exit\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )

    assert result.returncode == 0, result.stderr
    assert "Отчётных периодов пока нет" not in result.stdout
    assert f"[1] {quarter.roman} квартал {quarter.year} года (по умолчанию)" in result.stdout
