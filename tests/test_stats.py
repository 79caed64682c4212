"""/stats: the picture and the figures of a period against the previous one and the same
period a year before; the .xlsx sheet «Показатели» with its native chart."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from datetime import UTC, datetime, time
from io import BytesIO
from pathlib import Path

import docx
import pytest
from aiogram.methods import SendPhoto
from aiogram.types import BufferedInputFile
from openpyxl import load_workbook
from openpyxl.chart import BarChart
from PIL import Image

from bot.database import Storage
from handlers.texts import Common, Desk, Indicators
from reports.chart import COLOURS, render_stats_png
from reports.model import DEFAULT_SPHERES
from reports.quarters import Quarter, Year
from reports.stats import compared_periods, sphere_short, wrapped
from reports.xlsx import STATS_SHEET_TITLE, render_xlsx
from storage.report_source import DatabaseReportSource
from tests import factories
from tests.conftest import COORDINATOR_ID
from tests.test_dialogue import join
from tests.tg import Person, Sessions, World

REGION = "исполнительными органами Смоленской области и подведомственными им учреждениями"
INVESTMENT, CULTURE, SPORT = DEFAULT_SPHERES[0], DEFAULT_SPHERES[3], DEFAULT_SPHERES[9]
MUSEUM, THEATRE = "Смоленский областной музей", "Театр & <драмы>"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "stats_example.py"

# IV квартал 2023 года against III квартал 2023 года and IV квартал 2022 года.
CAPTION_Q4 = (
    "<b>Показатели за IV квартал 2023 года</b>\n"
    "Всего мероприятий: 4 (III кв. 2023 — 1; IV кв. 2022 — 2).\n"
    "В скобках: III кв. 2023; IV кв. 2022\n"
    "<b>По сферам сотрудничества</b>\n"
    "• В сфере культуры и туризма: 3 (1; 0)\n"
    "• В сфере спорта: 1 (0; 2)\n"
    "<b>По организациям</b>\n"
    "• Смоленский областной музей: 2 (1; 2)\n"
    "• Театр &amp; &lt;драмы&gt;: 2 (0; 0)"
)


async def file_events(sessions: Sessions, plan: Iterable[tuple[Quarter, str, str, int]]) -> None:
    """`count` events of a sphere by an organisation, filed in a quarter, for each line."""
    async with sessions() as session, session.begin():
        orgs: dict[str, object] = {}
        spheres: dict[str, object] = {}
        periods: dict[Quarter, object] = {}
        for quarter, sphere, org, count in plan:
            if org not in orgs:
                orgs[org] = await factories.organisation(session, org)
            if sphere not in spheres:
                spheres[sphere] = await factories.sphere(session, sphere)
            if quarter not in periods:
                deadline = datetime.combine(quarter.next().first_day, time(15), tzinfo=UTC)
                periods[quarter] = await factories.period(session, quarter, deadline)
            for _ in range(count):
                await factories.event(
                    session,
                    period_=periods[quarter],  # type: ignore[arg-type]
                    org=orgs[org],  # type: ignore[arg-type]
                    sphere_=spheres[sphere],  # type: ignore[arg-type]
                    start=quarter.first_day,
                )


PLAN = [
    (Quarter(2023, 4), CULTURE, MUSEUM, 2),
    (Quarter(2023, 4), CULTURE, THEATRE, 1),
    (Quarter(2023, 4), SPORT, THEATRE, 1),
    (Quarter(2023, 3), CULTURE, MUSEUM, 1),
    (Quarter(2022, 4), SPORT, MUSEUM, 2),
    (Quarter(2023, 2), INVESTMENT, MUSEUM, 5),  # in the year, in no compared quarter
]


def coordinator(world: World) -> Person:
    return world.person(COORDINATOR_ID, "Координатор")


def photos(person: Person) -> list[SendPhoto]:
    return [
        r
        for r in person.world.session.requests
        if isinstance(r, SendPhoto) and int(r.chat_id) == person.user.id
    ]


def picture(sent: SendPhoto) -> Image.Image:
    assert isinstance(sent.photo, BufferedInputFile)
    image = Image.open(BytesIO(sent.photo.data))
    assert image.format == "PNG"
    return image.convert("RGB")


def colour_share(image: Image.Image, hex_colour: str) -> float:
    """The share of the picture's pixels painted exactly `hex_colour` (a bar's fill)."""
    wanted = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    colours = image.getcolors(maxcolors=image.width * image.height) or []
    found = sum(count for count, colour in colours if colour == wanted)
    return found / (image.width * image.height)


# --- the figures -------------------------------------------------------------------------


def test_a_quarter_is_compared_with_the_one_before_and_a_year_before_a_year_with_one() -> None:
    assert compared_periods(Quarter(2024, 1)) == (
        Quarter(2024, 1),
        Quarter(2023, 4),
        Quarter(2023, 1),
    )
    assert compared_periods(Year(2023)) == (Year(2023), Year(2022))


def test_long_sphere_names_are_shortened_and_wrapped_for_the_picture() -> None:
    long = sphere_short(DEFAULT_SPHERES[7])

    assert long == "В сфере молодежной политики и гражданско-патриотического воспитания"
    assert sphere_short("Общие направления сотрудничества") == "Общие направления сотрудничества"
    assert all(len(line) <= 28 for line in wrapped(long).split("\n"))
    assert len(wrapped("слово " * 40).split("\n")) == 3
    assert wrapped("слово " * 40).endswith("…")


async def test_stats_sends_a_picture_with_the_figures_in_its_caption(
    world: World, app_storage: Storage
) -> None:
    await file_events(app_storage.sessionmaker, PLAN)
    desk = coordinator(world)

    await desk.send("/stats 2023-Q4")

    [sent] = photos(desk)
    assert sent.caption == CAPTION_Q4
    image = picture(sent)
    assert image.width == 1100 and 500 < image.height < 4000
    for colour in COLOURS:  # a bar of each compared period is drawn
        assert colour_share(image, colour) > 0.001
    assert colour_share(image, "#ffffff") < 0.97  # not a blank page
    assert desk.replies() == []


async def test_stats_without_a_period_is_of_the_quarter_collected(
    world: World, app_storage: Storage
) -> None:
    await file_events(app_storage.sessionmaker, PLAN)
    desk = coordinator(world)

    await desk.send("/stats")  # NOW is in IV квартал 2023, collected then

    [sent] = photos(desk)
    assert sent.caption == CAPTION_Q4


async def test_stats_of_a_year_compares_it_with_the_year_before(
    world: World, app_storage: Storage
) -> None:
    await file_events(app_storage.sessionmaker, PLAN)
    desk = coordinator(world)

    await desk.send("/stats 2023")

    [sent] = photos(desk)
    assert sent.caption == (
        "<b>Показатели за 2023 год</b>\n"
        "Всего мероприятий: 10 (2022 г. — 2).\n"
        "В скобках: 2022 г.\n"
        "<b>По сферам сотрудничества</b>\n"
        "• В сфере инвестиционного развития: 5 (0)\n"
        "• В сфере культуры и туризма: 4 (0)\n"
        "• В сфере спорта: 1 (2)\n"
        "<b>По организациям</b>\n"
        "• Смоленский областной музей: 8 (2)\n"
        "• Театр &amp; &lt;драмы&gt;: 2 (0)"
    )
    image = picture(sent)
    assert colour_share(image, COLOURS[0]) > 0.001 and colour_share(image, COLOURS[1]) > 0.001
    assert colour_share(image, COLOURS[2]) < 0.001  # two periods: no bar of a third


async def test_many_organisations_put_the_figures_in_messages_after_the_picture(
    world: World, app_storage: Storage
) -> None:
    names = [f"Учреждение № {n} " + "очень длинное название " * 6 for n in range(60)]
    await file_events(app_storage.sessionmaker, [(Quarter(2023, 4), CULTURE, n, 1) for n in names])
    desk = coordinator(world)

    await desk.send("/stats 2023-Q4")

    [sent] = photos(desk)
    assert sent.caption is not None and sent.caption.endswith(Indicators.MORE)
    assert "Всего мероприятий: 60 (III кв. 2023 — 0; IV кв. 2022 — 0)." in sent.caption
    messages = [reply.text for reply in desk.replies()]
    assert len(messages) >= 2  # each under Telegram's 4096 (the session refuses more)
    text = "\n".join(messages)
    assert text.startswith("<b>По сферам сотрудничества</b>\n• В сфере культуры и туризма: 60")
    assert all(f"• {' '.join(name.split())}: 1 (0; 0)" in text for name in names)
    assert picture(sent).height < 5000  # the busiest 15 and one bar for the rest


async def test_stats_of_nothing_or_of_a_bad_period_says_so(world: World) -> None:
    desk = coordinator(world)

    [empty] = await desk.send("/stats 2023-Q4")
    [bad] = await desk.send("/stats 2023-Q9")

    assert empty.text == Indicators.EMPTY.format(
        period="IV квартал 2023 года", others="III кв. 2023, IV кв. 2022"
    )
    assert bad.text == Indicators.BAD_PERIOD.format(value="2023-Q9", label="2023-Q4")
    assert "/stats 2023 — за год" in bad.text
    assert photos(desk) == []


async def test_a_reporter_cannot_ask_for_stats(world: World) -> None:
    museum = await join(world, 1301)

    [reply] = await museum.send("/stats")

    assert reply.text == Common.COORDINATOR_ONLY
    assert photos(museum) == []


# --- the .xlsx ---------------------------------------------------------------------------


async def test_the_xlsx_has_a_sheet_of_the_figures_with_native_bar_charts(
    app_storage: Storage,
) -> None:
    await file_events(app_storage.sessionmaker, PLAN)
    source = DatabaseReportSource(app_storage.reader, REGION)
    report = await source.load_report(Quarter(2023, 4))
    stats = await source.load_stats(Quarter(2023, 4))

    workbook = load_workbook(BytesIO(render_xlsx(report, stats)))

    assert workbook.sheetnames == ["Отчет", STATS_SHEET_TITLE]
    assert workbook.active is not None and workbook.active.title == "Отчет"
    sheet = workbook[STATS_SHEET_TITLE]
    rows = [list(row) for row in sheet.iter_rows(min_row=3, values_only=True)]
    cells = [[value for value in row if value is not None] for row in rows]
    cells = [row for row in cells if row]
    assert cells[:4] == [
        ["Сфера сотрудничества", "IV кв. 2023", "III кв. 2023", "IV кв. 2022"],
        ["В сфере культуры и туризма", 3, 1, 0],
        ["В сфере спорта", 1, 0, 2],
        ["Всего", 4, 1, 2],
    ]
    assert cells[4:] == [
        ["Организация", "IV кв. 2023", "III кв. 2023", "IV кв. 2022"],
        [MUSEUM, 2, 1, 2],
        [THEATRE, 2, 0, 0],
        ["Всего", 4, 1, 2],
    ]
    charts = sheet._charts
    assert len(charts) == 2
    assert all(isinstance(chart, BarChart) and chart.type == "bar" for chart in charts)
    assert [len(chart.series) for chart in charts] == [3, 3]


async def test_the_xlsx_button_sends_the_figures_sheet_too(
    world: World, app_storage: Storage
) -> None:
    await file_events(app_storage.sessionmaker, PLAN)
    desk = coordinator(world)
    await desk.send("/report 2023-Q4")
    [docx] = desk.documents()
    assert docx.reply_markup is not None
    [button], _accepted = docx.reply_markup.inline_keyboard  # type: ignore[union-attr]

    await desk.press_data(button.callback_data or "")

    xlsx = desk.documents()[1].document
    assert isinstance(xlsx, BufferedInputFile) and xlsx.filename == "report_2023_Q4.xlsx"
    sheet = load_workbook(BytesIO(xlsx.data))[STATS_SHEET_TITLE]
    assert sheet["A4"].value == "В сфере культуры и туризма" and sheet["B4"].value == 3
    assert Desk.XLSX == button.text


def test_a_picture_is_drawn_without_any_event_in_a_panel() -> None:
    from reports.stats import Stats

    stats = Stats((Quarter(2023, 4), Quarter(2023, 3)), (0, 0), (), ())

    image = Image.open(BytesIO(render_stats_png(stats, "Нет мероприятий")))

    assert image.width == 1100 and image.height > 200


async def test_the_readme_picture_is_drawn_from_the_reference_quarter(
    fixture_data: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("stats_example", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    word = docx.Document(BytesIO(script.second_quarter_docx(REGION)))
    image = Image.open(BytesIO(await script.stats_picture(fixture_data))).convert("RGB")

    # III квартал 2023 года is a Word report, read back by the .docx importer.
    [table] = word.tables
    assert word.paragraphs[0].text.endswith("в III квартале 2023 года")
    names = [row.cells[1].text for row in table.rows if row.cells[0].text.rstrip(".").isdigit()]
    assert len(names) == sum(count for _, count, _ in script.SECOND_QUARTER) == 28
    assert capsys.readouterr().out.splitlines() == [
        "2023-Q3: 28 events imported from the .docx",
        "42 events against 28, 0",
    ]
    assert image.width == 1100 and image.height > 1200  # 12 spheres, 1 organisation
    assert colour_share(image, COLOURS[0]) > 0.005 and colour_share(image, COLOURS[1]) > 0.005


def test_any_number_of_spheres_and_organisations_fits_telegrams_photo_limits() -> None:
    from reports.stats import Stats, StatsLine

    lines = tuple(StatsLine(f"Сфера номер {n} " * 4, (n, 1, 1)) for n in range(200))
    stats = Stats((Quarter(2023, 4), Quarter(2023, 3), Quarter(2022, 4)), (1, 1, 1), lines, lines)

    image = Image.open(BytesIO(render_stats_png(stats, "Много сфер")))

    assert image.width + image.height <= 10_000 and image.height / image.width <= 20
