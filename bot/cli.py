"""`python -m bot [run|import|report]`: the process and the coordinator's desk."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot import texts
from bot.settings import Settings, SettingsError, load_settings
from reports.quarters import Quarter, QuarterError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Telegram bot for quarterly reports of international events.",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser(
        "run", help="start the bot: long polling, or a webhook server when WEBHOOK_URL is set"
    )
    commands.add_parser(
        "scheduler", help="run only the reminder scheduler (one per deployment), no updates"
    )
    load = commands.add_parser("import", help="load events from a JSON file, idempotently")
    load.add_argument("file", type=Path, help="JSON in the format of the fixture file")
    load.add_argument("--organisation", help="organisation for events that name none")
    report = commands.add_parser("report", help="write the compiled .docx of a period")
    report.add_argument("period", help="the period, e.g. 2023-Q4")
    report.add_argument("--out", type=Path, help="output file (default report_2023_Q4.docx)")
    commands.add_parser("migrate", help="upgrade the database schema and exit")
    commands.add_parser("demo", help="try the dialogue in the terminal, without Telegram")
    return parser


def _say(text: str) -> None:
    print(text, flush=True)


def _fail(text: str, code: int = 1) -> int:
    print(text, file=sys.stderr, flush=True)
    return code


async def _import(settings: Settings, path: Path, organisation: str | None) -> int:
    from bot.database import deadline_for, open_storage
    from storage.importer import ImportFileError, import_events

    try:
        data = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    except FileNotFoundError:
        return _fail(texts.IMPORT_NO_FILE.format(path=path))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return _fail(texts.IMPORT_NOT_JSON.format(path=path, error=error))
    storage = await open_storage(settings)
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


async def _report(settings: Settings, label: str, out: Path | None) -> int:
    from bot.database import open_storage
    from reports.docx import render_docx
    from storage.report_source import DatabaseReportSource, PeriodNotFound

    try:
        quarter = Quarter.parse(label)
    except QuarterError:
        return _fail(texts.REPORT_BAD_PERIOD.format(value=label))
    storage = await open_storage(settings)
    try:
        source = DatabaseReportSource(storage.reader, settings.region_phrase)
        report = await source.load_report(quarter)
        if report.row_count == 0:
            return _fail(texts.REPORT_EMPTY.format(period=quarter.label))
        document = await asyncio.to_thread(render_docx, report)
    except PeriodNotFound:
        return _fail(texts.REPORT_NO_PERIOD.format(period=quarter.label))
    finally:
        await storage.close()
    out = out or Path(f"report_{quarter.year}_Q{quarter.quarter}.docx")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(document)
    _say(texts.REPORT_DONE.format(period=quarter.label, path=out, count=report.row_count))
    return 0


async def _migrate(settings: Settings) -> int:
    from bot.database import open_storage

    storage = await open_storage(settings)
    await storage.close()
    return 0


async def _run(settings: Settings) -> int:
    from bot.app import run_polling, run_webhook

    if settings.bot_token is None:
        return _fail(texts.NO_TOKEN)
    _say(texts.STARTED)
    if settings.webhook_url is not None:
        await run_webhook(settings)
    else:
        await run_polling(settings)
    return 0


async def _scheduler(settings: Settings) -> int:
    from bot.app import run_scheduler

    if settings.bot_token is None:
        return _fail(texts.NO_TOKEN)
    await run_scheduler(settings)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, read the settings, run one command; return the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = load_settings()
    except SettingsError as error:
        return _fail(texts.BAD_SETTING.format(error=error), code=2)
    match args.command:
        case "import":
            return asyncio.run(_import(settings, args.file, args.organisation))
        case "report":
            return asyncio.run(_report(settings, args.period, args.out))
        case "migrate":
            return asyncio.run(_migrate(settings))
        case "scheduler":
            try:
                return asyncio.run(_scheduler(settings))
            except KeyboardInterrupt:
                return 0
        case "demo":
            from bot.demo import run_demo

            return asyncio.run(run_demo(settings))
        case _:
            try:
                return asyncio.run(_run(settings))
            except KeyboardInterrupt:
                return 0
