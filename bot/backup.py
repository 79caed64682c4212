"""Backups of a SQLite database: a consistent copy while the bot runs, nightly copies with
retention, and a restore that never overwrites a database in use.

Consistency comes from SQLite's online backup API (`sqlite3.Connection.backup`) run
inside one read transaction on the source: in WAL mode the bot's writers go on while the
copy is taken, and the copy is the database as it was when that transaction began, every
transaction of the bot in it whole or not at all.

"In use" is a lock file beside the database (`bot.db.lock`): every bot process
(`python -m bot`, `python -m bot scheduler`) holds a shared `flock` on it for its whole
life; a restore needs the exclusive lock, so it is refused while any of them runs. The
kernel drops the lock when a process ends, killed or not, so no stale marker ever blocks
a restore (unlike a pid file). A restore also takes SQLite's own exclusive lock on the
database, so a program that is not the bot (the sqlite3 shell) in the middle of a write
is not overwritten either.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot import texts
from bot.settings import StartupError

log = logging.getLogger(__name__)

PAGES_PER_STEP = 1024  # the backup copies this many pages per step, in one read snapshot
BOT_TABLES = {"alembic_version", "organisations", "people", "events", "reporting_periods"}
Progress = Callable[[int, int, int], object]


class BackupError(Exception):
    """A backup or a restore that cannot be done; the message is one Russian line."""


def lock_path(database: Path) -> Path:
    """The lock file a running bot holds: `bot.db.lock` beside `bot.db`."""
    return database.with_name(database.name + ".lock")


@contextmanager
def _flock(database: Path, mode: int, refused: Exception) -> Iterator[None]:
    """Hold the lock file of `database` in `mode` (fcntl.LOCK_SH or LOCK_EX) for the
    block, without waiting: `refused` is raised when another process holds it against."""
    with open(lock_path(database), "a") as handle:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            raise refused from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def database_in_use(database: Path) -> Iterator[None]:
    """Hold the shared lock of a running bot on `database` for the block.

    Raises `StartupError` when a restore holds the exclusive lock right now."""
    database.parent.mkdir(parents=True, exist_ok=True)
    refused = StartupError(texts.RESTORE_IN_PROGRESS.format(path=database))
    with _flock(database, fcntl.LOCK_SH, refused):
        yield


@contextmanager
def _exclusive(database: Path) -> Iterator[None]:
    """The exclusive lock of a restore: refused (BackupError) while any bot runs."""
    with _flock(database, fcntl.LOCK_EX, BackupError(texts.RESTORE_IN_USE.format(path=database))):
        yield


def _copy(source: sqlite3.Connection, target: Path, progress: Progress | None) -> None:
    """Copy `source` into a new file `target` from one read snapshot of the source."""
    with closing(sqlite3.connect(target)) as copy:
        source.execute("BEGIN")
        try:
            # The first read opens the snapshot; the backup steps read from it, so the
            # bot's commits during the copy are neither in it nor make it start again.
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
            source.backup(copy, pages=PAGES_PER_STEP, progress=progress)
        finally:
            source.execute("ROLLBACK")
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file


def _check(path: Path) -> None:
    """Raise BackupError unless `path` is an intact database of the bot."""
    try:
        with closing(sqlite3.connect(path)) as connection:
            (verdict,) = connection.execute("PRAGMA integrity_check").fetchone()
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            revision = (
                connection.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables
                else None
            )
    except sqlite3.DatabaseError:
        raise BackupError(texts.RESTORE_NOT_A_DATABASE.format(path=path)) from None
    if verdict != "ok":
        raise BackupError(texts.RESTORE_DAMAGED.format(path=path))
    if not BOT_TABLES <= tables or revision is None:
        raise BackupError(texts.RESTORE_NOT_A_DATABASE.format(path=path))
    if revision[0] not in _known_revisions():
        raise BackupError(texts.RESTORE_NEWER.format(path=path, revision=revision[0]))


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


def backup(database: Path, target: Path, *, progress: Progress | None = None) -> Path:
    """A consistent copy of `database` (running or not) in the new file `target`.

    The copy is written beside `target` first and renamed when it is complete and has
    passed `PRAGMA integrity_check`, so a file named `target` is always a whole copy.
    `progress` is SQLite's backup progress callback (remaining, total pages)."""
    if not database.is_file():
        raise BackupError(texts.BACKUP_NO_DATABASE.format(path=database))
    if target.exists():
        raise BackupError(texts.BACKUP_EXISTS.format(path=target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = _reason(error)
        raise BackupError(texts.BACKUP_CANNOT_WRITE.format(path=target, reason=reason)) from None
    partial = target.with_name(target.name + ".part")
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(database, isolation_level=None)) as source:
            _copy(source, partial, progress)
        _check(partial)
        os.replace(partial, target)
    except sqlite3.DatabaseError:
        partial.unlink(missing_ok=True)
        raise BackupError(texts.RESTORE_NOT_A_DATABASE.format(path=database)) from None
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise BackupError(
            texts.BACKUP_CANNOT_WRITE.format(path=target, reason=_reason(error))
        ) from None
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    return target


def _reason(error: OSError) -> str:
    from bot.database import io_reason

    return io_reason(error)


@dataclass(frozen=True, slots=True)
class Restored:
    database: Path
    previous: Path | None  # the database that was there, kept as a backup


def restore(source: Path, database: Path, *, now: datetime) -> Restored:
    """Put the backup `source` in place of `database`, unless a bot uses it.

    The database that was there is first copied to `bot.db.before-restore-<time>`, so a
    restore of the wrong file loses nothing."""
    if not source.is_file():
        raise BackupError(texts.BACKUP_NO_FILE.format(path=source))
    _check(source)
    database.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(database):
        previous = None
        if database.exists():
            previous = database.with_name(
                f"{database.name}.before-restore-{now.strftime('%Y%m%d-%H%M%S')}"
            )
            backup(database, previous)
        try:
            with (
                closing(sqlite3.connect(source)) as copy,
                closing(sqlite3.connect(database, timeout=0, isolation_level=None)) as target,
            ):
                try:  # SQLite's own lock: a writer outside the bot is not overwritten
                    target.execute("BEGIN EXCLUSIVE")
                    target.execute("ROLLBACK")
                except sqlite3.OperationalError:
                    raise BackupError(texts.RESTORE_IN_USE.format(path=database)) from None
                copy.backup(target)
        except sqlite3.DatabaseError:
            raise BackupError(texts.RESTORE_NOT_A_DATABASE.format(path=database)) from None
    log.info("database %s restored from %s", database, source)
    return Restored(database, previous)


# --- nightly copies ----------------------------------------------------------------------

_STAMP = "%Y%m%d-%H%M%S"


def nightly_name(database: Path, at: datetime) -> str:
    """`bot-20261202-030000.db` for `bot.db` at that moment."""
    return f"{database.stem}-{at.strftime(_STAMP)}{database.suffix}"


def _nightly(database: Path) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(database.stem)}-\d{{8}}-\d{{6}}{re.escape(database.suffix)}")


def prune(folder: Path, database: Path, keep: int) -> list[Path]:
    """Delete the nightly copies of `database` in `folder` beyond the newest `keep`
    (other files are never touched); returns the deleted ones."""
    pattern = _nightly(database)
    copies = sorted(p for p in folder.iterdir() if p.is_file() and pattern.fullmatch(p.name))
    doomed = copies[: max(len(copies) - keep, 0)]
    for path in doomed:
        path.unlink()
    return doomed


def nightly(database: Path, folder: Path, keep: int, *, at: datetime) -> Path:
    """Tonight's copy in `folder`, then the older ones beyond `keep` pruned."""
    target = backup(database, folder / nightly_name(database, at))
    removed = prune(folder, database, keep)
    log.info("nightly backup %s written; %d old copies removed", target, len(removed))
    return target
