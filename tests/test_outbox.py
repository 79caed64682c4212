"""The outbox through the real Dispatcher: a reply lost with the process is delivered once
after the restart, the person's next answer lands in the field they saw asked, a second
press of «Отправить» shows the saved event, and a report lost mid-way is compiled again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import count
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import EditMessageText, GetMe, SendDocument, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Message, Update
from sqlalchemy import select

from bot.app import build_bot, build_dispatcher, build_outbox
from bot.database import Storage
from bot.outbox import Outbox
from bot.settings import Settings
from handlers.texts import Desk, Dialogue, Review
from storage.models import OutboxMessage, utcnow
from storage.repositories.outbox import OutboxRepository
from tests.conftest import Clock
from tests.test_desk import coordinator, report
from tests.test_dialogue import fill_event, join
from tests.tg import RecordingSession, World, fsm_of, reach, stored_events

STEP = Dialogue.STEP


class Crash(BaseException):
    """The process dying: nothing after it runs (not an Exception: no handler catches it)."""


class CrashingSession(RecordingSession):
    """Telegram's side; `crash_on(method)` makes the next such request die with the
    process, before Telegram got it (`carried_out=False`) or after it carried it out."""

    def __init__(self) -> None:
        super().__init__()
        self._crash: tuple[type[TelegramMethod[Any]], bool] | None = None
        self.refusals: list[str] = []  # the next requests refused with these descriptions

    def crash_on(self, method: type[TelegramMethod[Any]], *, carried_out: bool = False) -> None:
        self._crash = (method, carried_out)

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if self.refusals and not isinstance(method, GetMe):
            raise TelegramBadRequest(method, self.refusals.pop(0))
        if self._crash is not None and isinstance(method, self._crash[0]):
            _, carried_out = self._crash
            self._crash = None
            if carried_out:
                await super().make_request(bot, method, timeout)
            raise Crash
        return await super().make_request(bot, method, timeout)


@pytest.fixture
async def crashing(
    settings: Settings, app_storage: Storage, clock: Clock
) -> AsyncIterator[tuple[World, CrashingSession, Outbox]]:
    session = CrashingSession()
    outbox = build_outbox(settings, app_storage)
    bot = build_bot(settings, session=session, outbox=outbox)
    dispatcher = build_dispatcher(settings, app_storage, clock=clock, outbox=outbox)
    yield World(dispatcher, bot, session), session, outbox
    await bot.session.close()


async def owed(storage: Storage) -> list[OutboxMessage]:
    """The rows still owed (delivered ones are kept a day with `delivered_at`)."""
    async with storage.sessionmaker() as session:
        query = select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
        return list((await session.scalars(query.order_by(OutboxMessage.id))).all())


async def restart(world: World, storage: Storage, settings: Settings) -> Outbox:
    """A new process's outbox (nothing in flight) delivering what the last one owed."""
    outbox = build_outbox(settings, storage)
    await outbox.deliver_owed(world.bot, storage.sessionmaker, everything=True)
    return outbox


async def test_every_reply_is_forgotten_once_telegram_answered(
    crashing: tuple[World, CrashingSession, Outbox], app_storage: Storage
) -> None:
    world, _, _ = crashing
    person = await join(world, 2101)

    await reach(person, "summary")

    assert await owed(app_storage) == []


@pytest.mark.parametrize("carried_out", [False, True], ids=["not-reached", "answer-lost"])
async def test_a_reply_lost_with_the_process_is_delivered_after_the_restart(
    crashing: tuple[World, CrashingSession, Outbox],
    app_storage: Storage,
    settings: Settings,
    carried_out: bool,
) -> None:
    world, session, _ = crashing
    person = await join(world, 2102)
    await reach(person, "name")
    session.crash_on(SendMessage, carried_out=carried_out)
    with pytest.raises(Crash):
        await person.send("Выставка")
    shown_before = len(person.replies())
    [row] = await owed(app_storage)

    await restart(world, app_storage, settings)
    again = await restart(world, app_storage, settings)  # a second start: nothing more
    delivered = person.replies()[shown_before:]
    replies = await person.send("г. Минск")
    stored = await fsm_of(app_storage.sessionmaker, 2102)

    assert (row.chat_id, row.method) == (2102, "sendMessage")
    assert row.owner == crashing[2].owner  # written with the row, before the commit
    place = STEP.format(number=3) + Dialogue.ASK["place"]
    assert [reply.text for reply in delivered] == [place]
    # Once; twice only when Telegram had carried it out and its answer died with us.
    assert [reply.text for reply in person.replies()].count(place) == (2 if carried_out else 1)
    assert again.in_flight == set()
    assert await owed(app_storage) == []
    assert replies[-1].text.startswith(STEP.format(number=4))
    assert stored is not None and stored.data["draft"]["place"] == "г. Минск"
    assert stored.data["draft"]["name"] == "Выставка"


async def test_a_row_is_left_to_its_sender_until_its_lease_ends(
    crashing: tuple[World, CrashingSession, Outbox], app_storage: Storage
) -> None:
    world, session, outbox = crashing
    person = await join(world, 2103)
    await reach(person, "name")
    session.crash_on(SendMessage)
    with pytest.raises(Crash):
        await person.send("Выставка")
    [row] = await owed(app_storage)
    sent = len(person.replies())

    in_lease = await outbox.deliver_owed(world.bot, app_storage.sessionmaker, now=row.created_at)
    outbox.in_flight.add(row.id)  # still being sent by this process
    in_flight = await outbox.deliver_owed(
        world.bot, app_storage.sessionmaker, now=row.due_at + timedelta(seconds=1)
    )
    outbox.in_flight.discard(row.id)
    after_lease = await outbox.deliver_owed(
        world.bot, app_storage.sessionmaker, now=row.due_at + timedelta(seconds=1)
    )

    assert (in_lease, in_flight, after_lease) == (0, 0, 1)
    assert len(person.replies()) == sent + 1
    assert await owed(app_storage) == []


async def test_an_owed_edit_already_made_or_refused_is_dropped(
    crashing: tuple[World, CrashingSession, Outbox], app_storage: Storage
) -> None:
    world, session, outbox = crashing
    async with app_storage.sessionmaker() as db:
        repo = OutboxRepository(db)
        for text in ("a", "b"):
            edit = EditMessageText(chat_id=2104, message_id=7, text=text)
            payload = edit.model_dump_json(exclude_defaults=True)
            await repo.add(world.bot.id, 2104, "editMessageText", payload, due_at=utcnow())
        await db.commit()

    session.refusals = [
        "Bad Request: message is not modified",  # made before the crash
        "Bad Request: message to edit not found",  # will never be made
    ]

    done = await outbox.deliver_owed(world.bot, app_storage.sessionmaker, everything=True)

    assert done == 2
    assert session.refusals == []
    assert await owed(app_storage) == []


async def test_submit_pressed_again_after_a_lost_confirmation_shows_the_saved_event(
    crashing: tuple[World, CrashingSession, Outbox], app_storage: Storage
) -> None:
    world, session, _ = crashing
    person = await join(world, 2105)
    await fill_event(person, "Выставка «Память»")
    submit = person.button_data(Dialogue.SUBMIT)
    session.crash_on(SendMessage)  # the confirmation dies with the process
    with pytest.raises(Crash):
        await person.press_data(submit)

    replies = await person.press_data(submit)  # the person never saw it, and tries again
    replies += await person.press_data(submit)

    events = await stored_events(app_storage.sessionmaker)
    assert [event.name for event in events] == ["Выставка «Память»"]
    assert len(replies) == 2
    for reply in replies:
        assert reply.text.startswith(Dialogue.SAVED_ALREADY)
        assert f"Мероприятие №{events[0].id}" in reply.text
        assert "Выставка «Память»" in reply.text
    assert all(not answer.show_alert for answer in person.answers()[-2:])


async def test_submit_pressed_again_while_a_new_event_is_begun_shows_the_saved_one(
    crashing: tuple[World, CrashingSession, Outbox], app_storage: Storage
) -> None:
    world, _, _ = crashing
    person = await join(world, 2106)
    await fill_event(person, "Форум")
    submit = person.button_data(Dialogue.SUBMIT)
    await person.press_data(submit)
    await person.send("/new")

    [reply] = await person.press_data(submit)

    assert reply.text.startswith(Dialogue.SAVED_ALREADY)
    assert len(await stored_events(app_storage.sessionmaker)) == 1
    assert (await fsm_of(app_storage.sessionmaker, 2106)).state == "ReportStates:sphere"  # type: ignore[union-attr]


@pytest.mark.parametrize("carried_out", [False, True], ids=["mid-upload", "answer-lost"])
async def test_a_report_lost_with_the_process_is_compiled_and_sent_after_the_restart(
    crashing: tuple[World, CrashingSession, Outbox],
    app_storage: Storage,
    settings: Settings,
    carried_out: bool,
) -> None:
    world, session, outbox = crashing
    await report(await join(world, 2107), "Выставка")
    desk = coordinator(world)
    session.crash_on(SendDocument, carried_out=carried_out)
    with pytest.raises(Crash):
        await desk.send("/report 2023-Q4")
    [job] = await owed(app_storage)
    before = len(desk.documents())

    await restart(world, app_storage, settings)
    await restart(world, app_storage, settings)

    assert job.method == "job:report"
    assert job.owner == outbox.owner  # the process's own, until it is known to be dead
    [document] = desk.documents()[before:]
    assert document.document.filename == "report_2023_Q4.docx"  # type: ignore[union-attr]
    assert (document.caption or "").split("\n")[0] == Desk.CAPTION.format(
        period="IV квартал 2023 года", count=1
    )
    assert await owed(app_storage) == []


@pytest.mark.parametrize("carried_out", [False, True], ids=["mid-upload", "answer-lost"])
async def test_the_next_caption_compares_with_the_report_the_restart_delivered(
    crashing: tuple[World, CrashingSession, Outbox],
    app_storage: Storage,
    settings: Settings,
    carried_out: bool,
) -> None:
    world, session, _ = crashing
    reporter = await join(world, 2111)
    await report(reporter, "Выставка")
    desk = coordinator(world)
    session.crash_on(SendDocument, carried_out=carried_out)
    with pytest.raises(Crash):
        await desk.send("/report 2023-Q4")
    await restart(world, app_storage, settings)  # the file compiled again and delivered
    await report(reporter, "Концерт")
    [_, second] = await stored_events(app_storage.sessionmaker)

    await desk.send("/report 2023-Q4")
    await desk.send("/report 2023-Q4")

    redone, next_one, same = [(d.caption or "").split("\n")[-1] for d in desk.documents()[-3:]]
    assert redone == Review.CAPTION_REVIEW.format(accepted=0, pending=1, returned=0)
    assert next_one == Review.CAPTION_SINCE.format(parts=f"новые №{second.id}")
    assert same == Review.CAPTION_SAME
    assert await owed(app_storage) == []


async def test_a_report_sent_in_the_handler_leaves_nothing_owed(
    crashing: tuple[World, CrashingSession, Outbox], app_storage: Storage
) -> None:
    world, _, _ = crashing
    await report(await join(world, 2108), "Выставка")
    desk = coordinator(world)

    await desk.send("/report 2023-Q4")

    assert len(desk.documents()) == 1
    assert await owed(app_storage) == []


async def test_a_reply_refused_while_the_process_lives_is_not_kept_for_later(
    crashing: tuple[World, CrashingSession, Outbox], app_storage: Storage, settings: Settings
) -> None:
    world, session, _ = crashing
    person = await join(world, 2109)
    await reach(person, "name")
    session.refusals = ["Bad Request: can't parse entities"]

    replies = await person.send("Выставка")
    await restart(world, app_storage, settings)

    # The error reply shows the step stored; nothing out of date comes after it.
    assert [reply.text.split("\n\n", 1)[0] for reply in replies] == [Dialogue.AFTER_ERROR]
    assert Dialogue.ASK["place"] in replies[0].text
    assert person.replies()[-1] is replies[-1]
    assert await owed(app_storage) == []


async def test_the_xlsx_lost_with_the_process_is_compiled_and_sent_after_the_restart(
    crashing: tuple[World, CrashingSession, Outbox], app_storage: Storage, settings: Settings
) -> None:
    world, session, _ = crashing
    await report(await join(world, 2110), "Выставка")
    desk = coordinator(world)
    await desk.send("/report 2023-Q4")
    markup = desk.documents()[-1].reply_markup
    assert markup is not None
    xlsx = markup.inline_keyboard[0][0].callback_data  # type: ignore[union-attr]
    assert xlsx is not None
    session.crash_on(SendDocument)
    with pytest.raises(Crash):
        await desk.press_data(xlsx)

    await restart(world, app_storage, settings)

    names = [sent.document.filename for sent in desk.documents()]  # type: ignore[union-attr]
    assert names == ["report_2023_Q4.docx", "report_2023_Q4.xlsx"]
    assert await owed(app_storage) == []


async def test_an_older_summarys_submit_shows_its_saved_event_not_filing_the_new_draft(
    crashing: tuple[World, CrashingSession, Outbox], app_storage: Storage
) -> None:
    world, _, _ = crashing
    person = await join(world, 2111)
    await fill_event(person, "Форум")
    first_submit = person.button_data(Dialogue.SUBMIT)
    await person.press_data(first_submit)
    await fill_event(person, "Семинар")  # a second draft, now at its summary

    [reply] = await person.press_data(first_submit)

    assert reply.text.startswith(Dialogue.SAVED_ALREADY) and "Форум" in reply.text
    assert [event.name for event in await stored_events(app_storage.sessionmaker)] == ["Форум"]
    assert (await fsm_of(app_storage.sessionmaker, 2111)).state == "ReportStates:summary"  # type: ignore[union-attr]


async def test_everything_owed_goes_out_at_start_in_order_however_many(
    crashing: tuple[World, CrashingSession, Outbox], app_storage: Storage, settings: Settings
) -> None:
    world, _, _ = crashing
    count = 230  # more than one page of rows
    async with app_storage.sessionmaker() as db:
        repo = OutboxRepository(db)
        for number in range(count):
            message = SendMessage(chat_id=2112 + number % 2, text=f"№{number}")
            payload = message.model_dump_json(exclude_defaults=True)
            await repo.add(world.bot.id, 2112 + number % 2, "sendMessage", payload, due_at=utcnow())
        await db.commit()

    await restart(world, app_storage, settings)

    sent = [r.text for r in world.session.requests if isinstance(r, SendMessage)]
    assert sent == [f"№{number}" for number in range(count)]
    assert await owed(app_storage) == []


async def test_a_text_dated_before_the_owed_question_arrived_is_not_taken(
    settings: Settings, app_storage: Storage, clock: Clock
) -> None:
    session = CrashingSession()
    outbox = build_outbox(settings, app_storage)
    bot = build_bot(settings, session=session, outbox=outbox)
    world = World(build_dispatcher(settings, app_storage, clock, outbox), bot, session)
    person = await join(world, 2120)
    await reach(person, "name")
    session.crash_on(SendMessage)
    with pytest.raises(Crash):
        await person.send("Выставка")
    # The restart: a new process delivers the owed question (a new outbox, a new Bot).
    restarted = build_outbox(settings, app_storage)
    again = World(
        build_dispatcher(settings, app_storage, clock, restarted),
        build_bot(settings, session=session, outbox=restarted),
        session,
    )
    await restarted.remember_deliveries(app_storage.sessionmaker)
    await restarted.deliver_owed(again.bot, app_storage.sessionmaker, everything=True)
    async with app_storage.sessionmaker() as db:
        [delivered_at] = await db.scalars(select(OutboxMessage.delivered_at))
    again.update_ids = count(next(world.update_ids))  # Telegram's ids go on
    person = again.person(2120)

    def written_at(at: Any, text: str) -> Update:
        message = Message(
            message_id=next(again.ids), date=at, chat=person.chat, from_user=person.user, text=text
        )
        return Update(update_id=0, message=message)

    same_second = await again.feed(person, written_at(delivered_at, "Выставка"))
    command = await again.feed(person, written_at(delivered_at, "/help"))
    next_second = await again.feed(
        person, written_at(delivered_at + timedelta(seconds=1), "г. Минск")
    )
    stored = await fsm_of(app_storage.sessionmaker, 2120)

    assert delivered_at.microsecond == 0  # a whole second, as Telegram's dates
    assert [reply.text for reply in same_second] == [Dialogue.NOT_TAKEN]
    assert command and command[0].text != Dialogue.NOT_TAKEN  # a command is no answer
    assert next_second[-1].text.startswith(STEP.format(number=4))
    assert stored is not None
    assert (stored.data["draft"]["name"], stored.data["draft"]["place"]) == ("Выставка", "г. Минск")
    assert await owed(app_storage) == []
