"""Draw docs/stats_example.png, the /stats picture the README shows.

The reference quarter (IV квартал 2023 года, `fixtures/report_2023_q4.json` of the shared
material) goes through the bot's own JSON importer into a throw-away SQLite file. The
quarter before it (III квартал 2023 года) comes in as a past report would: a Word file
in the official format (made here by the bot's renderer from a few events per sphere),
read back by `reports/docx_import.py` and loaded as `python -m bot import FILE.docx`
loads it, for the reference report's organisation. IV квартал 2022 года is absent (zeros).

    .venv/bin/python scripts/stats_example.py [FIXTURE] [--out docs/stats_example.png]
        [--docx III.docx]   (also keep the Word file of III квартал 2023 года)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.database import deadline_for, open_storage  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers.labels import period_title  # noqa: E402
from handlers.texts import Indicators  # noqa: E402
from reports.chart import render_stats_png  # noqa: E402
from reports.dates import DateRange  # noqa: E402
from reports.docx import render_docx  # noqa: E402
from reports.docx_import import read_report  # noqa: E402
from reports.model import DEFAULT_SPHERES, ReportEvent, build_report  # noqa: E402
from reports.quarters import Quarter  # noqa: E402
from storage.importer import CELL_LIMITS, import_events, import_read_report  # noqa: E402
from storage.report_source import DatabaseReportSource  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "report_2023_q4.json"
OUT = ROOT / "docs" / "stats_example.png"
REFERENCE_ORGANISATION = "Исполнительные органы (эталонный отчёт)"
NOW = datetime(2024, 2, 15, 9, 0, tzinfo=UTC)  # both quarters are archives then

# III квартал 2023 года: (sphere number in DEFAULT_SPHERES, events, who held them).
SECOND_QUARTER = (
    (0, 2, "Министерство экономического развития"),
    (1, 3, "Министерство промышленности и торговли"),
    (3, 6, "Смоленский областной музей"),
    (3, 3, "Смоленский драматический театр"),
    (4, 5, "Смоленский государственный университет"),
    (5, 1, "Министерство социального развития"),
    (7, 4, "Департамент молодежной политики"),
    (9, 2, "Департамент физической культуры и спорта"),
    (11, 2, REFERENCE_ORGANISATION),
)
SECOND_QUARTER_NOTE = "В III квартале 2023 года мероприятия проведены в соответствии с планом."


def second_quarter_docx(region_phrase: str) -> bytes:
    """III квартал 2023 года as a past report in Word: a few events per sphere."""
    events = []
    for sphere, count, organisation in SECOND_QUARTER:
        for number in range(count):
            day = date(2023, 7 + number % 3, 10 + number)
            events.append(
                ReportEvent(
                    sphere=DEFAULT_SPHERES[sphere],
                    name=f"Мероприятие {number + 1} ({organisation})",
                    place="г. Смоленск",
                    dates=DateRange(day, day, "day", None),
                    result="Проведено.",
                    participants="Общее количество участников – 20 человек",
                    seq=len(events) + 1,
                )
            )
    quarter = Quarter(2023, 3)
    report = build_report(quarter, region_phrase, DEFAULT_SPHERES, events, [SECOND_QUARTER_NOTE])
    return render_docx(report)


async def stats_picture(reference: object) -> bytes:
    """Import both quarters into a throw-away database and draw IV квартал 2023 года."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{Path(folder) / 'example.db'}",
        )
        document = second_quarter_docx(settings.region_phrase)
        read = read_report(document, settings.spheres, limits=CELL_LIMITS)
        assert not read.problems and not read.unsure, "the Word file was not read cleanly"
        storage = await open_storage(settings)
        try:
            async with storage.sessionmaker() as session, session.begin():
                await import_events(
                    session,
                    reference,
                    default_organisation=REFERENCE_ORGANISATION,
                    deadline_of=deadline_for(settings),
                    now=NOW,
                    tz=settings.timezone,
                )
            async with storage.sessionmaker() as session, session.begin():
                loaded = await import_read_report(
                    session,
                    read,
                    organisation=REFERENCE_ORGANISATION,
                    deadline_of=deadline_for(settings),
                )
            quarter = Quarter(2023, 4)
            source = DatabaseReportSource(storage.reader, settings.region_phrase)
            stats = await source.load_stats(quarter)
        finally:
            await storage.close()
    others = ", ".join(stats.labels[1:])
    title = Indicators.TITLE.format(period=period_title(quarter), others=others)
    print(f"{read.period.label}: {loaded.added} events imported from the .docx")
    print(f"{stats.totals[0]} events against {', '.join(map(str, stats.totals[1:]))}")
    return render_stats_png(stats, title)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixture", nargs="?", type=Path, default=FIXTURE)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--docx", type=Path, help="also write the Word file of III quarter")
    args = parser.parse_args()
    data = json.loads(args.fixture.read_text(encoding="utf-8"))
    if args.docx is not None:
        region = Settings(_env_file=None).region_phrase  # type: ignore[call-arg]
        args.docx.write_bytes(second_quarter_docx(region))
    args.out.write_bytes(asyncio.run(stats_picture(data)))
    print(args.out)
