"""Telegram updates already taken: a redelivered update (a webhook retry) is skipped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import SqliteStatement, for_dialect, is_sqlite
from storage.models import ProcessedUpdate, utcnow

# Telegram gives up redelivering an update within a day; a week is plenty.
KEEP_PROCESSED = timedelta(days=7)
PRUNE_EVERY = 500  # update ids: prune on every 500th claim (ids grow by one per update)


def _claim_statement(dialect: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, built once (it runs for every update)."""
    table = ProcessedUpdate.__table__
    return dialect.insert(table).on_conflict_do_nothing(index_elements=["bot_id", "update_id"])


_CLAIMS = {"sqlite": _claim_statement(sqlite), "postgresql": _claim_statement(postgresql)}
_SQLITE_CLAIM = SqliteStatement(_CLAIMS["sqlite"])  # straight on the driver (storage.db)


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
        if is_sqlite(self.session):
            claimed = await _SQLITE_CLAIM.run(self.session, values) == 1
        else:
            claim = for_dialect(self.session, _CLAIMS, "insert-or-skip")
            inserted = await self.session.execute(claim, values)
            claimed = inserted.rowcount == 1  # type: ignore[attr-defined]
        if claimed and update_id % PRUNE_EVERY == 0:
            await self.prune(before=now - KEEP_PROCESSED)
        return claimed

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
