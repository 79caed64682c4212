"""Suspected duplicates: pairs of two organisations' events, found, merged or kept apart."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import and_, bindparam, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload

from reports.similar import Candidate, Match, compare, similar_to, suspected_pairs
from storage.db import DriverStatement
from storage.models import DuplicatePair, Event, utcnow

DECISIONS = ("merged", "distinct")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def decision_version(pair: DuplicatePair) -> int:
    """Which decision a pair holds now: its moment in microseconds (0 while it waits for
    one), so that a button made for one decision does not take back a later one."""
    if pair.decided_at is None:
        return 0
    return (pair.decided_at - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Lookalike:
    """Another organisation's event that a new one resembles."""

    event: Event
    match: Match


@dataclass(frozen=True, slots=True)
class Dissolved:
    """A merge dissolved because one of its events changed, moved or was deleted."""

    first_id: int
    second_id: int
    decided_by_id: int | None
    changed_id: int  # the event whose change dissolved it


def candidate(event: Event) -> Candidate:
    """An event as the matcher sees it."""
    return Candidate(
        key=event.id,
        organisation=event.organisation_id,
        name=event.name,
        place=event.place,
        start=event.start_date,
        end=event.end_date,
    )


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _both_in_period(period_id: int) -> tuple[type[Event], type[Event], object]:
    first, second = aliased(Event), aliased(Event)
    condition = and_(
        first.id == DuplicatePair.first_id,
        second.id == DuplicatePair.second_id,
        first.period_id == period_id,
        second.period_id == period_id,
        first.status == "submitted",
        second.status == "submitted",
    )
    return first, second, condition  # type: ignore[return-value]


def _still_alike(a: Event, b: Event) -> bool:
    return (
        a.status == b.status == "submitted"
        and a.period_id == b.period_id
        and compare(candidate(a), candidate(b)) is not None
    )


_EVENTS = Event.__table__
# The events a new one is compared with, read at every submit: straight on the driver.
_OTHERS_COLUMNS = [
    _EVENTS.c.id,
    _EVENTS.c.organisation_id,
    _EVENTS.c.name,
    _EVENTS.c.place,
    _EVENTS.c.start_date,
    _EVENTS.c.end_date,
]
_OTHERS = DriverStatement(
    select(*_OTHERS_COLUMNS).where(
        _EVENTS.c.period_id == bindparam("period_id"),
        _EVENTS.c.status == bindparam("submitted"),
        _EVENTS.c.organisation_id != bindparam("organisation_id"),
        _EVENTS.c.start_date <= bindparam("end"),
        _EVENTS.c.end_date >= bindparam("start"),
    ),
    [column.type for column in _OTHERS_COLUMNS],
)


class DuplicateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lookalikes(
        self,
        *,
        period_id: int,
        organisation_id: int,
        name: str,
        place: str,
        start: date,
        end: date,
        event_id: int | None = None,
    ) -> list[Lookalike]:
        """Other organisations' submitted events of the period that an event (a new one, or
        `event_id` being changed) resembles, most similar first; pairs decided are left out."""
        params = {
            "period_id": period_id,
            "submitted": "submitted",
            "organisation_id": organisation_id,
            "start": start,
            "end": end,
        }
        others = [Candidate(*row) for row in await _OTHERS.fetch(self.session, params)]
        if not others:
            return []
        probe = Candidate(event_id or 0, organisation_id, name, place, start, end)
        matches = similar_to(probe, others)
        if matches and event_id is not None:
            decided = await self._decided_with(event_id)
            matches = [match for match in matches if match.second not in decided]
        if not matches:
            return []
        ids = [match.second for match in matches]
        found = await self.session.scalars(
            select(Event).where(Event.id.in_(ids)).options(selectinload(Event.organisation))
        )
        by_id = {event.id: event for event in found}
        return [Lookalike(by_id[match.second], match) for match in matches]  # type: ignore[index]

    async def _decided_with(self, event_id: int) -> set[int]:
        query = select(DuplicatePair.first_id, DuplicatePair.second_id).where(
            or_(DuplicatePair.first_id == event_id, DuplicatePair.second_id == event_id),
            DuplicatePair.status.in_(DECISIONS),
        )
        return {a if b == event_id else b for a, b in (await self.session.execute(query)).all()}

    async def record(self, a: int, b: int, match: Match | None = None) -> DuplicatePair | None:
        """Note a suspected pair of two events (once; a pair decided stays decided)."""
        first_id, second_id = _ordered(a, b)
        query = select(DuplicatePair).where(
            DuplicatePair.first_id == first_id, DuplicatePair.second_id == second_id
        )
        existing = await self.session.scalar(query)
        if existing is not None:
            return existing
        pair = DuplicatePair(
            first_id=first_id,
            second_id=second_id,
            status="suspected",
            name_score=round(match.name_score) if match else 0,
            place_score=round(match.place_score) if match else 0,
            found_at=utcnow(),
        )
        try:
            async with self.session.begin_nested():
                self.session.add(pair)
        except IntegrityError:  # noted at the same moment by another update
            return await self.session.scalar(query)
        return pair

    async def refresh(self, period_id: int) -> None:
        """Match the period's submitted events again: new pairs noted, suspected pairs
        whose events no longer look alike (changed since) dropped; decisions kept."""
        query = select(Event).where(Event.period_id == period_id, Event.status == "submitted")
        events = list(await self.session.scalars(query.order_by(Event.id)))
        found = {
            _ordered(m.first, m.second): m  # type: ignore[arg-type]
            for m in suspected_pairs([candidate(event) for event in events])
        }
        first, second, condition = _both_in_period(period_id)
        stored = (
            await self.session.execute(
                select(DuplicatePair.id, DuplicatePair.first_id, DuplicatePair.second_id)
                .join(first, first.id == DuplicatePair.first_id)
                .join(second, second.id == DuplicatePair.second_id)
                .where(condition, DuplicatePair.status == "suspected")  # type: ignore[arg-type]
            )
        ).all()
        gone = [pair_id for pair_id, a, b in stored if (a, b) not in found]
        if gone:
            await self.session.execute(delete(DuplicatePair).where(DuplicatePair.id.in_(gone)))
        for (a, b), match in found.items():
            await self.record(a, b, match)
        await self.session.flush()

    async def suspected(self, period_id: int) -> list[DuplicatePair]:
        """The period's pairs waiting for a decision (both events still submitted in it),
        in the order they were found."""
        first, second, condition = _both_in_period(period_id)
        query = (
            select(DuplicatePair)
            .join(first, first.id == DuplicatePair.first_id)
            .join(second, second.id == DuplicatePair.second_id)
            .where(condition, DuplicatePair.status == "suspected")  # type: ignore[arg-type]
            .options(
                selectinload(DuplicatePair.first).selectinload(Event.organisation),
                selectinload(DuplicatePair.second).selectinload(Event.organisation),
            )
            .order_by(DuplicatePair.id)
        )
        return list(await self.session.scalars(query))

    async def count_suspected(self, period_id: int) -> int:
        """How many of the period's pairs wait for a decision."""
        first, second, condition = _both_in_period(period_id)
        query = (
            select(func.count())
            .select_from(DuplicatePair)
            .join(first, first.id == DuplicatePair.first_id)
            .join(second, second.id == DuplicatePair.second_id)
            .where(condition, DuplicatePair.status == "suspected")  # type: ignore[arg-type]
        )
        return int(await self.session.scalar(query) or 0)

    async def get(self, pair_id: int) -> DuplicatePair | None:
        """One pair with both its events and their organisations."""
        query = (
            select(DuplicatePair)
            .where(DuplicatePair.id == pair_id)
            .options(
                selectinload(DuplicatePair.first).selectinload(Event.organisation),
                selectinload(DuplicatePair.second).selectinload(Event.organisation),
            )
        )
        return await self.session.scalar(query)

    async def decide(self, pair: DuplicatePair, status: str, person_id: int | None) -> None:
        """Merge a pair (`merged`) or keep its events apart for good (`distinct`)."""
        if status not in DECISIONS:
            raise ValueError(f"not a decision: {status!r}")
        pair.status, pair.decided_by_id, pair.decided_at = status, person_id, utcnow()
        await self.session.flush()

    async def undo(self, pair: DuplicatePair) -> None:
        """Take a decision back: the pair waits for a decision again (a merge undone prints
        both events as their own rows, as before it)."""
        pair.status, pair.decided_by_id, pair.decided_at = "suspected", None, None
        await self.session.flush()

    async def decided(self, period_id: int) -> list[DuplicatePair]:
        """The period's decided pairs (both events still submitted in it), latest first."""
        first, second, condition = _both_in_period(period_id)
        query = (
            select(DuplicatePair)
            .join(first, first.id == DuplicatePair.first_id)
            .join(second, second.id == DuplicatePair.second_id)
            .where(condition, DuplicatePair.status.in_(DECISIONS))  # type: ignore[arg-type]
            .options(
                selectinload(DuplicatePair.first).selectinload(Event.organisation),
                selectinload(DuplicatePair.second).selectinload(Event.organisation),
            )
            .order_by(DuplicatePair.decided_at.desc(), DuplicatePair.id.desc())
        )
        return list(await self.session.scalars(query))

    async def count_decided(self, period_id: int) -> int:
        """How many of the period's pairs are decided."""
        first, second, condition = _both_in_period(period_id)
        query = (
            select(func.count())
            .select_from(DuplicatePair)
            .join(first, first.id == DuplicatePair.first_id)
            .join(second, second.id == DuplicatePair.second_id)
            .where(condition, DuplicatePair.status.in_(DECISIONS))  # type: ignore[arg-type]
        )
        return int(await self.session.scalar(query) or 0)

    async def settle(self, event: Event) -> list[Dissolved]:
        """After `event` changed or was deleted: a merge holds only while both its events
        are submitted in one period and still look alike; else it is dissolved (the pair
        dropped, so a likeness found later is suggested afresh). Pairs kept apart stay.
        The merges dissolved."""
        query = (
            select(DuplicatePair)
            .where(
                or_(DuplicatePair.first_id == event.id, DuplicatePair.second_id == event.id),
                DuplicatePair.status == "merged",
            )
            .options(selectinload(DuplicatePair.first), selectinload(DuplicatePair.second))
        )
        gone = [
            pair
            for pair in await self.session.scalars(query)
            if not _still_alike(pair.first, pair.second)
        ]
        dissolved = [
            Dissolved(pair.first_id, pair.second_id, pair.decided_by_id, event.id) for pair in gone
        ]
        if gone:
            ids = [pair.id for pair in gone]
            await self.session.execute(delete(DuplicatePair).where(DuplicatePair.id.in_(ids)))
            await self.session.flush()
        return dissolved

    async def merged(self, event_ids: Iterable[int]) -> list[tuple[int, int]]:
        """The merged pairs among these events (both in the set), as (first, second)."""
        ids = set(event_ids)
        if not ids:
            return []
        query = select(DuplicatePair.first_id, DuplicatePair.second_id).where(
            DuplicatePair.status == "merged",
            DuplicatePair.first_id.in_(ids),
            DuplicatePair.second_id.in_(ids),
        )
        return [(a, b) for a, b in (await self.session.execute(query)).all()]


def merge_groups(ids: Sequence[int], pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Events joined by merged pairs, each group in id order (the first is the row kept);
    an event in no pair is a group of its own. Groups in the order of their first ids."""
    parent = {event_id: event_id for event_id in ids}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        if a in parent and b in parent:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for event_id in sorted(ids):
        groups.setdefault(root(event_id), []).append(event_id)
    return [groups[key] for key in sorted(groups)]
