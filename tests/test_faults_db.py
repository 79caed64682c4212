"""The database failing under the bot: SQLite locked by another writer, PostgreSQL dropping
the bot's connections, and 500 people submitting at once on both backends."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import SendMessage
from pydantic import SecretStr
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from bot.app import build_bot, build_dispatcher
from bot.database import Storage, open_storage
from bot.settings import Settings
from handlers.draft import Draft
from handlers.texts import Common, Dialogue
from storage import db
from storage.db import InlineSqliteConnection
from storage.fsm import SqlAlchemyStorage
from storage.models import Event
from storage.repositories import OrganisationRepository, PersonRepository, SphereRepository
from tests import factories
from tests.conftest import COORDINATOR_ID, NOW, POSTGRES_URL, Clock, need_postgres
from tests.factories import dates_prompt
from tests.tcp_proxy import TcpProxy
from tests.test_dialogue import join
from tests.tg import (
    SPHERE,
    Person,
    RecordingSession,
    Sessions,
    World,
    asked_their_names,
    fsm_of,
    reach,
    stored_events,
)

SHORT_BUSY_TIMEOUT_MS = 300
PEOPLE = 500


def make_settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=SecretStr("123456:TEST-token-for-recording-session-000"),
        database_url=database_url,
        coordinator_ids=[COORDINATOR_ID],
    )


async def open_world(settings: Settings, clock: Clock) -> tuple[World, Storage]:
    storage = await open_storage(settings)
    await asked_their_names(storage.sessionmaker, settings.coordinator_ids)
    session = RecordingSession()
    bot = build_bot(settings, session=session)
    return World(build_dispatcher(settings, storage, clock=clock), bot, session), storage


@contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another writer holding SQLite's write lock until the block ends (or it commits)."""
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO counters (name, value) VALUES ('other-writer', 1)")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.rollback()
        other.close()


@contextmanager
def on_write_begin() -> Iterator[asyncio.Event]:
    """Set when the bot next asks SQLite for the write lock (BEGIN IMMEDIATE, which the
    bot's SQLite connection runs itself, not through SQLAlchemy's statements)."""
    asked = asyncio.Event()
    inline = InlineSqliteConnection._execute

    async def watched(self: InlineSqliteConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], str) and args[0].startswith("BEGIN IMMEDIATE"):
            asked.set()
        return await inline(self, fn, *args, **kwargs)

    with patch.object(InlineSqliteConnection, "_execute", watched):
        yield asked


async def snapshot(storage: Storage, user_id: int) -> tuple[str | None, dict[str, Any]]:
    row = await fsm_of(storage.sessionmaker, user_id)
    return (row.state, row.data) if row else (None, {})


# --- SQLite locked by another writer --------------------------------------------------------


async def test_an_update_waits_for_a_lock_released_within_the_busy_timeout(
    world: World, app_storage: Storage, settings: Settings
) -> None:
    person = await join(world, 1501)
    await reach(person, "name")
    path = Path(settings.database_url.split("///", 1)[1])
    with on_write_begin() as asked, write_lock(path) as other:
        asked.clear()
        answer = asyncio.create_task(person.send("Выставка"))
        await asyncio.wait_for(asked.wait(), 10)
        other.commit()  # released while the bot waits for it
        replies = await asyncio.wait_for(answer, 10)

    assert [reply.text for reply in replies] == [
        Dialogue.STEP.format(number=3) + Dialogue.ASK["place"]
    ]
    state, data = await snapshot(app_storage, 1501)
    assert state == "ReportStates:place"
    assert data["draft"]["name"] == "Выставка"


@pytest.fixture
async def short_timeout_world(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clock: Clock
) -> AsyncIterator[tuple[World, Storage, Path]]:
    """A world whose SQLite gives up waiting for the write lock after 0.3 s."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", SHORT_BUSY_TIMEOUT_MS)
    path = tmp_path / "short.db"
    world, storage = await open_world(make_settings(f"sqlite+aiosqlite:///{path}"), clock)
    yield world, storage, path
    await world.bot.session.close()
    await storage.close()


@pytest.mark.parametrize("state", ["name", "dates_confirm", "summary"])
async def test_a_lock_held_past_the_busy_timeout_tells_the_person_and_writes_nothing(
    short_timeout_world: tuple[World, Storage, Path], state: str
) -> None:
    world, storage, path = short_timeout_world
    person = await join(world, 1502)
    await reach(person, state)
    act = {
        "name": lambda: person.send("Выставка"),
        "dates_confirm": lambda: person.press("✔ Верно"),
        "summary": lambda: person.press(Dialogue.SUBMIT),
    }[state]
    before = await snapshot(storage, 1502)

    with write_lock(path):
        replies = await act()
    after = await snapshot(storage, 1502)
    retried = await act()

    assert [reply.text for reply in replies] == [Common.ERROR]
    assert after == before
    assert await stored_events(storage.sessionmaker) == [] or state == "summary"
    assert retried and retried[-1].text != Common.ERROR
    events = await stored_events(storage.sessionmaker)
    assert len(events) == (1 if state == "summary" else 0)


# --- PostgreSQL dropping the bot's connections -------------------------------------------


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own (other suites reset the shared one)."""
    need_postgres()
    name = f"faults_{os.getpid()}"
    admin = db.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            await connection.execute(text(f"CREATE DATABASE {name}"))
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


@pytest.fixture
async def pg_world(pg_url: str, clock: Clock) -> AsyncIterator[tuple[World, Storage]]:
    world, storage = await open_world(make_settings(pg_url), clock)
    yield world, storage
    await world.bot.session.close()
    await storage.close()


async def terminate_backends(storage: Storage) -> int:
    """pg_terminate_backend on every other connection to the database, as a restart does."""
    engine = db.create_engine(storage.engine.url.render_as_string(hide_password=False))
    try:
        async with engine.connect() as connection:
            killed = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await engine.dispose()
    return int(killed or 0)


async def test_postgresql_terminating_the_bots_connections_between_updates_loses_nothing(
    pg_world: tuple[World, Storage],
) -> None:
    world, storage = pg_world
    person = await join(world, 1503)
    await reach(person, "name")

    assert await terminate_backends(storage) >= 1
    [place_question] = await person.send("Выставка")
    await terminate_backends(storage)
    [dates_question] = await person.send("г. Минск")

    assert place_question.text.endswith(Dialogue.ASK["place"])
    assert dates_question.text.endswith(dates_prompt(NOW))
    state, data = await snapshot(storage, 1503)
    assert state == "ReportStates:dates"
    assert (data["draft"]["name"], data["draft"]["place"]) == ("Выставка", "г. Минск")


# --- 500 people at once ---------------------------------------------------------------------


async def seed_people_at_participants(world: World, storage: Storage) -> list[int]:
    """500 reporters of 10 organisations, each with a draft that lacks only participants."""
    fsm = SqlAlchemyStorage(storage.sessionmaker)
    async with storage.sessionmaker() as session, session.begin():
        period = await factories.period(session)
        sphere = await SphereRepository(session).by_name(SPHERE)
        assert sphere is not None
        organisations = [
            await OrganisationRepository(session).add(f"Учреждение {n}") for n in range(10)
        ]
        people = PersonRepository(session)
        for n in range(PEOPLE):
            await people.add(20_000 + n, f"Сотрудник {n}", organisation_id=organisations[n % 10].id)
    async with storage.sessionmaker() as session, session.begin():
        token = db.current_session.set(session)  # every draft in one transaction
        try:
            await seed_drafts(world, fsm, sphere.id, period.id)
        finally:
            db.current_session.reset(token)
    return [20_000 + n for n in range(PEOPLE)]


async def seed_drafts(world: World, fsm: SqlAlchemyStorage, sphere_id: int, period_id: int) -> None:
    for n in range(PEOPLE):
        draft = Draft.new()
        draft.sphere_id, draft.period_id, draft.editing = sphere_id, period_id, True
        draft.name, draft.place, draft.result = f"Событие {n}", f"Место {n}", f"Итог {n}"
        draft.dates = {"start": "2023-10-26", "end": "2023-10-26", "precision": "day"}
        key = StorageKey(bot_id=world.bot.id, chat_id=20_000 + n, user_id=20_000 + n)
        await fsm.set_state(key, "ReportStates:participants")
        await fsm.set_data(key, {"draft": draft.dump()})


async def five_hundred_report_at_once(world: World, storage: Storage) -> None:
    ids = await seed_people_at_participants(world, storage)

    async def report(user_id: int) -> list[str]:
        person = world.person(user_id)
        n = user_id - 20_000
        replies = await person.send(f"Участники {n}, {n + 1} человек")
        assert replies[-1].reply_markup is not None, [r.text for r in replies]
        replies += await person.press(Dialogue.SUBMIT)
        return [reply.text for reply in replies]

    results = await asyncio.gather(*(report(user_id) for user_id in ids))

    for texts in results:
        assert texts[-1] == Dialogue.SUBMITTED.format(period="IV квартал 2023 года"), texts
    events = await stored_events(storage.sessionmaker)
    assert len(events) == PEOPLE
    async with storage.sessionmaker() as session:
        authors = dict((await session.execute(select(Event.id, Event.author_id))).all())
        people = dict((await session.execute(text("SELECT id, telegram_id FROM people"))).all())
        assert await session.scalar(select(func.count(func.distinct(Event.dedup_key)))) == PEOPLE
    seen = set()
    for stored in events:
        n = people[authors[stored.id]] - 20_000
        seen.add(n)
        assert (stored.name, stored.place, stored.result) == (
            f"Событие {n}",
            f"Место {n}",
            f"Итог {n}",
        )
        assert (stored.participants, stored.participant_count) == (
            f"Участники {n}, {n + 1} человек",
            n + 1,
        )
        assert stored.organisation.name == f"Учреждение {n % 10}"
    assert seen == set(range(PEOPLE))


async def test_five_hundred_people_reporting_at_once_on_sqlite(
    world: World, app_storage: Storage
) -> None:
    await five_hundred_report_at_once(world, app_storage)


async def test_five_hundred_people_reporting_at_once_on_postgresql(
    pg_world: tuple[World, Storage],
) -> None:
    await five_hundred_report_at_once(*pg_world)


# --- PostgreSQL restarting: connections cut, refused for a while, accepted again ---------
#
# A TCP proxy (tests/tcp_proxy.py) between the bot and PostgreSQL plays the restart on the
# bot's side only: every connection cut at once (the server rolls back what each had open),
# new connections refused while it is down, then accepted again on the same port. The
# tests look at the database past the proxy, so they can see it while the bot cannot.


@dataclass
class Restarting:
    """The bot on a database reached through the proxy, and a way to it past the proxy."""

    world: World
    storage: Storage
    proxy: TcpProxy
    direct: Sessions


@pytest.fixture
async def restarting(pg_url: str, clock: Clock) -> AsyncIterator[Restarting]:
    url = make_url(pg_url)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through = url.set(host="127.0.0.1", port=proxy.port)
        world, storage = await open_world(
            make_settings(through.render_as_string(hide_password=False)), clock
        )
        direct = db.create_engine(pg_url)
        try:
            yield Restarting(world, storage, proxy, db.create_sessionmaker(direct))
        finally:
            await world.bot.session.close()
            await storage.close()
            await direct.dispose()


@dataclass(frozen=True)
class Stored:
    """What the database holds of a person's report: step, data, events, updates taken."""

    state: str | None
    data: dict[str, Any]
    events: tuple[str, ...]  # the name of each stored event
    claims: int  # rows of processed_updates (all people): one per update committed


async def stored(sessions: Sessions, user_id: int) -> Stored:
    row = await fsm_of(sessions, user_id)
    events = tuple(event.name for event in await stored_events(sessions))
    async with sessions() as session:
        claims = await session.scalar(text("SELECT count(*) FROM processed_updates"))
    return Stored(row.state if row else None, row.data if row else {}, events, int(claims or 0))


# An answer the person gives in a state, and the step the dialogue stores once it is taken.
ANSWERS: dict[str, tuple[Callable[[Person], Awaitable[list[SendMessage]]], str | None]] = {
    "name": (lambda person: person.send("Выставка"), "ReportStates:place"),
    "summary": (lambda person: person.press(Dialogue.SUBMIT), None),
}
SUBMITTED = Dialogue.SUBMITTED.format(period="IV квартал 2023 года")


def shows(state: str | None) -> str:
    """A piece of what the dialogue shows a person waiting in `state`."""
    assert state is not None and state.startswith("ReportStates:"), state
    step = state.split(":", 1)[1]
    return Dialogue.SUMMARY_HEAD if step == "summary" else Dialogue.ASK[step]


def assert_told_to_try_again(replies: list[SendMessage], stored_state: str | None) -> None:
    """One message: Common.ERROR, or the step the database holds shown again after
    Dialogue.AFTER_ERROR; never the question of a step the database does not hold."""
    assert [reply.text.split("\n\n", 1)[0] for reply in replies] in (
        [Common.ERROR],
        [Dialogue.AFTER_ERROR],
    ), [reply.text for reply in replies]
    if replies[0].text != Common.ERROR:
        assert shows(stored_state) in replies[0].text


def assert_answer_taken(
    state: str, replies: list[SendMessage], before: Stored, now: Stored
) -> None:
    """The normal reply to ANSWERS[state], and the update stored whole, once."""
    _, next_state = ANSWERS[state]
    assert now.state == next_state
    assert now.claims == before.claims + 1
    if state == "name":
        assert [reply.text for reply in replies] == [
            Dialogue.STEP.format(number=3) + Dialogue.ASK["place"]
        ]
        assert now.data["draft"]["name"] == "Выставка"
        assert now.events == before.events == ()
    else:
        assert replies[-1].text == SUBMITTED
        assert now.events == (before.data["draft"]["name"],)


@dataclass
class Cut:
    """Where the update's connections are cut: before its `point`-th statement or COMMIT."""

    point: int
    seen: list[str] = field(default_factory=list)  # the statements (and COMMITs) reached

    @property
    def fired(self) -> bool:
        return len(self.seen) >= self.point


@contextmanager
def cut_at(storage: Storage, proxy: TcpProxy, point: int, *, stay_down: bool) -> Iterator[Cut]:
    """PostgreSQL restarting just before the update's `point`-th statement (or COMMIT) is
    sent: every connection cut, and with `stay_down` new ones refused until `proxy.accept`."""
    cut = Cut(point)

    def arrive(what: str) -> None:
        if cut.fired:
            return
        cut.seen.append(what)
        if cut.fired:
            if stay_down:
                proxy.refuse()
            proxy.cut()

    def before_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        arrive(" ".join(statement.split())[:60])

    def before_commit(conn: Any) -> None:
        arrive("COMMIT")

    engine = storage.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before_statement)
    event.listen(engine, "commit", before_commit)
    try:
        yield cut
    finally:
        event.remove(engine, "before_cursor_execute", before_statement)
        event.remove(engine, "commit", before_commit)


@contextmanager
def commit_reply_lost(
    storage: Storage, proxy: TcpProxy, *, stay_down: bool = False
) -> Iterator[list[str]]:
    """PostgreSQL restarting once it has committed the update, before the bot hears so:
    the COMMIT goes through, its answer is lost with every connection, and with
    `stay_down` new connections are refused until `proxy.accept`."""
    commits: list[str] = []

    def before_commit(conn: Any) -> None:
        if not commits:
            commits.append("COMMIT")
            if stay_down:
                proxy.refuse()  # this connection stays, to carry the COMMIT
            proxy.cut_on_next_reply()

    event.listen(storage.engine.sync_engine, "commit", before_commit)
    try:
        yield commits
    finally:
        event.remove(storage.engine.sync_engine, "commit", before_commit)


def refused(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_postgresql_restarting_between_two_answers_loses_nothing(
    restarting: Restarting,
) -> None:
    world, proxy, direct = restarting.world, restarting.proxy, restarting.direct
    person = await join(world, 1504)
    await reach(person, "name")
    before = await stored(direct, 1504)
    assert proxy.open_connections >= 1  # the pool keeps connections between updates

    async with proxy.down():
        assert proxy.open_connections == 0
        assert refused(proxy.port)
    accepted = proxy.accepted
    place_replies = await person.send("Выставка")
    at_place = await stored(direct, 1504)
    async with proxy.down():
        assert refused(proxy.port)
    [dates_question] = await person.send("г. Минск")
    at_dates = await stored(direct, 1504)

    assert proxy.accepted > accepted  # the bot connected afresh, through the same port
    assert_answer_taken("name", place_replies, before, at_place)
    assert dates_question.text.endswith(dates_prompt(NOW))
    assert at_dates.state == "ReportStates:dates"
    draft = at_dates.data["draft"]
    assert (draft["name"], draft["place"]) == ("Выставка", "г. Минск")


@pytest.mark.parametrize("stay_down", [False, True], ids=["back-at-once", "down-for-a-while"])
@pytest.mark.parametrize("state", ["name", "summary"])
async def test_a_restart_at_any_statement_of_an_update_stores_all_of_it_or_none(
    restarting: Restarting, state: str, stay_down: bool
) -> None:
    world, storage, proxy = restarting.world, restarting.storage, restarting.proxy
    person = await join(world, 1505)
    await reach(person, state)
    act, _ = ANSWERS[state]
    before = await stored(restarting.direct, 1505)
    cuts: list[str] = []

    for point in itertools.count(1):
        with cut_at(storage, proxy, point, stay_down=stay_down) as cut:
            replies = await act(person)
        if not cut.fired:
            break
        cuts.append(cut.seen[-1])
        if cut.seen[-1].startswith("DELETE FROM outbox"):  # after the update's COMMIT
            if stay_down:
                await proxy.accept()
            break  # saved and answered; the reply stays owed (bot/outbox.py), once more
        assert await stored(restarting.direct, 1505) == before, f"half-written: cut {cut.seen}"
        assert_told_to_try_again(replies, before.state)
        if stay_down:
            assert [reply.text for reply in replies] == [Common.ERROR]
            await proxy.accept()
    after = await stored(restarting.direct, 1505)

    assert "COMMIT" in cuts and any(cut.startswith("INSERT") for cut in cuts), cuts
    assert_answer_taken(state, replies, before, after)


@pytest.mark.parametrize("state", ["name", "summary"])
async def test_a_restart_hiding_a_commit_shows_the_step_the_database_holds(
    restarting: Restarting, state: str
) -> None:
    world, storage, proxy = restarting.world, restarting.storage, restarting.proxy
    person = await join(world, 1506)
    await reach(person, state)
    act, _ = ANSWERS[state]
    before = await stored(restarting.direct, 1506)

    with commit_reply_lost(storage, proxy) as commits:
        replies = await act(person)
    after = await stored(restarting.direct, 1506)
    if state == "name":
        going_on = await person.send("г. Минск")  # answers the question shown: the place
    else:
        going_on = await act(person)  # presses "Submit" again
    final = await stored(restarting.direct, 1506)

    assert commits == ["COMMIT"]
    assert after.claims == before.claims + 1  # committed: the whole update is stored
    assert_told_to_try_again(replies, after.state)
    if state == "name":
        assert replies[0].text.startswith(Dialogue.AFTER_ERROR)  # shown "place", not "name"
        assert (after.state, after.data["draft"]["name"]) == ("ReportStates:place", "Выставка")
        assert going_on[-1].text.endswith(dates_prompt(NOW))
        assert (final.data["draft"]["name"], final.data["draft"]["place"]) == (
            "Выставка",
            "г. Минск",
        )
    else:
        assert (after.state, after.events) == (None, (before.data["draft"]["name"],))
        assert SUBMITTED not in [reply.text for reply in going_on]
        assert final.events == after.events  # not twice


async def test_a_commit_hidden_by_a_longer_restart_does_not_take_the_retry_for_the_next_answer(
    restarting: Restarting,
) -> None:
    world, storage, proxy = restarting.world, restarting.storage, restarting.proxy
    person = await join(world, 1508)
    await reach(person, "name")

    with commit_reply_lost(storage, proxy, stay_down=True):
        replies = await person.send("Выставка")
    after = await stored(restarting.direct, 1508)
    await proxy.accept()
    retried = await person.send("Выставка")  # as the reply asks
    final = await stored(restarting.direct, 1508)

    assert [reply.text for reply in replies] == [Common.ERROR]  # the step cannot be read
    assert (after.state, after.data["draft"]["name"]) == ("ReportStates:place", "Выставка")
    assert final.data["draft"].get("place") is None, "the name, retried, became the place"
    assert [reply.text for reply in retried] == [
        f"{Dialogue.ALREADY_SAVED}\n\n{Dialogue.STEP.format(number=3)}{Dialogue.ASK['place']}"
    ]
    assert final.state == "ReportStates:place"


@pytest.mark.parametrize("state", ["name", "summary"])
async def test_postgresql_down_while_the_person_answers_tells_them_to_try_again(
    restarting: Restarting, state: str
) -> None:
    world, proxy, direct = restarting.world, restarting.proxy, restarting.direct
    person = await join(world, 1507)
    await reach(person, state)
    act, _ = ANSWERS[state]
    before = await stored(direct, 1507)

    async with proxy.down():
        first = await act(person)
        second = await act(person)  # tries again too soon
        during = await stored(direct, 1507)
    retried = await act(person)
    after = await stored(direct, 1507)

    assert [reply.text for reply in first + second] == [Common.ERROR, Common.ERROR]
    assert during == before
    assert_answer_taken(state, retried, before, after)
