"""Organisations: ministries and the institutions under them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Organisation


class OrganisationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, organisation_id: int) -> Organisation | None:
        """One organisation by id."""
        return await self.session.get(Organisation, organisation_id)

    async def by_name(self, name: str) -> Organisation | None:
        """One organisation by its exact name."""
        return await self.session.scalar(select(Organisation).where(Organisation.name == name))

    async def add(self, name: str, parent_id: int | None = None) -> Organisation:
        """A new organisation, optionally under a parent."""
        organisation = Organisation(name=name.strip(), parent_id=parent_id)
        self.session.add(organisation)
        await self.session.flush()
        return organisation

    async def get_or_add(self, name: str, parent_id: int | None = None) -> Organisation:
        """The organisation with this name, created if missing."""
        return await self.by_name(name.strip()) or await self.add(name, parent_id)

    async def children(self, parent_id: int) -> list[Organisation]:
        """The institutions directly under an organisation, by name."""
        query = (
            select(Organisation)
            .where(Organisation.parent_id == parent_id)
            .order_by(Organisation.name)
        )
        return list(await self.session.scalars(query))

    async def all(self) -> list[Organisation]:
        """Every organisation, by name."""
        return list(await self.session.scalars(select(Organisation).order_by(Organisation.name)))
