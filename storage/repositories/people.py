"""People: staff who report and coordinators who compile."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import PgStatement, SqliteStatement, detached, is_sqlite
from storage.models import Event, OutboxMessage, Person, utcnow

Role = Literal["reporter", "coordinator"]
_BY_TELEGRAM_ID = select(Person).where(Person.telegram_id == bindparam("telegram_id"))
# The same person as a plain row, for `snapshot` (every update looks its sender up).
_COLUMNS = Person.__table__.c
_KEYS = [column.key for column in _COLUMNS]
_ROW_BY_TELEGRAM_ID = select(*_COLUMNS).where(_COLUMNS.telegram_id == bindparam("telegram_id"))
_SQLITE_ROW_BY_TELEGRAM_ID = SqliteStatement(
    _ROW_BY_TELEGRAM_ID, result_types=[column.type for column in _COLUMNS]
)
_PG_ROW_BY_TELEGRAM_ID = PgStatement(
    _ROW_BY_TELEGRAM_ID, result_types=[column.type for column in _COLUMNS]
)


PLACEHOLDER_NAME = "Координатор {telegram_id}"  # until a coordinator from the settings writes


def placeholder_name(telegram_id: int) -> str:
    """The name a coordinator from COORDINATOR_IDS has until they give their own."""
    return PLACEHOLDER_NAME.format(telegram_id=telegram_id)


def has_placeholder_name(person: Person) -> bool:
    """True for a coordinator who has not yet said their name."""
    return person.full_name == placeholder_name(person.telegram_id)


def person_from_row(row: Sequence[Any]) -> Person:
    """A detached Person from a row of all its columns in table order (`snapshot`): a copy
    of a stored row, not a new one."""
    return detached(Person, zip(_KEYS, row, strict=True))


class PersonRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, person_id: int) -> Person | None:
        """One person by id."""
        return await self.session.get(Person, person_id)

    async def by_telegram_id(self, telegram_id: int) -> Person | None:
        """The person behind a Telegram account, active or not."""
        return await self.session.scalar(_BY_TELEGRAM_ID, {"telegram_id": telegram_id})

    async def snapshot(self, telegram_id: int) -> Person | None:
        """`by_telegram_id` as a detached copy, for reading: not in the session, so made
        without the ORM's loading (a third of its cost). To change a person, load it with
        `get` or `by_telegram_id`."""
        params = {"telegram_id": telegram_id}
        if is_sqlite(self.session):
            rows = await _SQLITE_ROW_BY_TELEGRAM_ID.fetch(self.session, params)
        else:
            rows = await _PG_ROW_BY_TELEGRAM_ID.fetch(self.session, params)
        return person_from_row(rows[0]) if rows else None

    async def add(
        self,
        telegram_id: int,
        full_name: str,
        *,
        organisation_id: int | None = None,
        role: Role = "reporter",
    ) -> Person:
        """A new person."""
        person = Person(
            telegram_id=telegram_id,
            full_name=full_name.strip(),
            organisation_id=organisation_id,
            role=role,
            active=True,
        )
        self.session.add(person)
        await self.session.flush()
        return person

    async def set_role(self, person: Person, role: Role) -> None:
        """Make a person a reporter or a coordinator."""
        person.role = role
        await self.session.flush()

    async def set_active(self, person: Person, active: bool) -> None:
        """Activate or deactivate a person."""
        person.active = active
        await self.session.flush()

    async def erase(self, person: Person, *, at: datetime | None = None) -> int:
        """Erase a person's personal data (a coordinator's decision): the name and the
        Telegram id go, so do their unfinished drafts and any message still owed to their
        chat; the row stays, erased and inactive, so their events keep an author shown as
        erased. The Telegram id becomes minus the row's number: unique, and no Telegram
        user's (theirs are positive), so that account is a stranger from now on. Returns
        the Telegram id they had (for the caller to clear their dialogue).
        """
        telegram_id = person.telegram_id
        await self.session.execute(
            delete(Event).where(Event.author_id == person.id, Event.status == "draft")
        )
        owed = delete(OutboxMessage).where(OutboxMessage.chat_id == telegram_id)
        await self.session.execute(owed)
        person.telegram_id, person.full_name = -person.id, ""
        person.active, person.unreachable_since = False, None
        person.erased_at = at or utcnow()
        await self.session.flush()
        return telegram_id

    async def mark_unreachable(
        self,
        *,
        person_ids: Iterable[int] = (),
        telegram_id: int | None = None,
        at: datetime | None = None,
    ) -> int:
        """Telegram refuses the bot's messages to these people (by ids, or one Telegram id)
        since `at`; an earlier mark is kept. Returns how many were newly marked."""
        ids = list(person_ids)
        if telegram_id is None and not ids:
            return 0
        who = Person.telegram_id == telegram_id if telegram_id is not None else Person.id.in_(ids)
        result = await self.session.execute(
            update(Person)
            .where(who, Person.unreachable_since.is_(None))
            .values(unreachable_since=at or utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def mark_reachable(self, telegram_id: int) -> bool:
        """The person's chat takes the bot's messages again; False if it was not marked."""
        result = await self.session.execute(
            update(Person)
            .where(Person.telegram_id == telegram_id, Person.unreachable_since.is_not(None))
            .values(unreachable_since=None)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def of_organisation(
        self, organisation_id: int, *, active_only: bool = True
    ) -> list[Person]:
        """The people of one organisation, by name."""
        query = select(Person).where(
            Person.organisation_id == organisation_id, Person.erased_at.is_(None)
        )
        if active_only:
            query = query.where(Person.active.is_(True))
        return list(await self.session.scalars(query.order_by(Person.full_name)))

    async def coordinators(self, *, reachable_only: bool = False) -> list[Person]:
        """Active coordinators (only those the bot's messages reach, if asked)."""
        query = select(Person).where(Person.role == "coordinator", Person.active.is_(True))
        if reachable_only:
            query = query.where(Person.unreachable_since.is_(None))
        return list(await self.session.scalars(query.order_by(Person.id)))

    async def bootstrap_coordinators(self, telegram_ids: Iterable[int]) -> list[Person]:
        """Make sure each id from the settings is an active coordinator."""
        people = []
        for telegram_id in telegram_ids:
            person = await self.by_telegram_id(telegram_id)
            if person is None:
                name = placeholder_name(telegram_id)
                person = await self.add(telegram_id, name, role="coordinator")
            else:
                person.role, person.active = "coordinator", True
            people.append(person)
        await self.session.flush()
        return people
