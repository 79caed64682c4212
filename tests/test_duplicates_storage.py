"""Suspected duplicates in the database: found, merged into one report row, kept apart."""

from __future__ import annotations

from datetime import date
from io import BytesIO
from typing import Any

import pytest
from docx import Document
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reports.compiler import compile_docx
from reports.dates import DateRange
from reports.quarters import Quarter
from reports.xlsx import render_xlsx
from storage.models import DuplicatePair, Event
from storage.report_source import DatabaseReportSource
from storage.repositories.duplicates import (
    Dissolved,
    DuplicateRepository,
    decision_version,
    merge_groups,
)
from storage.repositories.events import EventFields, EventRepository, dates_of
from tests import factories as f

REGION = "исполнительными органами Смоленской области и подведомственными им учреждениями"
Q4 = Quarter(2023, 4)


def _cells(document: Any) -> list[list[str]]:
    """The body rows of the report's table (sphere rows included), each cell's text."""
    table = document.tables[0]
    return [
        ["\n".join(p.text for p in cell.paragraphs) for cell in row.cells] for row in table.rows[1:]
    ]


@pytest.fixture
async def joint(session: AsyncSession) -> tuple[Event, Event, Event]:
    """A festival two organisations reported in their own words, and an unrelated event."""
    period = await f.period(session)
    museum = await f.organisation(session, "Смоленский музей")
    district = await f.organisation(session, "Администрация Вяземского района")
    culture = await f.sphere(session, "Сотрудничество в сфере культуры и туризма")
    museum_event = await f.event(
        session,
        period_=period,
        org=museum,
        sphere_=culture,
        name="Фестиваль «Днепр – река дружбы»",
        place="г. Смоленск, Вяземский район, Смоленская область",
        start=date(2023, 9, 18),
        end=date(2023, 9, 19),
        result="Выставка музея на фестивале.",
        participants="Сотрудники музея",
        participant_count=12,
    )
    district_event = await f.event(
        session,
        period_=period,
        org=district,
        sphere_=culture,
        name="Участие в международном фестивале «Днепр - река дружбы»",
        place="Вяземский район Смоленской области",
        start=date(2023, 9, 18),
        result="Концерт творческих коллективов района.",
        participants="Творческие коллективы района, гости из Республики Беларусь",
        participant_count=150,
    )
    other = await f.event(
        session,
        period_=period,
        org=district,
        sphere_=culture,
        name="Выставка «Венок невесты»",
        start=date(2023, 9, 18),
    )
    await session.commit()
    return museum_event, district_event, other


@pytest.fixture
async def pair(session: AsyncSession, joint: tuple[Event, Event, Event]) -> DuplicatePair:
    """The festival's two events, matched as the one suspected pair of the period."""
    duplicates = DuplicateRepository(session)
    await duplicates.refresh(joint[0].period_id)
    [found] = await duplicates.suspected(joint[0].period_id)
    return found


async def _report(sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    return Document(BytesIO(await compile_docx(DatabaseReportSource(sessionmaker, REGION), Q4)))


async def test_a_new_event_is_told_which_other_organisations_event_it_resembles(
    session: AsyncSession, joint: tuple[Event, Event, Event]
) -> None:
    museum_event, district_event, _ = joint

    found = await DuplicateRepository(session).lookalikes(
        period_id=museum_event.period_id,
        organisation_id=999,
        name="Фестиваль «Днепр — река дружбы» (Вязьма)",
        place="Смоленская обл., Вяземский район",
        start=date(2023, 9, 19),
        end=date(2023, 9, 19),
    )

    assert [item.event.id for item in found] == [museum_event.id]
    assert found[0].event.organisation.name == "Смоленский музей"
    own = await DuplicateRepository(session).lookalikes(
        period_id=museum_event.period_id,
        organisation_id=district_event.organisation_id,
        name=district_event.name,
        place=district_event.place,
        start=district_event.start_date,
        end=district_event.end_date,
    )
    assert [item.event.id for item in own] == [museum_event.id]  # not its own organisation's


async def test_the_period_is_matched_once_and_a_changed_event_leaves_its_pair(
    session: AsyncSession, joint: tuple[Event, Event, Event]
) -> None:
    museum_event, district_event, _ = joint
    duplicates = DuplicateRepository(session)

    await duplicates.refresh(museum_event.period_id)
    await duplicates.refresh(museum_event.period_id)
    [pair] = await duplicates.suspected(museum_event.period_id)

    assert (pair.first_id, pair.second_id) == (museum_event.id, district_event.id)
    assert pair.name_score >= 75 and pair.place_score >= 60
    district_event.name = "Концерт ко Дню народного единства"
    await session.flush()
    await duplicates.refresh(museum_event.period_id)
    assert await duplicates.suspected(museum_event.period_id) == []


async def test_a_merged_pair_is_one_row_with_both_places_results_participants_and_organisations(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    joint: tuple[Event, Event, Event],
    pair: DuplicatePair,
) -> None:
    museum_event, district_event, _ = joint
    duplicates = DuplicateRepository(session)

    await duplicates.decide(pair, "merged", None)
    await session.commit()

    rows = _cells(await _report(sessionmaker))
    assert [row[0] for row in rows] == ["Сотрудничество в сфере культуры и туризма", "1.", "2."]
    merged = next(row for row in rows if row[1] == museum_event.name)
    assert merged[2] == (
        "г. Смоленск, Вяземский район, Смоленская область;\nВяземский район Смоленской области"
    )
    assert merged[3] == "18-19 сентября 2023 года"
    assert merged[4] == "Выставка музея на фестивале.\nКонцерт творческих коллективов района."
    assert merged[5] == (
        "Сотрудники музея\nОбщее количество участников\u00a0– 12 человек\n"
        "Творческие коллективы района, гости из Республики Беларусь\n"
        "Общее количество участников\u00a0– 150 человек"
    )
    assert all(district_event.name not in row[1] for row in rows)
    report = await DatabaseReportSource(sessionmaker, REGION).load_report(Q4)
    sheet = load_workbook(BytesIO(render_xlsx(report))).active
    assert isinstance(sheet, Worksheet)
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    merged_row = next(row for row in values if row[1] == museum_event.name)
    assert merged_row[-2:] == ["Смоленский музей; Администрация Вяземского района", 162]
    assert sum(1 for row in values if row[1] == district_event.name) == 0


async def test_a_pair_marked_distinct_is_two_rows_and_never_suggested_again(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    joint: tuple[Event, Event, Event],
    pair: DuplicatePair,
) -> None:
    museum_event, district_event, _ = joint
    duplicates = DuplicateRepository(session)

    await duplicates.decide(pair, "distinct", None)
    await duplicates.refresh(museum_event.period_id)
    await session.commit()

    names = [row[1] for row in _cells(await _report(sessionmaker))]
    assert museum_event.name in names and district_event.name in names
    assert await duplicates.suspected(museum_event.period_id) == []
    stored = list(await session.scalars(select(DuplicatePair)))
    assert [(p.status, p.first_id, p.second_id) for p in stored] == [
        ("distinct", museum_event.id, district_event.id)
    ]
    again = await duplicates.lookalikes(
        period_id=district_event.period_id,
        organisation_id=district_event.organisation_id,
        name=district_event.name,
        place=district_event.place,
        start=district_event.start_date,
        end=district_event.end_date,
        event_id=district_event.id,
    )
    assert again == []


async def test_a_merged_event_deleted_later_leaves_the_other_as_it_was(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    joint: tuple[Event, Event, Event],
) -> None:
    museum_event, district_event, _ = joint
    duplicates = DuplicateRepository(session)
    pair = await duplicates.record(museum_event.id, district_event.id)
    assert pair is not None
    await duplicates.decide(pair, "merged", None)

    district_event.status = "deleted"
    await session.commit()

    rows = _cells(await _report(sessionmaker))
    merged = next(row for row in rows if row[1] == museum_event.name)
    assert merged[2] == museum_event.place
    assert merged[4] == "Выставка музея на фестивале."


def test_merged_pairs_join_into_groups_kept_under_their_first_event() -> None:
    groups = merge_groups([1, 2, 3, 4, 5], [(3, 5), (1, 4), (4, 5)])

    assert groups == [[1, 3, 4, 5], [2]]


async def _merged(
    session: AsyncSession, joint: tuple[Event, Event, Event]
) -> tuple[Event, Event, Event, DuplicateRepository]:
    museum_event, district_event, other = joint
    duplicates = DuplicateRepository(session)
    await duplicates.refresh(museum_event.period_id)
    [pair] = await duplicates.suspected(museum_event.period_id)
    await duplicates.decide(pair, "merged", None)
    return museum_event, district_event, other, duplicates


def _fields(event: Event, **changes: Any) -> EventFields:
    values: dict[str, Any] = {
        "sphere_id": event.sphere_id,
        "name": event.name,
        "place": event.place,
        "dates": dates_of(event),
        "result": event.result,
        "participants": event.participants,
        "participant_count": event.participant_count,
    }
    return EventFields(**(values | changes))


async def test_an_edit_that_keeps_the_events_alike_keeps_the_merge(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    joint: tuple[Event, Event, Event],
) -> None:
    museum_event, district_event, _, duplicates = await _merged(session, joint)

    await EventRepository(session).update(
        district_event, _fields(district_event, result="Концерт и мастер-классы.")
    )
    await session.commit()

    names = [row[1] for row in _cells(await _report(sessionmaker))]
    assert district_event.name not in names
    assert await duplicates.count_decided(museum_event.period_id) == 1


async def test_an_edit_that_makes_the_events_unlike_dissolves_the_merge(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    joint: tuple[Event, Event, Event],
) -> None:
    museum_event, district_event, _, duplicates = await _merged(session, joint)
    moved = DateRange(date(2023, 9, 25), date(2023, 9, 25), "day")

    await EventRepository(session).update(district_event, _fields(district_event, dates=moved))
    await session.commit()

    names = [row[1] for row in _cells(await _report(sessionmaker))]
    assert museum_event.name in names and district_event.name in names
    assert list(await session.scalars(select(DuplicatePair))) == []
    await duplicates.refresh(museum_event.period_id)
    assert await duplicates.suspected(museum_event.period_id) == []  # not suggested again


async def test_a_pair_kept_apart_stays_apart_after_an_edit(
    session: AsyncSession, joint: tuple[Event, Event, Event]
) -> None:
    museum_event, district_event, _ = joint
    duplicates = DuplicateRepository(session)
    await duplicates.refresh(museum_event.period_id)
    [pair] = await duplicates.suspected(museum_event.period_id)
    await duplicates.decide(pair, "distinct", None)

    await EventRepository(session).update(
        district_event, _fields(district_event, name="Концерт ко Дню народного единства")
    )
    await EventRepository(session).delete(district_event)

    assert [p.status for p in await session.scalars(select(DuplicatePair))] == ["distinct"]


async def test_a_decisions_version_survives_the_database_and_changes_with_each_decision(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    joint: tuple[Event, Event, Event],
) -> None:
    museum_event, _, _, duplicates = await _merged(session, joint)
    [pair] = await duplicates.decided(museum_event.period_id)
    first = decision_version(pair)
    await session.commit()

    async with sessionmaker() as other:
        [stored] = await DuplicateRepository(other).decided(museum_event.period_id)
        read_back = decision_version(stored)
    await duplicates.undo(pair)
    undone = decision_version(pair)
    await duplicates.decide(pair, "merged", None)
    again = decision_version(pair)
    await session.commit()

    assert read_back == first > 0  # microseconds, as the undo button carries them
    assert undone == 0
    assert again != first
    assert len(f"dx:{2**31 - 1}:{2**31 - 1}:{again}".encode()) <= 64


async def test_settle_names_the_merges_it_dissolves(
    session: AsyncSession, joint: tuple[Event, Event, Event]
) -> None:
    museum_event, district_event, _, _ = await _merged(session, joint)

    dissolved = await EventRepository(session).delete(district_event)

    assert dissolved == [Dissolved(museum_event.id, district_event.id, None, district_event.id)]
