"""Access, role by role: what a reporter of another organisation, a reporter asking for the
desk, a stranger and a deactivated person may not do, each refusal leaving every table of
the database as it was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from aiogram.types import BufferedInputFile
from docx import Document
from sqlalchemy import select, text, update
from sqlalchemy.orm import selectinload

from bot.database import Storage
from handlers.commands import COORDINATOR_COMMANDS, REPORTER_COMMANDS
from handlers.texts import Common, Desk, Dialogue, Duplicates, Join, Review, ReviewPairs
from storage.models import Base, DuplicatePair, Event, JoinCode, PeriodNote
from storage.models import Person as PersonRow
from storage.repositories.access import STRANGER_REFUSALS
from storage.repositories.duplicates import DuplicateRepository, decision_version
from tests.conftest import COORDINATOR_ID
from tests.test_dialogue import LINK, fill_event, join
from tests.tg import Person, World, counter, stored_events

MUSEUM, THEATRE = "Смоленский музей", "Смоленский театр"
# Rows that change on every update whatever it does: the update ledger and counters.
VOLATILE = {"processed_updates", "counters"}


@dataclass
class Scene:
    """A museum reporter (Anna) with an event, a theatre reporter (Boris), a note."""

    anna: Person
    boris: Person
    event_id: int
    period_id: int
    note_id: int
    anna_row_id: int


async def database(storage: Storage) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every lasting table, in a stable order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    async with storage.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in VOLATILE:
                continue
            rows = await session.execute(select(table))
            tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return tables


@pytest.fixture
async def scene(world: World, app_storage: Storage) -> Scene:
    anna = await join(world, 701, MUSEUM)
    await fill_event(anna, name="Выставка музея")
    await anna.press(Dialogue.SUBMIT)
    boris = await join(world, 702, THEATRE)
    coordinator = world.person(COORDINATOR_ID)
    await coordinator.send("/note Примечание координатора")
    [event] = await stored_events(app_storage.sessionmaker)
    async with app_storage.sessionmaker() as session:
        note_id = await session.scalar(select(PeriodNote.id))
        anna_row = await session.scalar(select(PersonRow.id).where(PersonRow.telegram_id == 701))
    assert note_id is not None and anna_row is not None
    return Scene(anna, boris, event.id, event.period_id, note_id, anna_row)


# --- a reporter and another organisation's events ------------------------------------------


@pytest.mark.parametrize("action", ["open", "edit", "del", "delyes", "delno", "copy"])
async def test_a_reporter_cannot_touch_another_organisations_event(
    scene: Scene, app_storage: Storage, action: str
) -> None:
    before = await database(app_storage)

    replies = await scene.boris.press_data(f"ev:{action}:{scene.event_id}")

    assert replies == []
    assert scene.boris.alerts() == [Common.STALE_BUTTON]
    assert await database(app_storage) == before


@pytest.mark.parametrize("view", ["mine", "org", "earlier"])
async def test_a_reporters_lists_never_show_another_organisations_events(
    scene: Scene, view: str
) -> None:
    await scene.boris.send("/my")
    replies = await scene.boris.press_data(f"ls:{view}")

    shown = [reply.text for reply in scene.boris.replies()]
    buttons = [
        button.callback_data
        for reply in scene.boris.replies()
        if reply.reply_markup is not None
        for row in reply.reply_markup.inline_keyboard  # type: ignore[union-attr]
        for button in row
    ]
    assert all("Выставка музея" not in text for text in shown)
    assert all(str(scene.event_id) not in (data or "").split(":")[-1:] for data in buttons)
    assert len(replies) <= 1


# --- a reporter and the desk ---------------------------------------------------------------

# /review answers every known person (a reviewer may be a reporter): tested below.
DESK_ONLY = sorted(
    {name for name, _ in COORDINATOR_COMMANDS} - {n for n, _ in REPORTER_COMMANDS} - {"review"}
)
DESK_ARGUMENTS = {
    "report": "2023-Q4",
    "status": "2023-Q4",
    "remind": "2023-Q4",
    "deadline": "2023-Q4 01.02.2024",
    "close": "2023-Q4",
    "reopen": "2023-Q4",
    "note": "Моё примечание",
    "neworg": "Моя организация",
    "link": MUSEUM,
    "revoke": "CODE",
    "people": MUSEUM,
    "deactivate": "701",
    "coordinator": "702",
    "persondata": "701",
    "erase": "701",
    "duplicates": "2023-Q4",
    "parent": f"{MUSEUM} | {THEATRE}",
    "reviewer": f"702 {MUSEUM}",
    "unreviewer": f"702 {MUSEUM}",
    "stats": "2023-Q4",
}


def test_every_desk_command_is_in_the_table() -> None:
    assert DESK_ONLY and set(DESK_ONLY) <= set(DESK_ARGUMENTS) | {"orgs", "notes"}


@pytest.mark.parametrize("bare", [True, False], ids=["bare", "with-arguments"])
@pytest.mark.parametrize("command", DESK_ONLY)
async def test_a_reporter_cannot_use_a_coordinator_command(
    scene: Scene, app_storage: Storage, command: str, bare: bool
) -> None:
    args = "" if bare else DESK_ARGUMENTS.get(command, "")
    before = await database(app_storage)

    replies = await scene.boris.send(f"/{command} {args}".strip())

    assert [reply.text for reply in replies] == [Common.COORDINATOR_ONLY]
    assert scene.boris.documents() == []
    assert await database(app_storage) == before


def desk_buttons(scene: Scene) -> list[str]:
    return [
        f"rp:{scene.period_id}",
        f"xl:{scene.period_id}",
        f"ra:{scene.period_id}",
        f"nt:{scene.period_id}:{scene.note_id}",
        f"pp:off:{scene.anna_row_id}",
        f"pp:keep:{scene.anna_row_id}",
        f"pp:erase:{scene.anna_row_id}",
        f"pp:spare:{scene.anna_row_id}",
    ]


@pytest.mark.parametrize(
    "index",
    range(8),
    ids=["report", "xlsx", "accepted", "note", "deactivate", "keep", "erase", "spare"],
)
async def test_a_reporter_cannot_press_a_coordinators_button(
    scene: Scene, app_storage: Storage, index: int
) -> None:
    before = await database(app_storage)

    replies = await scene.boris.press_data(desk_buttons(scene)[index])

    assert replies == []
    assert scene.boris.alerts() == [Common.STALE_BUTTON]
    assert scene.boris.documents() == []
    assert await database(app_storage) == before


async def test_a_colleague_may_open_but_not_change_an_event(
    world: World, scene: Scene, app_storage: Storage
) -> None:
    colleague = await join(world, 703, MUSEUM)
    before = await database(app_storage)

    [card] = await colleague.press_data(f"ev:open:{scene.event_id}")
    for action in ("edit", "del", "delyes"):
        await colleague.press_data(f"ev:{action}:{scene.event_id}")

    assert "Выставка музея" in card.text
    assert colleague.alerts() == [Common.STALE_BUTTON] * 3
    assert await database(app_storage) == before


# --- strangers, deactivated people, codes --------------------------------------------------

STRANGER_MESSAGES = [
    "/new",
    "/my",
    "/nothing",
    "/help",
    "/cancel",
    "/start",
    "/report 2023-Q4",
    "/neworg Чужая",
    "/coordinator 1",
    "/erase 702",
    "/persondata 702",
    "/review",
    "/parent Чужая | Другая",
    "/reviewer 702 Чужая",
    "/unreviewer 702 Чужая",
    "Здравствуйте",
]
STRANGER_BUTTONS = [
    "d:submit:summary",
    "d:force:summary",
    "sp:1",
    "ev:open:1",
    "ev:delyes:1",
    "rp:1",
    "no:say:1",
    "pp:erase:1",
    "du:merge:1:1:0",
    "du:apart:1:1:0",
    "dx:1:1:1",
    "rx:1:1:1",
    "rv:ok:1:0",
    "rv:ret:1:0",
    "rv:hist:1:0",
    "rq:0:0",
]


async def deactivated(world: World, scene: Scene) -> Person:
    """Anna, deactivated by the coordinator."""
    coordinator = world.person(COORDINATOR_ID)
    await coordinator.send("/deactivate 701")
    await coordinator.press(Desk.DEACTIVATE_YES)
    return scene.anna


async def erased(world: World, scene: Scene) -> Person:
    """Anna, her personal data erased by the coordinator."""
    coordinator = world.person(COORDINATOR_ID)
    await coordinator.send("/erase 701")
    await coordinator.press(Desk.ERASE_YES)
    return scene.anna


@pytest.mark.parametrize("who", ["stranger", "deactivated", "erased"])
async def test_a_stranger_can_do_nothing_and_only_the_refusals_are_counted(
    world: World, scene: Scene, app_storage: Storage, who: str
) -> None:
    if who == "stranger":
        person = world.person(704)
    else:
        person = await (deactivated if who == "deactivated" else erased)(world, scene)
    refusals = await counter(app_storage.sessionmaker, STRANGER_REFUSALS)
    before = await database(app_storage)

    texts = [reply.text for message in STRANGER_MESSAGES for reply in await person.send(message)]
    for data in STRANGER_BUTTONS:
        assert await person.press_data(data) == []

    assert texts == [Common.stranger(person.user.id)] * len(STRANGER_MESSAGES)
    assert person.alerts()[-len(STRANGER_BUTTONS) :] == [
        Common.stranger_alert(person.user.id)
    ] * len(STRANGER_BUTTONS)
    assert person.documents() == []
    assert await database(app_storage) == before
    assert await counter(app_storage.sessionmaker, STRANGER_REFUSALS) == refusals + len(
        STRANGER_MESSAGES
    ) + len(STRANGER_BUTTONS)


async def a_code(world: World) -> str:
    [reply] = await world.person(COORDINATOR_ID).send(f"/link {THEATRE}")
    found = LINK.search(reply.text)
    assert found is not None
    return found.group(1)


async def test_a_stranger_at_a_bad_link_or_a_button_is_shown_their_telegram_id(
    world: World,
) -> None:
    telegram_id = 9_876_543_210_123  # longer than any id today: the alert still fits
    stranger = world.person(telegram_id)

    [refusal] = await stranger.send("/start no-such-code")
    await stranger.press_data("d:submit:summary")

    assert f"<code>{telegram_id}</code>" in refusal.text
    [alert] = stranger.alerts()
    assert str(telegram_id) in alert
    assert len(alert) <= 200 and "<" not in alert, "an alert is plain text of 200 at most"


@pytest.mark.parametrize("how", ["expired", "revoked", "forged", "sql", "other-bot-payload"])
async def test_only_a_valid_code_lets_a_stranger_in(
    world: World, scene: Scene, app_storage: Storage, how: str
) -> None:
    code = await a_code(world)
    if how == "expired":
        async with app_storage.sessionmaker() as session, session.begin():
            past = datetime.now(UTC) - timedelta(seconds=1)
            await session.execute(
                update(JoinCode).where(JoinCode.code == code).values(expires_at=past)
            )
    elif how == "revoked":
        await world.person(COORDINATOR_ID).send(f"/revoke {code}")
    else:
        code = {"forged": code[:-1] + ("A" if code[-1] != "A" else "B"),
                "sql": "x' OR '1'='1",
                "other-bot-payload": "ref_12345"}[how]  # fmt: skip
    stranger = world.person(705)
    before = await database(app_storage)

    [refusal] = await stranger.send(f"/start {code}")
    [again] = await stranger.send("Сидоров Сидор Сидорович")

    assert refusal.text == Join.bad_code(stranger.user.id)
    assert again.text == Common.stranger(stranger.user.id)
    assert await database(app_storage) == before


async def test_a_valid_code_lets_a_stranger_in_as_a_reporter_of_its_organisation(
    world: World, scene: Scene, app_storage: Storage
) -> None:
    code = await a_code(world)
    stranger = world.person(706)

    await stranger.send(f"/start {code}")
    await stranger.send("Сидоров Сидор Сидорович")
    [refusal] = await stranger.send("/report")

    async with app_storage.sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT p.role, p.active, o.name FROM people p "
                    "JOIN organisations o ON o.id = p.organisation_id WHERE p.telegram_id = 706"
                )
            )
        ).one()
    assert tuple(row) == ("reporter", True, THEATRE)
    assert refusal.text == Common.COORDINATOR_ONLY


# --- the review, role by role ----------------------------------------------------------------

CULTURE, SPORT = "Министерство культуры", "Министерство спорта"
REVIEW_BUTTONS = ["rv:ok:{id}:0", "rv:ret:{id}:0", "rv:hist:{id}:0", "ev:open:{id}", "ev:edit:{id}"]


@dataclass
class Bodies:
    """Two executive bodies: culture over the museum (Anna's event), sport over the
    theatre (Boris); a reviewer of each."""

    scene: Scene
    reviewer_a: Person
    reviewer_b: Person


@pytest.fixture
async def bodies(world: World, scene: Scene) -> Bodies:
    reviewer_a = await join(world, 711, CULTURE)
    reviewer_b = await join(world, 712, SPORT)
    coordinator = world.person(COORDINATOR_ID)
    for command in (
        f"/parent {MUSEUM} | {CULTURE}",
        f"/parent {THEATRE} | {SPORT}",
        f"/reviewer 711 {CULTURE}",
        f"/reviewer 712 {SPORT}",
    ):
        await coordinator.send(command)
    return Bodies(scene, reviewer_a, reviewer_b)


def who_is(world: World, bodies: Bodies, who: str) -> Person:
    return {
        "stranger": world.person(704),
        "reporter": bodies.scene.boris,
        "reviewer_b": bodies.reviewer_b,
        "reviewer_a": bodies.reviewer_a,
        "coordinator": world.person(COORDINATOR_ID),
    }[who]


@pytest.mark.parametrize("button", REVIEW_BUTTONS)
@pytest.mark.parametrize("who", ["stranger", "reporter", "reviewer_b"])
async def test_only_an_events_reviewers_may_press_its_review_buttons(
    world: World, bodies: Bodies, app_storage: Storage, who: str, button: str
) -> None:
    person = who_is(world, bodies, who)
    before = await database(app_storage)

    replies = await person.press_data(button.format(id=bodies.scene.event_id))

    assert replies == []
    assert person.alerts()[-1] == (
        Common.stranger_alert(person.user.id) if who == "stranger" else Common.STALE_BUTTON
    )
    assert await database(app_storage) == before


@pytest.mark.parametrize("who", ["reviewer_a", "coordinator"])
async def test_an_events_reviewers_accept_return_correct_and_see_its_history(
    world: World, bodies: Bodies, app_storage: Storage, who: str
) -> None:
    person = who_is(world, bodies, who)
    event_id = bodies.scene.event_id

    await person.press_data(f"ev:open:{event_id}")
    opened = person.labels()
    [asked] = await person.press_data(f"rv:ret:{event_id}:0")
    [returned] = await person.send("Уточните, пожалуйста, даты.")
    [accepted] = await person.press_data(f"rv:ok:{event_id}:0")
    [history] = await person.press_data(f"rv:hist:{event_id}:0")
    [summary] = await person.press_data(f"ev:edit:{event_id}")

    assert opened[:2] == [Review.ACCEPT, Review.RETURN]
    assert asked.text.startswith(f"Мероприятие №{event_id}")
    assert returned.text == Review.RETURNED.format(id=event_id)
    assert accepted.text == Review.ACCEPTED.format(id=event_id)
    assert "принято" in history.text and "Уточните, пожалуйста, даты." in history.text
    assert summary.text.startswith(Dialogue.SUMMARY_EDIT_HEAD.format(id=event_id))
    assert Review.TO_AUTHOR_ACCEPTED.split("«")[0].format(id=event_id) in (
        bodies.scene.anna.last_text()
    )


@pytest.mark.parametrize("who", ["stranger", "reporter", "reviewer_b", "reviewer_a", "coordinator"])
async def test_review_lists_only_what_waits_for_that_person(
    world: World, bodies: Bodies, app_storage: Storage, who: str
) -> None:
    person = who_is(world, bodies, who)
    before = await database(app_storage)

    [reply] = await person.send("/review")

    expected = {
        "stranger": Common.stranger(704),
        "reporter": Review.NOT_REVIEWER,
        "reviewer_b": Review.QUEUE_EMPTY.format(period=Review.OPEN_PERIODS),
    }
    if who in expected:
        assert reply.text == expected[who]
    else:
        assert reply.text.startswith(Review.QUEUE_HEAD.format(period=Review.OPEN_PERIODS, count=1))
        assert f"№{bodies.scene.event_id} · «Выставка музея» — {MUSEUM}, ждёт" in reply.text
        assert person.button_data(f"№{bodies.scene.event_id}") == f"ev:open:{bodies.scene.event_id}"
    assert await database(app_storage) == before


@pytest.mark.parametrize("command", ["parent", "reviewer", "unreviewer"])
@pytest.mark.parametrize("who", ["reporter", "reviewer_a"])
async def test_only_a_coordinator_sets_the_structure_and_the_reviewers(
    world: World, bodies: Bodies, app_storage: Storage, who: str, command: str
) -> None:
    person = who_is(world, bodies, who)
    before = await database(app_storage)

    replies = await person.send(f"/{command} {DESK_ARGUMENTS[command]}")

    assert [reply.text for reply in replies] == [Common.COORDINATOR_ONLY]
    assert await database(app_storage) == before


async def test_a_reviewer_sees_nothing_of_another_bodys_institutions(
    world: World, bodies: Bodies, app_storage: Storage
) -> None:
    await fill_event(bodies.scene.boris, name="Спектакль театра")
    await bodies.scene.boris.press(Dialogue.SUBMIT)
    theatre_event = next(
        e for e in await stored_events(app_storage.sessionmaker) if e.name == "Спектакль театра"
    )

    [for_a] = await bodies.reviewer_a.send("/review")
    labels_a = bodies.reviewer_a.labels()
    [for_b] = await bodies.reviewer_b.send("/review")
    refused = await bodies.reviewer_a.press_data(f"ev:open:{theatre_event.id}")

    assert "Спектакль театра" not in for_a.text and THEATRE not in for_a.text
    assert labels_a == [f"№{bodies.scene.event_id} · Выставка музея"]
    assert "Спектакль театра" in for_b.text and "Выставка музея" not in for_b.text
    assert refused == [] and bodies.reviewer_a.alerts()[-1] == Common.STALE_BUTTON


# --- /review's suspected duplicates, role by role ---------------------------------------------

LIBRARY = "Смоленская библиотека"


async def _lookalike(person: Person) -> None:
    """An event like Anna's «Выставка музея», submitted despite the warning."""
    await fill_event(person, name="Выставка музея")
    await person.press(Dialogue.SUBMIT)
    await person.press(Duplicates.FORCE)


async def _culture_pair(world: World, bodies: Bodies) -> None:
    """The library, also under culture, reports Anna's exhibition: a pair of one body."""
    library = await join(world, 713, LIBRARY)
    await world.person(COORDINATOR_ID).send(f"/parent {LIBRARY} | {CULTURE}")
    await _lookalike(library)


async def _pair_ids(storage: Storage) -> dict[frozenset[str], int]:
    """The pairs' ids by the names of the two organisations."""
    async with storage.sessionmaker() as session:
        pairs = await session.scalars(
            select(DuplicatePair).options(
                selectinload(DuplicatePair.first).selectinload(Event.organisation),
                selectinload(DuplicatePair.second).selectinload(Event.organisation),
            )
        )
        return {
            frozenset((p.first.organisation.name, p.second.organisation.name)): p.id for p in pairs
        }


@pytest.mark.parametrize("who", ["stranger", "reporter", "reviewer_b", "reviewer_a", "coordinator"])
async def test_review_counts_only_the_pairs_that_person_may_decide(
    world: World, bodies: Bodies, app_storage: Storage, who: str
) -> None:
    await _culture_pair(world, bodies)
    await _lookalike(bodies.scene.boris)  # the theatre (sport) too: two pairs across bodies
    assert len(await _pair_ids(app_storage)) == 3
    person = who_is(world, bodies, who)
    before = await database(app_storage)

    [reply] = await person.send("/review")

    counts = {"reviewer_a": 1, "coordinator": 3}
    markup = reply.reply_markup
    labels = [b.text for row in markup.inline_keyboard for b in row] if markup else []
    buttons = [label for label in labels if label.startswith("Возможные повторы")]
    if who in counts:
        period = "IV квартал 2023 года"
        assert ReviewPairs.LINE.format(period=period, count=counts[who]) in reply.text
        assert buttons == [ReviewPairs.BUTTON.format(count=counts[who])]
    else:
        assert buttons == [] and "Возможные повторы" not in reply.text
    assert await database(app_storage) == before


@pytest.mark.parametrize(
    ("who", "pair"),
    [
        ("stranger", "culture"),
        ("reporter", "culture"),
        ("reviewer_b", "culture"),
        ("reviewer_a", "across"),
        ("reviewer_b", "across"),
    ],
)
@pytest.mark.parametrize("action", ["merge", "apart"])
async def test_a_pair_outside_ones_bodies_is_refused_from_review(
    world: World, bodies: Bodies, app_storage: Storage, who: str, pair: str, action: str
) -> None:
    await _culture_pair(world, bodies)
    await _lookalike(bodies.scene.boris)
    ids = await _pair_ids(app_storage)
    pair_id = ids[frozenset((MUSEUM, LIBRARY) if pair == "culture" else (MUSEUM, THEATRE))]
    person = who_is(world, bodies, who)
    before = await database(app_storage)

    replies = await person.press_data(f"rd:{action}:{bodies.scene.period_id}:{pair_id}:0")

    assert replies == []
    assert person.alerts()[-1] == (
        Common.stranger_alert(person.user.id) if who == "stranger" else Common.STALE_BUTTON
    )
    assert await database(app_storage) == before


@pytest.mark.parametrize(
    ("who", "button"),
    [
        ("stranger", "show"),
        ("reporter", "show"),
        ("reviewer_a", "undo"),
        ("reviewer_a", "decided"),
        ("coordinator", "undo"),
    ],
)
async def test_reviews_pairs_list_and_other_buttons_are_refused_where_not_theirs(
    world: World, bodies: Bodies, app_storage: Storage, who: str, button: str
) -> None:
    await _culture_pair(world, bodies)
    [pair_id] = (await _pair_ids(app_storage)).values()
    person = who_is(world, bodies, who)
    before = await database(app_storage)

    replies = await person.press_data(f"rd:{button}:{bodies.scene.period_id}:{pair_id}:0")

    assert replies == []
    assert person.alerts()[-1] == (
        Common.stranger_alert(person.user.id) if who == "stranger" else Common.STALE_BUTTON
    )
    assert await database(app_storage) == before


async def test_a_bodys_reviewer_merges_its_institutions_pair_into_one_report_row(
    world: World, bodies: Bodies, app_storage: Storage
) -> None:
    await _culture_pair(world, bodies)
    reviewer = bodies.reviewer_a
    await reviewer.send("/review")

    [card] = await reviewer.press(ReviewPairs.BUTTON.format(count=1))
    assert Duplicates.HEAD.format(number=1, count=1, period="IV квартал 2023 года") in card.text
    assert MUSEUM in card.text and LIBRARY in card.text
    assert reviewer.labels() == [Duplicates.MERGE, Duplicates.APART]
    [decided, done] = await reviewer.press(Duplicates.MERGE)

    assert decided.text.startswith("Мероприятия №") and "объединены" in decided.text
    assert done.text == Duplicates.DONE.format(period="IV квартал 2023 года")
    async with app_storage.sessionmaker() as session:
        statuses = list(await session.scalars(select(DuplicatePair.status)))
    assert statuses == ["merged"]
    desk = world.person(COORDINATOR_ID)
    await desk.send("/report 2023-Q4")
    document = desk.documents()[-1].document
    assert isinstance(document, BufferedInputFile)
    rows = Document(BytesIO(document.data)).tables[0].rows[2:]
    assert [row.cells[1].text for row in rows] == ["Выставка музея"]  # one row for both
    [again] = await reviewer.send("/review")
    assert "Возможные повторы" not in again.text


async def _decided(storage: Storage, pair_id: int, status: str = "merged") -> int:
    """Decide a pair straight in the database; the version its undo button names."""
    async with storage.sessionmaker() as session, session.begin():
        duplicates = DuplicateRepository(session)
        pair = await duplicates.get(pair_id)
        assert pair is not None
        await duplicates.decide(pair, status, None)
        return decision_version(pair)


async def _status(storage: Storage, pair_id: int) -> str | None:
    async with storage.sessionmaker() as session:
        return await session.scalar(select(DuplicatePair.status).where(DuplicatePair.id == pair_id))


@pytest.mark.parametrize("who", ["stranger", "reporter", "reviewer_b", "reviewer_a", "coordinator"])
@pytest.mark.parametrize("prefix", ["rx", "dx"])
async def test_only_who_may_decide_a_pair_takes_its_decision_back(
    world: World, bodies: Bodies, app_storage: Storage, who: str, prefix: str
) -> None:
    await _culture_pair(world, bodies)
    [pair_id] = (await _pair_ids(app_storage)).values()
    version = await _decided(app_storage, pair_id)
    person = who_is(world, bodies, who)
    before = await database(app_storage)

    replies = await person.press_data(f"{prefix}:{bodies.scene.period_id}:{pair_id}:{version}")

    # «Отменить решение» from /review (rx): whoever may decide the pair; from /duplicates
    # (dx): a coordinator only.
    if who == "coordinator" or (who == "reviewer_a" and prefix == "rx"):
        [card] = replies
        assert card.text.startswith("Решение по мероприятиям №")
        assert MUSEUM in card.text and LIBRARY in card.text
        assert await _status(app_storage, pair_id) == "suspected"
    else:
        assert replies == []
        assert person.alerts()[-1] == (
            Common.stranger_alert(person.user.id) if who == "stranger" else Common.STALE_BUTTON
        )
        assert await database(app_storage) == before


async def test_a_bodys_reviewer_cannot_take_back_a_decision_across_bodies(
    world: World, bodies: Bodies, app_storage: Storage
) -> None:
    await _lookalike(bodies.scene.boris)  # the theatre (sport) like the museum (culture)
    [pair_id] = (await _pair_ids(app_storage)).values()
    version = await _decided(app_storage, pair_id, "distinct")
    before = await database(app_storage)

    for reviewer in (bodies.reviewer_a, bodies.reviewer_b):
        assert await reviewer.press_data(f"rx:{bodies.scene.period_id}:{pair_id}:{version}") == []
        assert reviewer.alerts()[-1] == Common.STALE_BUTTON

    assert await database(app_storage) == before


async def test_a_bodys_reviewer_takes_back_a_decision_made_in_review(
    world: World, bodies: Bodies, app_storage: Storage
) -> None:
    await _culture_pair(world, bodies)
    reviewer = bodies.reviewer_a
    await reviewer.send("/review")
    await reviewer.press(ReviewPairs.BUTTON.format(count=1))
    [decided, done] = await reviewer.press(Duplicates.APART)
    assert [b.text for row in decided.reply_markup.inline_keyboard for b in row] == [  # type: ignore[union-attr]
        Duplicates.UNDO
    ]
    assert done.reply_markup is None  # the decided list stays with /duplicates
    undo = reviewer.button_data(Duplicates.UNDO)
    assert undo.startswith("rx:")

    [card] = await reviewer.press(Duplicates.UNDO)

    assert card.text.startswith("Решение по мероприятиям №")
    assert Duplicates.HEAD.format(number=1, count=1, period="IV квартал 2023 года") in card.text
    assert reviewer.labels() == [Duplicates.MERGE, Duplicates.APART]
    [pair_id] = (await _pair_ids(app_storage)).values()
    assert await _status(app_storage, pair_id) == "suspected"
    await reviewer.press(Duplicates.MERGE)  # decided anew: the first undo is stale
    before = await database(app_storage)
    assert await reviewer.press_data(undo) == []
    assert reviewer.alerts()[-1] == Common.STALE_BUTTON
    assert await database(app_storage) == before
    assert await _status(app_storage, pair_id) == "merged"


async def test_a_merge_decided_in_review_dissolved_later_is_told_to_its_reviewer(
    world: World, bodies: Bodies, app_storage: Storage
) -> None:
    await _culture_pair(world, bodies)
    reviewer, desk = bodies.reviewer_a, world.person(COORDINATOR_ID)
    await reviewer.send("/review")
    await reviewer.press(ReviewPairs.BUTTON.format(count=1))
    await reviewer.press(Duplicates.MERGE)
    told_before = len(reviewer.replies()), len(desk.replies())
    anna = bodies.scene.anna

    await anna.press_data(f"ev:del:{bodies.scene.event_id}")
    await anna.press_data(f"ev:delyes:{bodies.scene.event_id}")

    [notice] = reviewer.replies()[told_before[0] :]
    assert notice.text.startswith("<b>Объединение мероприятий отменено</b>")
    assert f"мероприятие №{bodies.scene.event_id} «Выставка музея» ({MUSEUM}) удалено" in (
        notice.text
    )
    assert desk.replies()[told_before[1] :] == []  # the decider is told, not everyone
    # pointed to their own list: a body's reviewer has /review, not the coordinators' /duplicates
    assert notice.text.endswith(Duplicates.DISSOLVED_NEXT["reviewer"])
    assert "/duplicates" not in notice.text
    assert await _pair_ids(app_storage) == {}
