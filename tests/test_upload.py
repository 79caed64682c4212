"""A past report sent to the bot as a .docx: read, shown, loaded on «Загрузить»."""

from __future__ import annotations

from aiogram.methods import GetFile
from aiogram.types import Document, InlineKeyboardMarkup

from bot.database import Storage
from handlers.texts import Dialogue, Upload
from reports.model import DEFAULT_SPHERES
from tests.conftest import COORDINATOR_ID
from tests.test_dialogue import join
from tests.tg import Person, World, reach, stored_events
from tests.word import Event, Sphere, person_report

SPORT, EDUCATION = DEFAULT_SPHERES[9], DEFAULT_SPHERES[4]
TITLE = ["Отчет о мероприятиях в международной сфере в III квартале 2022 года"]


def typed_report(extra_bad_rows: int = 0) -> bytes:
    rows: list[Sphere | Event] = [
        Sphere("Сотрудничество в сфере спотра"),  # a typo in a short word: matched, asked
        Event(("1.", "Турнир <дружбы>", "г. Смоленск", "12.08.2022", "Проведён", "20 человек")),
        Event(("2.", "Матч", "г. Минск", "", "Проведён", "Команды")),
        Sphere("Сотрудничество в сфере образования"),  # matched, but unsure
        Event(("3", "Олимпиада", "г. Брест", "сентябрь 2022", "Итоги", "Школьники")),
    ]
    rows += [
        Event((str(n), f"Встреча номер {n} " + "длинное название " * 4, "", "", "", ""))
        for n in range(4, 4 + extra_bad_rows)
    ]
    return person_report(TITLE, rows, ["В III квартале 2022 года состоялось 2 встречи."])


def coordinator(world: World) -> Person:
    return world.person(COORDINATOR_ID, "Координатор")


async def answer_the_spheres(desk: Person) -> None:
    """The two unsure spheres of `typed_report`, answered with their best match."""
    await desk.press(SPORT)
    await desk.press(EDUCATION)


def getfiles(world: World) -> list[GetFile]:
    return [r for r in world.session.requests if isinstance(r, GetFile)]


async def test_a_coordinators_report_is_shown_then_loaded_into_a_closed_quarter(
    world: World, app_storage: Storage
) -> None:
    desk = coordinator(world)

    [summary, question] = await desk.send_document("Отчёт III кв.docx", typed_report())

    text = summary.text
    assert "<b>Прочитан отчёт за III квартал 2022 года</b> (файл «Отчёт III кв.docx»)" in text
    assert "Мероприятий: 2; примечаний: 1." in text
    assert f"• {SPORT} — 1" in text and f"• {EDUCATION} — 1" in text
    assert "• строка 4 (№ 2.) «Матч»: не указаны сроки проведения" in text
    assert f"• «Сотрудничество в сфере образования» — принята как «{EDUCATION}»" in text
    assert f"• «Сотрудничество в сфере спотра» — принята как «{SPORT}»" in text
    assert summary.reply_markup is None
    assert question.text.startswith(
        "Вопрос 1 из 2. Сфера «Сотрудничество в сфере спотра» (1 строка) распознана неточно."
    )
    assert f"1. {SPORT}" in question.text
    assert desk.labels()[-2:] == [Upload.SKIP_ROWS, Upload.CANCEL]

    [taken, second] = await desk.press(SPORT)
    [_, confirm] = await desk.press(EDUCATION)

    assert (
        taken.text == f"«Сотрудничество в сфере спотра»: строки будут загружены в сферу «{SPORT}»."
    )
    assert second.text.startswith("Вопрос 2 из 2. Сфера «Сотрудничество в сфере образования»")
    assert confirm.text.startswith(
        "Мероприятия будут загружены от организации «Импортированные мероприятия»"
    )
    assert desk.labels() == [Upload.LOAD, Upload.CANCEL]
    assert await stored_events(app_storage.sessionmaker) == []

    [done] = await desk.press(Upload.LOAD)

    assert done.text.startswith(
        "Загружено мероприятий: 2; примечаний: 1. Приём сведений за III квартал 2022 года закрыт."
    )
    events = await stored_events(app_storage.sessionmaker)
    assert [(e.name, e.sphere.name, e.period.status) for e in events] == [
        ("Турнир <дружбы>", SPORT, "closed"),
        ("Олимпиада", EDUCATION, "closed"),
    ]
    assert {e.organisation.name for e in events} == {"Импортированные мероприятия"}
    assert events[0].participant_count == 20
    assert len(getfiles(world)) == 1 and len(world.session.downloads) == 1  # read once


async def test_an_unsure_sphere_is_asked_about_and_the_answer_is_what_is_loaded(
    world: World, app_storage: Storage
) -> None:
    desk = coordinator(world)
    rows: list[Sphere | Event] = [
        Sphere("Сотрудничество в сфере культуры"),  # culture and tourism? unsure
        Event(("1", "Фестиваль", "г. Смоленск", "12.08.2022", "Проведён", "Гости")),
        Event(("2", "Концерт", "г. Минск", "13.08.2022", "Проведён", "Зрители")),
        Sphere("Сотрудничество в сфере спотра"),
        Event(("3", "Турнир", "г. Брест", "14.08.2022", "Проведён", "Команды")),
    ]
    await desk.send_document("r.docx", person_report(TITLE, rows, []))
    first = desk.button_data(Upload.SKIP_ROWS)

    [skipped, _] = await desk.press(Upload.SKIP_ROWS)
    await desk.press_data(first)  # the first question's button again: answered already
    await desk.press(SPORT)
    await desk.press(Upload.LOAD)

    assert skipped.text == "«Сотрудничество в сфере культуры»: 2 строки не будут загружены."
    assert desk.alerts() == [Upload.ANSWERED]
    events = await stored_events(app_storage.sessionmaker)
    assert [(e.name, e.sphere.name) for e in events] == [("Турнир", SPORT)]


async def test_a_newer_upload_refuses_the_questions_of_the_older_one(world: World) -> None:
    desk = coordinator(world)
    await desk.send_document("one.docx", typed_report())
    old = desk.button_data(SPORT)
    await desk.send_document("two.docx", typed_report())

    await desk.press_data(old)

    assert desk.alerts() == [Upload.STALE]


async def test_the_coordinator_chooses_the_organisation_on_a_later_page(
    world: World, app_storage: Storage
) -> None:
    desk = coordinator(world)
    names = [f"Учреждение {n:02}" for n in range(1, 11)]
    for name in names:
        await desk.send(f"/neworg {name}")
    rows: list[Sphere | Event] = [
        Sphere(SPORT),
        Event(("1", "Турнир", "г. Брест", "14.08.2022", "Проведён", "Команды")),
    ]

    [_, chooser] = await desk.send_document("r.docx", person_report(TITLE, rows, []))

    assert chooser.text == Upload.ORGANISATION_QUESTION.format(page=1, pages=2)
    first_page = desk.labels()
    assert first_page[0] == "Импортированные мероприятия" + Upload.DEFAULT_MARK
    assert first_page[1:8] == names[:7]
    assert first_page[8:] == [Upload.NEXT, Upload.CANCEL]

    [second] = await desk.press(Upload.NEXT)
    assert second.text == Upload.ORGANISATION_QUESTION.format(page=2, pages=2)
    assert desk.labels() == [*names[7:], Upload.PREVIOUS, Upload.CANCEL]
    chosen = desk.button_data("Учреждение 09")
    [confirm] = await desk.press_data(chosen)
    await desk.press_data(chosen)  # chosen already

    assert "от организации «Учреждение 09»" in confirm.text
    assert desk.alerts() == [Upload.ANSWERED]
    await desk.press(Upload.LOAD)
    events = await stored_events(app_storage.sessionmaker)
    assert [(e.name, e.organisation.name) for e in events] == [("Турнир", "Учреждение 09")]


async def test_cancel_saves_nothing_and_the_old_buttons_are_refused(
    world: World, app_storage: Storage
) -> None:
    desk = coordinator(world)
    await desk.send_document("report.docx", typed_report())
    await answer_the_spheres(desk)
    load = desk.button_data(Upload.LOAD)

    [cancelled] = await desk.press(Upload.CANCEL)
    await desk.press_data(load)

    assert cancelled.text == Upload.CANCELLED
    assert desk.alerts() == [Upload.STALE]
    assert await stored_events(app_storage.sessionmaker) == []


async def test_a_quarter_that_already_has_events_is_not_offered_for_loading(
    world: World, app_storage: Storage
) -> None:
    desk = coordinator(world)
    await desk.send_document("report.docx", typed_report())
    await answer_the_spheres(desk)
    await desk.press(Upload.LOAD)

    [again] = await desk.send_document("report again.docx", typed_report())

    assert "За III квартал 2022 года в базе уже есть мероприятия (2)" in again.text
    assert again.reply_markup is None
    assert len(await stored_events(app_storage.sessionmaker)) == 2


async def test_a_long_list_of_unread_rows_is_split_with_the_buttons_last(world: World) -> None:
    desk = coordinator(world)

    replies = await desk.send_document("report.docx", typed_report(extra_bad_rows=120))

    assert len(replies) > 1
    assert all(reply.reply_markup is None for reply in replies[:-1])
    assert isinstance(replies[-1].reply_markup, InlineKeyboardMarkup)
    assert sum(reply.text.count("не указаны сроки проведения") for reply in replies) == 121


async def test_a_file_over_twenty_megabytes_is_refused_without_fetching_it(world: World) -> None:
    desk = coordinator(world)

    [reply] = await desk.send_document("big.docx", b"PK", size=25 * 2**20)

    assert reply.text == Upload.TOO_BIG.format(size="25,0")
    assert getfiles(world) == []


async def test_a_big_file_of_unknown_size_refused_by_telegram_is_answered_clearly(
    world: World,
) -> None:
    desk = coordinator(world)
    world.session.add_file("huge", b"PK", size=30 * 2**20)
    document = Document(file_id="huge", file_unique_id="uhuge", file_name="huge.docx")

    with world.session.expect_refusal():
        [reply] = await desk.send_update(document=document)

    assert reply.text == Upload.TOO_BIG_UNSIZED
    assert world.session.downloads == []


async def test_other_files_and_broken_ones_get_a_reason(world: World) -> None:
    desk = coordinator(world)

    [pdf] = await desk.send_document("отчёт.pdf", b"%PDF-1.4")
    [broken] = await desk.send_document("отчёт.docx", b"not a zip at all")
    [untitled] = await desk.send_document(
        "справка.docx",
        person_report(["Справка"], [Sphere(SPORT), Event(("1", "Матч", "", "май", "", ""))]),
    )

    assert pdf.text == Upload.NOT_DOCX
    assert broken.text == (
        "Файл «отчёт.docx» не удалось прочитать как отчёт: "
        "файл не является документом Word (.docx)."
    )
    assert untitled.text == Upload.NO_PERIOD


async def test_a_coordinator_inside_the_dialogue_is_asked_for_text(world: World) -> None:
    desk = coordinator(world)
    await reach(desk, "name")

    [reply] = await desk.send_document("report.docx", typed_report())

    assert reply.text == Dialogue.NEED_TEXT
    assert getfiles(world) == []


async def test_staff_sending_a_report_file_are_refused_politely(world: World) -> None:
    person = await join(world, 901)

    [outside] = await person.send_document("report.docx", typed_report())
    await reach(person, "place")
    [inside] = await person.send_document("report.docx", typed_report())

    assert outside.text == Upload.STAFF_REFUSED
    assert inside.text == Dialogue.NEED_TEXT
    assert getfiles(world) == []
