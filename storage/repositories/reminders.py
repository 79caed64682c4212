"""Reminders recorded once, and who still owes a report for a period.

A reminder is claimed (a `pending` row under the unique (person, period, kind)) before it
is sent and marked `sent` once Telegram accepted it. A row's `created_at` is the time of
its latest claim: recovery renews it when it takes a row over, so a row that one process
is sending is never taken by another (see `unfinished` and `take`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import DriverStatement, for_dialect
from storage.models import (
    Event,
    FsmRecord,
    NothingToReport,
    Organisation,
    Person,
    Reminder,
    utcnow,
)

# A failure worth another try later (network down, Telegram failing): recovery retries it.
RETRY_PREFIX = "retry: "
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
DRAFT_STATE_PREFIX = "ReportStates:"
# "Nothing to report" taken back, at every submit: straight on the driver (storage.db).
_NOTHING = NothingToReport.__table__
_WITHDRAW_NOTHING = DriverStatement(
    delete(_NOTHING).where(
        _NOTHING.c.organisation_id == bindparam("organisation_id"),
        _NOTHING.c.period_id == bindparam("period_id"),
    )
)


def _insert(session: AsyncSession) -> Any:
    return for_dialect(session, _INSERTS, "insert-or-skip")


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self,
        person_id: int,
        period_id: int,
        kind: str,
        organisation_id: int | None,
        *,
        now: datetime | None = None,
    ) -> Reminder | None:
        """Record a pending reminder; None if (person, period, kind) was claimed before."""
        claimed = await self.claim_many(period_id, kind, [(person_id, organisation_id)], now=now)
        if person_id not in claimed:
            return None
        return await self.session.get(Reminder, claimed[person_id])

    async def claim_many(
        self,
        period_id: int,
        kind: str,
        people: Iterable[tuple[int, int | None]],
        *,
        now: datetime | None = None,
    ) -> dict[int, int]:
        """Record pending reminders for (person id, organisation id) pairs.

        Returns {person id: reminder id} for the rows created now; people claimed before
        (by this process or any other, committed or not yet) are left out. Race-safe:
        `INSERT ... ON CONFLICT DO NOTHING` waits for a concurrent claim of the same row.
        """
        now = now or utcnow()
        rows = [
            {
                "person_id": person_id,
                "period_id": period_id,
                "organisation_id": organisation_id,
                "kind": kind,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for person_id, organisation_id in people
        ]
        if not rows:
            return {}
        statement = (
            _insert(self.session)(Reminder)
            .on_conflict_do_nothing(
                index_elements=[Reminder.person_id, Reminder.period_id, Reminder.kind]
            )
            .returning(Reminder.person_id, Reminder.id)
        )
        # One compiled statement, sent as multi-row batches ("insertmanyvalues").
        connection = await self.session.connection()
        result = await connection.execute(statement, rows)
        claimed = {person_id: reminder_id for person_id, reminder_id in result}
        return claimed

    async def get(self, reminder_id: int) -> Reminder | None:
        """One reminder by id."""
        return await self.session.get(Reminder, reminder_id)

    async def mark_sent(
        self, reminder_ids: Sequence[int], *, at: datetime | None = None, attempts: int = 1
    ) -> None:
        """Telegram accepted these reminders (after `attempts` requests each)."""
        if not reminder_ids:
            return
        await self.session.execute(
            update(Reminder)
            .where(Reminder.id.in_(reminder_ids))
            .values(
                status="sent",
                sent_at=at or utcnow(),
                error=None,
                attempts=Reminder.attempts + attempts,
            )
            .execution_options(synchronize_session=False)
        )

    async def mark_failed(self, reminder_id: int, error: str, *, attempts: int = 0) -> None:
        """A reminder that could not be sent; `error` starting with RETRY_PREFIX is retried
        by recovery, any other is final. A sent reminder stays sent."""
        await self.session.execute(
            update(Reminder)
            .where(Reminder.id == reminder_id, Reminder.status != "sent")
            .values(status="failed", error=error[:500], attempts=Reminder.attempts + attempts)
            .execution_options(synchronize_session=False)
        )

    async def unfinished(self, older_than: datetime, *, limit: int = 1000) -> list[Reminder]:
        """Reminders to recover: pending ones claimed before `older_than` (their sender died
        or gave up) and failed ones worth a retry, oldest first."""
        query = (
            select(Reminder)
            .where(
                ((Reminder.status == "pending") & (Reminder.created_at < older_than))
                | ((Reminder.status == "failed") & Reminder.error.startswith(RETRY_PREFIX))
            )
            .order_by(Reminder.created_at, Reminder.id)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def take(self, reminder: Reminder, now: datetime) -> bool:
        """Take a reminder over for sending (claimed anew at `now`); False if someone else
        changed it since it was read (sent it, failed it or took it)."""
        result = await self.session.execute(
            update(Reminder)
            .where(
                Reminder.id == reminder.id,
                Reminder.status == reminder.status,
                Reminder.attempts == reminder.attempts,
                Reminder.created_at == reminder.created_at,
            )
            .values(status="pending", created_at=now, error=None)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def manual_sent_since(
        self, organisation_id: int, period_id: int, since: datetime
    ) -> bool:
        """Whether the organisation was nudged by hand (claimed, sent or not) since `since`."""
        query = select(
            exists().where(
                Reminder.organisation_id == organisation_id,
                Reminder.period_id == period_id,
                Reminder.kind.startswith("manual:"),
                Reminder.created_at >= since,
            )
        )
        return bool(await self.session.scalar(query))

    async def of_period(self, period_id: int, kind: str | None = None) -> list[Reminder]:
        """A period's reminders (of one kind), in id order."""
        query = select(Reminder).where(Reminder.period_id == period_id)
        if kind is not None:
            query = query.where(Reminder.kind == kind)
        return list(await self.session.scalars(query.order_by(Reminder.id)))


@dataclass(frozen=True, slots=True)
class OrgStatus:
    """Where one organisation stands in a period."""

    organisation_id: int
    name: str
    reporters: int  # active reporters
    submitted: int
    late: int  # submitted after the deadline
    said_nothing: bool
    drafts: int  # reachable people in the middle of the event dialogue
    unreachable: int = 0  # active reporters whose chats refuse the bot's messages

    @property
    def missing(self) -> bool:
        """Neither an event nor "nothing to report"."""
        return self.submitted == 0 and not self.said_nothing

    @property
    def nobody_reachable(self) -> bool:
        """It has reporters, and the bot's messages reach none of them."""
        return self.reporters > 0 and self.unreachable == self.reporters


def _reported(period_id: int) -> Any:
    """The organisation (of the outer query) submitted an event or said nothing."""
    submitted = exists().where(
        Event.period_id == period_id,
        Event.status == "submitted",
        Event.organisation_id == Organisation.id,
    )
    nothing = exists().where(
        NothingToReport.period_id == period_id,
        NothingToReport.organisation_id == Organisation.id,
    )
    return submitted | nothing


def _active_reporter() -> Any:
    """A reporter the coordinator has not deactivated (reachable in Telegram or not)."""
    return (Person.role == "reporter") & Person.active.is_(True)


def _reachable() -> Any:
    return Person.unreachable_since.is_(None)


def _fsm_user_id(key: str) -> int | None:
    """The user id of an FSM key `fsm:<bot>:<chat>[:<thread>]:<user>:<destiny>`."""
    parts = key.split(":")
    if len(parts) < 5:
        return None
    try:
        return int(parts[-2])
    except ValueError:
        return None


class ReportingRepository:
    """Who has reported for a period, who said "nothing", who is still missing."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def missing_reporters(
        self, period_id: int, organisation_ids: Iterable[int] | None = None
    ) -> list[tuple[Person, Organisation]]:
        """Active reporters of organisations with no submitted event and no "nothing" whom
        the bot's messages reach (the others' organisations stay missing all the same)."""
        query = (
            select(Person, Organisation)
            .join(Organisation, Person.organisation_id == Organisation.id)
            .where(_active_reporter(), _reachable(), ~_reported(period_id))
            .order_by(Organisation.name, Person.id)
        )
        if organisation_ids is not None:
            query = query.where(Organisation.id.in_(list(organisation_ids)))
        result = await self.session.execute(query)
        return [(person, organisation) for person, organisation in result.all()]

    async def missing_organisations(self, period_id: int) -> list[Organisation]:
        """Organisations with active reporters and neither an event nor "nothing", by name.

        An organisation nobody reports for (no active reporter) is not expected to report;
        one whose reporters all blocked the bot is (see `unreachable_organisations`).
        """
        has_reporter = exists().where(Person.organisation_id == Organisation.id, _active_reporter())
        query = (
            select(Organisation)
            .where(has_reporter, ~_reported(period_id))
            .order_by(Organisation.name)
        )
        return list(await self.session.scalars(query))

    async def unreachable_organisations(self, organisation_ids: Iterable[int]) -> set[int]:
        """Of these organisations, those with active reporters none of whom the bot's
        messages reach."""
        ids = list(organisation_ids)
        if not ids:
            return set()
        reachable = exists().where(
            Person.organisation_id == Organisation.id, _active_reporter(), _reachable()
        )
        has_reporter = exists().where(Person.organisation_id == Organisation.id, _active_reporter())
        query = select(Organisation.id).where(Organisation.id.in_(ids), has_reporter, ~reachable)
        return set(await self.session.scalars(query))

    async def is_missing(self, organisation_id: int, period_id: int) -> bool:
        """Whether the organisation has neither an event nor "nothing" for the period."""
        query = select(exists().where(Organisation.id == organisation_id, ~_reported(period_id)))
        return bool(await self.session.scalar(query))

    async def say_nothing(
        self, organisation_id: int, period_id: int, person_id: int | None
    ) -> bool:
        """Record the organisation's "nothing to report"; False if it had said so already."""
        insert = _insert(self.session)
        statement = (
            insert(NothingToReport)
            .values(
                organisation_id=organisation_id,
                period_id=period_id,
                person_id=person_id,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(
                index_elements=[NothingToReport.organisation_id, NothingToReport.period_id]
            )
            .returning(NothingToReport.id)
        )
        return (await self.session.scalar(statement)) is not None

    async def withdraw_nothing(self, organisation_id: int, period_id: int) -> bool:
        """Take back "nothing to report"; False if it had not been said."""
        params = {"organisation_id": organisation_id, "period_id": period_id}
        return await _WITHDRAW_NOTHING.run(self.session, params) > 0

    async def said_nothing(self, organisation_id: int, period_id: int) -> bool:
        """Whether the organisation said it had nothing to report for the period."""
        query = select(
            exists().where(
                NothingToReport.organisation_id == organisation_id,
                NothingToReport.period_id == period_id,
            )
        )
        return bool(await self.session.scalar(query))

    async def org_status(self, period_id: int, deadline: datetime) -> list[OrgStatus]:
        """Every organisation with active reporters or anything filed for the period, by name."""
        unreachable_count = func.sum(case((Person.unreachable_since.is_not(None), 1), else_=0))
        reporter_rows = await self.session.execute(
            select(Person.organisation_id, func.count(), unreachable_count)
            .where(_active_reporter(), Person.organisation_id.is_not(None))
            .group_by(Person.organisation_id)
        )
        reporters: dict[int, int] = {}
        unreachable: dict[int, int] = {}
        for organisation_id, count, unreachable_people in reporter_rows:
            reporters[organisation_id] = int(count)
            unreachable[organisation_id] = int(unreachable_people or 0)
        is_late = case((Event.submitted_at > deadline, 1), else_=0)
        event_rows = await self.session.execute(
            select(Event.organisation_id, func.count(), func.sum(is_late))
            .where(Event.period_id == period_id, Event.status == "submitted")
            .group_by(Event.organisation_id)
        )
        events = {
            organisation_id: (int(submitted), int(late or 0))
            for organisation_id, submitted, late in event_rows
        }
        nothing = set(
            await self.session.scalars(
                select(NothingToReport.organisation_id).where(
                    NothingToReport.period_id == period_id
                )
            )
        )
        drafts = await self._drafts_by_organisation()
        wanted = set(reporters) | set(events) | nothing
        organisations = await self.session.scalars(
            select(Organisation).where(Organisation.id.in_(wanted)).order_by(Organisation.name)
        )
        return [
            OrgStatus(
                organisation_id=organisation.id,
                name=organisation.name,
                reporters=reporters.get(organisation.id, 0),
                submitted=events.get(organisation.id, (0, 0))[0],
                late=events.get(organisation.id, (0, 0))[1],
                said_nothing=organisation.id in nothing,
                drafts=drafts.get(organisation.id, 0),
                unreachable=unreachable.get(organisation.id, 0),
            )
            for organisation in organisations
        ]

    async def _drafts_by_organisation(self) -> dict[int, int]:
        """People in the event dialogue (FSM state `ReportStates:*`), per organisation;
        a draft of someone deactivated or unreachable is nobody filling it in."""
        keys = await self.session.scalars(
            select(FsmRecord.key).where(FsmRecord.state.startswith(DRAFT_STATE_PREFIX))
        )
        telegram_ids = {user_id for key in keys if (user_id := _fsm_user_id(key)) is not None}
        if not telegram_ids:
            return {}
        rows = await self.session.execute(
            select(Person.organisation_id, func.count(func.distinct(Person.id)))
            .where(
                Person.telegram_id.in_(telegram_ids),
                Person.organisation_id.is_not(None),
                Person.active.is_(True),
                _reachable(),
            )
            .group_by(Person.organisation_id)
        )
        return {organisation_id: int(count) for organisation_id, count in rows.all()}
