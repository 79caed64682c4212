"""The whole review loop through the real Dispatcher on SQLite and PostgreSQL: submit,
return with a comment, the author's fix, accept; a reviewer's own edit kept as a version
with one notice to the author."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.database import Storage
from bot.settings import Settings
from handlers.texts import Dialogue, MyEvents, Review
from storage.db import create_engine
from storage.models import Event, EventVersion
from tests.conftest import COORDINATOR_ID, POSTGRES_URL, _reset_postgres, need_postgres
from tests.test_dialogue import fill_event, join
from tests.tg import World, stored_events


@pytest.fixture(params=["sqlite", "postgresql"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """The bot's settings on a fresh SQLite file or an emptied PostgreSQL database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    if request.param == "postgresql":
        need_postgres()
        engine = create_engine(POSTGRES_URL)
        await _reset_postgres(engine)
        await engine.dispose()
        url = POSTGRES_URL
    yield Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=SecretStr("123456:TEST-token-for-recording-session-000"),
        database_url=url,
        coordinator_ids=[COORDINATOR_ID],
    )


async def review_of(storage: Storage, event_id: int) -> tuple[str, str | None]:
    async with storage.sessionmaker() as session:
        event = await session.get(Event, event_id)
        assert event is not None
        return event.review, event.review_comment


async def test_submit_return_fix_accept_and_a_reviewers_own_edit(
    world: World, app_storage: Storage
) -> None:
    author = await join(world, 1801)
    await fill_event(author, "Выставка «Смоленск – Минск»")
    await author.press(Dialogue.SUBMIT)
    [event] = await stored_events(app_storage.sessionmaker)
    desk = world.person(COORDINATOR_ID)
    assert await review_of(app_storage, event.id) == ("pending", None)

    # returned with a comment: the author gets the card with it and «Исправить»
    await desk.press_data(f"ev:open:{event.id}")
    await desk.press(Review.RETURN)
    await desk.send("Укажите официальное название.")
    assert await review_of(app_storage, event.id) == ("returned", "Укажите официальное название.")
    assert "Укажите официальное название." in author.last_text()
    assert author.labels() == [Review.FIX, Review.HISTORY]

    # fixed: on review again, the reviewer told
    await author.press(Review.FIX)
    await author.press("Название")
    await author.send("Международная выставка «Смоленск – Минск»")
    await author.press(Dialogue.SAVE)
    assert (await review_of(app_storage, event.id))[0] == "pending"
    assert desk.last_text().startswith(f"Мероприятие №{event.id} «Международная выставка")

    # accepted
    await desk.press(Review.OPEN)
    await desk.press(Review.ACCEPT)
    assert (await review_of(app_storage, event.id))[0] == "accepted"

    # the reviewer's own edit: a version, one notice to the author, still accepted
    told = len(author.replies())
    await desk.press_data(f"ev:open:{event.id}")
    await desk.press(MyEvents.EDIT)
    await desk.press("Место")
    await desk.send("г. Минск")
    [saved] = await desk.press(Dialogue.SAVE)
    assert saved.text == Dialogue.UPDATED
    [notice] = author.replies()[told:]
    assert "• Место: «г. Минск, Республика Беларусь» → «г. Минск»" in notice.text
    assert (await review_of(app_storage, event.id))[0] == "accepted"

    async with app_storage.sessionmaker() as session:
        versions = list(
            await session.scalars(
                select(EventVersion.field)
                .where(EventVersion.event_id == event.id)
                .order_by(EventVersion.id)
            )
        )
    assert versions == ["review", "name", "review", "review", "place"]
    [history] = await author.press_data(f"rv:hist:{event.id}:0")
    assert history.text.count("\n\n") >= 5 and "г. Минск»" in history.text
