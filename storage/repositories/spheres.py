"""Spheres of cooperation: an ordered, configurable list."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Sphere


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

    async def get(self, sphere_id: int) -> Sphere | None:
        """One sphere by id."""
        return await self.session.get(Sphere, sphere_id)

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
