"""The .xlsx of the report: the same rows as the .docx, flat, with sphere, organisation and
total columns and a print setup; read back with openpyxl. And the button under the .docx
that sends it."""

from __future__ import annotations

from datetime import date
from io import BytesIO
from typing import Any

from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from bot.database import Storage
from handlers.texts import Common, Desk, Dialogue, Review
from reports.dates import DateRange
from reports.model import COLUMNS, ReportEvent, build_report
from reports.quarters import Quarter
from reports.xlsx import (
    FIRST_ROW,
    HEADER_ROW,
    HEADERS,
    ORGANISATION_HEADER,
    SPHERE_HEADER,
    TOTAL_HEADER,
    render_xlsx,
)
from tests.test_desk import coordinator, report, the_document
from tests.test_dialogue import join
from tests.tg import World, stored_events

REGION = "исполнительными органами Смоленской области и подведомственными им учреждениями"
CULTURE = "Сотрудничество в сфере культуры и туризма"
SPORT = "Сотрудничество в сфере спорта"


def _event(sphere: str, name: str, start: date, end: date | None = None, **kw: Any) -> ReportEvent:
    return ReportEvent(
        sphere=sphere,
        name=name,
        place=kw.get("place", "г. Смоленск"),
        dates=DateRange(start, end or start, kw.get("precision", "day")),
        result=kw.get("result", "Проведено."),
        participants=kw.get("participants", "Сотрудники"),
        seq=kw.get("seq", 0),
        participant_count=kw.get("count"),
        organisation=kw.get("organisation", ""),
    )


def _sheet(data: bytes) -> Worksheet:
    sheet = load_workbook(BytesIO(data)).active
    assert isinstance(sheet, Worksheet)
    return sheet


def _row(sheet: Worksheet, row: int) -> list[Any]:
    return [sheet.cell(row=row, column=column).value for column in range(1, len(HEADERS) + 1)]


def test_it_has_the_title_the_six_headers_and_the_sphere_organisation_total_columns() -> None:
    report_ = build_report(
        Quarter(2023, 4), REGION, [CULTURE], [_event(CULTURE, "А", date(2023, 10, 1))]
    )

    sheet = _sheet(render_xlsx(report_))

    assert sheet.cell(row=1, column=1).value == report_.title
    assert _row(sheet, HEADER_ROW) == [*COLUMNS, SPHERE_HEADER, ORGANISATION_HEADER, TOTAL_HEADER]


def test_it_lists_rows_in_report_order_numbered_across_spheres_with_their_sphere() -> None:
    events = [
        _event(SPORT, "Турнир", date(2023, 11, 3)),
        _event(CULTURE, "Выставка поздняя", date(2023, 11, 10), date(2023, 12, 3)),
        _event(
            CULTURE, "Выставка ранняя", date(2023, 10, 1), date(2023, 10, 31), precision="month"
        ),
    ]
    report_ = build_report(Quarter(2023, 4), REGION, [CULTURE, SPORT], events)

    sheet = _sheet(render_xlsx(report_))

    rows = [_row(sheet, row) for row in range(FIRST_ROW, FIRST_ROW + 3)]
    assert [(row[0], row[1], row[3], row[6]) for row in rows] == [
        (1, "Выставка ранняя", "октябрь 2023 года", CULTURE),
        (2, "Выставка поздняя", "10 ноября – 3 декабря 2023 года", CULTURE),
        (3, "Турнир", "3 ноября 2023 года", SPORT),
    ]
    assert rows[0][2] == "г. Смоленск" and rows[0][4] == "Проведено." and rows[0][5] == "Сотрудники"
    assert _row(sheet, FIRST_ROW + 3) == [None] * 9


def test_the_notes_follow_the_rows_after_an_empty_row() -> None:
    events = [_event(CULTURE, "Выставка", date(2023, 10, 1))]
    notes = ["В IV квартале 2023 года состоялись 3 встречи", "Второе примечание"]
    report_ = build_report(Quarter(2023, 4), REGION, [CULTURE], events, notes)

    sheet = _sheet(render_xlsx(report_))

    assert _row(sheet, FIRST_ROW + 1) == [None] * 9
    assert sheet.cell(row=FIRST_ROW + 2, column=1).value == notes[0]
    assert sheet.cell(row=FIRST_ROW + 3, column=1).value == notes[1]
    assert sheet.max_row == FIRST_ROW + 3


def test_text_is_kept_as_typed_and_never_becomes_a_formula() -> None:
    tricky = '=HYPERLINK("http://x")\nвторая строка\u00a0«кавычки»\x07'
    events = [_event(CULTURE, tricky, date(2023, 10, 1), participants="+7 человек")]
    report_ = build_report(Quarter(2023, 4), REGION, [CULTURE], events, ["=1+1"])

    data = render_xlsx(report_)
    sheet = _sheet(data)

    name = sheet.cell(row=FIRST_ROW, column=2)
    assert name.value == tricky.replace("\x07", "") and name.data_type == "s"
    assert sheet.cell(row=FIRST_ROW, column=6).value == "+7 человек"
    assert sheet.cell(row=FIRST_ROW + 2, column=1).value == "=1+1"
    assert sheet.cell(row=FIRST_ROW + 2, column=1).data_type == "s"


def test_an_empty_report_still_has_its_headers() -> None:
    report_ = build_report(Quarter(2023, 4), REGION, [CULTURE], [])

    sheet = _sheet(render_xlsx(report_))

    assert _row(sheet, HEADER_ROW) == [*COLUMNS, SPHERE_HEADER, ORGANISATION_HEADER, TOTAL_HEADER]
    assert sheet.max_row == HEADER_ROW


def test_each_row_names_its_organisation_and_total() -> None:
    events = [
        _event(CULTURE, "А", date(2023, 10, 1), organisation="Музей", count=45),
        _event(
            CULTURE,
            "Б",
            date(2023, 10, 2),
            organisation="Театр",
            participants="Выставку посетили более 1000 человек",
            count=1000,
        ),
        _event(CULTURE, "В", date(2023, 10, 3), organisation="Архив"),
    ]
    report_ = build_report(Quarter(2023, 4), REGION, [CULTURE], events)

    sheet = _sheet(render_xlsx(report_))

    rows = [_row(sheet, row) for row in range(FIRST_ROW, FIRST_ROW + 3)]
    assert [row[7:] for row in rows] == [["Музей", 45], ["Театр", "более 1000"], ["Архив", None]]
    assert rows[0][5] == "Сотрудники\nОбщее количество участников\u00a0– 45 человек"
    assert rows[1][5] == "Выставку посетили более 1000 человек"


def test_it_prints_landscape_fitted_to_the_width_with_the_header_row_on_every_page() -> None:
    report_ = build_report(
        Quarter(2023, 4), REGION, [CULTURE], [_event(CULTURE, "А", date(2023, 10, 1))]
    )

    sheet = _sheet(render_xlsx(report_))

    setup = sheet.page_setup
    assert setup.orientation == "landscape"
    assert setup.paperSize == 9  # A4
    assert (setup.fitToWidth, setup.fitToHeight) == (1, 0)
    assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
    assert sheet.print_title_rows == f"${HEADER_ROW}:${HEADER_ROW}"


# --- the button under the .docx ----------------------------------------------------------


def _xlsx_button(sent: SendDocument) -> str:
    assert sent.reply_markup is not None
    [button], [accepted] = sent.reply_markup.inline_keyboard  # type: ignore[union-attr]
    assert button.text == Desk.XLSX and button.callback_data is not None
    assert accepted.text == Review.ACCEPTED_ONLY  # the review's: the accepted events only
    return button.callback_data


async def test_the_docx_comes_with_a_button_that_sends_the_same_rows_as_xlsx(
    world: World,
) -> None:
    museum = await join(world, 1301)
    await report(museum, "Выставка поздняя", "10 ноября – 3 декабря 2023")
    await report(museum, "Выставка ранняя", "октябрь 2023")
    desk = coordinator(world)
    await desk.send("/report 2023-Q4")
    [docx] = desk.documents()

    await desk.press_data(_xlsx_button(docx))

    _, xlsx = desk.documents()
    assert isinstance(xlsx.document, BufferedInputFile)
    assert xlsx.document.filename == "report_2023_Q4.xlsx"
    assert (xlsx.caption or "").split("\n")[0] == Desk.CAPTION.format(
        period="IV квартал 2023 года", count=2
    )
    assert xlsx.reply_markup is None
    sheet = _sheet(xlsx.document.data)
    assert [_row(sheet, row)[:2] for row in (FIRST_ROW, FIRST_ROW + 1)] == [
        [1, "Выставка ранняя"],
        [2, "Выставка поздняя"],
    ]
    assert _row(sheet, FIRST_ROW)[6:] == [CULTURE, "Смоленский музей", 18]


async def test_a_total_given_only_at_the_question_is_printed_in_the_docx_and_the_xlsx(
    world: World,
) -> None:
    museum = await join(world, 1304, "Смоленский театр")
    await museum.send("/new")
    await museum.press(CULTURE)
    await museum.send("Гастроли")
    await museum.send("г. Минск")
    await museum.send("26-27 октября 2023")
    await museum.press(Dialogue.YES)
    await museum.send("Показан спектакль.")
    await museum.send("Артисты театра;\nзрители Минска")
    await museum.send("22")
    await museum.press("IV квартал 2023 года")
    await museum.press(Dialogue.SUBMIT)
    desk = coordinator(world)
    await desk.send("/report 2023-Q4")

    _, document = the_document(desk)
    await desk.press_data(_xlsx_button(desk.documents()[0]))

    cell = document.tables[0].rows[2].cells[5]
    assert [paragraph.text for paragraph in cell.paragraphs] == [
        "Артисты театра;",
        "зрители Минска",
        "Общее количество участников\u00a0– 22 человека",
    ]
    xlsx = desk.documents()[1].document
    assert isinstance(xlsx, BufferedInputFile)
    row = _row(_sheet(xlsx.data), FIRST_ROW)
    assert (
        row[5] == "Артисты театра;\nзрители Минска\nОбщее количество участников\u00a0– 22 человека"
    )
    assert row[6:] == [CULTURE, "Смоленский театр", 22]


async def test_the_chooser_sends_the_docx_with_the_xlsx_button_too(world: World) -> None:
    await report(await join(world, 1302), "Выставка")
    desk = coordinator(world)
    await desk.send("/report")

    await desk.press("IV квартал 2023 года")

    [docx] = desk.documents()
    await desk.press_data(_xlsx_button(docx))
    assert [d.document.filename for d in desk.documents()] == [  # type: ignore[union-attr]
        "report_2023_Q4.docx",
        "report_2023_Q4.xlsx",
    ]


async def test_the_xlsx_of_a_period_emptied_since_says_so(
    world: World, app_storage: Storage
) -> None:
    museum = await join(world, 1303)
    await report(museum, "Выставка")
    desk = coordinator(world)
    await desk.send("/report 2023-Q4")
    [event] = await stored_events(app_storage.sessionmaker)
    await museum.press_data(f"ev:delyes:{event.id}")

    [reply] = await desk.press_data(f"xl:{event.period_id}")

    assert reply.text == Desk.EMPTY.format(period="IV квартал 2023 года")
    assert len(desk.documents()) == 1


async def test_an_xlsx_button_of_an_unknown_period_is_refused(world: World) -> None:
    desk = coordinator(world)

    assert await desk.press_data("xl:9999") == []

    assert desk.alerts() == [Common.STALE_BUTTON]
    assert desk.documents() == []
