"""Telegram updates already taken: a redelivered update (a webhook retry) is skipped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, literal_column, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import NullType

from reports.quarters import Quarter
from storage.db import PgStatement, SqliteStatement, for_dialect, is_sqlite
from storage.models import Person, ProcessedUpdate, utcnow
from storage.repositories.outbox import chat_summary
from storage.repositories.people import PersonRepository, person_from_row
from storage.repositories.periods import along_params, collecting_along, keep_read_along

# Telegram gives up redelivering an update within a day; a week is plenty.
KEEP_PROCESSED = timedelta(days=7)
PRUNE_EVERY = 500  # update ids: prune on every 500th claim (ids grow by one per update)


def _claim_statement(dialect: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, built once (it runs for every update)."""
    table = ProcessedUpdate.__table__
    return dialect.insert(table).on_conflict_do_nothing(index_elements=["bot_id", "update_id"])


_CLAIMS = {"sqlite": _claim_statement(sqlite), "postgresql": _claim_statement(postgresql)}
# Straight on the driver (storage.db).
_SQLITE_CLAIM = SqliteStatement(_CLAIMS["sqlite"])
_PG_CLAIM = PgStatement(_CLAIMS["postgresql"])
_DRIVER_CLAIMS = {"sqlite": _SQLITE_CLAIM, "postgresql": _PG_CLAIM}


def _claim_and_person(*, with_chat: bool = False) -> PgStatement:
    """PostgreSQL: the claim and the sender's row in one statement (one round trip): a
    data-modifying WITH, run once whatever the SELECT reads, then whether it inserted
    and the person's columns (all NULL when there is no such person).

    `with_chat`: also, between the two, what the outbox holds for the update's chat
    (`chat_summary`: whether anything is owed, the latest delivery since `since`), read
    in the same statement (`claim_seeing_owed`)."""
    claim = (
        postgresql.insert(ProcessedUpdate.__table__)
        .values(
            bot_id=bindparam("bot_id"),
            update_id=bindparam("update_id"),
            created_at=bindparam("created_at"),
        )
        .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
        .returning(literal_column("1"))
        .cte("claim")
    )
    claimed = select(func.count()).select_from(claim).scalar_subquery()
    people = Person.__table__
    # One row to join the person to: a plain one, or the chat's summary (always one row).
    one = chat_summary() if with_chat else select(literal_column("1").label("one")).subquery("one")
    chat = [one.c.owed, one.c.delivered_at] if with_chat else []
    along = collecting_along()  # one row too
    statement = select(claimed.label("claimed"), *chat, *along.c, *people.c).select_from(
        one.join(along, true()).outerjoin(people, people.c.telegram_id == bindparam("telegram_id"))
    )
    return PgStatement(
        statement,
        result_types=[
            claimed.type,
            *(c.type for c in chat),
            *(NullType() for _ in along.c),  # arrays, processed when used (`keep_read_along`)
            *(c.type for c in people.c),
        ],
    )


_ALONG = len(collecting_along().c)
_NOT_ALONG = {"along_open": None, "along_year": None, "along_quarter": None}  # reads no row


def _along(now: datetime, tz: ZoneInfo | None) -> tuple[Quarter | None, dict[str, Any]]:
    """The previous quarter and the parameters of the periods read along (`tz` None: none
    read, and none kept)."""
    if tz is None:
        return None, _NOT_ALONG
    return along_params(now, tz)


_PG_CLAIM_AND_PERSON = _claim_and_person()
_PG_CLAIM_SEEING_OWED = _claim_and_person(with_chat=True)


@dataclass(frozen=True, slots=True)
class ClaimSeeingOwed:
    """A claim made with a look at what the update's chat is owed (`claim_seeing_owed`)."""

    claimed: bool  # False: a redelivery (or the chat is owed something: see `owed`)
    person: Person | None  # read when claimed and nothing is owed; None otherwise
    owed: bool  # the chat has messages still owed (`OutboxRepository.of_chat`'s `owed`)
    delivered_at: datetime | None  # `of_chat`'s `delivered_at`


class ProcessedUpdateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, bot_id: int, update_id: int, *, now: datetime | None = None) -> bool:
        """Record the update as taken; False when it already was (a redelivery).

        On PostgreSQL a concurrent claim of the same update waits for this transaction:
        it is skipped if this one commits, and takes the update if this one rolls back.
        """
        now = now or utcnow()
        values = {"bot_id": bot_id, "update_id": update_id, "created_at": now}
        claim = for_dialect(self.session, _DRIVER_CLAIMS, "insert-or-skip")
        claimed = await claim.run(self.session, values) == 1
        if claimed and update_id % PRUNE_EVERY == 0:
            await self.prune(before=now - KEEP_PROCESSED)
        return claimed

    async def claim_with_person(
        self,
        bot_id: int,
        update_id: int,
        telegram_id: int,
        *,
        now: datetime | None = None,
        periods_in: ZoneInfo | None = None,
    ) -> tuple[bool, Person | None]:
        """`claim`, and the person behind `telegram_id` as `PersonRepository.snapshot`
        reads them (None: no such person; not looked for when the update was taken
        already). On PostgreSQL both in one statement, and with `periods_in` (the
        settings' zone) the periods `PeriodRepository.collecting` reads at `now` too,
        kept for it in this transaction (`keep_read_along`)."""
        if is_sqlite(self.session):
            if not await self.claim(bot_id, update_id, now=now):
                return False, None
            return True, await PersonRepository(self.session).snapshot(telegram_id)
        now = now or utcnow()
        previous, along = _along(now, periods_in)
        values = {
            "bot_id": bot_id,
            "update_id": update_id,
            "created_at": now,
            "telegram_id": telegram_id,
            **along,
        }
        [(claimed, *rest)] = await _PG_CLAIM_AND_PERSON.fetch(self.session, values)
        if not claimed:
            return False, None
        if previous is not None:
            keep_read_along(self.session, previous, rest[:_ALONG])
        return True, await self._claimed(update_id, now, rest[_ALONG:])

    async def claim_seeing_owed(
        self,
        bot_id: int,
        update_id: int,
        telegram_id: int | None,
        chat_id: int,
        *,
        delivered_since: datetime,
        now: datetime | None = None,
        periods_in: ZoneInfo | None = None,
    ) -> ClaimSeeingOwed:
        """PostgreSQL only: `claim_with_person` (`telegram_id` None: no person looked for),
        and, in the same statement, what `OutboxRepository.of_chat(bot_id, chat_id,
        delivered_since=...)` would tell of the chat: whether a message is still owed to
        it, and the latest delivery since `delivered_since`.

        When something is owed the caller is to roll the transaction back, the claim with
        it (bot/owed.py): nothing is pruned then, and the person is not read (None).
        `periods_in`: as for `claim_with_person` (kept only when the update was taken)."""
        now = now or utcnow()
        previous, along = _along(now, periods_in)
        values = {
            "bot_id": bot_id,
            "update_id": update_id,
            "created_at": now,
            "telegram_id": telegram_id,
            "chat_id": chat_id,
            "since": delivered_since,
            **along,
        }
        [(claimed, owed, delivered_at, *rest)] = await _PG_CLAIM_SEEING_OWED.fetch(
            self.session, values
        )
        if owed:
            return ClaimSeeingOwed(bool(claimed), None, True, delivered_at)
        if not claimed:
            return ClaimSeeingOwed(False, None, False, delivered_at)
        if previous is not None:
            keep_read_along(self.session, previous, rest[:_ALONG])
        return ClaimSeeingOwed(
            True, await self._claimed(update_id, now, rest[_ALONG:]), False, delivered_at
        )

    async def _claimed(self, update_id: int, now: datetime, person: list[Any]) -> Person | None:
        """After a PostgreSQL claim that took the update: the old claims pruned on every
        PRUNE_EVERY-th update, and the person read along (None: no such person)."""
        if update_id % PRUNE_EVERY == 0:
            await self.prune(before=now - KEEP_PROCESSED)
        return person_from_row(person) if person[0] is not None else None

    async def any_taken(self, bot_id: int, update_ids: list[int]) -> bool:
        """Whether any of these updates was claimed (and so saved) by some transaction."""
        query = select(ProcessedUpdate.update_id).where(
            ProcessedUpdate.bot_id == bot_id, ProcessedUpdate.update_id.in_(update_ids)
        )
        return (await self.session.scalars(query.limit(1))).first() is not None

    async def prune(self, *, before: datetime) -> int:
        """Forget updates taken before `before`; how many were forgotten."""
        result = await self.session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.created_at < before)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
