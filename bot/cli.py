"""`python -m bot [run|import|report]`: the process and the coordinator's desk."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import re
import sys
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from bot import loop, texts
from bot.settings import Settings, SettingsError, StartupError, load_settings
from reports.participants import plural
from reports.quarters import Quarter, QuarterError, Year, parse_period


class _RussianHelp(argparse.HelpFormatter):
    """argparse's layout with a Russian "usage" line."""

    def add_usage(self, usage, actions, groups, prefix=None):  # type: ignore[no-untyped-def]
        super().add_usage(usage, actions, groups, texts.CLI_USAGE if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose help and errors are Russian, like the rest of the bot."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _RussianHelp)
        kwargs.setdefault("add_help", False)
        super().__init__(*args, **kwargs)
        self._positionals.title = texts.CLI_ARGUMENTS
        self._optionals.title = texts.CLI_OPTIONS
        self.add_argument("-h", "--help", action="help", help=texts.CLI_HELP)

    def error(self, message: str) -> NoReturn:
        self.exit(2, texts.CLI_ERROR.format(message=_russian_error(message)) + "\n")


def _russian_error(message: str) -> str:
    """argparse's English error messages, said in Russian (the ones this CLI can meet)."""
    if found := re.match(r"the following arguments are required: (.+)", message):
        return texts.CLI_REQUIRED.format(names=found[1])
    if found := re.match(r"argument .*?: invalid choice: '?([^' ]+)'?", message):
        return texts.CLI_INVALID_CHOICE.format(value=found[1])
    if found := re.match(r"unrecognized arguments: (.+)", message):
        return texts.CLI_UNRECOGNIZED.format(values=found[1])
    if found := re.match(r"argument ([^:]+): expected one argument", message):
        return texts.CLI_NEEDS_VALUE.format(name=found[1])
    return message


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bot", description=texts.CLI_DESCRIPTION)
    commands = parser.add_subparsers(dest="command", title=texts.CLI_COMMANDS, parser_class=_Parser)
    commands.add_parser("run", help=texts.CLI_RUN, description=texts.CLI_RUN)
    commands.add_parser("scheduler", help=texts.CLI_SCHEDULER, description=texts.CLI_SCHEDULER)
    load = commands.add_parser("import", help=texts.CLI_IMPORT, description=texts.CLI_IMPORT)
    load.add_argument("file", type=Path, metavar=texts.CLI_FILE, help=texts.CLI_IMPORT_FILE)
    load.add_argument(
        "--organisation", metavar=texts.CLI_ORGANISATION, help=texts.CLI_IMPORT_ORGANISATION
    )
    load.add_argument("--period", metavar=texts.CLI_PERIOD, help=texts.CLI_IMPORT_PERIOD)
    report = commands.add_parser("report", help=texts.CLI_REPORT, description=texts.CLI_REPORT)
    report.add_argument("period", metavar=texts.CLI_PERIOD, help=texts.CLI_REPORT_PERIOD)
    report.add_argument("--out", type=Path, metavar=texts.CLI_FILE, help=texts.CLI_REPORT_OUT)
    commands.add_parser("migrate", help=texts.CLI_MIGRATE, description=texts.CLI_MIGRATE)
    commands.add_parser("demo", help=texts.CLI_DEMO, description=texts.CLI_DEMO)
    copy = commands.add_parser("backup", help=texts.CLI_BACKUP, description=texts.CLI_BACKUP)
    copy.add_argument("file", type=Path, metavar=texts.CLI_FILE, help=texts.CLI_BACKUP_FILE)
    back = commands.add_parser("restore", help=texts.CLI_RESTORE, description=texts.CLI_RESTORE)
    back.add_argument("file", type=Path, metavar=texts.CLI_FILE, help=texts.CLI_RESTORE_FILE)
    return parser


def modules_loaded() -> None:
    """The command has imported what it uses: the cyclic garbage collector, paused by
    bot/__main__.py for the start, runs again, over the objects made from now on (those
    of the modules are frozen: they live as long as the process). Nothing to do when it
    was not paused (`main` called from a test, or a program of its own)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _say(text: str) -> None:
    print(text, flush=True)


def _fail(text: str, code: int = 1) -> int:
    print(text, file=sys.stderr, flush=True)
    return code


_NOT_DOCX_SUFFIXES = frozenset({".doc", ".docm", ".dot", ".dotx", ".rtf", ".odt", ".pdf", ".xlsx"})


async def _import(
    settings: Settings, path: Path, organisation: str | None, period: str | None = None
) -> int:
    from bot.database import deadline_for, io_reason, open_storage
    from storage.importer import ImportFileError, import_events

    if await asyncio.to_thread(path.is_dir):
        return _fail(texts.IMPORT_IS_FOLDER.format(path=path))
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return await _import_docx(settings, path, organisation, period)
    if suffix in _NOT_DOCX_SUFFIXES:
        if not await asyncio.to_thread(path.exists):
            return _fail(texts.IMPORT_NO_FILE.format(path=path))
        return _fail(texts.IMPORT_NOT_DOCX.format(path=path))
    if period is not None:
        return _fail(texts.IMPORT_PERIOD_ONLY_DOCX)
    try:
        data = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    except FileNotFoundError:
        return _fail(texts.IMPORT_NO_FILE.format(path=path))
    except UnicodeDecodeError:
        return _fail(texts.IMPORT_NOT_UTF8.format(path=path))
    except json.JSONDecodeError as error:
        return _fail(texts.IMPORT_NOT_JSON.format(path=path, line=error.lineno, column=error.colno))
    except OSError as error:
        return _fail(texts.IMPORT_UNREADABLE.format(path=path, reason=io_reason(error)))
    modules_loaded()
    storage = await open_storage(settings, observed=False)
    try:
        async with storage.sessionmaker() as session, session.begin():
            result = await import_events(
                session,
                data,
                default_organisation=organisation or settings.default_organisation,
                deadline_of=deadline_for(settings),
                now=datetime.now(UTC),
                tz=settings.timezone,
            )
    except ImportFileError as error:
        return _fail(texts.IMPORT_BAD_FILE.format(path=path, error=error))
    finally:
        await storage.close()
    _say(
        texts.IMPORT_DONE.format(
            added=result.added,
            skipped=result.skipped,
            notes=result.notes_added,
            period=result.period.label,
        )
    )
    return 0


def _is_zip(path: Path) -> bool:
    """Whether the file is a zip archive (a .docx is one); opening errors are raised."""
    with path.open("rb") as stream:
        return zipfile.is_zipfile(stream)


def _read_docx(settings: Settings, path: Path, period: Quarter | None) -> Any:
    from reports.docx_import import read_report
    from storage.importer import CELL_LIMITS

    with path.open("rb") as stream:
        return read_report(stream, settings.spheres, period=period, limits=CELL_LIMITS)


def _counted(number: int, forms: tuple[str, str, str]) -> str:
    """`1 мероприятие`, `3 мероприятия`, `5 мероприятий`."""
    return f"{number} {plural(number, *forms)}"


def _docx_lines(read: Any) -> list[str]:
    """The rows not loaded and the spheres matched unsurely, one line each."""
    lines: list[str] = []
    if read.problems:
        lines.append(texts.IMPORT_DOCX_PROBLEMS.format(count=len(read.problems)))
        for problem in read.problems:
            lines.append(
                texts.IMPORT_DOCX_PROBLEM.format(
                    row=problem.row,
                    number=f" (№ {problem.number})" if problem.number else "",
                    name=f" «{problem.name}»" if problem.name else "",
                    reason=problem.reason,
                )
            )
    if read.unsure:
        lines.append(texts.IMPORT_DOCX_UNSURE)
        for match in read.unsure:
            if match.sphere is None:
                lines.append(texts.IMPORT_DOCX_UNSURE_KEPT.format(written=match.written))
            else:
                lines.append(
                    texts.IMPORT_DOCX_UNSURE_MATCHED.format(
                        written=match.written, sphere=match.sphere
                    )
                )
    return lines


async def _import_docx(
    settings: Settings, path: Path, organisation: str | None, label: str | None
) -> int:
    from bot.database import deadline_for, io_reason, open_storage
    from handlers.labels import quarter_label
    from reports.docx_import import DocxImportError
    from storage.importer import import_read_report

    modules_loaded()
    period = None
    if label is not None:
        try:
            period = Quarter.parse(label)
        except QuarterError:
            return _fail(texts.REPORT_BAD_PERIOD.format(value=label))
    try:
        if not await asyncio.to_thread(_is_zip, path):
            return _fail(texts.IMPORT_BAD_FILE.format(path=path, error=texts.IMPORT_NOT_WORD))
    except FileNotFoundError:
        return _fail(texts.IMPORT_NO_FILE.format(path=path))
    except OSError as error:
        return _fail(texts.IMPORT_UNREADABLE.format(path=path, reason=io_reason(error)))
    # The file is read in a thread while the database opens (migrations, spheres).
    reading = asyncio.ensure_future(asyncio.to_thread(_read_docx, settings, path, period))
    try:
        storage = await open_storage(settings, observed=False)
    except BaseException:
        reading.cancel()
        raise
    try:
        read = await reading
    except (DocxImportError, OSError) as error:
        await storage.close()
        if isinstance(error, DocxImportError):
            return _fail(texts.IMPORT_BAD_FILE.format(path=path, error=error))
        return _fail(texts.IMPORT_UNREADABLE.format(path=path, reason=io_reason(error)))
    try:
        async with storage.sessionmaker() as session, session.begin():
            result = await import_read_report(
                session,
                read,
                organisation=organisation or settings.default_organisation,
                deadline_of=deadline_for(settings),
            )
    finally:
        await storage.close()
    quarter = quarter_label(result.period.year, result.period.quarter)
    if result.skipped:
        _say(
            texts.IMPORT_DOCX_SKIPPED.format(
                path=path,
                quarter=quarter,
                existing=_counted(result.existing, texts.EVENTS),
                read=_counted(len(read.events), texts.EVENTS),
                notes=_counted(len(read.notes), texts.NOTES),
            )
        )
        return 0
    _say(
        texts.IMPORT_DOCX_DONE.format(
            period=result.period.label,
            path=path,
            events=_counted(result.added, texts.EVENTS),
            notes=_counted(result.notes_added, texts.NOTES),
            quarter=quarter,
        )
    )
    if result.repeated:
        _say(texts.IMPORT_DOCX_REPEATED.format(count=result.repeated))
    for line in _docx_lines(read):
        _say(line)
    return 0


async def _report(settings: Settings, label: str, out: Path | None) -> int:
    from bot.database import io_reason, open_storage
    from reports.docx import render_docx
    from storage.report_source import DatabaseReportSource, PeriodNotFound

    modules_loaded()
    try:
        period = parse_period(label)
    except QuarterError:
        return _fail(texts.REPORT_BAD_PERIOD.format(value=label))
    is_year = isinstance(period, Year)
    shown = texts.REPORT_YEAR.format(year=period.year) if is_year else period.label
    storage = await open_storage(settings, observed=False)
    try:
        source = DatabaseReportSource(storage.reader, settings.region_phrase)
        report = await source.load_report(period)
        if report.row_count == 0:
            return _fail(texts.REPORT_EMPTY.format(period=shown))
        document = await asyncio.to_thread(render_docx, report)
    except PeriodNotFound:
        if is_year:
            return _fail(texts.REPORT_NO_YEAR.format(year=period.year))
        return _fail(texts.REPORT_NO_PERIOD.format(period=shown))
    finally:
        await storage.close()
    if out is None:
        name = f"report_{period.year}" if is_year else f"report_{period.year}_Q{period.quarter}"
        out = Path(f"{name}.docx")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(document)
    except OSError as error:
        return _fail(texts.REPORT_CANNOT_WRITE.format(path=out, reason=io_reason(error)))
    _say(texts.REPORT_DONE.format(period=shown, path=out, count=report.row_count))
    return 0


async def _migrate(settings: Settings) -> int:
    from bot.database import open_storage

    storage = await open_storage(settings, observed=False)
    await storage.close()
    return 0


def _postgres_url(settings: Settings) -> str:
    """The database URL as pg_dump reads it: no driver, no password."""
    from sqlalchemy.engine import URL, make_url

    given = make_url(settings.database_url)
    url = URL.create(
        "postgresql",
        username=given.username,
        host=given.host,
        port=given.port,
        database=given.database,
        query=given.query,
    )
    return url.render_as_string(hide_password=False)


def _backup(settings: Settings, target: Path) -> int:
    from bot.backup import BackupError, backup

    database = settings.sqlite_path()
    if database is None:
        return _fail(texts.BACKUP_POSTGRES.format(path=target, url=_postgres_url(settings)))
    try:
        written = backup(database, target)
    except BackupError as error:
        return _fail(str(error))
    size = max(1, round(written.stat().st_size / 1024))
    _say(texts.BACKUP_DONE.format(path=written, size=size))
    return 0


def _restore(settings: Settings, source: Path) -> int:
    from bot.backup import BackupError, restore

    database = settings.sqlite_path()
    if database is None:
        return _fail(texts.RESTORE_POSTGRES.format(path=source, url=_postgres_url(settings)))
    try:
        restored = restore(source, database, now=datetime.now(UTC))
    except BackupError as error:
        return _fail(str(error))
    _say(texts.RESTORE_DONE.format(database=database, path=source))
    if restored.previous is not None:
        _say(texts.RESTORE_PREVIOUS.format(path=restored.previous))
    return 0


def _holding_the_database(settings: Settings, run: Callable[[], int]) -> int:
    """`run` with the running bot's shared lock on its SQLite file (see bot.backup): the
    bot, the scheduler, and `import` and `report`, which write or read it; a restore is
    refused meanwhile."""
    from bot.backup import database_in_use

    database = settings.sqlite_path()
    if database is None:
        return run()
    with database_in_use(database):
        return run()


async def _run(settings: Settings) -> int:
    from bot.app import run_polling, run_webhook
    from bot.database import check_redis

    if settings.bot_token is None:
        return _fail(texts.NO_TOKEN)
    await check_redis(settings)
    # Said once the database and Telegram have answered: a start that fails says only why.
    if settings.webhook_url is not None:
        await run_webhook(settings, ready=lambda: _say(texts.STARTED_WEBHOOK))
    else:
        await run_polling(settings, ready=lambda: _say(texts.STARTED))
    return 0


async def _scheduler(settings: Settings) -> int:
    from bot.app import run_scheduler
    from bot.database import check_redis

    if settings.bot_token is None:
        return _fail(texts.NO_TOKEN)
    await check_redis(settings)
    await run_scheduler(settings)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, read the settings, run one command; return the exit code.

    Whatever the person running it must fix (a setting, the token, an unreachable database
    or Redis) ends the process with one Russian line and exit code 2, never a traceback."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = load_settings()
        return _command(settings, args)
    except StartupError as error:
        message = str(error)
        if isinstance(error, SettingsError):
            message = texts.BAD_SETTING.format(error=error)
        return _fail(message, code=2)
    finally:
        modules_loaded()


def _command(settings: Settings, args: argparse.Namespace) -> int:
    if args.command not in ("import", "report"):
        modules_loaded()  # the others load theirs as they go (the bot: aiogram, the routers)
    # The bot, the scheduler and the demo run on bot.loop's loop (uvloop); the desk's
    # one-shot commands on asyncio's own: a few dozen queries gain nothing from uvloop,
    # whose import alone costs their start a few milliseconds.
    match args.command:
        case "import":
            return _holding_the_database(
                settings,
                lambda: asyncio.run(_import(settings, args.file, args.organisation, args.period)),
            )
        case "report":
            return _holding_the_database(
                settings, lambda: asyncio.run(_report(settings, args.period, args.out))
            )
        case "migrate":
            return asyncio.run(_migrate(settings))
        case "backup":
            return _backup(settings, args.file)
        case "restore":
            return _restore(settings, args.file)
        case "scheduler":
            try:
                return _holding_the_database(settings, lambda: loop.run(_scheduler(settings)))
            except KeyboardInterrupt:
                return 0
        case "demo":
            from bot.demo import run_demo

            return loop.run(run_demo(settings))
        case _:
            try:
                return _holding_the_database(settings, lambda: loop.run(_run(settings)))
            except KeyboardInterrupt:
                return 0
