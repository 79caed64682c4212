"""/my reaches earlier years: the same quarter of last year and a search by a word."""

from __future__ import annotations

from datetime import date

from aiogram.types import PhotoSize

from bot.database import Storage
from handlers import keyboards as kb
from handlers.texts import Common, Dialogue, MyEvents
from reports.quarters import Quarter
from storage.models import Event
from storage.repositories import OrganisationRepository, PeriodRepository
from tests import factories
from tests.test_dialogue import join
from tests.tg import Person, World, stored_events

ARCHIVE = "Импортированные мероприятия"  # DEFAULT_ORGANISATION of the test settings
Q4_2022, Q4_2021 = Quarter(2022, 4), Quarter(2021, 4)
MUSEUM = "Смоленский музей"


async def history(storage: Storage, *, seminars: int = 0) -> dict[str, Event]:
    """Closed quarters of earlier years: the archive's, the museum's and a theatre's events."""
    made: dict[str, Event] = {}
    async with storage.sessionmaker() as session, session.begin():
        periods = PeriodRepository(session)
        organisations = OrganisationRepository(session)
        archive = await organisations.get_or_add(ARCHIVE)
        museum = await organisations.get_or_add(MUSEUM)
        theatre = await organisations.get_or_add("Смоленский театр")
        last_year = await periods.ensure(Q4_2022, factories.MOSCOW_DEADLINE, status="closed")
        before = await periods.ensure(Q4_2021, factories.MOSCOW_DEADLINE, status="closed")
        for name, org, period, start in (
            ("Фестиваль «Славянское единство»", archive, last_year, date(2022, 11, 10)),
            ("Выставка музея", museum, last_year, date(2022, 10, 5)),
            ("Спектакль театра", theatre, last_year, date(2022, 10, 1)),
            ("Фестиваль-2021", archive, before, date(2021, 12, 1)),
        ):
            made[name] = await factories.event(
                session, period_=period, org=org, start=start, name=name
            )
        for number in range(seminars):
            await factories.event(
                session,
                period_=before,
                org=archive,
                start=date(2021, 10, 1 + number % 28),
                name=f"Семинар {number + 1:02d}",
            )
    return made


def names(person: Person) -> list[str]:
    return [label.split(" · ", 1)[1] for label in person.labels() if " · " in label]


async def test_my_offers_last_year_and_a_search_after_the_other_buttons(world: World) -> None:
    person = await join(world, 951, MUSEUM)

    await person.send("/my")

    assert person.labels() == [
        MyEvents.SHOW_ORG,
        MyEvents.SHOW_EARLIER,
        MyEvents.SHOW_YEAR,
        MyEvents.SHOW_SEARCH,
    ]


async def test_last_year_lists_the_same_quarter_with_the_archive_not_other_organisations(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 952, MUSEUM)
    await history(app_storage)
    await person.send("/my")

    [reply] = await person.press(MyEvents.SHOW_YEAR)

    assert reply.text == MyEvents.YEAR_HEAD.format(period="IV квартал 2022 года")
    assert names(person) == ["Выставка музея", "Фестиваль «Славянское единство»"]
    assert person.labels()[-2:] == [MyEvents.SHOW_MINE, MyEvents.SHOW_SEARCH]


async def test_an_imported_event_of_last_year_is_copied_into_the_quarter_being_collected(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 953, MUSEUM)
    await history(app_storage)
    await person.send("/my")
    await person.press(MyEvents.SHOW_YEAR)
    await person.press("10 ноября 2022 года · Фестиваль")

    [copied, _summary] = await person.press(MyEvents.COPY)
    await person.send("9 ноября 2023")
    await person.press(Dialogue.YES)
    await person.press("IV квартал 2023 года")
    await person.press(Dialogue.SUBMIT)

    assert copied.text == MyEvents.COPIED
    new = (await stored_events(app_storage.sessionmaker))[-1]
    assert new.name == "Фестиваль «Славянское единство»"
    assert (new.period.year, new.period.quarter, new.start_date) == (2023, 4, date(2023, 11, 9))
    assert new.organisation.name == MUSEUM and new.author_id is not None


async def test_a_word_typed_after_my_finds_events_of_every_year_whatever_the_case(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 954, MUSEUM)
    await history(app_storage)

    [reply] = await person.send("/my ФЕСТИВАЛЬ")

    assert reply.text == MyEvents.SEARCH_HEAD.format(word="ФЕСТИВАЛЬ")
    assert names(person) == ["Фестиваль «Славянское единство»", "Фестиваль-2021"]


async def test_the_search_button_asks_for_a_word_and_refuses_what_is_not_one(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 955, MUSEUM)
    await history(app_storage)
    await person.send("/my")

    [asked] = await person.press(MyEvents.SHOW_SEARCH)
    [photo] = await person.send_update(
        photo=[PhotoSize(file_id="p", file_unique_id="p", width=1, height=1)]
    )
    [short] = await person.send("в")
    [found] = await person.send("театра")
    [nothing] = await person.send("/my концерт")

    assert asked.text == MyEvents.SEARCH_ASK
    assert photo.text == MyEvents.SEARCH_NEED_TEXT
    assert short.text == MyEvents.SEARCH_BAD_WORD.format(low=2, high=40)
    assert found.text == MyEvents.SEARCH_EMPTY.format(word="театра")  # not their organisation's
    assert nothing.text == MyEvents.SEARCH_EMPTY.format(word="концерт")


async def test_search_results_are_paged_with_the_paging_buttons_first(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 956, MUSEUM)
    await history(app_storage, seminars=45)

    [first] = await person.send("/my семинар")
    first_page = names(person)
    after_events = person.labels()[len(first_page) :]
    [second] = await person.press(MyEvents.NEXT)

    assert first.text.endswith(MyEvents.PAGE.format(page=1, pages=3))
    assert len(first_page) == 20
    assert after_events == [
        MyEvents.NEXT,
        MyEvents.SHOW_MINE,
        MyEvents.SHOW_YEAR,
        MyEvents.SHOW_SEARCH,
    ]
    assert second.text.endswith(MyEvents.PAGE.format(page=2, pages=3))
    assert len(names(person)) == 20 and set(names(person)).isdisjoint(first_page)
    assert person.labels()[20:22] == [MyEvents.PREVIOUS, MyEvents.NEXT]


async def test_another_organisations_old_event_stays_closed_to_staff(
    world: World, app_storage: Storage
) -> None:
    person = await join(world, 957, MUSEUM)
    made = await history(app_storage)
    theatre = made["Спектакль театра"]

    await person.press_data(kb.EventCb(action="open", id=theatre.id).pack())
    await person.press_data(kb.EventCb(action="copy", id=theatre.id).pack())
    archive_event = made["Фестиваль-2021"]
    await person.press_data(kb.EventCb(action="edit", id=archive_event.id).pack())

    assert person.alerts() == [Common.STALE_BUTTON] * 3
    assert len(await stored_events(app_storage.sessionmaker)) == 4
