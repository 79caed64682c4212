"""A redelivered update (same update_id, e.g. a webhook retry) is handled once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiogram.types import MessageEntity, Update
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.database import Storage
from storage.models import Organisation, ProcessedUpdate
from storage.repositories import ProcessedUpdateRepository
from storage.repositories.updates import KEEP_PROCESSED, PRUNE_EVERY
from tests.conftest import COORDINATOR_ID
from tests.tg import World


def _neworg(world: World, update_id: int, name: str) -> Update:
    person = world.person(COORDINATOR_ID, "Координатор")
    text = f"/neworg {name}"
    entities = [MessageEntity(type="bot_command", offset=0, length=len("/neworg"))]
    return Update(update_id=update_id, message=person._message(text=text, entities=entities))


async def _organisations(storage: Storage) -> int:
    async with storage.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Organisation)) or 0)


async def test_it_handles_a_redelivered_update_once(world: World, app_storage: Storage) -> None:
    update = _neworg(world, 7001, "Смоленский музей")
    before = await _organisations(app_storage)

    await world.dispatcher.feed_update(world.bot, update)
    await world.dispatcher.feed_update(world.bot, update)

    replies = world.person(COORDINATOR_ID).replies()
    assert len(replies) == 1
    assert await _organisations(app_storage) == before + 1


async def test_it_handles_the_same_update_id_of_another_bot(world: World) -> None:
    async with world.dispatcher.workflow_data["sessionmaker"]() as session, session.begin():
        await ProcessedUpdateRepository(session).claim(world.bot.id + 1, 7002)

    await world.dispatcher.feed_update(world.bot, _neworg(world, 7002, "Другой музей"))

    assert len(world.person(COORDINATOR_ID).replies()) == 1


async def test_it_claims_each_update_once(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session, session.begin():
        updates = ProcessedUpdateRepository(session)
        first = await updates.claim(42, 1)
        second = await updates.claim(42, 1)
        other_bot = await updates.claim(43, 1)

    assert (first, second, other_bot) == (True, False, True)


async def test_it_forgets_a_claim_rolled_back_with_its_update(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        assert await ProcessedUpdateRepository(session).claim(42, 5)
        await session.rollback()

    async with sessionmaker() as session, session.begin():
        claimed = await ProcessedUpdateRepository(session).claim(42, 5)

    assert claimed


async def test_it_prunes_old_claims_now_and_then(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2024, 1, 10, tzinfo=UTC)
    old = now - KEEP_PROCESSED - timedelta(hours=1)
    async with sessionmaker() as session, session.begin():
        updates = ProcessedUpdateRepository(session)
        await updates.claim(42, 1, now=old)
        await updates.claim(42, 2, now=now - timedelta(days=1))
        await updates.claim(42, PRUNE_EVERY + 1, now=now)  # not a pruning id: keeps all
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 3

    async with sessionmaker() as session, session.begin():
        await ProcessedUpdateRepository(session).claim(42, 2 * PRUNE_EVERY, now=now)

    async with sessionmaker() as session:
        left = set(await session.scalars(select(ProcessedUpdate.update_id)))
    assert left == {2, PRUNE_EVERY + 1, 2 * PRUNE_EVERY}
