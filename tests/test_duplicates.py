"""Duplicates through the real Dispatcher: the author warned at «Отправить» and free to
submit; the coordinator's /duplicates merging a pair into one report row or keeping it
apart; everyone else, and every forged button, refused with the database unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pytest
from aiogram.types import BufferedInputFile
from docx import Document
from sqlalchemy import select, update

from bot.database import Storage
from handlers.texts import Common, Dialogue, Duplicates
from reports.quarters import Quarter
from storage.models import DuplicatePair, ReportingPeriod
from tests.conftest import COORDINATOR_ID
from tests.test_access import database
from tests.test_dialogue import fill_event, join
from tests.tg import Person, World, add_period, stored_events

MUSEUM, MINISTRY = "Смоленский музей", "Министерство культуры Смоленской области"
MUSEUM_NAME = "Выставка «Смоленск – Минск»"
MINISTRY_NAME = "Открытие международной выставки «Смоленск-Минск»"
FORCE, TO_SUMMARY = Duplicates.FORCE, Duplicates.TO_SUMMARY


async def _pair(world: World) -> tuple[Person, Person]:
    """The museum's exhibition submitted; the ministry's report of it at the summary."""
    museum = await join(world, 801, MUSEUM)
    await fill_event(museum, MUSEUM_NAME)
    await museum.press(Dialogue.SUBMIT)
    ministry = await join(world, 802, MINISTRY)
    await fill_event(ministry, MINISTRY_NAME)
    return museum, ministry


async def _pairs(storage: Storage) -> list[tuple[str, int, int]]:
    async with storage.sessionmaker() as session:
        rows = await session.scalars(select(DuplicatePair).order_by(DuplicatePair.id))
        return [(p.status, p.first_id, p.second_id) for p in rows]


def _labels(message: Any) -> list[str]:
    markup = message.reply_markup
    return [button.text for row in markup.inline_keyboard for button in row] if markup else []


def _data(message: Any, label: str) -> str:
    """The callback data of a button of one message (not necessarily the latest)."""
    for row in message.reply_markup.inline_keyboard:
        for button in row:
            if button.text == label:
                return str(button.callback_data)
    raise AssertionError(f"no button {label!r} among {_labels(message)}")


def _pair_of(undo: str) -> int:
    """The pair an undo button (`dx:period:pair:version`) names."""
    return int(undo.split(":")[2])


def _docx_rows(desk: Person) -> list[list[str]]:
    document = desk.documents()[-1].document
    assert isinstance(document, BufferedInputFile)
    table = Document(BytesIO(document.data)).tables[0]
    return [
        ["\n".join(p.text for p in cell.paragraphs) for cell in row.cells] for row in table.rows[1:]
    ]


# --- the author ----------------------------------------------------------------------------


async def test_the_author_is_told_which_event_it_resembles_and_may_still_submit(
    world: World, app_storage: Storage
) -> None:
    _, ministry = await _pair(world)

    [warning] = await ministry.press(Dialogue.SUBMIT)

    assert warning.text == Duplicates.WARNING.format(
        lookalikes=f"• «{MUSEUM_NAME}» — {MUSEUM}, 26-27 октября 2023 года"
    )
    assert ministry.labels() == [FORCE, TO_SUMMARY]
    assert len(await stored_events(app_storage.sessionmaker)) == 1  # nothing filed yet
    [summary] = await ministry.press(TO_SUMMARY)
    assert Dialogue.SUMMARY_HEAD in summary.text and MINISTRY_NAME in summary.text
    await ministry.press(Dialogue.SUBMIT)
    [saved] = await ministry.press(FORCE)
    assert saved.text == Dialogue.SUBMITTED.format(period="IV квартал 2023 года")
    first, second = await stored_events(app_storage.sessionmaker)
    assert (first.name, second.name) == (MUSEUM_NAME, MINISTRY_NAME)
    assert await _pairs(app_storage) == [("suspected", first.id, second.id)]
    assert await ministry.press_data(f"d:force:{ministry.button_data(FORCE).split(':')[-1]}")
    assert len(await stored_events(app_storage.sessionmaker)) == 2  # a second press: no copy


async def test_an_event_unlike_the_others_is_submitted_without_a_question(
    world: World, app_storage: Storage
) -> None:
    museum = await join(world, 803, MUSEUM)
    await fill_event(museum, MUSEUM_NAME)
    await museum.press(Dialogue.SUBMIT)
    theatre = await join(world, 804, "Смоленский театр")
    await fill_event(theatre, "Гастроли Государственного театра кукол Республики Беларусь")

    [saved] = await theatre.press(Dialogue.SUBMIT)

    assert saved.text == Dialogue.SUBMITTED.format(period="IV квартал 2023 года")
    assert await _pairs(app_storage) == []


async def test_the_same_organisations_own_event_is_no_duplicate(
    world: World, app_storage: Storage
) -> None:
    museum = await join(world, 805, MUSEUM)
    await fill_event(museum, MUSEUM_NAME)
    await museum.press(Dialogue.SUBMIT)
    colleague = await join(world, 806, MUSEUM)
    await fill_event(colleague, MINISTRY_NAME)

    [saved] = await colleague.press(Dialogue.SUBMIT)

    assert saved.text == Dialogue.SUBMITTED.format(period="IV квартал 2023 года")


async def test_the_warning_escapes_names_and_stays_within_telegrams_limits(
    world: World, app_storage: Storage
) -> None:
    long_name = "Выставка «Смоленск – Минск» <b>&amp; " + "диалог культур " * 30
    organisations = [f"Учреждение <{n}> «Смоленск»" + " к" * 60 for n in range(5)]
    for number, organisation in enumerate(organisations):
        reporter = await join(world, 810 + number, organisation)
        await fill_event(reporter, long_name[:500])
        await reporter.press(Dialogue.SUBMIT)
        if reporter.labels()[:1] == [FORCE]:
            await reporter.press(FORCE)
    ministry = await join(world, 820, MINISTRY)
    await fill_event(ministry, long_name[:500])

    [warning] = await ministry.press(Dialogue.SUBMIT)

    assert "&lt;b&gt;&amp;amp;" in warning.text and "<b>&amp;" not in warning.text
    assert warning.text.count("• «") == 3
    assert Duplicates.MORE.format(more=2) in warning.text
    assert ministry.labels() == [FORCE, TO_SUMMARY]


# --- the coordinator -----------------------------------------------------------------------


async def _suspected(world: World) -> tuple[Person, Person, Person]:
    museum, ministry = await _pair(world)
    await ministry.press(Dialogue.SUBMIT)
    await ministry.press(FORCE)
    return museum, ministry, world.person(COORDINATOR_ID)


async def test_the_coordinator_merges_a_pair_into_one_report_row(
    world: World, app_storage: Storage
) -> None:
    _, _, desk = await _suspected(world)
    first, second = await stored_events(app_storage.sessionmaker)

    [card] = await desk.send("/duplicates")
    assert Duplicates.HEAD.format(number=1, count=1, period="IV квартал 2023 года") in card.text
    assert MUSEUM in card.text and MINISTRY in card.text
    assert desk.labels() == [Duplicates.MERGE, Duplicates.APART]
    [decided, done] = await desk.press(Duplicates.MERGE)

    assert decided.text == Duplicates.MERGED.format(first=first.id, second=second.id)
    assert _labels(decided) == [Duplicates.UNDO]
    assert done.text == Duplicates.DONE.format(period="IV квартал 2023 года")
    assert _labels(done) == [Duplicates.DECIDED_LIST]
    assert await _pairs(app_storage) == [("merged", first.id, second.id)]
    await desk.send("/report 2023-Q4")
    rows = _docx_rows(desk)
    assert [row[1] for row in rows[1:]] == [MUSEUM_NAME]  # one row, the first's name
    assert rows[1][0] == "1."
    assert rows[1][5].count("Сотрудники музея") == 1  # the same text of both kept once
    [empty] = await desk.send("/duplicates")
    assert empty.text == Duplicates.NONE.format(period="IV квартал 2023 года")


async def test_a_pair_marked_distinct_is_never_suggested_again(
    world: World, app_storage: Storage
) -> None:
    _, ministry, desk = await _suspected(world)
    await desk.send("/duplicates 2023-Q4")

    await desk.press(Duplicates.APART)

    [empty] = await desk.send("/duplicates")
    assert empty.text == Duplicates.NONE.format(period="IV квартал 2023 года")
    await desk.send("/report 2023-Q4")
    assert [row[1] for row in _docx_rows(desk)[1:]] == [MUSEUM_NAME, MINISTRY_NAME]
    [_, event] = await stored_events(app_storage.sessionmaker)
    await ministry.press_data(f"ev:edit:{event.id}")
    [saved] = await ministry.press(Dialogue.SAVE)  # no warning about the pair kept apart
    assert saved.text == Dialogue.UPDATED


async def test_a_list_of_pairs_is_paged_one_pair_at_a_time(world: World) -> None:
    _, _, desk = await _suspected(world)
    theatre = await join(world, 830, "Смоленский театр")
    await fill_event(theatre, "Международная выставка «Смоленск – Минск»")
    await theatre.press(Dialogue.SUBMIT)
    await theatre.press(FORCE)

    [first] = await desk.send("/duplicates")
    assert Duplicates.HEAD.format(number=1, count=3, period="IV квартал 2023 года") in first.text
    assert desk.labels() == [Duplicates.MERGE, Duplicates.APART, Duplicates.NEXT]
    [second] = await desk.press(Duplicates.NEXT)
    assert "Возможный повтор 2 из 3" in second.text
    assert desk.labels() == [
        Duplicates.MERGE,
        Duplicates.APART,
        Duplicates.PREVIOUS,
        Duplicates.NEXT,
    ]
    [_, after] = await desk.press(Duplicates.APART)
    assert "Возможный повтор 2 из 2" in after.text  # the next one moved up
    assert _labels(after)[-1] == Duplicates.DECIDED_LIST


# --- who may decide, and forged buttons ----------------------------------------------------


async def _period_id(storage: Storage) -> int:
    async with storage.sessionmaker() as session:
        period_id = await session.scalar(select(ReportingPeriod.id))
    assert period_id is not None
    return period_id


async def _pair_id(storage: Storage) -> int:
    async with storage.sessionmaker() as session:
        pair_id = await session.scalar(select(DuplicatePair.id))
    assert pair_id is not None
    return pair_id


@pytest.mark.parametrize("action", ["merge", "apart", "show", "decided", "undo"])
@pytest.mark.parametrize("who", ["reporter", "stranger"])
async def test_a_reporter_or_a_stranger_cannot_decide_on_a_pair(
    world: World, app_storage: Storage, who: str, action: str
) -> None:
    museum, _, _ = await _suspected(world)
    person = museum if who == "reporter" else world.person(899)
    data = f"du:{action}:{await _period_id(app_storage)}:{await _pair_id(app_storage)}:0"
    before = await database(app_storage)

    replies = await person.press_data(data)
    texts = [reply.text for reply in await person.send("/duplicates")]

    assert replies == []
    expected = Common.STALE_BUTTON if who == "reporter" else Common.stranger_alert(899)
    assert person.alerts() == [expected]
    assert texts == [Common.COORDINATOR_ONLY if who == "reporter" else Common.stranger(899)]
    assert await database(app_storage) == before


FORGED = {
    "no-such-pair": "du:merge:{period}:{missing}:0",
    "no-such-period": "du:merge:{missing}:{pair}:0",
    "unknown-action": "du:drop:{period}:{pair}:0",
    "negative-page": "du:show:{period}:0:-1",
    "huge-pair": "du:merge:{period}:99999999999999999999:0",
    "not-a-number": "du:merge:{period}:x:0",
}


@pytest.mark.parametrize("forged", list(FORGED.values()), ids=list(FORGED))
async def test_a_forged_pair_button_is_refused(
    world: World, app_storage: Storage, forged: str
) -> None:
    _, _, desk = await _suspected(world)
    values: dict[str, Any] = {
        "period": await _period_id(app_storage),
        "pair": await _pair_id(app_storage),
        "missing": 4242,
    }
    before = await database(app_storage)

    replies = await desk.press_data(forged.format(**values))

    assert replies == []
    assert desk.alerts() == [Common.STALE_BUTTON]
    assert await database(app_storage) == before


@dataclass
class TwoQuarters:
    """A suspected pair in IV квартал 2023 года (`period`), and I квартал 2024 года
    (`other`) added after it."""

    desk: Person
    period: int
    other: int
    pair: int


@pytest.fixture
async def two_quarters(world: World, app_storage: Storage) -> TwoQuarters:
    _, _, desk = await _suspected(world)
    period_id, pair_id = await _period_id(app_storage), await _pair_id(app_storage)
    # Not `/status 2024-Q1`: it names a quarter without events and opens no period.
    await add_period(app_storage.sessionmaker, Quarter(2024, 1))
    async with app_storage.sessionmaker() as session:
        other = await session.scalar(
            select(ReportingPeriod.id).where(ReportingPeriod.id != period_id)
        )
    assert other is not None
    return TwoQuarters(desk, period_id, other, pair_id)


async def test_a_pair_decided_already_or_of_another_period_is_refused(
    two_quarters: TwoQuarters, app_storage: Storage
) -> None:
    desk, pair_id = two_quarters.desk, two_quarters.pair
    await desk.send("/duplicates")
    await desk.press(Duplicates.MERGE)
    before = await database(app_storage)

    for data in (
        f"du:apart:{two_quarters.period}:{pair_id}:0",
        f"du:merge:{two_quarters.other}:{pair_id}:0",
    ):
        assert await desk.press_data(data) == []

    assert desk.alerts() == [Common.STALE_BUTTON] * 2
    assert await database(app_storage) == before


async def test_a_closed_quarters_pairs_are_shown_but_not_decided(
    world: World, app_storage: Storage
) -> None:
    _, _, desk = await _suspected(world)
    period_id, pair_id = await _period_id(app_storage), await _pair_id(app_storage)
    async with app_storage.sessionmaker() as session, session.begin():
        await session.execute(update(ReportingPeriod).values(status="closed"))
    before = await database(app_storage)

    [card] = await desk.send("/duplicates 2023-Q4")
    await desk.press_data(f"du:merge:{period_id}:{pair_id}:0")

    assert Duplicates.CLOSED_NOTE in card.text and card.reply_markup is None
    assert desk.alerts() == [Duplicates.CLOSED.format(period="IV квартал 2023 года")]
    assert await database(app_storage) == before


async def test_a_wrong_quarter_is_named_and_an_unknown_one_said_so(world: World) -> None:
    desk = world.person(COORDINATOR_ID)
    await join(world, 840, MUSEUM)

    [bad] = await desk.send("/duplicates 2023-Q5")
    [none] = await desk.send("/duplicates 2021-Q1")

    assert bad.text == Duplicates.BAD_PERIOD.format(value="2023-Q5", label="2023-Q4")
    assert none.text == Duplicates.NO_PERIOD.format(period="I квартал 2021 года")


# --- taking a decision back ----------------------------------------------------------------

Q4_LABEL = "IV квартал 2023 года"


async def test_undoing_a_merge_restores_both_rows_exactly_as_before(
    world: World, app_storage: Storage
) -> None:
    _, _, desk = await _suspected(world)
    first, second = await stored_events(app_storage.sessionmaker)
    await desk.send("/report 2023-Q4")
    before = _docx_rows(desk)
    await desk.send("/duplicates")
    [decided, _] = await desk.press(Duplicates.MERGE)
    await desk.send("/report 2023-Q4")
    assert len(_docx_rows(desk)) == len(before) - 1  # one row while merged

    [card] = await desk.press_data(_data(decided, Duplicates.UNDO))

    assert card.text.startswith(Duplicates.UNDONE.format(first=first.id, second=second.id))
    assert Duplicates.HEAD.format(number=1, count=1, period=Q4_LABEL) in card.text
    assert _labels(card) == [Duplicates.MERGE, Duplicates.APART]
    assert await _pairs(app_storage) == [("suspected", first.id, second.id)]
    await desk.send("/report 2023-Q4")
    assert _docx_rows(desk) == before  # every cell as before the merge


async def test_decided_pairs_are_listed_and_a_kept_apart_pair_taken_back(
    world: World, app_storage: Storage
) -> None:
    _, _, desk = await _suspected(world)
    first, second = await stored_events(app_storage.sessionmaker)
    [none] = await desk.send("/duplicates решённые")
    assert none.text == Duplicates.DECIDED_NONE.format(period=Q4_LABEL)
    await desk.send("/duplicates")
    [_, done] = await desk.press(Duplicates.APART)

    [listed] = await desk.press_data(_data(done, Duplicates.DECIDED_LIST))
    [typed] = await desk.send("/duplicates решенные 2023-Q4")

    for card in (listed, typed):
        assert Duplicates.DECIDED_HEAD.format(number=1, count=1, period=Q4_LABEL) in card.text
        assert Duplicates.DECIDED_APART_NOTE in card.text
        assert MUSEUM in card.text and MINISTRY in card.text
        assert _labels(card) == [Duplicates.UNDO]
    [again] = await desk.press(Duplicates.UNDO)
    assert Duplicates.UNDONE.format(first=first.id, second=second.id) in again.text
    assert await _pairs(app_storage) == [("suspected", first.id, second.id)]
    [merged, _] = await desk.press(Duplicates.MERGE)  # decided anew
    assert merged.text == Duplicates.MERGED.format(first=first.id, second=second.id)
    await desk.send("/report 2023-Q4")
    assert [row[1] for row in _docx_rows(desk)[1:]] == [MUSEUM_NAME]


async def test_the_decided_list_is_paged_latest_first(world: World, app_storage: Storage) -> None:
    _, _, desk = await _suspected(world)
    theatre = await join(world, 850, "Смоленский театр")
    await fill_event(theatre, "Международная выставка «Смоленск – Минск»")
    await theatre.press(Dialogue.SUBMIT)
    await theatre.press(FORCE)
    await desk.send("/duplicates")
    await desk.press(Duplicates.APART)
    await desk.press(Duplicates.MERGE)
    await desk.press(Duplicates.MERGE)

    [latest] = await desk.send("/duplicates решённые")
    [middle] = await desk.press(Duplicates.NEXT)
    [oldest] = await desk.press(Duplicates.NEXT)

    assert Duplicates.DECIDED_HEAD.format(number=1, count=3, period=Q4_LABEL) in latest.text
    assert _labels(latest) == [Duplicates.UNDO, Duplicates.NEXT]
    assert _labels(middle) == [Duplicates.UNDO, Duplicates.PREVIOUS, Duplicates.NEXT]
    assert _labels(oldest) == [Duplicates.UNDO, Duplicates.PREVIOUS]
    assert Duplicates.DECIDED_APART_NOTE in oldest.text
    assert Duplicates.DECIDED_MERGED_NOTE in latest.text


async def test_a_closed_quarters_decisions_are_shown_but_not_taken_back(
    world: World, app_storage: Storage
) -> None:
    _, _, desk = await _suspected(world)
    await desk.send("/duplicates")
    [decided, _] = await desk.press(Duplicates.MERGE)
    async with app_storage.sessionmaker() as session, session.begin():
        await session.execute(update(ReportingPeriod).values(status="closed"))
    before = await database(app_storage)

    [card] = await desk.send("/duplicates решённые 2023-Q4")
    replies = await desk.press_data(_data(decided, Duplicates.UNDO))

    assert Duplicates.DECIDED_CLOSED_NOTE in card.text and card.reply_markup is None
    assert replies == []
    assert desk.alerts() == [Duplicates.UNDO_CLOSED.format(period=Q4_LABEL)]
    assert await database(app_storage) == before


# --- a decided pair whose events changed later ---------------------------------------------


async def test_a_merged_event_deleted_later_dissolves_the_merge(
    world: World, app_storage: Storage
) -> None:
    museum, _, desk = await _suspected(world)
    first, second = await stored_events(app_storage.sessionmaker)
    await desk.send("/duplicates")
    [decided, _] = await desk.press(Duplicates.MERGE)

    await museum.press_data(f"ev:del:{first.id}")
    await museum.press_data(f"ev:delyes:{first.id}")

    assert await _pairs(app_storage) == []  # the merge dissolved
    assert desk.last_text() == _dissolved(
        Duplicates.DISSOLVED_DELETED, first.id, second.id, first.id, MUSEUM_NAME, MUSEUM
    )
    await desk.send("/report 2023-Q4")
    [row] = _docx_rows(desk)[1:]
    assert (row[0], row[1]) == ("1.", MINISTRY_NAME)  # the other event, a row of its own
    [none] = await desk.send("/duplicates решённые")
    assert none.text == Duplicates.DECIDED_NONE.format(period=Q4_LABEL)
    before = await database(app_storage)
    assert await desk.press_data(_data(decided, Duplicates.UNDO)) == []
    assert desk.alerts() == [Common.STALE_BUTTON]  # the undo button went stale
    assert await database(app_storage) == before


FORGED_UNDO = {
    "never-decided": "dx:{period}:{pair}:0",
    "no-such-pair": "dx:{period}:{missing}:1",
    "no-such-period": "dx:{missing}:{pair}:1",
    "another-period": "dx:{other}:{pair}:1",
    "huge-pair": "dx:{period}:99999999999999999999:1",
    "not-a-number": "dx:{period}:x:1",
    "negative-version": "dx:{period}:{pair}:-1",
    "negative-page": "du:decided:{period}:0:-1",
    "too-short": "dx:{period}",
    "before-versions": "du:undo:{period}:{pair}:0",
}


@pytest.mark.parametrize("forged", list(FORGED_UNDO.values()), ids=list(FORGED_UNDO))
async def test_a_forged_undo_button_is_refused(
    two_quarters: TwoQuarters, app_storage: Storage, forged: str
) -> None:
    desk = two_quarters.desk
    values: dict[str, Any] = {
        "period": two_quarters.period,
        "pair": two_quarters.pair,
        "missing": 4242,
        "other": two_quarters.other,
    }
    before = await database(app_storage)

    replies = await desk.press_data(forged.format(**values))

    assert replies == []
    assert desk.alerts() == [Common.STALE_BUTTON]
    assert await database(app_storage) == before


async def test_an_undo_pressed_twice_or_after_a_new_decision_is_stale(
    world: World, app_storage: Storage
) -> None:
    _, _, desk = await _suspected(world)
    await desk.send("/duplicates")
    [merged, _] = await desk.press(Duplicates.MERGE)
    undo = _data(merged, Duplicates.UNDO)
    await desk.press_data(undo)
    before = await database(app_storage)

    assert await desk.press_data(undo) == []  # undone already

    assert desk.alerts() == [Common.STALE_BUTTON]
    assert await database(app_storage) == before
    [apart, _] = await desk.press(Duplicates.APART)  # decided anew: the new undo works
    assert await _pairs(app_storage) == [("distinct", *(await _pairs(app_storage))[0][1:])]
    [card] = await desk.press_data(_data(apart, Duplicates.UNDO))
    assert _labels(card) == [Duplicates.MERGE, Duplicates.APART]


async def test_an_old_undo_button_never_takes_back_a_newer_decision(
    world: World, app_storage: Storage
) -> None:
    _, _, desk = await _suspected(world)
    first, second = await stored_events(app_storage.sessionmaker)
    await desk.send("/duplicates")
    [merged, _] = await desk.press(Duplicates.MERGE)
    old_undo = _data(merged, Duplicates.UNDO)
    await desk.press_data(old_undo)
    [merged_again, _] = await desk.press(Duplicates.MERGE)  # decided anew, the same way
    [listed] = await desk.send("/duplicates решённые")
    before = await database(app_storage)

    stale = await desk.press_data(old_undo)
    legacy = await desk.press_data(
        f"du:undo:{await _period_id(app_storage)}:{_pair_of(old_undo)}:0"
    )

    assert stale == [] and legacy == []
    assert desk.alerts() == [Common.STALE_BUTTON] * 2
    assert await database(app_storage) == before  # still merged
    assert await _pairs(app_storage) == [("merged", first.id, second.id)]
    new_undo = _data(merged_again, Duplicates.UNDO)
    assert new_undo != old_undo and _data(listed, Duplicates.UNDO) == new_undo
    assert len(new_undo.encode()) <= 64
    [card] = await desk.press_data(new_undo)
    assert card.text.startswith(Duplicates.UNDONE.format(first=first.id, second=second.id))


def _dissolved(template: str, first: int, second: int, changed: int, name: str, org: str) -> str:
    """The notice of one merge dissolved, as its decider gets it."""
    values = {"first": first, "second": second, "id": changed, "name": name, "organisation": org}
    line = template.format(**values, other=first if changed == second else second, period=Q1)
    return Duplicates.DISSOLVED.format(lines=line, next=Duplicates.DISSOLVED_NEXT["coordinator"])


Q1 = "I квартал 2024 года"


async def _merged(world: World) -> tuple[Person, Person, Person]:
    museum, ministry, desk = await _suspected(world)
    await desk.send("/duplicates")
    await desk.press(Duplicates.MERGE)
    return museum, ministry, desk


async def test_a_merge_edited_out_of_likeness_is_dissolved_and_its_decider_told(
    world: World, app_storage: Storage
) -> None:
    _, ministry, desk = await _merged(world)
    first, second = await stored_events(app_storage.sessionmaker)
    shown_before = len(desk.replies())
    await ministry.press_data(f"ev:edit:{second.id}")
    await ministry.press("Сроки")
    await ministry.send("5 октября 2023")
    await ministry.press(Dialogue.YES)

    [saved] = await ministry.press(Dialogue.SAVE)

    assert saved.text == Dialogue.UPDATED
    assert await _pairs(app_storage) == []
    [notice] = desk.replies()[shown_before:]  # one message
    assert notice.text == _dissolved(
        Duplicates.DISSOLVED_UNLIKE, first.id, second.id, second.id, MINISTRY_NAME, MINISTRY
    )
    await desk.send("/report 2023-Q4")
    assert [row[1] for row in _docx_rows(desk)[1:]] == [MINISTRY_NAME, MUSEUM_NAME]  # by date


async def test_a_merged_event_moved_to_another_quarter_is_told_as_moved(
    world: World, app_storage: Storage
) -> None:
    _, ministry, desk = await _merged(world)
    await add_period(app_storage.sessionmaker, Quarter(2024, 1))
    first, second = await stored_events(app_storage.sessionmaker)
    shown_before = len(desk.replies())
    await ministry.press_data(f"ev:edit:{second.id}")
    await ministry.press("Квартал")
    await ministry.press(Q1)

    await ministry.press(Dialogue.SAVE)

    assert await _pairs(app_storage) == []
    [notice] = desk.replies()[shown_before:]
    assert notice.text == _dissolved(
        Duplicates.DISSOLVED_MOVED, first.id, second.id, second.id, MINISTRY_NAME, MINISTRY
    )


async def test_a_merge_whose_decider_left_is_told_to_the_coordinators(
    world: World, app_storage: Storage
) -> None:
    museum, _, desk = await _merged(world)
    first, second = await stored_events(app_storage.sessionmaker)
    async with app_storage.sessionmaker() as session, session.begin():
        await session.execute(update(DuplicatePair).values(decided_by_id=None))
    shown_before = len(desk.replies())

    await museum.press_data(f"ev:del:{first.id}")
    await museum.press_data(f"ev:delyes:{first.id}")

    [notice] = desk.replies()[shown_before:]
    assert notice.text == _dissolved(
        Duplicates.DISSOLVED_DELETED, first.id, second.id, first.id, MUSEUM_NAME, MUSEUM
    )


async def test_the_coordinators_help_names_the_decided_list(world: World) -> None:
    desk = world.person(COORDINATOR_ID)

    [answer] = await desk.send("/help")

    [line] = [line for line in answer.text.split("\n") if line.startswith("/duplicates")]
    assert "/duplicates решённые" in line
