"""Draw docs/stats_example.png, the /stats picture the README shows.

The reference quarter (IV квартал 2023 года, `fixtures/report_2023_q4.json` of the shared
material) goes through the bot's own JSON importer into a throw-away SQLite file. The
quarter before it (III квартал 2023 года) is made up here as data, in the same import
format, so the picture has something to compare with; the .docx importer that would read
a real past report is built on another branch. IV квартал 2022 года is absent (zeros).

    .venv/bin/python scripts/stats_example.py [FIXTURE] [--out docs/stats_example.png]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.database import deadline_for, open_storage  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers.texts import Indicators  # noqa: E402
from handlers.views import period_title  # noqa: E402
from reports.chart import render_stats_png  # noqa: E402
from reports.model import DEFAULT_SPHERES  # noqa: E402
from reports.quarters import Quarter  # noqa: E402
from storage.importer import import_events  # noqa: E402
from storage.report_source import DatabaseReportSource  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "report_2023_q4.json"
OUT = ROOT / "docs" / "stats_example.png"
REFERENCE_ORGANISATION = "Исполнительные органы (эталонный отчёт)"
NOW = datetime(2024, 2, 15, 9, 0, tzinfo=UTC)  # both quarters are archives then

# The made-up III квартал 2023 года: (sphere number in DEFAULT_SPHERES, events, organisation).
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


def second_quarter() -> dict[str, object]:
    """III квартал 2023 года as import data: a few events per sphere, by organisation."""
    events = []
    for sphere, count, organisation in SECOND_QUARTER:
        for number in range(count):
            day = f"2023-{7 + number % 3:02d}-{10 + number:02d}"
            events.append(
                {
                    "sphere": DEFAULT_SPHERES[sphere],
                    "name": f"Мероприятие {number + 1} ({organisation})",
                    "place": "г. Смоленск",
                    "start": day,
                    "end": day,
                    "precision": "day",
                    "result": "Проведено.",
                    "participants": "Общее количество участников – 20 человек",
                    "organisation": organisation,
                }
            )
    return {"period": "2023-Q3", "events": events}


async def stats_picture(reference: object) -> bytes:
    """Import both quarters into a throw-away database and draw IV квартал 2023 года."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{Path(folder) / 'example.db'}",
        )
        storage = await open_storage(settings)
        try:
            for data, organisation in (
                (reference, REFERENCE_ORGANISATION),
                (second_quarter(), REFERENCE_ORGANISATION),
            ):
                async with storage.sessionmaker() as session, session.begin():
                    await import_events(
                        session,
                        data,
                        default_organisation=organisation,
                        deadline_of=deadline_for(settings),
                        now=NOW,
                        tz=settings.timezone,
                    )
            quarter = Quarter(2023, 4)
            source = DatabaseReportSource(storage.reader, settings.region_phrase)
            stats = await source.load_stats(quarter)
        finally:
            await storage.close()
    others = ", ".join(stats.labels[1:])
    title = Indicators.TITLE.format(period=period_title(quarter), others=others)
    print(f"{stats.totals[0]} events against {', '.join(map(str, stats.totals[1:]))}")
    return render_stats_png(stats, title)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixture", nargs="?", type=Path, default=FIXTURE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = json.loads(args.fixture.read_text(encoding="utf-8"))
    args.out.write_bytes(asyncio.run(stats_picture(data)))
    print(args.out)
