"""aiogram's FSM storage on our engine: a dialogue survives a restart of the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from sqlalchemy import Delete, Select, bindparam, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from storage.db import SqliteStatement, current_session, for_dialect, is_sqlite
from storage.models import FsmRecord, utcnow

TABLE = FsmRecord.__table__
KEY_MAX = TABLE.c.key.type.length
ROWS = "fsm_rows"  # Session.info: key → _Row, the rows this transaction read or wrote

# Core statements built once: building them per call was most of the storage's cost.
_SELECT: Select[Any] = select(TABLE.c.state, TABLE.c.data).where(TABLE.c.key == bindparam("key"))
_SELECT_LOCKED = _SELECT.with_for_update()  # PostgreSQL: same-chat updates queue on the row
_DELETE: Delete = delete(TABLE).where(TABLE.c.key == bindparam("key"))


def _upsert(dialect: Any) -> Any:
    insert = dialect.insert(TABLE)
    return insert.on_conflict_do_update(
        index_elements=[TABLE.c.key],
        set_={name: insert.excluded[name] for name in ("state", "data", "updated_at")},
    )


def _insert_missing(dialect: Any) -> Any:
    return dialect.insert(TABLE).on_conflict_do_nothing(index_elements=[TABLE.c.key])


_SELECTS = {"sqlite": _SELECT, "postgresql": _SELECT_LOCKED}
_UPSERTS = {"sqlite": _upsert(sqlite), "postgresql": _upsert(postgresql)}
# SQLite: the same statements straight on the driver (see storage.db.SqliteStatement).
_SQLITE_SELECT = SqliteStatement(_SELECT, result_types=(TABLE.c.state.type, TABLE.c.data.type))
_SQLITE_UPSERT = SqliteStatement(_UPSERTS["sqlite"])
_SQLITE_DELETE = SqliteStatement(_DELETE)
_INSERT_MISSING = {"sqlite": _insert_missing(sqlite), "postgresql": _insert_missing(postgresql)}


def _copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), much cheaper than deepcopy."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


@dataclass
class _Row:
    """One chat's step and data as this transaction sees them."""

    state: str | None
    data: dict[str, Any]
    stored: bool  # a row exists in the table
    locked: bool  # PostgreSQL: the row is ours until commit (SQLite: the write lock is)
    dirty: bool = False


class SqlAlchemyStorage(BaseStorage):
    """FSM state and data of each chat in one row of `fsm_states`, JSON for the data.

    While an update is handled, the session published in `storage.db.current_session` is
    used, so the new step is committed (or rolled back) with the handler's own writes; on
    SQLite a second transaction would wait for that session's write lock and fail. Outside
    an update each call is its own short transaction.

    A transaction reads a chat's row once (state and data together) and writes it once:
    changes are kept on the session and written just before it commits (a `before_commit`
    listener, so a handler's own `session.commit()` saves the step too). A rollback drops
    them. An update thus costs one SELECT and at most one upsert or delete, whatever mix of
    get/set calls the handlers make.

    Data goes through `json`: keep to str, int, float, bool, None, lists and dicts with
    string keys (a tuple comes back as a list, a date not at all). A row whose state is
    None and whose data is empty is deleted, so the table holds only live dialogues.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        key_builder: KeyBuilder | None = None,
        *,
        reader: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        # Read-only sessions for reads outside an update: on SQLite they take no write lock.
        self.reader = reader
        self.key_builder = key_builder or DefaultKeyBuilder(with_bot_id=True, with_destiny=True)

    async def close(self) -> None:
        """Nothing to close: the engine belongs to the application."""

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        """Set the state of `key`, keeping its data; None clears it."""
        value = state.state if isinstance(state, State) else state
        async with self._session() as session:
            row = await self._writable(session, self._key(key))
            row.state, row.dirty = value, True

    async def get_state(self, key: StorageKey) -> str | None:
        """The state of `key`, or None."""
        async with self._session(read_only=True) as session:
            return (await self._row(session, self._key(key))).state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Replace the data of `key`, keeping its state."""
        if not isinstance(data, dict):
            message = f"Data must be a dict or dict-like object, got {type(data).__name__}"
            raise DataNotDictLikeError(message)
        async with self._session() as session:
            row = await self._writable(session, self._key(key))
            row.data, row.dirty = _copy(data), True

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """A fresh copy of the data of `key` ({} when there is none)."""
        async with self._session(read_only=True) as session:
            return _copy((await self._row(session, self._key(key))).data)

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge `data` into the data of `key` (like dict.update) and return the result."""
        async with self._session() as session:
            row = await self._writable(session, self._key(key))
            row.data, row.dirty = {**row.data, **_copy(dict(data))}, True
            return _copy(row.data)

    @asynccontextmanager
    async def _session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """The update's session if one is published (its owner commits), else a transaction."""
        shared = current_session.get()
        if shared is not None:
            yield shared
            return
        maker = self.reader if read_only and self.reader is not None else self.sessionmaker
        async with maker() as session, session.begin():
            yield session

    def _key(self, key: StorageKey) -> str:
        row_key = self.key_builder.build(key)
        if len(row_key) > KEY_MAX:
            raise ValueError(f"FSM key longer than {KEY_MAX} characters: {row_key!r}")
        return row_key

    @staticmethod
    async def _row(session: AsyncSession, row_key: str) -> _Row:
        """The row as this transaction sees it: read once, then from the session."""
        rows: dict[str, _Row] = session.info.setdefault(ROWS, {})
        row = rows.get(row_key)
        if row is None:
            params = {"key": row_key}
            if is_sqlite(session):
                found = next(iter(await _SQLITE_SELECT.fetch(session, params)), None)
            else:
                query = for_dialect(session, _SELECTS, "FSM storage")
                found = (await session.execute(query, params)).first()
            if found is None:
                # SQLite: the transaction holds the whole database; PostgreSQL: no row to lock
                row = _Row(state=None, data={}, stored=False, locked=is_sqlite(session))
            else:
                state, data = found
                row = _Row(state=state, data=data or {}, stored=True, locked=True)
            rows[row_key] = row
        return row

    async def _writable(self, session: AsyncSession, row_key: str) -> _Row:
        """The row, locked for this transaction: on PostgreSQL a missing row is made first,
        so concurrent first writes of one chat queue up instead of overwriting each other
        (SQLite's BEGIN IMMEDIATE already serialises all writers)."""
        row = await self._row(session, row_key)
        if not row.locked:
            values = {"key": row_key, "state": None, "data": {}, "updated_at": utcnow()}
            await session.execute(for_dialect(session, _INSERT_MISSING, "FSM storage"), values)
            session.info[ROWS].pop(row_key)
            row = await self._row(session, row_key)
            row.stored = True  # the placeholder is deleted at commit if it stays empty
        return row


@event.listens_for(Session, "before_commit")
def _write_rows(session: Session) -> None:
    """Write the rows changed in this transaction: an upsert each, or a delete once empty.

    Runs inside the AsyncSession's greenlet, so the sync-style `execute` is allowed here.
    """
    rows: dict[str, _Row] | None = session.info.get(ROWS)
    if not rows:
        return
    on_sqlite = is_sqlite(session)
    for row_key, row in rows.items():
        if not row.dirty:
            continue
        if row.state is None and not row.data:
            if row.stored and on_sqlite:
                _SQLITE_DELETE.run_sync(session, {"key": row_key})
            elif row.stored:
                session.execute(_DELETE, {"key": row_key})
            row.stored = False
        else:
            values = {"key": row_key, "state": row.state, "data": row.data, "updated_at": utcnow()}
            if on_sqlite:
                _SQLITE_UPSERT.run_sync(session, values)
            else:
                session.execute(for_dialect(session, _UPSERTS, "FSM storage"), values)
            row.stored = True
        row.dirty = False


@event.listens_for(Session, "after_transaction_end")
def _forget_rows(session: Session, transaction: SessionTransaction) -> None:
    """After commit or rollback the next transaction reads the rows again."""
    if transaction.parent is None:
        session.info.pop(ROWS, None)
