"""Spheres of cooperation: an ordered, configurable list."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import DriverStatement, detached
from storage.models import Sphere

# What the dialogue reads at its steps, as tuples straight from the driver (storage.db):
# the ORM's execution and loading cost ten times as much as these reads.
_COLUMNS = list(Sphere.__table__.c)
_KEYS = [column.key for column in _COLUMNS]
_ROW_BY_ID = DriverStatement(
    select(*_COLUMNS).where(Sphere.__table__.c.id == bindparam("id")),
    [column.type for column in _COLUMNS],
)
_ACTIVE_CHOICES = DriverStatement(
    select(Sphere.__table__.c.id, Sphere.__table__.c.name)
    .where(Sphere.__table__.c.active.is_(True))
    .order_by(Sphere.__table__.c.position),
    [Sphere.__table__.c.id.type, Sphere.__table__.c.name.type],
)


class SphereRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sync(self, names: Sequence[str]) -> list[Sphere]:
        """Make the configured list the active one, in its order.

        Spheres dropped from the configuration stay (old events point at them) but become
        inactive and move after the configured ones.
        """
        existing = {sphere.name: sphere for sphere in await self.session.scalars(select(Sphere))}
        for position, name in enumerate(names):
            sphere = existing.pop(name, None)
            if sphere is None:
                sphere = Sphere(name=name)
                self.session.add(sphere)
            sphere.position, sphere.active = position, True
        for offset, sphere in enumerate(sorted(existing.values(), key=lambda s: s.position)):
            sphere.position, sphere.active = len(names) + offset, False
        await self.session.flush()
        return await self.active()

    async def active(self) -> list[Sphere]:
        """The spheres offered to staff, in report order."""
        query = select(Sphere).where(Sphere.active.is_(True)).order_by(Sphere.position)
        return list(await self.session.scalars(query))

    async def active_choices(self) -> list[tuple[int, str]]:
        """`active` as (id, name), for showing them."""
        return [
            (sphere_id, name) for sphere_id, name in await _ACTIVE_CHOICES.fetch(self.session, {})
        ]

    async def get(self, sphere_id: int) -> Sphere | None:
        """One sphere by id."""
        return await self.session.get(Sphere, sphere_id)

    async def snapshot(self, sphere_id: int) -> Sphere | None:
        """`get` as a detached copy, for reading: to change a sphere, load it with `get`."""
        rows = await _ROW_BY_ID.fetch(self.session, {"id": sphere_id})
        return detached(Sphere, zip(_KEYS, rows[0], strict=True)) if rows else None

    async def by_name(self, name: str) -> Sphere | None:
        """One sphere by its exact name."""
        return await self.session.scalar(select(Sphere).where(Sphere.name == name))

    async def get_or_add_inactive(self, name: str) -> Sphere:
        """A sphere by name; one not configured is kept, inactive, after the others."""
        sphere = await self.by_name(name)
        if sphere is None:
            last = await self.session.scalar(select(func.max(Sphere.position)))
            sphere = Sphere(name=name, position=(last or 0) + 1, active=False)
            self.session.add(sphere)
            await self.session.flush()
        return sphere
