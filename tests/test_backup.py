"""Backups: a copy taken while the bot writes is whole and compiles the report of its
moment; a restore refuses a database in use and a file that is not the bot's, and what it
puts back compiles the same report; the nightly copies keep the last N."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, time
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from docx import Document
from sqlalchemy import delete

import bot.backup
import storage.importer
from bot import texts
from bot.backup import (
    BackupError,
    backup,
    database_in_use,
    nightly_name,
    prune,
    restore,
)
from bot.cli import main
from bot.database import Storage, open_storage
from bot.reminders import ReminderDeps
from bot.scheduler import BACKUP_JOB, ReminderScheduler
from bot.settings import Settings, SettingsError, StartupError, load_settings
from reports.docx import render_docx
from reports.quarters import Quarter
from storage.db import create_engine, create_sessionmaker
from storage.models import Event
from storage.report_source import DatabaseReportSource
from tests import factories
from tests.conftest import Clock
from tests.test_cli import run_bot
from tests.test_reminders import TOKEN, make_settings
from tests.tg import RecordingSession

Q4 = Quarter(2023, 4)


async def report_text(database: Path) -> list[list[str]]:
    """The compiled .docx of IV квартал 2023 from a database file, read back: the title
    paragraphs and every table row's cell texts."""
    engine = create_engine(f"sqlite+aiosqlite:///{database}", read_only=True)
    try:
        reader = create_sessionmaker(engine, read_only=True)
        report = await DatabaseReportSource(reader, "органами").load_report(Q4)
    finally:
        await engine.dispose()
    document = Document(BytesIO(render_docx(report)))
    rows = [[p.text for p in document.paragraphs if p.text]]
    for table in document.tables:
        rows += [[cell.text for cell in row.cells] for row in table.rows]
    return rows


async def seed(storage: Storage, count: int = 3) -> None:
    async with storage.sessionmaker() as session, session.begin():
        period = await factories.period(session)
        org = await factories.organisation(session, "Смоленский музей")
        for number in range(count):
            await factories.event(session, period_=period, org=org, name=f"Выставка {number}")


@pytest.fixture
def database(settings: Settings) -> Path:
    """The bot's SQLite database file of the test's settings."""
    path = settings.sqlite_path()
    assert path is not None
    return path


@pytest.fixture
async def seeded(app_storage: Storage, database: Path) -> Path:
    """The database, open in `app_storage` as a running bot has it, with three events."""
    await seed(app_storage)
    return database


async def event_names(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM events ORDER BY id")]


def integrity(database: Path) -> str:
    with closing(sqlite3.connect(database)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


# --- the copy ----------------------------------------------------------------------------


async def test_a_copy_taken_while_the_bot_writes_is_whole_and_of_its_moment(
    seeded: Path, app_storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = seeded
    monkeypatch.setattr(bot.backup, "PAGES_PER_STEP", 1)  # many steps: the writer gets between
    committed: list[str] = []
    copying = threading.Event()  # the backup has taken its first step
    written_meanwhile = threading.Event()  # the bot committed while the copy was under way
    during: list[str] = []

    def progress(status: int, remaining: int, total: int) -> None:
        if not copying.is_set():
            copying.set()
            assert written_meanwhile.wait(timeout=60), "the writer was blocked by the backup"

    async def writer(copy: asyncio.Future[Path]) -> None:
        async with app_storage.sessionmaker() as session:
            period = await factories.period(session)
            org = await factories.organisation(session)
            await session.commit()
        number = 0
        while not copy.done():
            number += 1
            async with app_storage.sessionmaker() as session, session.begin():
                name = f"Запись {number}"
                await factories.event(session, period_=period, org=org, name=name)
                await factories.event(session, period_=period, org=org, name=f"{name}, пара")
            committed.append(name)
            if copying.is_set() and not written_meanwhile.is_set():
                during.append(name)
                written_meanwhile.set()
            await asyncio.sleep(0)  # let the loop hear the backup's thread finish

    target = tmp_path / "copies" / "bot-copy.db"
    before = await event_names(database)
    copy = asyncio.ensure_future(asyncio.to_thread(backup, database, target, progress=progress))
    await writer(copy)
    await copy

    copied = await event_names(target)
    assert integrity(target) == "ok"
    assert copied[: len(before)] == before
    assert during and f"{during[0]}" not in copied  # committed while copying: not in it
    written = [name for name in copied if name.startswith("Запись") and "пара" not in name]
    assert written == committed[: len(written)]  # the bot's transactions in order, none skipped
    assert all(f"{name}, пара" in copied for name in written)  # each one whole
    later = [name for name in await event_names(database) if name not in copied]
    assert later  # the bot went on writing past the copy's moment
    async with app_storage.sessionmaker() as session, session.begin():
        await session.execute(delete(Event).where(Event.name.in_(later)))
    assert await report_text(target) == await report_text(database)


def test_a_copy_never_overwrites_a_file_nor_copies_a_missing_database(tmp_path: Path) -> None:
    existing = tmp_path / "kept.db"
    existing.write_bytes(b"precious")

    with pytest.raises(BackupError) as missing:
        backup(tmp_path / "none.db", tmp_path / "copy.db")
    with pytest.raises(BackupError) as taken:
        backup(existing, existing)

    assert str(missing.value) == texts.BACKUP_NO_DATABASE.format(path=tmp_path / "none.db")
    assert str(taken.value) == texts.BACKUP_EXISTS.format(path=existing)
    assert existing.read_bytes() == b"precious"
    assert not (tmp_path / "copy.db").exists()


# --- the restore -------------------------------------------------------------------------


async def test_a_restored_copy_compiles_the_same_report(
    settings: Settings, database: Path, tmp_path: Path
) -> None:
    storage = await open_storage(settings)
    await seed(storage, count=4)
    copy = backup(database, tmp_path / "copy.db")
    expected = await report_text(copy)
    async with storage.sessionmaker() as session, session.begin():  # life goes on, then a loss
        await session.execute(delete(Event).where(Event.name == "Выставка 1"))
    await storage.close()
    assert await report_text(database) != expected

    restored = restore(copy, database, now=datetime(2026, 12, 2, 3, 0, tzinfo=UTC))

    assert await report_text(database) == expected
    assert restored.previous is not None and "Выставка 1" not in await event_names(
        restored.previous
    )  # the database it replaced is kept
    reopened = await open_storage(settings)  # the bot starts on it
    await reopened.close()
    assert await report_text(database) == expected


async def test_a_restore_is_refused_while_the_bot_runs(
    seeded: Path, app_storage: Storage, tmp_path: Path
) -> None:
    database = seeded
    copy = backup(database, tmp_path / "copy.db")
    async with app_storage.sessionmaker() as session, session.begin():
        await session.execute(delete(Event))
    before = await event_names(database)

    with database_in_use(database):  # what `python -m bot` holds while it runs
        with pytest.raises(BackupError) as refused:
            restore(copy, database, now=datetime.now(UTC))
        process = run_bot(
            tmp_path, "restore", str(copy), DATABASE_URL=f"sqlite+aiosqlite:///{database}"
        )

    assert str(refused.value) == texts.RESTORE_IN_USE.format(path=database)
    assert process.returncode == 1
    assert process.stderr.strip() == texts.RESTORE_IN_USE.format(path=database)
    assert await event_names(database) == before == []
    assert not [p for p in database.parent.iterdir() if "before-restore" in p.name]


async def test_a_restore_is_refused_while_another_program_writes(
    seeded: Path, app_storage: Storage, tmp_path: Path
) -> None:
    database = seeded
    copy = backup(database, tmp_path / "copy.db")
    await app_storage.close()

    with closing(sqlite3.connect(database, isolation_level=None)) as shell:
        shell.execute("BEGIN IMMEDIATE")  # the sqlite3 shell in the middle of a change
        with pytest.raises(BackupError) as refused:
            restore(copy, database, now=datetime.now(UTC))
        shell.execute("ROLLBACK")

    assert str(refused.value) == texts.RESTORE_IN_USE.format(path=database)


ONE_EVENT = {
    "period": "2023-Q4",
    "events": [
        {
            "sphere": "Сотрудничество в сфере культуры и туризма",
            "name": "Выставка «Смоленск – Минск»",
            "place": "г. Минск, Республика Беларусь",
            "start": "2023-10-26",
            "end": "2023-10-27",
            "result": "Открыта выставка.",
            "participants": "Сотрудники музея",
        }
    ],
}


def test_a_restore_is_refused_while_an_import_or_a_report_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = tmp_path / "events.json"
    events.write_text(json.dumps(ONE_EVENT, ensure_ascii=False), encoding="utf-8")
    database = tmp_path / "data" / "bot.db"
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("BOT_TOKEN", "TIMEZONE", "SPHERES", "COORDINATOR_IDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    assert main(["migrate"]) == 0
    copy = backup(database, tmp_path / "copy.db")
    refusals: list[str] = []

    def restore_meanwhile() -> None:
        with pytest.raises(BackupError) as refused:
            restore(copy, database, now=datetime.now(UTC))
        refusals.append(str(refused.value))

    import_events, load_report = storage.importer.import_events, DatabaseReportSource.load_report

    async def importing(*args: Any, **kwargs: Any) -> Any:
        restore_meanwhile()  # the import's transaction is about to write
        return await import_events(*args, **kwargs)

    async def reading(source: DatabaseReportSource, period: Any) -> Any:
        restore_meanwhile()  # the report is about to read
        return await load_report(source, period)

    monkeypatch.setattr(storage.importer, "import_events", importing)
    monkeypatch.setattr(DatabaseReportSource, "load_report", reading)

    imported = main(["import", str(events)])
    reported = main(["report", "2023-Q4", "--out", str(tmp_path / "report.docx")])

    assert (imported, reported) == (0, 0)
    assert refusals == [texts.RESTORE_IN_USE.format(path=database)] * 2
    assert stored_names(database) == ["Выставка «Смоленск – Минск»"]  # the restore did nothing
    restore(copy, database, now=datetime.now(UTC))  # both ended: the lock is free again


def stored_names(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM events")]


def test_the_bot_does_not_start_while_a_restore_runs(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"

    with bot.backup._exclusive(database), pytest.raises(StartupError) as refused:
        with database_in_use(database):
            pass

    assert str(refused.value) == texts.RESTORE_IN_PROGRESS.format(path=database)
    with database_in_use(database), database_in_use(database):  # two bot processes may share
        pass


async def test_a_file_that_is_not_a_bot_database_is_refused(
    seeded: Path, app_storage: Storage, tmp_path: Path
) -> None:
    database = seeded
    await app_storage.close()
    before = await event_names(database)
    text_file = tmp_path / "notes.db"
    text_file.write_text("это не база данных", encoding="utf-8")
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE things (id INTEGER)")
    newer = backup(database, tmp_path / "newer.db")
    with closing(sqlite3.connect(newer)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")

    outcomes = [run_bot(tmp_path, "restore", str(path)) for path in (text_file, other, newer)]
    outcomes.append(run_bot(tmp_path, "restore", str(tmp_path / "none.db")))

    env_db = tmp_path / "data" / "bot.db"  # run_bot's own database: never created by a refusal
    assert [o.returncode for o in outcomes] == [1, 1, 1, 1]
    assert [o.stderr.strip() for o in outcomes] == [
        texts.RESTORE_NOT_A_DATABASE.format(path=text_file),
        texts.RESTORE_NOT_A_DATABASE.format(path=other),
        texts.RESTORE_NEWER.format(path=newer, revision="9999"),
        texts.BACKUP_NO_FILE.format(path=tmp_path / "none.db"),
    ]
    assert not env_db.exists()
    assert await event_names(database) == before


# --- the command line ----------------------------------------------------------------------


def test_backup_on_the_command_line_writes_a_checked_copy(tmp_path: Path) -> None:
    assert run_bot(tmp_path, "migrate").returncode == 0

    done = run_bot(tmp_path, "backup", "copies/first.db")
    again = run_bot(tmp_path, "backup", "copies/first.db")
    helped = run_bot(tmp_path, "backup", "--help")

    copy = tmp_path / "copies" / "first.db"
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Резервная копия базы данных сохранена: copies/first.db (")
    assert integrity(copy) == "ok"
    assert again.returncode == 1
    assert again.stderr.strip() == texts.BACKUP_EXISTS.format(path=Path("copies/first.db"))
    assert texts.CLI_BACKUP in " ".join(helped.stdout.split())
    assert helped.stdout.startswith("Использование: python -m bot backup")


def test_on_postgresql_backup_and_restore_name_pg_dump_and_pg_restore(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://bot:secret@db.local:5432/bot")

    copied = main(["backup", "bot.dump"])
    copied_err = capsys.readouterr().err
    restored = main(["restore", "bot.dump"])
    restored_err = capsys.readouterr().err

    assert copied == restored == 1
    assert "pg_dump --format=custom --file=bot.dump" in copied_err
    assert '"postgresql://bot@db.local:5432/bot"' in copied_err
    assert "pg_restore --clean" in restored_err
    assert "secret" not in copied_err + restored_err
    assert len(copied_err.strip().splitlines()) == len(restored_err.strip().splitlines()) == 1


# --- nightly copies ----------------------------------------------------------------------


def test_pruning_keeps_the_newest_copies_and_no_other_file(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    nights = [datetime(2026, 11, day, 3, 0, tzinfo=UTC) for day in range(1, 11)]
    for night in nights:
        (tmp_path / nightly_name(database, night)).write_bytes(b"copy")
    others = ["bot.db", "bot-manual.db", "other-20261101-030000.db", "bot-20261101-030000.db.part"]
    for name in others:
        (tmp_path / name).write_bytes(b"keep")

    removed = prune(tmp_path, database, keep=3)

    kept = sorted(p.name for p in tmp_path.iterdir())
    assert sorted(p.name for p in removed) == [nightly_name(database, n) for n in nights[:7]]
    assert kept == sorted([*others, *(nightly_name(database, n) for n in nights[7:])])


async def test_the_nightly_job_copies_at_the_set_time_and_keeps_the_last_n(
    tmp_path: Path,
) -> None:
    database = tmp_path / "data" / "bot.db"
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        backup_time=time(2, 30),
        backup_keep=2,
    )
    storage = await open_storage(settings)
    await seed(storage)
    clock = Clock()
    telegram = Bot(TOKEN, session=RecordingSession())
    scheduler = ReminderScheduler(
        ReminderDeps.create(telegram, storage.sessionmaker, settings, clock=clock)
    )
    written = []
    try:
        await scheduler.start(catch_up_in_background=False)
        job = scheduler.scheduler.get_job(BACKUP_JOB)
        assert job is not None
        assert (job.next_run_time.hour, job.next_run_time.minute) == (2, 30)
        assert str(job.next_run_time.tzinfo) == "Europe/Moscow"
        for day in (1, 2, 3):
            clock.now = datetime(2026, 12, day, 23, 30, tzinfo=UTC)
            written.append(await scheduler.nightly_backup())
    finally:
        await scheduler.shutdown()
        await storage.close()

    folder = database.parent / "backups"
    assert [path.name if path else None for path in written] == [
        "bot-20261202-023000.db",
        "bot-20261203-023000.db",
        "bot-20261204-023000.db",
    ]  # local (Moscow) times
    assert sorted(folder.iterdir()) == [
        folder / "bot-20261203-023000.db",
        folder / "bot-20261204-023000.db",
    ]
    assert await report_text(folder / "bot-20261204-023000.db") == await report_text(database)


def test_backup_settings_are_read_and_checked(tmp_path: Path) -> None:
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"

    default = load_settings(_env_file=None, database_url=sqlite)
    chosen = load_settings(_env_file=None, database_url=sqlite, backup_dir=str(tmp_path / "b"))
    blank = load_settings(_env_file=None, database_url=sqlite, backup_dir=" ")
    off = load_settings(_env_file=None, database_url=sqlite, backup_keep=0)
    pg = load_settings(_env_file=None, database_url="postgresql+asyncpg://u@h/d")

    assert default.backup_folder() == tmp_path / "backups"
    assert (default.backup_time, default.backup_keep) == (time(3, 0), 7)
    assert chosen.backup_folder() == tmp_path / "b"
    assert blank.backup_folder() == tmp_path / "backups"
    assert off.backup_folder() is None and pg.backup_folder() is None
    with pytest.raises(SettingsError) as bad:
        load_settings(_env_file=None, backup_keep=-1)
    assert str(bad.value) == "BACKUP_KEEP: должно быть не меньше 0"
