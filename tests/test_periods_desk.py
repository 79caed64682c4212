"""The coordinator's periods in chat: /status, /deadline, /close and /reopen, /remind,
/note and /notes; and every new desk command refused to reporters and strangers."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram.types import BufferedInputFile
from docx import Document
from docx.oxml.ns import qn
from sqlalchemy import select

from bot.database import Storage
from bot.reminders import RoundResult
from handlers.texts import Common, Desk, Dialogue, MyEvents, Periods
from handlers.views import MESSAGE_MAX
from reports.quarters import Quarter
from storage.models import Organisation, PeriodNote, ReportingPeriod
from storage.repositories import CounterRepository
from tests import factories
from tests.conftest import COORDINATOR_ID, NOW, Clock
from tests.factories import shown_examples
from tests.test_desk import coordinator, report
from tests.test_dialogue import fill_event, join
from tests.tg import Person, World, stored_events

Q4 = "IV квартал 2023 года"
MOSCOW = ZoneInfo("Europe/Moscow")
AFTER_THE_DEADLINE = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)  # the default: 09.01 18:00 MSK
# (5 January 2024 is in the New Year holidays: the default moves to the next working day)
DEADLINE_USAGE = Periods.DEADLINE_USAGE.format(**shown_examples(NOW))


class Fake:
    """A workflow-data callable that records its calls and returns `result`."""

    def __init__(self, result: Any = None, effect: Any = None) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.result, self.effect = result, effect

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        if self.effect is not None:
            await self.effect()
        return self.result


async def period_of(storage: Storage, quarter: Quarter = factories.Q4_2023) -> ReportingPeriod:
    async with storage.sessionmaker() as session:
        period = await session.scalar(
            select(ReportingPeriod).where(
                ReportingPeriod.year == quarter.year, ReportingPeriod.quarter == quarter.quarter
            )
        )
    assert period is not None
    return period


async def notes_of(storage: Storage) -> list[str]:
    async with storage.sessionmaker() as session:
        return list(await session.scalars(select(PeriodNote.text).order_by(PeriodNote.position)))


async def say_nothing(person: Person) -> None:
    await person.send("/nothing")
    await person.press("Мероприятий не было")


# --- /status -----------------------------------------------------------------------------


async def test_status_sums_up_and_lists_every_organisation_by_where_it_stands(
    world: World,
) -> None:
    museum = await join(world, 1501)
    await report(museum, "Выставка")
    await report(museum, "Концерт")
    await say_nothing(await join(world, 1502, "Смоленский театр"))
    await join(world, 1503, "Библиотека <№1>")
    archive = await join(world, 1504, "Архив")
    await archive.send("/new")
    await archive.press("Сотрудничество в сфере культуры и туризма")
    desk = coordinator(world)
    await desk.send("/neworg Пустая организация")

    [reply] = await desk.send("/status")

    assert reply.text == "\n".join(
        [
            Periods.STATUS_HEAD.format(
                period=Q4, deadline="09.01.2024 18:00", state=Periods.STATE_OPEN
            ),
            Periods.STATUS_SUMMARY.format(
                total=4, reported=1, events=2, late=0, nothing=1, missing=2, drafts=1
            ),
            Periods.STATUS_MISSING_HEAD,
            Periods.LINE_MISSING.format(name="Архив") + Periods.LINE_DRAFTS.format(drafts=1),
            Periods.LINE_MISSING.format(name="Библиотека &lt;№1&gt;"),
            Periods.STATUS_REPORTED_HEAD,
            Periods.LINE_REPORTED.format(
                name="Смоленский музей", events=Periods.EVENTS_COUNT.format(count=2)
            ),
            Periods.STATUS_NOTHING_HEAD,
            Periods.LINE_NOTHING.format(name="Смоленский театр"),
        ]
    )


async def test_status_marks_events_submitted_after_the_deadline_as_late(
    world: World, clock: Clock
) -> None:
    museum = await join(world, 1505)
    await report(museum, "В срок")
    clock.now = AFTER_THE_DEADLINE
    await report(museum, "С опозданием")
    desk = coordinator(world)

    [reply] = await desk.send("/status 2023-Q4")

    lines = reply.text.split("\n")
    assert (
        Periods.STATUS_SUMMARY.format(
            total=1, reported=1, events=2, late=1, nothing=0, missing=0, drafts=0
        )
        in reply.text
    )
    assert lines[-1] == Periods.LINE_REPORTED.format(
        name="Смоленский музей",
        events=Periods.EVENTS_COUNT.format(count=2) + Periods.LINE_LATE.format(late=1),
    )


async def test_a_deadline_moved_later_makes_a_late_event_on_time(
    world: World, clock: Clock
) -> None:
    museum = await join(world, 1506)
    desk = coordinator(world)
    await desk.send("/status")  # the fourth quarter is being collected: its period exists
    clock.now = AFTER_THE_DEADLINE
    await report(museum, "С опозданием")

    await desk.send("/deadline 2023-Q4 19.01.2024")
    [reply] = await desk.send("/status 2023-Q4")

    assert "19.01.2024 18:00" in reply.text
    assert Periods.LINE_LATE.format(late=1) not in reply.text


async def test_status_of_a_long_list_is_split_under_telegrams_limit(
    world: World, app_storage: Storage
) -> None:
    names = [f"{number:03d} " + "Государственное учреждение " * 10 for number in range(60)]
    async with app_storage.sessionmaker() as session, session.begin():
        for name in names:
            await factories.person(session, await factories.organisation(session, name.strip()))
    desk = coordinator(world)

    replies = await desk.send("/status")

    assert len(replies) > 1
    assert all(len(reply.text) <= MESSAGE_MAX for reply in replies)
    assert replies[0].text.startswith(
        Periods.STATUS_HEAD.format(period=Q4, deadline="09.01.2024 18:00", state=Periods.STATE_OPEN)
    )
    expected = [Periods.LINE_MISSING.format(name=name.strip()) for name in names]
    lines = [line for reply in replies for line in reply.text.split("\n")]
    assert [line for line in lines if line in set(expected)] == expected


async def test_status_without_organisations_says_so(world: World) -> None:
    desk = coordinator(world)

    [reply] = await desk.send("/status")

    assert reply.text.endswith(Periods.STATUS_EMPTY)


@pytest.mark.parametrize(
    ("command", "told"),
    [
        ("/status 2023-Q5", Periods.BAD_PERIOD.format(value="2023-Q5", example="/status 2023-Q4")),
        ("/status <b>", Periods.BAD_PERIOD.format(value="&lt;b&gt;", example="/status 2023-Q4")),
        ("/status 2022-Q1", Periods.NO_PERIOD.format(period="I квартал 2022 года")),
    ],
)
async def test_status_of_a_wrong_or_unknown_period_says_so(
    world: World, command: str, told: str
) -> None:
    desk = coordinator(world)

    [reply] = await desk.send(command)

    assert reply.text == told


@pytest.mark.parametrize(
    ("command", "example"),
    [
        ("/status 2027-Q5", "/status 2027-Q1"),
        ("/deadline 2027-Q5 15.04.2027", "/deadline 2027-Q1 …"),
        ("/close 2027-Q5", "/close 2027-Q1"),
        ("/report 2027-Q5", None),
    ],
)
async def test_a_wrong_quarter_is_answered_with_an_example_of_the_quarter_collected(
    world: World, clock: Clock, command: str, example: str | None
) -> None:
    clock.now = datetime(2027, 2, 15, 9, 0, tzinfo=UTC)  # I квартал 2027 года is collected
    desk = coordinator(world)

    [reply] = await desk.send(command)

    if example is None:
        assert reply.text == Desk.BAD_PERIOD.format(value="2027-Q5", label="2027-Q1")
    else:
        assert reply.text == Periods.BAD_PERIOD.format(value="2027-Q5", example=example)
    assert "2023" not in reply.text


# --- /deadline ---------------------------------------------------------------------------


async def test_deadline_moves_the_collected_periods_deadline_and_replans_reminders(
    world: World, app_storage: Storage
) -> None:
    seen: list[datetime] = []

    async def read_deadline() -> None:  # the schedule is rebuilt from what is saved
        seen.append((await period_of(app_storage)).deadline)

    rebuild = Fake(result={}, effect=read_deadline)
    world.dispatcher["rebuild_schedule"] = rebuild
    desk = coordinator(world)

    [reply] = await desk.send("/deadline 15.01.2024 12:30")

    moved = datetime(2024, 1, 15, 12, 30, tzinfo=MOSCOW)
    assert reply.text == Periods.DEADLINE_SET.format(
        period=Q4, deadline="15.01.2024 12:30", previous="09.01.2024 18:00"
    )
    assert (await period_of(app_storage)).deadline == moved
    assert rebuild.calls == [((), {})]
    assert seen == [moved]


async def test_deadline_of_a_named_period_defaults_to_the_configured_time(
    world: World, app_storage: Storage
) -> None:
    await report(await join(world, 1507), "Выставка")
    desk = coordinator(world)

    await desk.send("/deadline 2023-Q4 19.01.2024")

    assert (await period_of(app_storage)).deadline == datetime(2024, 1, 19, 18, 0, tzinfo=MOSCOW)


@pytest.mark.parametrize(
    ("typed", "told", "stored"),
    [
        # the New Year holidays: 1-8 January 2024
        ("08.01.2024", "8 января 2024 г. — нерабочий день; срок перенесён на 9 января 2024 г.",
         datetime(2024, 1, 9, 18, 0, tzinfo=MOSCOW)),
        # a weekend: Saturday 13 January 2024, the time typed kept
        ("13.01.2024 12:30", "13 января 2024 г. — нерабочий день; срок перенесён на "
         "15 января 2024 г.", datetime(2024, 1, 15, 12, 30, tzinfo=MOSCOW)),
    ],
)  # fmt: skip
async def test_deadline_on_a_day_off_moves_to_the_next_working_day_and_says_so(
    world: World, app_storage: Storage, typed: str, told: str, stored: datetime
) -> None:
    rebuild = Fake(result={})
    world.dispatcher["rebuild_schedule"] = rebuild
    desk = coordinator(world)

    [reply] = await desk.send(f"/deadline {typed}")
    [status] = await desk.send("/status")

    assert reply.text == Periods.DEADLINE_DAY_OFF.format(
        day=told.split(" — ")[0], moved=told.split("перенесён на ")[1]
    ) + Periods.DEADLINE_SET.format(
        period=Q4, deadline=stored.strftime("%d.%m.%Y %H:%M"), previous="09.01.2024 18:00"
    )
    assert reply.text.startswith(told)
    assert (await period_of(app_storage)).deadline == stored
    assert stored.strftime("%d.%m.%Y %H:%M") in status.text
    assert rebuild.calls == [((), {})]  # the reminders follow the moved deadline


async def test_deadline_works_without_a_reminder_schedule(
    world: World, app_storage: Storage
) -> None:
    world.dispatcher.workflow_data.pop("rebuild_schedule", None)
    desk = coordinator(world)

    [reply] = await desk.send("/deadline 15.01.2024")

    assert reply.text.startswith(Periods.DEADLINE_SET.split("{")[0])
    assert (await period_of(app_storage)).deadline == datetime(2024, 1, 15, 18, 0, tzinfo=MOSCOW)


async def test_deadline_is_saved_even_if_the_schedule_cannot_be_rebuilt(
    world: World, app_storage: Storage
) -> None:
    async def broken() -> None:
        raise RuntimeError("scheduler down")

    world.dispatcher["rebuild_schedule"] = Fake(effect=broken)
    desk = coordinator(world)

    [reply] = await desk.send("/deadline 15.01.2024")

    assert reply.text.endswith(Periods.SCHEDULE_FAILED)
    assert (await period_of(app_storage)).deadline == datetime(2024, 1, 15, 18, 0, tzinfo=MOSCOW)


@pytest.mark.parametrize(
    ("args", "told"),
    [
        ("", DEADLINE_USAGE),
        ("завтра", DEADLINE_USAGE),
        ("15.01.24", DEADLINE_USAGE),
        ("15.01.2024 вечером", DEADLINE_USAGE),
        ("15.01.2024 18:00 лишнее", DEADLINE_USAGE),
        ("31.02.2024", Periods.DEADLINE_NO_SUCH_DATE.format(value="31.02.2024")),
        ("15.01.2024 25:00", Periods.DEADLINE_NO_SUCH_DATE.format(value="15.01.2024 25:00")),
        ("19.11.2023", Periods.DEADLINE_PAST.format(deadline="19.11.2023 18:00")),
        (
            "31.12.2023 23:59",
            Periods.DEADLINE_BEFORE_END.format(
                period=Q4, last_day="31.12.2023", first_day="01.01.2024"
            ),
        ),
        (
            "2023-Q5 15.01.2024",
            Periods.BAD_PERIOD.format(value="2023-Q5", example="/deadline 2023-Q4 …"),
        ),
        ("2022-Q1 15.01.2024", Periods.NO_PERIOD.format(period="I квартал 2022 года")),
    ],
)
async def test_deadline_refuses_what_it_cannot_use_and_changes_nothing(
    world: World, app_storage: Storage, args: str, told: str
) -> None:
    rebuild = Fake()
    world.dispatcher["rebuild_schedule"] = rebuild
    desk = coordinator(world)
    await desk.send("/status")  # the collected period exists with its default deadline
    before = (await period_of(app_storage)).deadline

    [reply] = await desk.send(f"/deadline {args}")

    assert reply.text == told
    assert (await period_of(app_storage)).deadline == before
    assert rebuild.calls == []


# --- /close and /reopen ------------------------------------------------------------------


async def test_a_closed_period_refuses_reporters_changes_until_it_is_reopened(
    world: World, app_storage: Storage
) -> None:
    rebuild = Fake()
    world.dispatcher["rebuild_schedule"] = rebuild
    museum = await join(world, 1508)
    await report(museum, "Выставка")
    [event] = await stored_events(app_storage.sessionmaker)
    await fill_event(museum, "Не успели отправить")
    desk = coordinator(world)

    [closed] = await desk.send("/close")
    submitted = await museum.press(Dialogue.SUBMIT)
    for action in ("edit", "del", "delyes"):
        assert await museum.press_data(f"ev:{action}:{event.id}") == []
    [reopened] = await desk.send("/reopen 2023-Q4")
    [deleted] = await museum.press_data(f"ev:delyes:{event.id}")

    assert closed.text == Periods.CLOSED.format(period=Q4)
    # No other quarter is open: the draft waits at the summary (no step 7 without choices).
    assert [r.text for r in submitted] == [Dialogue.PERIOD_CLOSED_KEPT.format(period=Q4)]
    assert museum.alerts() == [MyEvents.CLOSED] * 3
    assert reopened.text == Periods.REOPENED.format(period=Q4)
    assert deleted.text == MyEvents.DELETED
    assert [e.status for e in await stored_events(app_storage.sessionmaker)] == ["deleted"]
    assert (await period_of(app_storage)).status == "open"
    assert len(rebuild.calls) == 2


async def test_close_records_when_and_reopen_clears_it(world: World, app_storage: Storage) -> None:
    desk = coordinator(world)

    await desk.send("/close")
    closed = await period_of(app_storage)
    await desk.send("/reopen")
    reopened = await period_of(app_storage)

    assert closed.status == "closed" and closed.closed_at is not None
    assert reopened.status == "open" and reopened.closed_at is None


async def test_closing_twice_or_reopening_an_open_period_says_so(world: World) -> None:
    rebuild = Fake()
    world.dispatcher["rebuild_schedule"] = rebuild
    desk = coordinator(world)
    [open_already] = await desk.send("/reopen")
    await desk.send("/close")

    [closed_already] = await desk.send("/close 2023-Q4")

    assert open_already.text == Periods.ALREADY_OPEN.format(period=Q4)
    assert closed_already.text == Periods.ALREADY_CLOSED.format(period=Q4)
    assert len(rebuild.calls) == 1


async def test_close_of_an_unknown_period_says_so(world: World) -> None:
    desk = coordinator(world)

    [reply] = await desk.send("/close 2022-Q1")

    assert reply.text == Periods.NO_PERIOD.format(period="I квартал 2022 года")


# --- /remind -----------------------------------------------------------------------------


async def collected_period(world: World, storage: Storage) -> ReportingPeriod:
    """The period being collected, made to exist as the desk's /status makes it."""
    await coordinator(world).send("/status")
    return await period_of(storage)


async def organisation_ids(storage: Storage) -> dict[str, int]:
    async with storage.sessionmaker() as session:
        rows = await session.execute(select(Organisation.name, Organisation.id))
        return {name: id_ for name, id_ in rows.all()}


async def test_remind_nudges_the_missing_and_names_those_nudged_within_the_hour(
    world: World, app_storage: Storage
) -> None:
    await report(await join(world, 1509), "Выставка")
    await join(world, 1510, "Библиотека")
    await join(world, 1511, "Архив <1>")
    ids = await organisation_ids(app_storage)

    async def write_own_records() -> None:  # the round writes in its own transaction
        async with app_storage.sessionmaker() as session, session.begin():
            await CounterRepository(session).increment("fake_round")

    period = await period_of(app_storage)
    result = RoundResult(
        period.id,
        "manual:2023-11-20T12",
        claimed=2,
        sent=2,
        organisations=[ids["Библиотека"]],
        skipped_organisations=[ids["Архив <1>"]],
    )
    remind_now = Fake(result=result, effect=write_own_records)
    world.dispatcher["remind_now"] = remind_now
    desk = coordinator(world)

    [reply] = await desk.send("/remind")

    assert remind_now.calls == [((period.id,), {})]
    assert reply.text == "\n".join(
        [
            Periods.REMIND_DONE.format(period=Q4, organisations=1, people=2),
            Periods.REMIND_SKIPPED,
            "• Архив &lt;1&gt;",
        ]
    )


async def test_remind_tells_of_messages_that_did_not_get_through(
    world: World, app_storage: Storage
) -> None:
    await join(world, 1512, "Библиотека")
    ids = await organisation_ids(app_storage)
    period = await collected_period(world, app_storage)
    result = RoundResult(
        period.id,
        "manual:x",
        claimed=3,
        sent=1,
        blocked=1,
        failed=1,
        organisations=[ids["Библиотека"]],
    )
    world.dispatcher["remind_now"] = Fake(result=result)
    desk = coordinator(world)

    [reply] = await desk.send("/remind 2023-Q4")

    assert reply.text == "\n".join(
        [
            Periods.REMIND_DONE.format(period=Q4, organisations=1, people=1),
            Periods.REMIND_FAILED.format(count=2),
        ]
    )


async def test_remind_with_everyone_nudged_within_the_hour_sends_nothing_new(
    world: World, app_storage: Storage
) -> None:
    await join(world, 1513, "Библиотека")
    ids = await organisation_ids(app_storage)
    period = await collected_period(world, app_storage)
    result = RoundResult(period.id, "manual:x", skipped_organisations=[ids["Библиотека"]])
    world.dispatcher["remind_now"] = Fake(result=result)
    desk = coordinator(world)

    [reply] = await desk.send("/remind")

    assert reply.text.startswith(Periods.REMIND_NONE_SENT.format(period=Q4))
    assert reply.text.endswith("• Библиотека")


async def test_remind_with_nobody_missing_does_not_start_a_round(world: World) -> None:
    await report(await join(world, 1514), "Выставка")
    remind_now = Fake()
    world.dispatcher["remind_now"] = remind_now
    desk = coordinator(world)

    [reply] = await desk.send("/remind")

    assert reply.text == Periods.REMIND_NOBODY.format(period=Q4)
    assert remind_now.calls == []


async def test_remind_in_a_closed_period_does_not_start_a_round(world: World) -> None:
    await join(world, 1515, "Библиотека")
    remind_now = Fake()
    world.dispatcher["remind_now"] = remind_now
    desk = coordinator(world)
    await desk.send("/close")

    [reply] = await desk.send("/remind")

    assert reply.text == Periods.REMIND_CLOSED.format(period=Q4)
    assert remind_now.calls == []


async def test_remind_without_reminders_configured_says_so(world: World) -> None:
    world.dispatcher.workflow_data.pop("remind_now", None)
    desk = coordinator(world)

    [reply] = await desk.send("/remind")

    assert reply.text == Periods.REMIND_NOT_CONFIGURED


# --- /note and /notes --------------------------------------------------------------------


async def test_notes_are_added_listed_removed_and_printed_after_the_table(
    world: World, app_storage: Storage
) -> None:
    await report(await join(world, 1516), "Выставка")
    desk = coordinator(world)
    [added] = await desk.send("/note Первое примечание")
    await desk.send("/note 2023-Q4 В IV квартале 2023 года состоялись 3 встречи <в Доме Советов>")
    await desk.send("/note 2024-Q1 Чужой квартал")  # no such period: refused

    head, first, second = await desk.send("/notes")
    [removed] = await desk.press_data(desk.button_data(Periods.NOTE_DELETE.split()[0]))
    await desk.send("/report 2023-Q4")

    assert added.text == Periods.NOTE_ADDED.format(period=Q4)
    assert head.text == Periods.NOTES_HEAD.format(period=Q4)
    assert first.text == "1. Первое примечание"
    assert second.text == ("2. В IV квартале 2023 года состоялись 3 встречи &lt;в Доме Советов&gt;")
    assert removed.text == Periods.NOTE_DELETED.format(
        text="В IV квартале 2023 года состоялись 3 встречи &lt;в Доме Советов&gt;"
    )
    assert await notes_of(app_storage) == ["Первое примечание"]
    [sent] = desk.documents()
    assert isinstance(sent.document, BufferedInputFile)
    body = Document(BytesIO(sent.document.data)).element.body
    tags = [child.tag for child in body]
    paragraphs = [
        "".join(t.text or "" for t in child.iter(qn("w:t")))
        for child in body
        if child.tag == qn("w:p")
    ]
    assert paragraphs[-1] == "Первое примечание"
    last_note = max(i for i, child in enumerate(body) if child.tag == qn("w:p"))
    assert tags.index(qn("w:tbl")) < last_note


async def test_a_note_button_pressed_twice_says_it_is_gone(
    world: World, app_storage: Storage
) -> None:
    desk = coordinator(world)
    await desk.send("/note Примечание")
    await desk.send("/notes")
    data = desk.button_data(Periods.NOTE_DELETE)
    await desk.press_data(data)

    assert await desk.press_data(data) == []

    assert desk.alerts() == [Periods.NOTE_GONE]
    assert await notes_of(app_storage) == []


@pytest.mark.parametrize("args", ["", "   ", "2023-Q4", "2023-Q4   "])
async def test_note_without_text_shows_how(world: World, app_storage: Storage, args: str) -> None:
    desk = coordinator(world)

    [reply] = await desk.send(f"/note {args}")

    assert reply.text == Periods.NOTE_USAGE.format(**shown_examples(NOW))
    assert await notes_of(app_storage) == []


async def test_notes_of_a_period_without_notes_says_so(world: World) -> None:
    desk = coordinator(world)

    [reply] = await desk.send("/notes")

    assert reply.text == Periods.NOTES_EMPTY.format(period=Q4)


# --- refused to reporters and strangers --------------------------------------------------

NEW_DESK_COMMANDS = [
    "/status",
    "/status 2023-Q4",
    "/remind",
    "/deadline 15.01.2024",
    "/deadline 2023-Q4 15.01.2024 12:00",
    "/close",
    "/reopen",
    "/note Примечание",
    "/notes",
    "/people Смоленский музей",
    f"/deactivate {COORDINATOR_ID}",
]


async def _desk_untouched(world: World, app_storage: Storage) -> tuple[Fake, Fake, Any]:
    rebuild, remind_now = Fake(), Fake()
    world.dispatcher["rebuild_schedule"] = rebuild
    world.dispatcher["remind_now"] = remind_now
    await coordinator(world).send("/status")
    period = await period_of(app_storage)
    return rebuild, remind_now, (period.status, period.deadline)


async def _assert_untouched(
    app_storage: Storage, rebuild: Fake, remind_now: Fake, before: Any
) -> None:
    period = await period_of(app_storage)
    assert (period.status, period.deadline) == before
    assert rebuild.calls == [] and remind_now.calls == []
    assert await notes_of(app_storage) == []


@pytest.mark.parametrize("command", NEW_DESK_COMMANDS)
async def test_a_reporter_is_told_the_new_desk_commands_are_for_coordinators(
    world: World, app_storage: Storage, command: str
) -> None:
    person = await join(world, 1520)
    rebuild, remind_now, before = await _desk_untouched(world, app_storage)

    [reply] = await person.send(command)

    assert reply.text == Common.COORDINATOR_ONLY
    await _assert_untouched(app_storage, rebuild, remind_now, before)


@pytest.mark.parametrize("command", NEW_DESK_COMMANDS)
async def test_a_stranger_is_refused_the_new_desk_commands(
    world: World, app_storage: Storage, command: str
) -> None:
    stranger = world.person(1521)
    rebuild, remind_now, before = await _desk_untouched(world, app_storage)

    [reply] = await stranger.send(command)

    assert reply.text == Common.stranger(stranger.user.id)
    await _assert_untouched(app_storage, rebuild, remind_now, before)


async def test_a_reporter_pressing_desk_buttons_is_refused(
    world: World, app_storage: Storage
) -> None:
    desk = coordinator(world)
    await desk.send("/note Примечание")
    await desk.send("/notes")
    note_button = desk.button_data(Periods.NOTE_DELETE)
    person = await join(world, 1522)
    period = await period_of(app_storage)

    for data in (note_button, f"xl:{period.id}", "pp:off:1", "pp:keep:1"):
        assert await person.press_data(data) == []

    assert person.alerts() == [Common.STALE_BUTTON] * 4
    assert await notes_of(app_storage) == ["Примечание"]
    assert person.documents() == []
