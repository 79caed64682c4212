"""What the strict double found, fixed: long lists split, toasts within 200 characters,
/my in pages, arguments not echoed whole, spheres paged, a report too large for
Telegram, /remind twice within the hour. Each goes through the real Dispatcher; a request
Telegram would refuse fails the test (conftest: telegram_refusals_fail_the_test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.methods import SendMessage

from bot.app import build_bot, build_dispatcher
from bot.database import Storage, open_storage
from bot.reminders import ReminderDeps, remind_now
from bot.settings import Settings
from handlers import desk as desk_module
from handlers import keyboards as kb
from handlers.texts import Common, Desk, Dialogue, MyEvents, Nothing, Periods
from tests import factories
from tests.conftest import COORDINATOR_ID, Clock
from tests.telegram_rules import MAX_CALLBACK_DATA, MAX_TEXT, html_to_text, utf16_len
from tests.test_dialogue import fill_event, join
from tests.tg import (
    Person,
    RecordingSession,
    World,
    asked_their_names,
    stored_events,
    stored_person,
)

Q4 = "IV квартал 2023 года"


def coordinator(world: World) -> Person:
    return world.person(COORDINATOR_ID, "Координатор")


def official_name(number: int, length: int = 150) -> str:
    """An organisation's full official name of exactly `length` characters."""
    name = (
        f"Областное государственное бюджетное учреждение «Музей & выставочный центр» "
        f"№ {number} — музей-заповедник "
    )
    return (name + "Смоленской области " * 10)[:length]


def names_of(length: int, count: int) -> list[str]:
    names = [official_name(number, length) for number in range(1, count + 1)]
    assert all(len(name) == length for name in names), names[0]
    return names


def shown(text: str) -> str:
    return html_to_text(text)


async def submit(person: Person, name: str = "Выставка") -> None:
    await fill_event(person, name)
    await person.press(Dialogue.SUBMIT)


# --- /orgs: 60 organisations with their official names -----------------------------------


async def test_orgs_with_60_long_official_names_is_split_into_messages_that_fit(
    world: World, app_storage: Storage
) -> None:
    names = names_of(150, 60)
    async with app_storage.sessionmaker() as session, session.begin():
        for name in names:
            await factories.organisation(session, name)

    replies = await coordinator(world).send("/orgs")

    assert len(replies) >= 2
    assert all(utf16_len(shown(reply.text)) <= MAX_TEXT for reply in replies)
    lines = [line for reply in replies for line in shown(reply.text).split("\n")]
    assert lines == [
        "Организации",
        *sorted(Desk.ORG_LINE.format(name=name, people=0) for name in names),
    ]


async def test_orgs_counts_as_telegram_does_emoji_twice(world: World, app_storage: Storage) -> None:
    names = [f"Музей {number:02} " + "🏛" * 300 for number in range(1, 41)]
    async with app_storage.sessionmaker() as session, session.begin():
        for name in names:
            await factories.organisation(session, name)

    replies = await coordinator(world).send("/orgs")

    assert all(utf16_len(shown(reply.text)) <= MAX_TEXT for reply in replies)
    assert sum(reply.text.count("🏛" * 300) for reply in replies) == 40


# --- toasts ------------------------------------------------------------------------------


async def test_a_toast_naming_a_150_character_organisation_fits_and_is_plain_text(
    world: World, app_storage: Storage
) -> None:
    [name] = names_of(150, 1)
    anna = await join(world, 2001, name)
    await submit(anna)
    [event] = await stored_events(app_storage.sessionmaker)

    await anna.press_data(kb.NothingCb(action="say", period=event.period_id).pack())

    [alert] = anna.alerts()
    assert len(alert) <= 200
    assert alert.startswith("От организации «Областное государственное бюджетное")
    assert "…»" in alert and "Музей & выставочный" in alert and "&amp;" not in alert
    assert alert.endswith(Nothing.HAS_EVENTS.split("»", 1)[1].format(period=Q4, count=1))


async def test_a_toast_naming_an_organisation_in_emoji_fits_as_telegram_counts(
    world: World, app_storage: Storage
) -> None:
    anna = await join(world, 2009, "Музей " + "🏛" * 140)
    await submit(anna)
    [event] = await stored_events(app_storage.sessionmaker)

    await anna.press_data(kb.NothingCb(action="say", period=event.period_id).pack())

    [alert] = anna.alerts()
    assert utf16_len(alert) <= 200
    assert alert.startswith("От организации «Музей 🏛") and "🏛…»" in alert


# --- /my: pages --------------------------------------------------------------------------


async def test_my_with_130_events_pages_through_to_the_last(
    world: World, app_storage: Storage
) -> None:
    anna = await join(world, 2002)
    row = await stored_person(app_storage.sessionmaker, 2002)
    assert row is not None
    async with app_storage.sessionmaker() as session, session.begin():
        period = await factories.period(session)
        organisation = await factories.organisation(session, "Другое учреждение")
        for number in range(1, 131):
            await factories.event(
                session,
                period_=period,
                org=organisation,
                name=f"Событие {number:03}",
                author_id=row.id,
            )

    [first] = await anna.send("/my")
    seen, pages = [anna.labels()], [first.text]
    while any(label == MyEvents.NEXT for label in anna.labels()):
        [page] = await anna.press(MyEvents.NEXT)
        seen.append(anna.labels())
        pages.append(page.text)

    assert pages[0] == MyEvents.HEAD + MyEvents.PAGE.format(page=1, pages=7)
    assert pages[-1] == MyEvents.HEAD + MyEvents.PAGE.format(page=7, pages=7)
    events = [label for labels in seen for label in labels if "·" in label]
    assert events == [f"26 октября 2023 года · Событие {n:03}" for n in range(1, 131)]
    views = [MyEvents.SHOW_ORG, MyEvents.SHOW_EARLIER, MyEvents.SHOW_YEAR, MyEvents.SHOW_SEARCH]
    assert seen[0][-5:] == [MyEvents.NEXT, *views]  # paging first, then the views
    assert seen[-1][-5:] == [MyEvents.PREVIOUS, *views]
    [back] = await anna.press(MyEvents.PREVIOUS)
    assert back.text == MyEvents.HEAD + MyEvents.PAGE.format(page=6, pages=7)


async def test_colleagues_events_are_paged_too(world: World, app_storage: Storage) -> None:
    anna = await join(world, 2003)
    row = await stored_person(app_storage.sessionmaker, 2003)
    assert row is not None and row.organisation_id is not None
    async with app_storage.sessionmaker() as session, session.begin():
        period = await factories.period(session)
        organisation = await session.get(factories.Organisation, row.organisation_id)
        for number in range(1, 46):
            await factories.event(session, period_=period, org=organisation, name=f"Е{number}")
    await anna.send("/my")

    [org] = await anna.press(MyEvents.SHOW_ORG)
    next_data = anna.button_data(MyEvents.NEXT)
    [last] = await anna.press_data(kb.ListCb(view="org", page=2).pack())

    assert org.text == MyEvents.ORG_HEAD + MyEvents.PAGE.format(page=1, pages=3)
    assert next_data == "ls:org:1" and len(next_data.encode()) <= MAX_CALLBACK_DATA
    assert last.text == MyEvents.ORG_HEAD + MyEvents.PAGE.format(page=3, pages=3)
    assert len([label for label in anna.labels() if "·" in label]) == 5


# --- a coordinator's argument is not echoed whole ----------------------------------------


@pytest.mark.parametrize("command", ["/report", "/status", "/link", "/people", "/close"])
async def test_a_5000_character_argument_is_echoed_cut(world: World, command: str) -> None:
    argument = "Ж" * 5000

    [reply] = await coordinator(world).send(f"{command} {argument}")

    assert "Ж" * 99 + "…" in reply.text
    assert "Ж" * 101 not in reply.text


async def test_a_5000_character_deadline_is_echoed_cut(world: World) -> None:
    [reply] = await coordinator(world).send("/deadline 31.02.2024 " + "1" * 5000)

    assert len(reply.text) < 600


# --- spheres: a long configured list -----------------------------------------------------


@pytest.fixture
async def many_spheres(
    settings: Settings, clock: Clock, tmp_path: Path
) -> AsyncIterator[tuple[World, list[str]]]:
    """A world whose SPHERES are 30 long names."""
    spheres = [
        f"Сотрудничество в сфере {number}: " + "межрегиональные и международные связи " * 3
        for number in range(1, 31)
    ]
    configured = settings.model_copy(
        update={"spheres": spheres, "database_url": f"sqlite+aiosqlite:///{tmp_path / 's.db'}"}
    )
    storage = await open_storage(configured)
    await asked_their_names(storage.sessionmaker, configured.coordinator_ids)
    session = RecordingSession()
    bot = build_bot(configured, session=session)
    yield World(build_dispatcher(configured, storage, clock=clock), bot, session), spheres
    await bot.session.close()
    await storage.close()


async def test_30_long_spheres_are_offered_in_pages_that_fit(
    many_spheres: tuple[World, list[str]],
) -> None:
    world, spheres = many_spheres
    anna = await join(world, 2004)

    await anna.send("/new")
    first = anna.labels()
    await anna.press(MyEvents.NEXT)
    second = anna.labels()
    await anna.press(MyEvents.NEXT)
    third = anna.labels()
    await anna.press(spheres[29][:40])

    offered = [label for labels in (first, second, third) for label in labels]
    assert [label for label in offered if ". В сфере" in label] == [
        kb.sphere_label(number, name) for number, name in enumerate(spheres, 1)
    ]
    assert all(len(labels) <= 100 for labels in (first, second, third))
    assert second[-3:] == [MyEvents.PREVIOUS, MyEvents.NEXT, Dialogue.CANCEL]  # step 1
    assert anna.last_text().endswith(Dialogue.ASK["name"])


async def test_keep_is_offered_only_on_the_pages_without_the_chosen_sphere(
    many_spheres: tuple[World, list[str]],
) -> None:
    world, spheres = many_spheres
    anna = await join(world, 2007)
    await anna.send("/new")
    await anna.press(MyEvents.NEXT)
    await anna.press(MyEvents.NEXT)
    await anna.press(spheres[29][:40])  # the last page's last sphere

    await anna.press(Dialogue.BACK)  # the first page: the chosen sphere is not on it
    first = anna.labels()
    await anna.press(MyEvents.NEXT)
    await anna.press(MyEvents.NEXT)
    third = anna.labels()
    stale = await anna.press_data(kb.DialogueCb(action="keep", step="sphere").pack())
    await anna.press(MyEvents.PREVIOUS)
    second = anna.labels()
    [name] = await anna.press(Dialogue.KEEP)

    assert first[-2:] == [Dialogue.KEEP, Dialogue.CANCEL]
    assert second[-2:] == [Dialogue.KEEP, Dialogue.CANCEL]
    assert Dialogue.KEEP not in third  # the chosen sphere's own button keeps it there
    [marked] = [label for label in third if label.startswith(Dialogue.CHOSEN_MARK)]
    assert marked == kb.sphere_label(30, spheres[29], chosen=True)
    assert marked.startswith(Dialogue.CHOSEN_MARK + "30. ") and len(marked) <= kb.SPHERE_BUTTON_MAX
    assert stale == [] and anna.alerts() == [Common.STALE_BUTTON]
    assert name.text.endswith(Dialogue.ASK["name"])
    assert spheres[29][:40] in await answer_the_rest(anna)  # the sphere kept


async def answer_the_rest(person: Person) -> str:
    """Answer the rest of the steps; the summary's text."""
    await person.send("Выставка")
    await person.send("г. Минск")
    await person.send("26.10.2023")
    await person.press(Dialogue.YES)
    await person.send("Открыта выставка.")
    await person.send("Сотрудники музея, 18 человек")
    await person.press("IV квартал 2023 года")
    return person.last_text()


# --- a report too large for Telegram -----------------------------------------------------


async def test_a_60_mb_report_is_refused_with_a_clear_message(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await submit(await join(world, 2005))
    monkeypatch.setattr(desk_module, "render_docx", lambda report: b"x" * (60 * 2**20))
    desk = coordinator(world)

    [reply] = await desk.send("/report 2023-Q4")

    assert reply.text == Desk.TOO_LARGE.format(
        period=Q4, size="60,0", limit=50, command="python -m bot report 2023-Q4"
    )
    assert desk.documents() == []


async def test_a_report_telegram_refuses_as_too_large_is_not_retried_and_explained(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await submit(await join(world, 2006))
    monkeypatch.setattr(desk_module, "render_docx", lambda report: b"x" * (50 * 2**20 + 1))
    monkeypatch.setattr(desk_module, "DOCUMENT_MAX", 60 * 2**20)  # our check lets it through
    desk = coordinator(world)

    with world.session.expect_refusal():
        [reply] = await desk.send("/report 2023-Q4")

    assert reply.text.startswith("Отчёт за IV квартал 2023 года получился слишком большим")
    assert len(world.session.refused) == 1  # sent once: a 413 is not a network error


# --- /remind twice within the hour -------------------------------------------------------


async def test_a_second_remind_within_the_hour_names_the_skipped_without_a_placeholder(
    world: World, app_storage: Storage, settings: Settings, clock: Clock
) -> None:
    await join(world, 2007, "Библиотека & архив")
    deps = ReminderDeps.create(
        world.bot,
        app_storage.sessionmaker,
        settings.model_copy(update={"send_rate_per_second": 1000.0, "send_per_chat_interval": 0}),
        clock=clock,
    )

    async def remind(period_id: int, organisation_ids: object = None) -> object:
        return await remind_now(deps, period_id, now=clock())

    world.dispatcher["remind_now"] = remind
    desk = coordinator(world)

    [first] = await desk.send("/remind")
    [second] = await desk.send("/remind")

    assert first.text == Periods.REMIND_DONE.format(period=Q4, organisations=1, people=1)
    assert second.text == "\n".join(
        [
            Periods.REMIND_NONE_SENT.format(period=Q4),
            Periods.REMIND_SKIPPED,
            "• Библиотека &amp; архив",
        ]
    )
    reminders = [
        r
        for r in world.session.requests
        if isinstance(r, SendMessage) and r.chat_id == 2007 and "напоминает" in r.text
    ]
    assert len(reminders) == 1


# --- a summary of long answers in emoji ----------------------------------------------------


async def test_a_summary_of_long_emoji_answers_fits_one_message(world: World) -> None:
    anna = await join(world, 2008)
    answer = "🏛" * 700  # 1,400 UTF-16 units

    await anna.send("/new")
    await anna.press("Сотрудничество в сфере культуры и туризма")
    await anna.send("🏛" * 490)  # a name is at most 500 characters
    await anna.send(answer)
    await anna.send("26-27 октября 2023")
    await anna.press(Dialogue.YES)
    await anna.send(answer)
    await anna.send(answer)
    await anna.press(Dialogue.DONT_KNOW)
    [summary] = await anna.press(Q4)

    assert utf16_len(shown(summary.text)) <= MAX_TEXT
    assert summary.text.count("🏛" * 299 + "…") == 4  # 600 units each, the name too
