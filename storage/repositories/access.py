"""Join codes and the strangers' refusal counter."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import for_dialect
from storage.models import Counter, JoinCode, utcnow

STRANGER_REFUSALS = "stranger_refusals"
# A coordinator from COORDINATOR_IDS was asked their name (a flag: 1 once asked).
NAME_ASKED = "name_asked:{person_id}"


def name_asked(person_id: int) -> str:
    """The counter that notes a person was asked their name."""
    return NAME_ASKED.format(person_id=person_id)


def _insert_once(dialect: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING of a counter at 1."""
    return dialect.insert(Counter.__table__).on_conflict_do_nothing(index_elements=["name"])


_INSERTS_ONCE = {"sqlite": _insert_once(sqlite), "postgresql": _insert_once(postgresql)}


class JoinCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        organisation_id: int | None,
        *,
        valid_for: timedelta,
        role: str = "reporter",
        created_by_id: int | None = None,
    ) -> JoinCode:
        """A new random code for an organisation, valid for `valid_for`."""
        code = JoinCode(
            code=secrets.token_urlsafe(12),
            organisation_id=organisation_id,
            role=role,
            created_by_id=created_by_id,
            expires_at=utcnow() + valid_for,
        )
        self.session.add(code)
        await self.session.flush()
        return code

    async def setup_code(self, *, valid_for: timedelta, now: datetime | None = None) -> JoinCode:
        """The one-time code that makes the first coordinator: the usable one, or a new one."""
        query = (
            select(JoinCode)
            .where(
                JoinCode.organisation_id.is_(None),
                JoinCode.role == "coordinator",
                JoinCode.revoked_at.is_(None),
                JoinCode.expires_at > (now or utcnow()),
            )
            .order_by(JoinCode.id.desc())
            .limit(1)
        )
        found = await self.session.scalar(query)
        return found or await self.create(None, valid_for=valid_for, role="coordinator")

    async def spend(self, join_code: JoinCode) -> None:
        """A one-time code used: it opens nothing any more."""
        join_code.revoked_at = utcnow()
        await self.session.flush()

    async def usable(self, code: str, now: datetime | None = None) -> JoinCode | None:
        """The code if it exists, is not revoked and has not expired."""
        found = await self.session.scalar(select(JoinCode).where(JoinCode.code == code))
        if found is None or found.revoked_at is not None:
            return None
        if found.expires_at <= (now or utcnow()):
            return None
        return found

    async def revoke(self, code: str) -> JoinCode | None:
        """Revoke a code; None if there is no such code."""
        found = await self.session.scalar(select(JoinCode).where(JoinCode.code == code))
        if found is not None and found.revoked_at is None:
            found.revoked_at = utcnow()
            await self.session.flush()
        return found

    async def mark_used(self, join_code: JoinCode) -> None:
        """Count one more person joined with this code."""
        await self.session.execute(
            update(JoinCode).where(JoinCode.id == join_code.id).values(uses=JoinCode.uses + 1)
        )


class CounterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def increment(self, name: str, by: int = 1) -> None:
        """Add to a named counter, creating it at zero first."""
        result = await self.session.execute(
            update(Counter).where(Counter.name == name).values(value=Counter.value + by)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            self.session.add(Counter(name=name, value=by))
            await self.session.flush()

    async def first_time(self, name: str) -> bool:
        """Set a counter to 1 unless it exists; True only for the transaction that set it
        (a concurrent one on PostgreSQL waits for this one and gets False if it commits)."""
        insert = for_dialect(self.session, _INSERTS_ONCE, "insert-or-skip")
        result = await self.session.execute(insert, {"name": name, "value": 1})
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def value(self, name: str) -> int:
        """A counter's value (0 if it was never incremented)."""
        counter = await self.session.get(Counter, name)
        return counter.value if counter else 0
