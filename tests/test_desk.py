"""The coordinator's desk in chat: /report, organisations, join links; reporters refused."""

from __future__ import annotations

import asyncio
import threading
from io import BytesIO
from typing import Any

import pytest
from aiogram.types import BufferedInputFile
from docx import Document
from sqlalchemy import select

from bot.database import Storage
from handlers import desk as desk_module
from handlers.texts import Common, Desk, Dialogue, MyEvents, Review
from reports.docx import render_docx
from reports.model import COLUMNS
from reports.quarters import Quarter
from storage.models import JoinCode, Organisation
from tests.conftest import COORDINATOR_ID, NOW
from tests.factories import help_shown
from tests.test_dialogue import LINK, fill_event, join
from tests.tg import Person, World, add_period, fsm_of, stored_events, stored_person

TITLE = (
    "Отчет о мероприятиях в международной сфере, проведенных исполнительными органами "
    "Смоленской области и подведомственными им учреждениями в IV квартале 2023 года"
)


def coordinator(world: World) -> Person:
    return world.person(COORDINATOR_ID, "Координатор")


async def report(person: Person, name: str, dates: str = "26-27 октября 2023") -> None:
    """File one culture event of the fourth quarter through the dialogue."""
    await fill_event(person, name)
    await person.press("Сроки")
    await person.send(dates)
    await person.press(Dialogue.YES)
    await person.press(Dialogue.SUBMIT)


def the_document(person: Person) -> tuple[str, Document]:
    """The name and the reopened .docx of the one document sent to `person`."""
    [sent] = person.documents()
    assert isinstance(sent.document, BufferedInputFile)
    return sent.document.filename or "", Document(BytesIO(sent.document.data))


# --- /report -----------------------------------------------------------------------------


async def test_report_with_no_periods_says_so(world: World) -> None:
    desk = coordinator(world)

    [reply] = await desk.send("/report")

    assert reply.text == Desk.NO_PERIODS


async def test_report_offers_the_periods_newest_first_with_the_default_marked(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Quarter(2023, 3), status="closed")
    await add_period(app_storage.sessionmaker, Quarter(2023, 4))
    await add_period(app_storage.sessionmaker, Quarter(2024, 1))
    desk = coordinator(world)

    [reply] = await desk.send("/report")

    assert reply.text == Desk.CHOOSE_PERIOD
    assert desk.labels() == [
        "I квартал 2024 года",
        "IV квартал 2023 года" + Dialogue.DEFAULT_MARK,
        "III квартал 2023 года",
    ]


async def test_a_period_chosen_from_the_list_is_sent_as_a_docx(world: World) -> None:
    await report(await join(world, 1101), "Выставка")
    desk = coordinator(world)
    await desk.send("/report")

    await desk.press("IV квартал 2023 года")

    [sent] = desk.documents()
    name, document = the_document(desk)
    assert name == "report_2023_Q4.docx"
    assert sent.caption == "\n".join(
        [
            Desk.CAPTION.format(period="IV квартал 2023 года", count=1),
            Review.CAPTION_REVIEW.format(accepted=0, pending=1, returned=0),
        ]
    )
    assert document.tables[0].rows[2].cells[1].text == "Выставка"


async def test_while_a_report_is_compiled_other_people_are_answered(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite has one writer connection per process: /report must not hold it while it
    # reads and renders (on its own connections), or everyone waits for the compiler.
    await report(await join(world, 1111), "Выставка")
    other = await join(world, 1112)
    rendering, release = threading.Event(), threading.Event()

    def slow_render(model: Any) -> bytes:
        rendering.set()
        release.wait(10)
        return render_docx(model)

    monkeypatch.setattr(desk_module, "render_docx", slow_render)
    desk = coordinator(world)
    compiling = asyncio.create_task(desk.send("/report 2023-Q4"))
    await asyncio.wait_for(asyncio.to_thread(rendering.wait, 10), 15)
    replies = await asyncio.wait_for(other.send("/new"), 10)
    release.set()
    await asyncio.wait_for(compiling, 10)

    assert replies[-1].text.startswith(Dialogue.STEP.format(number=1))
    assert the_document(desk)[0] == "report_2023_Q4.docx"


async def test_report_by_label_holds_the_periods_events_as_the_table_prints_them(
    world: World, app_storage: Storage
) -> None:
    await add_period(app_storage.sessionmaker, Quarter(2024, 1))
    museum, theatre = await join(world, 1102), await join(world, 1103, "Смоленский театр")
    await report(museum, "Выставка поздняя", "10 ноября – 3 декабря 2023")
    await report(theatre, "Выставка ранняя", "октябрь 2023")
    await report(museum, "Удалённая")
    await report(museum, "В следующем квартале")
    deleted, later = (await stored_events(app_storage.sessionmaker))[2:]
    await museum.press_data(f"ev:delyes:{deleted.id}")
    await museum.press_data(f"ev:edit:{later.id}")
    await museum.press("Квартал")
    await museum.press("I квартал 2024 года")
    await museum.press(Dialogue.SAVE)
    desk = coordinator(world)

    await desk.send("/report 2023-Q4")

    name, document = the_document(desk)
    assert name == "report_2023_Q4.docx"
    assert document.paragraphs[0].text == TITLE
    rows = [[cell.text for cell in row.cells] for row in document.tables[0].rows]
    assert rows[0] == list(COLUMNS)
    assert rows[1] == ["Сотрудничество в сфере культуры и туризма"] * 6
    assert [row[:4] for row in rows[2:]] == [
        ["1.", "Выставка ранняя", "г. Минск, Республика Беларусь", "октябрь 2023 года"],
        [
            "2.",
            "Выставка поздняя",
            "г. Минск, Республика Беларусь",
            "10 ноября – 3 декабря 2023 года",
        ],
    ]
    result_cell = document.tables[0].rows[2].cells[4]
    assert [p.text for p in result_cell.paragraphs] == [
        "Открыта выставка.",
        "Подписано соглашение о сотрудничестве.",
    ]
    assert rows[2][5] == "Сотрудники музея. Общее количество участников – 18 человек"


@pytest.mark.parametrize("label", ["2023-Q4", "2023Q4", "2023-q4"])
async def test_report_accepts_the_usual_ways_to_write_a_quarter(world: World, label: str) -> None:
    await report(await join(world, 1104), "Выставка")
    desk = coordinator(world)

    await desk.send(f"/report {label}")

    name, _ = the_document(desk)
    assert name == "report_2023_Q4.docx"


async def test_report_of_a_quarter_without_a_period_says_so(world: World) -> None:
    desk = coordinator(world)

    [reply] = await desk.send("/report 2023-Q3")

    assert reply.text == Desk.NO_PERIOD.format(period="III квартал 2023 года")
    assert desk.documents() == []


async def test_report_of_a_period_without_events_says_so(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1105)
    await report(person, "Удалённая")
    [event] = await stored_events(app_storage.sessionmaker)
    await person.press_data(f"ev:delyes:{event.id}")
    desk = coordinator(world)

    [reply] = await desk.send("/report 2023-Q4")

    assert reply.text == Desk.EMPTY.format(period="IV квартал 2023 года")
    assert desk.documents() == []


@pytest.mark.parametrize("label", ["<b>вчера</b>", "2023-Q5", "Q4", "1800-Q1"])
async def test_report_with_a_bad_label_shows_an_example(world: World, label: str) -> None:
    desk = coordinator(world)

    [reply] = await desk.send(f"/report {label}")

    escaped = label.replace("<", "&lt;").replace(">", "&gt;")
    assert reply.text == Desk.BAD_PERIOD.format(value=escaped, label="2023-Q4")


async def test_an_unknown_period_in_the_chooser_is_refused(world: World) -> None:
    desk = coordinator(world)

    replies = await desk.press_data("rp:9999")

    assert replies == []
    assert desk.alerts() == [Common.STALE_BUTTON]
    assert desk.documents() == []


# --- reporters are refused ---------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "/report",
        "/report 2023-Q4",
        "/neworg Новый музей",
        "/link Смоленский музей",
        "/revoke abc",
        "/orgs",
        "/coordinator 100",
    ],
)
async def test_a_reporter_asking_for_a_desk_command_is_told_it_is_for_coordinators(
    world: World, app_storage: Storage, command: str
) -> None:
    person = await join(world, 1106)
    await report(person, "Выставка")
    codes_before = [(c.code, c.revoked_at) for c in await codes(app_storage)]

    [reply] = await person.send(command)

    assert reply.text == Common.COORDINATOR_ONLY
    assert person.documents() == []
    assert [(c.code, c.revoked_at) for c in await codes(app_storage)] == codes_before
    assert await organisations(app_storage) == ["Смоленский музей"]


async def test_a_reporter_pressing_a_report_button_is_refused(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1107)
    await report(person, "Выставка")
    [event] = await stored_events(app_storage.sessionmaker)

    replies = await person.press_data(f"rp:{event.period_id}")

    assert replies == []
    assert person.alerts() == [Common.STALE_BUTTON]
    assert person.documents() == []


# --- organisations and links -------------------------------------------------------------


async def codes(storage: Storage) -> list[JoinCode]:
    async with storage.sessionmaker() as session:
        return list(await session.scalars(select(JoinCode).order_by(JoinCode.id)))


async def organisations(storage: Storage) -> list[str]:
    async with storage.sessionmaker() as session:
        return list(await session.scalars(select(Organisation.name).order_by(Organisation.id)))


async def test_neworg_adds_an_organisation_and_gives_a_join_link(
    world: World, app_storage: Storage
) -> None:
    desk = coordinator(world)

    [reply] = await desk.send("/neworg   Смоленский   музей ")

    [code] = await codes(app_storage)
    assert await organisations(app_storage) == ["Смоленский музей"]
    assert reply.text.startswith(Desk.ORG_CREATED.format(name="Смоленский музей"))
    found = LINK.search(reply.text)
    assert found is not None and found.group(1) == code.code
    assert f"<code>{code.code}</code>" in reply.text
    assert code.expires_at.strftime("%d.%m.%Y") in reply.text
    assert code.revoked_at is None and code.role == "reporter"


@pytest.mark.parametrize("args", ["", "   ", "я" * 501])
async def test_neworg_without_a_usable_name_shows_how(
    world: World, app_storage: Storage, args: str
) -> None:
    desk = coordinator(world)

    [reply] = await desk.send(f"/neworg {args}")

    assert reply.text == Desk.ORG_USAGE
    assert await organisations(app_storage) == []


async def test_neworg_escapes_the_name(world: World) -> None:
    desk = coordinator(world)

    [reply] = await desk.send("/neworg <b>Музей</b> & Ко")

    assert "«&lt;b&gt;Музей&lt;/b&gt; &amp; Ко»" in reply.text


async def test_link_gives_another_working_code_for_an_organisation(
    world: World, app_storage: Storage
) -> None:
    desk = coordinator(world)
    await desk.send("/neworg Смоленский музей")

    [reply] = await desk.send("/link Смоленский музей")
    person = world.person(1108)
    code = LINK.search(reply.text).group(1)  # type: ignore[union-attr]
    [asked] = await person.send(f"/start {code}")

    first, second = await codes(app_storage)
    assert second.code == code != first.code
    assert first.organisation_id == second.organisation_id
    assert "Смоленский музей" in asked.text


@pytest.mark.parametrize(
    ("command", "told"),
    [
        ("/link", Desk.ORG_USAGE.replace("/neworg", "/link")),
        ("/link Нет такого", Desk.ORG_NOT_FOUND.format(name="Нет такого")),
        ("/link <i>Нет</i>", Desk.ORG_NOT_FOUND.format(name="&lt;i&gt;Нет&lt;/i&gt;")),
    ],
)
async def test_link_needs_a_known_organisation(
    world: World, app_storage: Storage, command: str, told: str
) -> None:
    desk = coordinator(world)

    [reply] = await desk.send(command)

    assert reply.text == told
    assert await codes(app_storage) == []


async def test_revoke_revokes_a_code(world: World, app_storage: Storage) -> None:
    desk = coordinator(world)
    await desk.send("/neworg Смоленский музей")
    [code] = await codes(app_storage)

    [reply] = await desk.send(f"/revoke {code.code}")

    assert reply.text == Desk.REVOKED
    [after] = await codes(app_storage)
    assert after.revoked_at is not None


@pytest.mark.parametrize(
    ("command", "told"),
    [("/revoke", Desk.REVOKE_USAGE), ("/revoke nosuchcode", Desk.REVOKE_NOT_FOUND)],
)
async def test_revoke_needs_an_existing_code(world: World, command: str, told: str) -> None:
    desk = coordinator(world)

    [reply] = await desk.send(command)

    assert reply.text == told


async def test_orgs_lists_organisations_with_their_people(world: World) -> None:
    desk = coordinator(world)
    [empty] = await desk.send("/orgs")
    await join(world, 1109)
    await join(world, 1110)
    await desk.send("/neworg <b>Театр</b>")

    [reply] = await desk.send("/orgs")

    assert empty.text == Desk.ORGS_EMPTY
    assert reply.text == "\n".join(
        [
            Desk.ORGS_HEAD,
            Desk.ORG_LINE.format(name="&lt;b&gt;Театр&lt;/b&gt;", people=0),
            Desk.ORG_LINE.format(name="Смоленский музей", people=2),
        ]
    )


async def test_the_coordinators_own_list_is_reachable_through_my(world: World) -> None:
    desk = coordinator(world)

    [reply] = await desk.send("/my")

    assert reply.text == MyEvents.EMPTY


# --- people ------------------------------------------------------------------------------


async def test_people_lists_an_organisations_people_with_their_ids(
    world: World, app_storage: Storage
) -> None:
    await join(world, 1111)
    await join(world, 1112)
    desk = coordinator(world)
    await desk.send("/coordinator 1112")

    [reply] = await desk.send("/people  Смоленский   музей")

    assert reply.text == "\n".join(
        [
            Desk.PEOPLE_HEAD.format(name="Смоленский музей"),
            Desk.PERSON_LINE.format(name="Иванова Мария Петровна", telegram_id=1111, marks=""),
            Desk.PERSON_LINE.format(
                name="Иванова Мария Петровна", telegram_id=1112, marks=Desk.COORDINATOR_MARK
            ),
        ]
    )


@pytest.mark.parametrize(
    ("command", "told"),
    [
        ("/people", Desk.PEOPLE_USAGE),
        ("/people Нет такой", Desk.ORG_NOT_FOUND.format(name="Нет такой")),
        ("/people <b>Театр</b>", Desk.PEOPLE_EMPTY.format(name="&lt;b&gt;Театр&lt;/b&gt;")),
    ],
)
async def test_people_needs_a_known_organisation_with_people(
    world: World, command: str, told: str
) -> None:
    desk = coordinator(world)
    await desk.send("/neworg <b>Театр</b>")

    [reply] = await desk.send(command)

    assert reply.text == told


async def test_deactivate_asks_first_and_then_the_person_is_refused_like_a_stranger(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 1113)
    await fill_event(person)  # in the middle of a report
    desk = coordinator(world)

    [question] = await desk.send("/deactivate 1113")
    [done] = await desk.press(Desk.DEACTIVATE_YES)
    [refused] = await person.send("/new")
    [people] = await desk.send("/people Смоленский музей")

    assert question.text == Desk.DEACTIVATE_CONFIRM.format(
        name="Иванова Мария Петровна", organisation="Смоленский музей"
    )
    assert done.text == Desk.DEACTIVATED.format(name="Иванова Мария Петровна")
    assert refused.text == Common.stranger(person.user.id)
    assert people.text.endswith(Desk.INACTIVE_MARK)
    stored = await stored_person(app_storage.sessionmaker, 1113)
    assert stored is not None and not stored.active
    assert await fsm_of(app_storage.sessionmaker, 1113) is None


async def test_deactivate_answered_no_keeps_the_person(world: World, app_storage: Storage) -> None:
    person = await join(world, 1114)
    desk = coordinator(world)
    await desk.send("/deactivate 1114")

    [kept] = await desk.press(Desk.DEACTIVATE_NO)
    [answer] = await person.send("/help")

    assert kept.text == Desk.NOT_DEACTIVATED
    assert answer.text == help_shown(NOW)
    stored = await stored_person(app_storage.sessionmaker, 1114)
    assert stored is not None and stored.active


@pytest.mark.parametrize(
    ("args", "told"),
    [
        ("", Desk.DEACTIVATE_USAGE),
        ("Иванова", Desk.DEACTIVATE_USAGE),
        ("999", Desk.DEACTIVATE_NOT_FOUND.format(id=999)),
        (str(COORDINATOR_ID), Desk.DEACTIVATE_SELF),
    ],
)
async def test_deactivate_refuses_what_it_cannot_do(world: World, args: str, told: str) -> None:
    desk = coordinator(world)

    [reply] = await desk.send(f"/deactivate {args}")

    assert reply.text == told


async def test_a_coordinator_from_the_settings_cannot_be_deactivated(
    world: World, app_storage: Storage
) -> None:
    await join(world, 1115)
    desk = coordinator(world)
    await desk.send("/coordinator 1115")
    other = world.person(1115)

    [reply] = await other.send(f"/deactivate {COORDINATOR_ID}")

    assert reply.text == Desk.DEACTIVATE_CONFIGURED.format(name=f"Координатор {COORDINATOR_ID}")
    stored = await stored_person(app_storage.sessionmaker, COORDINATOR_ID)
    assert stored is not None and stored.active


async def test_a_deactivation_confirmed_twice_is_done_once(
    world: World, app_storage: Storage
) -> None:
    await join(world, 1116)
    desk = coordinator(world)
    await desk.send("/deactivate 1116")
    data = desk.button_data(Desk.DEACTIVATE_YES)
    await desk.press_data(data)

    assert await desk.press_data(data) == []

    assert desk.alerts() == [Desk.DEACTIVATE_ALREADY.format(name="Иванова Мария Петровна")]


async def test_a_deactivated_person_can_come_back_through_a_new_link(
    world: World, app_storage: Storage
) -> None:
    await join(world, 1117)
    desk = coordinator(world)
    await desk.send("/deactivate 1117")
    await desk.press(Desk.DEACTIVATE_YES)

    person = await join(world, 1117)
    [answer] = await person.send("/help")

    assert answer.text == help_shown(NOW)
