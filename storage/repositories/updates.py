"""Telegram updates already taken: a redelivered update (a webhook retry) is skipped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import PgStatement, SqliteStatement, for_dialect, is_sqlite
from storage.models import Person, ProcessedUpdate, utcnow
from storage.repositories.people import PersonRepository, person_from_row

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


def _claim_and_person() -> PgStatement:
    """PostgreSQL: the claim and the sender's row in one statement (one round trip): a
    data-modifying WITH, run once whatever the SELECT reads, then whether it inserted
    and the person's columns (all NULL when there is no such person)."""
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
    one = select(literal_column("1").label("one")).subquery("one")
    statement = select(claimed.label("claimed"), *people.c).select_from(
        one.outerjoin(people, people.c.telegram_id == bindparam("telegram_id"))
    )
    return PgStatement(statement, result_types=[claimed.type, *(c.type for c in people.c)])


_PG_CLAIM_AND_PERSON = _claim_and_person()


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
        self, bot_id: int, update_id: int, telegram_id: int, *, now: datetime | None = None
    ) -> tuple[bool, Person | None]:
        """`claim`, and the person behind `telegram_id` as `PersonRepository.snapshot`
        reads them (None: no such person; not looked for when the update was taken
        already). On PostgreSQL both in one statement."""
        if is_sqlite(self.session):
            if not await self.claim(bot_id, update_id, now=now):
                return False, None
            return True, await PersonRepository(self.session).snapshot(telegram_id)
        now = now or utcnow()
        values = {
            "bot_id": bot_id,
            "update_id": update_id,
            "created_at": now,
            "telegram_id": telegram_id,
        }
        [(claimed, *person)] = await _PG_CLAIM_AND_PERSON.fetch(self.session, values)
        if not claimed:
            return False, None
        if update_id % PRUNE_EVERY == 0:
            await self.prune(before=now - KEEP_PROCESSED)
        return True, person_from_row(person) if person[0] is not None else None

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
