"""The outbox: messages (and jobs) an update owes the person until Telegram confirmed them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import SqliteStatement, is_sqlite
from storage.models import OutboxMessage, utcnow

ERROR_MAX = 500
JOB_PREFIX = "job:"  # `method` of a job: work redone from its payload (bot/outbox.py)
JOB_MIN_LEASE = timedelta(minutes=10)
# `method` of a fence: a message of the chat delivered by another than the update that wrote
# it (after a crash), at `created_at`; a text the person dated before it was typed without
# it (bot/outbox.py). Kept until `due_at`, or until the chat's next message after it.
FENCE = "fence"


def job_lease(lease: timedelta) -> timedelta:
    """How long a job is left to whoever started it (compiling and uploading take time)."""
    return max(lease * 6, JOB_MIN_LEASE)


_TABLE = OutboxMessage.__table__
# The two statements of every reply, prebuilt (and run on SQLite's driver: storage.db).
_ADD = insert(_TABLE).returning(_TABLE.c.id)
_DONE = delete(_TABLE).where(_TABLE.c.id == bindparam("id", type_=Integer()))
_SQLITE_ADD = SqliteStatement(
    insert(_TABLE)
    .values(
        bot_id=bindparam("bot_id"),
        chat_id=bindparam("chat_id"),
        method=bindparam("method"),
        payload=bindparam("payload"),
        created_at=bindparam("created_at"),
        due_at=bindparam("due_at"),
        attempts=bindparam("attempts"),
        owner=bindparam("owner"),
    )
    .returning(_TABLE.c.id),
    result_types=[Integer()],
)
_SQLITE_DONE = SqliteStatement(_DONE)


@dataclass(frozen=True, slots=True)
class Owed:
    """One undelivered row, as read for delivery."""

    id: int
    chat_id: int
    method: str
    payload: str
    attempts: int
    owner: str | None = None
    due_at: datetime | None = None
    created_at: datetime | None = None


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        bot_id: int,
        chat_id: int,
        method: str,
        payload: str,
        *,
        due_at: datetime,
        now: datetime | None = None,
        owner: str | None = None,
    ) -> int:
        """Record what is owed to `chat_id`, in the session's transaction; the row's id.

        Until `due_at` (the lease of whoever is sending it now) other workers leave it be.
        """
        values = {
            "bot_id": bot_id,
            "chat_id": chat_id,
            "method": method,
            "payload": payload,
            "created_at": now or utcnow(),
            "due_at": due_at,
            "attempts": 0,
            "owner": owner,
        }
        if is_sqlite(self.session):
            return int((await _SQLITE_ADD.fetch(self.session, values))[0][0])
        return int((await self.session.execute(_ADD, values)).scalar_one())

    async def done(self, row_id: int) -> None:
        """Telegram confirmed it (or refused it for good): forget the row."""
        if is_sqlite(self.session):
            await _SQLITE_DONE.run(self.session, {"id": row_id})
        else:
            await self.session.execute(_DONE, {"id": row_id})

    async def fenced(self, row_id: int, *, at: datetime, keep_until: datetime) -> None:
        """Delivered at `at`, by another than the update that wrote it: the row becomes the
        chat's fence (see FENCE)."""
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(
                method=FENCE,
                payload="",
                created_at=at,
                due_at=keep_until,
                owner=None,
                last_error=None,
            )
        )

    async def clear_fences(self, bot_id: int, chat_id: int, *, up_to: datetime) -> None:
        """Forget the chat's fences up to `up_to` (the person wrote after them)."""
        await self.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.bot_id == bot_id,
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.method == FENCE,
                OutboxMessage.created_at <= up_to,
            )
        )

    async def done_all(self, row_ids: list[int]) -> None:
        """Forget several rows (on SQLite one prebuilt statement each, on the driver)."""
        if is_sqlite(self.session):
            for row_id in row_ids:
                await _SQLITE_DONE.run(self.session, {"id": row_id})
            return
        await self.session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(row_ids)))

    async def owed(
        self,
        *,
        due_by: datetime | None,
        after_id: int = 0,
        limit: int = 100,
        chat: tuple[int, int] | None = None,
    ) -> list[Owed]:
        """Rows after `after_id` whose lease ended by `due_by` (all when None), oldest first;
        `chat` (bot id, chat id): only that chat's."""
        query = (
            select(
                OutboxMessage.id,
                OutboxMessage.chat_id,
                OutboxMessage.method,
                OutboxMessage.payload,
                OutboxMessage.attempts,
                OutboxMessage.owner,
                OutboxMessage.due_at,
                OutboxMessage.created_at,
            )
            .where(OutboxMessage.id > after_id)
            .order_by(OutboxMessage.id)
        )
        if due_by is not None:
            query = query.where(OutboxMessage.due_at <= due_by)
        if chat is not None:
            query = query.where(OutboxMessage.bot_id == chat[0], OutboxMessage.chat_id == chat[1])
        return [Owed(*row) for row in (await self.session.execute(query.limit(limit))).all()]

    async def any_owed(self, bot_id: int, chat_id: int) -> bool:
        """Whether anything is owed to the chat."""
        query = select(OutboxMessage.id).where(
            OutboxMessage.bot_id == bot_id, OutboxMessage.chat_id == chat_id
        )
        return (await self.session.scalars(query.limit(1))).first() is not None

    async def take(
        self,
        row_id: int,
        *,
        due_by: datetime | None,
        lease_until: datetime,
        owner: str | None = None,
        taking_over: bool = False,
        from_owner: str | None = None,
    ) -> bool:
        """Take the row for delivery (its lease moved on, an attempt counted, `owner` its
        owner now); False when another worker took it first (or it is gone).

        Taken when its lease ended by `due_by` (None: in any case) or, `taking_over`,
        when it still belongs to `from_owner` (one found dead: of two workers taking it over
        at once, one wins)."""
        condition = [OutboxMessage.id == row_id]
        if taking_over:
            condition.append(OutboxMessage.owner.is_not_distinct_from(from_owner))
        elif due_by is not None:
            condition.append(OutboxMessage.due_at <= due_by)
        result = await self.session.execute(
            update(OutboxMessage)
            .where(*condition)
            .values(due_at=lease_until, attempts=OutboxMessage.attempts + 1, owner=owner)
        )
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def failed(self, row_id: int, error: str) -> None:
        """Keep the row for a later attempt, with why this one failed."""
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(last_error=error[:ERROR_MAX])
        )

    async def count(self) -> int:
        """How many rows are owed (for tests and `/status`-like checks)."""
        rows = await self.session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.method != FENCE)
        )
        return len(rows.all())
