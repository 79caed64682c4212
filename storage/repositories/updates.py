"""Telegram updates already taken: a redelivered update (a webhook retry) is skipped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Boolean, bindparam, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import SqliteStatement, for_dialect, is_sqlite
from storage.models import OutboxMessage, ProcessedUpdate, utcnow

# Telegram gives up redelivering an update within a day; a week is plenty.
KEEP_PROCESSED = timedelta(days=7)
PRUNE_EVERY = 500  # update ids: prune on every 500th claim (ids grow by one per update)


def _claim_statement(dialect: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, built once (it runs for every update)."""
    table = ProcessedUpdate.__table__
    return dialect.insert(table).on_conflict_do_nothing(index_elements=["bot_id", "update_id"])


_CLAIMS = {"sqlite": _claim_statement(sqlite), "postgresql": _claim_statement(postgresql)}
_SQLITE_CLAIM = SqliteStatement(_CLAIMS["sqlite"])  # straight on the driver (storage.db)
# The claim that also tells whether anything is owed to the update's chat (bot.outbox): an
# index probe in the same statement, so the usual case (nothing owed) costs no round trip.
_OWED = exists().where(
    OutboxMessage.bot_id == bindparam("owed_bot", type_=BigInteger()),
    OutboxMessage.chat_id == bindparam("owed_chat", type_=BigInteger()),
)
_CLAIMS_OWED = {name: claim.returning(_OWED) for name, claim in _CLAIMS.items()}
_SQLITE_CLAIM_OWED = SqliteStatement(_CLAIMS_OWED["sqlite"], result_types=[Boolean()])


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

    async def claim_for_chat(
        self, bot_id: int, update_id: int, chat_id: int, *, now: datetime | None = None
    ) -> tuple[bool, bool]:
        """`claim`, and whether anything is owed to `chat_id` (bot.outbox) as the update is
        claimed: (claimed, owed). A redelivery (not claimed) is reported as owing nothing
        (the caller asks `OutboxRepository.any_owed` then: it is rare)."""
        now = now or utcnow()
        values = {
            "bot_id": bot_id,
            "update_id": update_id,
            "created_at": now,
            "owed_bot": bot_id,
            "owed_chat": chat_id,
        }
        if is_sqlite(self.session):
            rows = await _SQLITE_CLAIM_OWED.fetch(self.session, values)
            row = rows[0] if rows else None
        else:
            claim = for_dialect(self.session, _CLAIMS_OWED, "insert-or-skip")
            row = (await self.session.execute(claim, values)).first()
        if row is None:
            return False, False
        if update_id % PRUNE_EVERY == 0:
            await self.prune(before=now - KEEP_PROCESSED)
        return True, bool(row[0])

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
