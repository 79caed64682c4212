"""The outbox: messages (and jobs) an update owes the person until Telegram confirmed them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, Subquery, any_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from storage.db import PgStatement, SqliteStatement, is_sqlite
from storage.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

ERROR_MAX = 500
JOB_PREFIX = "job:"  # `method` of a job: work redone from its payload (bot/outbox.py)
# `method` of a notice: a sendMessage queued behind the row it names (`notice:<row id>`),
# dropped with that row if it is given up (bot/owed.py: «ответьте на вопрос выше»).
NOTICE_PREFIX = "notice:"
JOB_MIN_LEASE = timedelta(minutes=10)


def job_lease(lease: timedelta) -> timedelta:
    """How long a job is left to whoever started it (compiling and uploading take time)."""
    return max(lease * 6, JOB_MIN_LEASE)


_TABLE = OutboxMessage.__table__
# The two statements of every reply, prebuilt (and run on SQLite's driver: storage.db).
_DONE = delete(_TABLE).where(_TABLE.c.id == bindparam("id", type_=Integer()))
_ADD_ONE = (
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
    .returning(_TABLE.c.id)
)
_SQLITE_ADD = SqliteStatement(_ADD_ONE, result_types=[Integer()])
_PG_ADD = PgStatement(_ADD_ONE, result_types=[Integer()])
_SQLITE_DONE = SqliteStatement(_DONE)
# PostgreSQL: a batch of rows in one statement whatever its size (one prepared statement).
_PG_DONE_ALL = PgStatement(
    delete(_TABLE).where(_TABLE.c.id == any_(bindparam("ids", type_=ARRAY(Integer()))))
)


_OWED_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.chat_id,
    OutboxMessage.method,
    OutboxMessage.payload,
    OutboxMessage.attempts,
    OutboxMessage.owner,
    OutboxMessage.due_at,
    OutboxMessage.created_at,
)
# A chat's rows that tell what it is owed: undelivered, or delivered since `since`; no jobs.
_OF_CHAT_ROWS = (
    OutboxMessage.bot_id == bindparam("bot_id"),
    OutboxMessage.chat_id == bindparam("chat_id"),
    OutboxMessage.method.not_like(JOB_PREFIX + "%"),
    or_(
        OutboxMessage.delivered_at.is_(None),
        OutboxMessage.delivered_at >= bindparam("since"),
    ),
)
# Run before an update with several workers (bot/outbox.py `settle_chat`; on PostgreSQL
# only when the claim found the chat owed something, bot/owed.py): built once, not per
# call (building the SELECT was half of that check's time).
_OF_CHAT = (
    select(*_OWED_COLUMNS, OutboxMessage.delivered_at)
    .where(*_OF_CHAT_ROWS)
    .order_by(OutboxMessage.id)
)
_PG_OF_CHAT = PgStatement(_OF_CHAT, result_types=[c.type for c in _OF_CHAT.selected_columns])


def chat_summary() -> Subquery:
    """What `of_chat` tells of a chat, in one row whatever the chat holds, for another
    statement to read along (the update's claim: storage/repositories/updates.py): `owed`,
    whether any of its messages is still owed (jobs left out; NULL when the chat has no
    row at all), and `delivered_at`, the latest delivery of one owed after a crash since
    `since` (NULL: none). Its parameters: `bot_id`, `chat_id`, `since`.

    The same rows as `_OF_CHAT` (so the same index), aggregated: no GROUP BY, hence
    exactly one row."""
    return (
        select(
            func.bool_or(OutboxMessage.delivered_at.is_(None)).label("owed"),
            func.max(OutboxMessage.delivered_at).label("delivered_at"),
        )
        .where(*_OF_CHAT_ROWS)
        .subquery("chat_outbox")
    )


def notice_method(behind: int) -> str:
    """The `method` of a notice queued behind row `behind`."""
    return f"{NOTICE_PREFIX}{behind}"


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

    @property
    def is_job(self) -> bool:
        return self.method.startswith(JOB_PREFIX)

    @property
    def behind(self) -> int | None:
        """For a notice, the row it was queued behind; None for any other row."""
        if not self.method.startswith(NOTICE_PREFIX):
            return None
        return int(self.method.removeprefix(NOTICE_PREFIX))


@dataclass(frozen=True, slots=True)
class ChatRows:
    """What the outbox holds for one chat: the rows still owed (oldest first), and when
    the latest message owed after a crash reached the chat (None: none within a day)."""

    owed: list[Owed]
    delivered_at: datetime | None


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

        The row is `owner`'s from the start (written before the commit, so no other worker
        can see it unowned); until `due_at` (the lease of whoever is sending it now) a
        worker that cannot tell whether the owner lives leaves it be.
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
        add = _SQLITE_ADD if is_sqlite(self.session) else _PG_ADD
        return int((await add.fetch(self.session, values))[0][0])

    async def done(self, row_id: int) -> None:
        """Telegram confirmed it (or refused it for good): forget the row."""
        if is_sqlite(self.session):
            await _SQLITE_DONE.run(self.session, {"id": row_id})
        else:
            await self.session.execute(_DONE, {"id": row_id})

    async def drop_notices_behind(self, row_id: int, chat_id: int) -> int:
        """Forget the notices still owed that were queued behind `row_id` (of `chat_id`,
        whose index finds them); how many."""
        result = await self.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.method == notice_method(row_id),
                OutboxMessage.delivered_at.is_(None),
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def done_all(self, row_ids: list[int]) -> None:
        """Forget several rows (on SQLite one prebuilt statement each, on PostgreSQL one
        for all; both on the driver)."""
        if is_sqlite(self.session):
            for row_id in row_ids:
                await _SQLITE_DONE.run(self.session, {"id": row_id})
            return
        await _PG_DONE_ALL.run(self.session, {"ids": row_ids})

    async def owed(
        self, *, due_by: datetime | None, after_id: int = 0, limit: int = 100
    ) -> list[Owed]:
        """Undelivered rows after `after_id` whose lease ended by `due_by` (all when None),
        oldest first."""
        query = (
            select(*_OWED_COLUMNS)
            .where(OutboxMessage.id > after_id, OutboxMessage.delivered_at.is_(None))
            .order_by(OutboxMessage.id)
        )
        if due_by is not None:
            query = query.where(OutboxMessage.due_at <= due_by)
        return [Owed(*row) for row in (await self.session.execute(query.limit(limit))).all()]

    async def of_chat(self, bot_id: int, chat_id: int, *, delivered_since: datetime) -> ChatRows:
        """The chat's messages still owed (jobs left out: they are no questions), and the
        latest delivery of one owed after a crash since `delivered_since`."""
        parameters = {"bot_id": bot_id, "chat_id": chat_id, "since": delivered_since}
        if is_sqlite(self.session):
            rows = list((await self.session.execute(_OF_CHAT, parameters)).all())
        else:
            rows = await _PG_OF_CHAT.fetch(self.session, parameters)
        owed = [Owed(*row[:-1]) for row in rows if row[-1] is None]
        times = [row[-1] for row in rows if row[-1] is not None]
        return ChatRows(owed, max(times) if times else None)

    async def deliveries(self, *, since: datetime) -> dict[int, datetime]:
        """Chat → the latest delivery since `since` of a message owed after a crash."""
        rows = await self.session.execute(
            select(OutboxMessage.chat_id, func.max(OutboxMessage.delivered_at))
            .where(
                OutboxMessage.delivered_at >= since,
                OutboxMessage.method.not_like(JOB_PREFIX + "%"),
            )
            .group_by(OutboxMessage.chat_id)
        )
        return {int(chat): at for chat, at in rows.all()}

    async def take(
        self,
        row_id: int,
        *,
        due_by: datetime | None,
        lease_until: datetime,
        owner: str | None = None,
        seen_owner: str | None = None,
        seen_attempts: int | None = None,
    ) -> bool:
        """Take the row for delivery (`owner`'s now, its lease moved on, an attempt
        counted) if it is still undelivered and `seen_owner`'s (and, with `due_by`, past
        its lease); False when another worker took it first (or it is gone).

        With `seen_attempts` the row must also be as it was read: every take counts an
        attempt, so of two workers that read the row alike (a taker that found its owner
        dead, and the owner checking before it sends) exactly one gets it.
        """
        condition = [
            OutboxMessage.id == row_id,
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.owner.is_not_distinct_from(seen_owner),
        ]
        if seen_attempts is not None:
            condition.append(OutboxMessage.attempts == seen_attempts)
        if due_by is not None:
            condition.append(OutboxMessage.due_at <= due_by)
        result = await self.session.execute(
            update(OutboxMessage)
            .where(*condition)
            .values(due_at=lease_until, attempts=OutboxMessage.attempts + 1, owner=owner)
        )
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def delivered(self, row_id: int, at: datetime) -> None:
        """Delivered after its process died: kept a day with when (see `of_chat`)."""
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(delivered_at=at, last_error=None)
        )

    async def prune(self, *, delivered_before: datetime) -> None:
        """Forget the delivered rows older than `delivered_before`."""
        await self.session.execute(
            delete(OutboxMessage).where(OutboxMessage.delivered_at < delivered_before)
        )

    async def give_back(
        self, row_id: int, error: str, *, owner: str | None, attempts: int, retry_at: datetime
    ) -> bool:
        """The attempt that took the row did not count (Telegram was down): the row is kept,
        due again at `retry_at`, its `attempts` one less, if it is still as this attempt
        left it (`owner`'s, with `attempts`); False when another worker took it meanwhile."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.delivered_at.is_(None),
                OutboxMessage.owner.is_not_distinct_from(owner),
                OutboxMessage.attempts == attempts,
            )
            .values(
                attempts=OutboxMessage.attempts - 1, due_at=retry_at, last_error=error[:ERROR_MAX]
            )
        )
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def count(self) -> int:
        """How many rows are owed (for tests and `/status`-like checks)."""
        rows = await self.session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.delivered_at.is_(None))
        )
        return len(rows.all())


async def done_all_apart(bind: AsyncEngine | AsyncConnection | None, row_ids: list[int]) -> None:
    """Forget several rows in a transaction of their own (not a session's).

    On PostgreSQL one statement run alone, in autocommit (`PgStatement.run_alone`): one
    round trip, on a pooled connection handed out without the BEGIN that pings it. If that
    connection turns out gone (the server closed it; it is invalidated), the rows are
    forgotten once more as in any transaction, on a connection that answered its BEGIN
    (`ping_by_beginning`: one the server closed too is replaced first), so three round
    trips then. On SQLite (in the process: no round trips) that transaction at once.
    """
    if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
        try:
            await _PG_DONE_ALL.run_alone(bind, {"ids": row_ids})
            return
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            log.info("outbox rows %s: their connection was gone; once more on another", row_ids)
    async with AsyncSession(bind=bind) as session:
        await OutboxRepository(session).done_all(row_ids)
        await session.commit()
