"""aiogram's FSM storage on our engine: a dialogue survives a restart of the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
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
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import current_session
from storage.models import FsmRecord, utcnow

KEY_MAX = FsmRecord.__table__.c.key.type.length
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class SqlAlchemyStorage(BaseStorage):
    """FSM state and data of each chat in one row of `fsm_states`, JSON for the data.

    While an update is handled, the session published in `storage.db.current_session` is
    used, so the new step is committed (or rolled back) with the handler's own writes; on
    SQLite a second transaction would wait for that session's write lock and fail. Outside
    an update each call is its own short transaction.

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
        # Read-only sessions for reads outside an update (aiogram reads the step before our
        # session middleware runs): on SQLite they take no write lock.
        self.reader = reader
        self.key_builder = key_builder or DefaultKeyBuilder(with_bot_id=True, with_destiny=True)

    async def close(self) -> None:
        """Nothing to close: the engine belongs to the application."""

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        """Set the state of `key`, keeping its data; None clears it."""
        value = state.state if isinstance(state, State) else state
        async with self._session() as session:
            await self._upsert(session, self._key(key), state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        """The state of `key`, or None."""
        async with self._session(read_only=True) as session:
            return await session.scalar(
                select(FsmRecord.state).where(FsmRecord.key == self._key(key))
            )

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Replace the data of `key`, keeping its state."""
        if not isinstance(data, dict):
            message = f"Data must be a dict or dict-like object, got {type(data).__name__}"
            raise DataNotDictLikeError(message)
        async with self._session() as session:
            await self._upsert(session, self._key(key), data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """A fresh copy of the data of `key` ({} when there is none)."""
        async with self._session(read_only=True) as session:
            data = await session.scalar(
                select(FsmRecord.data).where(FsmRecord.key == self._key(key))
            )
        return dict(data or {})

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge `data` into the data of `key` (like dict.update) and return the result."""
        row_key = self._key(key)
        async with self._session() as session:
            # Make sure there is a row to lock, so concurrent updates queue up behind it
            # (SQLite's BEGIN IMMEDIATE already serialises writers; this is for PostgreSQL).
            insert = self._insert(session)
            await session.execute(
                insert(FsmRecord)
                .values(key=row_key, state=None, data={}, updated_at=utcnow())
                .on_conflict_do_nothing(index_elements=[FsmRecord.key])
            )
            current = await session.scalar(
                select(FsmRecord.data).where(FsmRecord.key == row_key).with_for_update()
            )
            merged = {**(current or {}), **data}
            await self._upsert(session, row_key, data=merged)
        return dict(merged)

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
    def _insert(session: AsyncSession) -> Any:
        dialect = session.get_bind().dialect.name
        try:
            return _INSERTS[dialect]
        except KeyError:
            raise NotImplementedError(f"no FSM upsert for the {dialect!r} dialect") from None

    async def _upsert(self, session: AsyncSession, row_key: str, **values: Any) -> None:
        """Write `values` (state and/or data) of one row; drop the row once it is empty."""
        values["updated_at"] = utcnow()
        insert = self._insert(session)(FsmRecord)
        statement = (
            insert.values({"state": None, "data": {}, **values, "key": row_key})
            .on_conflict_do_update(
                index_elements=[FsmRecord.key],
                set_={name: insert.excluded[name] for name in values},
            )
            .returning(FsmRecord.state, FsmRecord.data)
        )
        state, data = (await session.execute(statement)).one()
        # The upsert holds the row (a row lock on PostgreSQL, the write lock on SQLite)
        # until commit, so nobody can fill it between this check and the delete.
        if state is None and not data:
            await session.execute(delete(FsmRecord).where(FsmRecord.key == row_key))
