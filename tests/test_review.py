"""The review through the real Dispatcher: a coordinator accepts or returns a submitted
event with a typed comment (refused when too long, «Отмена» possible), the author gets
the card with «Исправить» and their fix puts it on review again; a reviewer's own edit is
a version and one notice to the author; the history pages; a closed period is read-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiogram.types import InlineKeyboardMarkup
from sqlalchemy import select

from bot.database import Storage
from handlers.review import COMMENT_MAX
from handlers.texts import Common, Desk, Dialogue, MyEvents, Periods, Review
from storage.models import Event, EventVersion, ReportingPeriod
from storage.models import Person as PersonRow
from tests import factories
from tests.conftest import COORDINATOR_ID
from tests.test_access import database
from tests.test_dialogue import fill_event, join
from tests.tg import Person, World, stored_events

EXHIBITION = "Выставка «Смоленск – Минск»"
PLACE = "г. Минск, Республика Беларусь"
COMMENT = "Укажите, пожалуйста, официальное название <выставки> & организатора."


async def submitted(world: World, storage: Storage) -> tuple[Person, Person, Event]:
    """An author with a submitted event, and the coordinator."""
    author = await join(world, 601)
    await fill_event(author, EXHIBITION)
    await author.press(Dialogue.SUBMIT)
    coordinator = world.person(COORDINATOR_ID)
    [event] = await stored_events(storage.sessionmaker)
    return author, coordinator, event


async def coordinator_name(storage: Storage) -> str:
    async with storage.sessionmaker() as session:
        found = await session.scalar(
            select(PersonRow.full_name).where(PersonRow.telegram_id == COORDINATOR_ID)
        )
    assert found is not None
    return found


async def stored(storage: Storage, event_id: int) -> Event:
    async with storage.sessionmaker() as session:
        event = await session.get(Event, event_id)
        assert event is not None
        return event


async def versions(storage: Storage, event_id: int) -> list[tuple[str, str | None, str | None]]:
    async with storage.sessionmaker() as session:
        rows = await session.scalars(
            select(EventVersion).where(EventVersion.event_id == event_id).order_by(EventVersion.id)
        )
        return [(v.field, v.before, v.after) for v in rows]


async def return_with(coordinator: Person, event: Event, comment: str = COMMENT) -> None:
    await coordinator.press_data(f"ev:open:{event.id}")
    await coordinator.press(Review.RETURN)
    await coordinator.send(comment)


async def test_a_reviewer_sees_accept_and_return_on_a_submitted_events_card(
    world: World, app_storage: Storage
) -> None:
    _, coordinator, event = await submitted(world, app_storage)

    [card] = await coordinator.press_data(f"ev:open:{event.id}")

    assert card.text.startswith(f"<b>Мероприятие №{event.id}</b> · отправлено, на проверке")
    assert coordinator.labels() == [Review.ACCEPT, Review.RETURN, MyEvents.EDIT, MyEvents.COPY]
    assert (await stored(app_storage, event.id)).review == "pending"


async def test_a_return_asks_for_a_comment_and_sends_the_author_the_card_with_it(
    world: World, app_storage: Storage
) -> None:
    author, coordinator, event = await submitted(world, app_storage)
    await coordinator.press_data(f"ev:open:{event.id}")

    [question] = await coordinator.press(Review.RETURN)
    [done] = await coordinator.send(COMMENT)

    assert question.text == Review.ASK_COMMENT.format(
        id=event.id, name=EXHIBITION, limit=COMMENT_MAX
    )
    assert done.text == Review.RETURNED.format(id=event.id)
    notice = author.replies()[-1]
    assert notice.text.startswith(f"<b>Мероприятие №{event.id} возвращено на доработку</b>")
    assert f"(проверяющий: {await coordinator_name(app_storage)})" in notice.text
    escaped = COMMENT.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert Review.COMMENT_LINE.format(comment=escaped) in notice.text
    assert "отправлено, возвращено на доработку" in notice.text
    assert author.labels() == [Review.FIX, Review.HISTORY]
    row = await stored(app_storage, event.id)
    assert (row.review, row.review_comment) == ("returned", COMMENT)
    assert await versions(app_storage, event.id) == [
        ("review", "на проверке", f"возвращено на доработку: {COMMENT}")
    ]


async def test_an_overlong_comment_is_refused_and_nothing_is_saved(
    world: World, app_storage: Storage
) -> None:
    _, coordinator, event = await submitted(world, app_storage)
    await coordinator.press_data(f"ev:open:{event.id}")
    await coordinator.press(Review.RETURN)
    before = await database(app_storage)

    [refusal] = await coordinator.send("а" * (COMMENT_MAX + 1))

    assert refusal.text == Review.COMMENT_TOO_LONG.format(
        length=f"{COMMENT_MAX + 1} символ",
        limit=COMMENT_MAX,  # 1001 символ
    )
    assert coordinator.labels() == [Review.CANCEL]
    after = await database(app_storage)
    assert after["events"] == before["events"] and after["event_versions"] == []
    [done] = await coordinator.send("Короткое замечание.")  # still asked: the next one counts
    assert done.text == Review.RETURNED.format(id=event.id)


async def test_a_return_can_be_cancelled_by_its_button_or_cancel(
    world: World, app_storage: Storage
) -> None:
    _, coordinator, event = await submitted(world, app_storage)
    await coordinator.press_data(f"ev:open:{event.id}")
    await coordinator.press(Review.RETURN)

    [cancelled] = await coordinator.press(Review.CANCEL)
    [reply] = await coordinator.send("Это уже не замечание")
    await coordinator.press_data(f"ev:open:{event.id}")
    await coordinator.press(Review.RETURN)
    [by_command] = await coordinator.send("/cancel")

    assert cancelled.text == Review.RETURN_CANCELLED.format(id=event.id)
    assert by_command.text == Review.RETURN_CANCELLED.format(id=event.id)
    assert reply.text != Review.RETURNED.format(id=event.id)
    assert (await stored(app_storage, event.id)).review == "pending"
    assert await versions(app_storage, event.id) == []


async def test_the_authors_fix_puts_the_event_on_review_again_and_tells_the_reviewer(
    world: World, app_storage: Storage
) -> None:
    author, coordinator, event = await submitted(world, app_storage)
    await return_with(coordinator, event)

    await author.press(Review.FIX)
    await author.press("Место")
    await author.send("г. Гомель, Республика Беларусь")
    [saved] = await author.press(Dialogue.SAVE)

    assert saved.text == Dialogue.UPDATED
    assert coordinator.replies()[-1].text == Review.FIXED_TO_REVIEWER.format(
        id=event.id, name="Выставка «Смоленск – Минск»", organisation="Смоленский музей"
    )
    assert coordinator.labels() == [Review.OPEN]
    row = await stored(app_storage, event.id)
    assert row.review == "pending" and row.place == "г. Гомель, Республика Беларусь"
    assert (await versions(app_storage, event.id))[1:] == [
        ("place", PLACE, "г. Гомель, Республика Беларусь"),
        ("review", "возвращено на доработку", "на проверке"),
    ]
    [card] = await coordinator.press(Review.OPEN)
    assert "отправлено, на проверке" in card.text and Review.COMMENT_LINE[:10] not in card.text


async def test_accepting_tells_the_author_and_leaves_only_return(
    world: World, app_storage: Storage
) -> None:
    author, coordinator, event = await submitted(world, app_storage)
    await coordinator.press_data(f"ev:open:{event.id}")

    [done] = await coordinator.press(Review.ACCEPT)
    await coordinator.press_data(f"ev:open:{event.id}")

    assert done.text == Review.ACCEPTED.format(id=event.id)
    assert author.replies()[-1].text.startswith(f"Мероприятие №{event.id} «")
    assert coordinator.labels() == [Review.RETURN, MyEvents.EDIT, MyEvents.COPY, Review.HISTORY]
    assert (await stored(app_storage, event.id)).review == "accepted"
    assert await coordinator.press_data(f"rv:ok:{event.id}:0") == []  # twice: nothing new
    assert coordinator.answers()[-1].text == Review.ALREADY.format(id=event.id, state="принято")
    assert await versions(app_storage, event.id) == [("review", "на проверке", "принято")]


async def test_a_reviewers_own_edit_is_a_version_and_one_notice_to_the_author(
    world: World, app_storage: Storage
) -> None:
    author, coordinator, event = await submitted(world, app_storage)
    await coordinator.press_data(f"ev:open:{event.id}")
    told = len(author.replies())

    await coordinator.press(MyEvents.EDIT)
    await coordinator.press("Название")
    await coordinator.send("Международная выставка «Смоленск – Минск: диалог культур»")
    await coordinator.press("Место")
    await coordinator.send("г. Минск")
    [saved] = await coordinator.press(Dialogue.SAVE)

    assert saved.text == Dialogue.UPDATED
    [notice] = author.replies()[told:]
    assert notice.text == Review.TO_AUTHOR_CHANGED.format(
        reviewer=await coordinator_name(app_storage),
        id=event.id,
        name="Международная выставка «Смоленск – Минск: диалог культур»",
        changes="\n".join(
            [
                Review.CHANGE.format(
                    field="Название",
                    before=EXHIBITION,
                    after="Международная выставка «Смоленск – Минск: диалог культур»",
                ),
                Review.CHANGE.format(field="Место", before=PLACE, after="г. Минск"),
            ]
        ),
    )
    row = await stored(app_storage, event.id)
    assert (row.review, row.author_id) == ("pending", event.author_id)
    async with app_storage.sessionmaker() as session:
        editor = await session.scalar(
            select(PersonRow.id).where(PersonRow.telegram_id == COORDINATOR_ID)
        )
        people = set(await session.scalars(select(EventVersion.person_id)))
    assert people == {editor}
    assert [v[0] for v in await versions(app_storage, event.id)] == ["name", "place"]


async def test_the_history_lists_every_version_and_pages_when_long(
    world: World, app_storage: Storage
) -> None:
    author, _, event = await submitted(world, app_storage)
    async with app_storage.sessionmaker() as session, session.begin():
        at = datetime(2023, 11, 20, 9, 0, tzinfo=UTC)
        for number in range(40):
            session.add(
                EventVersion(
                    event_id=event.id,
                    person_id=event.author_id,
                    at=at + timedelta(minutes=number),
                    field="result",
                    before="р" * 250 + str(number),
                    after="с" * 250 + str(number + 1),
                )
            )

    await author.press_data(f"ev:open:{event.id}")
    [first] = await author.press(Review.HISTORY)
    [second] = await author.press(MyEvents.NEXT)

    assert author.labels()[0] == MyEvents.PREVIOUS
    assert first.text.startswith(Review.HISTORY_HEAD.format(id=event.id))
    assert "20.11.2023 12:00 · Иванова Мария Петровна\nРезультат: «" in first.text
    assert "Страница 1 из" in first.text and "Страница 2 из" in second.text
    assert "р" * 250 + "0»" in first.text and "р" * 250 + "0»" not in second.text


async def test_a_closed_periods_event_is_read_only_for_the_reviewer_too(
    world: World, app_storage: Storage
) -> None:
    author, coordinator, event = await submitted(world, app_storage)
    await coordinator.send("/close 2023-Q4")
    before = await database(app_storage)

    for data in (f"rv:ok:{event.id}:0", f"rv:ret:{event.id}:0", f"ev:edit:{event.id}"):
        assert await coordinator.press_data(data) == []
    assert await author.press_data(f"ev:edit:{event.id}") == []
    await coordinator.press_data(f"ev:open:{event.id}")

    assert coordinator.alerts() == [Review.CLOSED, Review.CLOSED, MyEvents.CLOSED]
    assert author.alerts() == [MyEvents.CLOSED]
    assert coordinator.labels() == [MyEvents.COPY]
    assert await database(app_storage) == before
    await coordinator.send("/reopen 2023-Q4")
    await coordinator.press_data(f"ev:open:{event.id}")
    assert Review.ACCEPT in coordinator.labels()


async def test_a_reporter_cannot_review_even_their_own_organisations_event(
    world: World, app_storage: Storage
) -> None:
    author, _, event = await submitted(world, app_storage)
    colleague = await join(world, 602)
    before = await database(app_storage)

    for person in (author, colleague):
        for action in ("ok", "ret"):
            assert await person.press_data(f"rv:{action}:{event.id}:0") == []

    assert author.alerts() == [Common.STALE_BUTTON] * 2
    assert colleague.alerts() == [Common.STALE_BUTTON] * 2
    assert await database(app_storage) == before


# --- the structure, the reviewers, /review ---------------------------------------------------

MINISTRY = "Министерство культуры"


async def test_parent_keeps_the_structure_two_levels_and_says_why_not(
    world: World, app_storage: Storage
) -> None:
    await join(world, 611, "Смоленский музей")
    await join(world, 612, MINISTRY)
    await join(world, 613, "Смоленская библиотека")
    desk = world.person(COORDINATOR_ID)

    usage = await desk.send("/parent Смоленский музей")
    itself = await desk.send("/parent Смоленский музей | Смоленский музей")
    done = await desk.send(f"/parent Смоленский музей | {MINISTRY}")
    deeper = await desk.send("/parent Смоленская библиотека | Смоленский музей")
    above = await desk.send(f"/parent {MINISTRY} | Смоленская библиотека")
    unknown = await desk.send("/parent Нет такой | <b>x</b>")
    removed = await desk.send("/parent Смоленский музей | -")

    assert [r.text for r in usage + itself] == [Review.PARENT_USAGE, Review.PARENT_SELF]
    assert done[0].text == Review.PARENT_SET.format(name="Смоленский музей", parent=MINISTRY)
    assert deeper[0].text == Review.PARENT_IS_CHILD.format(
        parent="Смоленский музей", grand=MINISTRY
    )
    assert above[0].text == Review.PARENT_HAS_CHILDREN.format(name=MINISTRY)
    assert "Нет такой" in unknown[0].text
    assert removed[0].text == Review.PARENT_REMOVED.format(name="Смоленский музей")


async def test_reviewer_names_a_body_not_an_institution_and_tells_the_person(
    world: World, app_storage: Storage
) -> None:
    await join(world, 614, "Смоленский музей")
    reviewer = await join(world, 615, MINISTRY)
    desk = world.person(COORDINATOR_ID)
    await desk.send(f"/parent Смоленский музей | {MINISTRY}")

    [bare] = await desk.send("/reviewer")
    [institution] = await desk.send("/reviewer 615 Смоленский музей")
    [nobody] = await desk.send(f"/reviewer 999 {MINISTRY}")
    [added] = await desk.send(f"/reviewer 615 {MINISTRY}")
    [again] = await desk.send(f"/reviewer 615 {MINISTRY}")
    [listed] = await desk.send("/reviewer")
    [removed] = await desk.send(f"/unreviewer 615 {MINISTRY}")
    [not_one] = await desk.send(f"/unreviewer 615 {MINISTRY}")

    name = "Иванова Мария Петровна"
    values = {"name": name, "organisation": MINISTRY}
    assert bare.text.startswith(Review.REVIEWERS_EMPTY)
    assert institution.text == Review.NOT_A_BODY.format(name="Смоленский музей", parent=MINISTRY)
    assert nobody.text == Review.PERSON_NOT_FOUND.format(id=999)
    assert added.text == Review.REVIEWER_ADDED.format(**values)
    assert reviewer.last_text() == Review.TO_NEW_REVIEWER.format(organisation=MINISTRY)
    assert again.text == Review.REVIEWER_ALREADY.format(**values)
    assert f"{MINISTRY}: {name} (<code>615</code>)" in listed.text
    assert removed.text == Review.REVIEWER_REMOVED.format(**values)
    assert not_one.text == Review.REVIEWER_NOT.format(**values)
    assert (await reviewer.send("/review"))[0].text == Review.NOT_REVIEWER


async def test_review_lists_the_longest_waiting_first_in_pages(
    world: World, app_storage: Storage
) -> None:
    _, desk, first = await submitted(world, app_storage)
    async with app_storage.sessionmaker() as session, session.begin():
        period_ = await session.get(ReportingPeriod, first.period_id)
        base = datetime(2023, 11, 1, 9, 0, tzinfo=UTC)
        for number in range(12):
            event = await factories.event(
                session, period_=period_, name=f"Лекция {number}", author_id=first.author_id
            )
            event.review_since = base + timedelta(days=number)
        row = await session.get(Event, first.id)
        assert row is not None
        row.review_since = base - timedelta(days=1)

    [page_one] = await desk.send("/review")
    labels = desk.labels()
    await desk.send("/review 2023-Q4")
    [page_two] = await desk.press(MyEvents.NEXT)

    assert page_one.text.startswith(Review.QUEUE_HEAD.format(period="открытые кварталы", count=13))
    assert f"№{first.id} · «{EXHIBITION}» — Смоленский музей, ждёт 20 дней" in page_one.text
    assert labels[0].startswith(f"№{first.id} ·") and labels[-1] == MyEvents.NEXT
    assert "Лекция 11" in page_two.text and "Страница 2 из 2." in page_two.text
    [bad] = await desk.send("/review 2023-Q9")
    assert bad.text.startswith("Квартал указан неверно")


# --- /status and /close --------------------------------------------------------------------


async def test_status_counts_accepted_and_returned_per_organisation(
    world: World, app_storage: Storage
) -> None:
    author, desk, event = await submitted(world, app_storage)
    await fill_event(author, "Вторая выставка")
    await author.press(Dialogue.SUBMIT)
    await fill_event(author, "Третья выставка")
    await author.press(Dialogue.SUBMIT)
    second = (await stored_events(app_storage.sessionmaker))[1]
    [before] = await desk.send("/status")
    await desk.press_data(f"rv:ok:{event.id}:0")
    await desk.press_data(f"rv:ret:{second.id}:0")
    await desk.send("Уточните место.")

    [after] = await desk.send("/status")

    assert "🔎" not in before.text and "(принято" not in before.text
    assert Periods.STATUS_REVIEW.format(pending=1, accepted=1, returned=1) in after.text
    assert (
        Periods.LINE_REPORTED.format(
            name="Смоленский музей",
            events=Periods.EVENTS_COUNT.format(count=3)
            + Periods.LINE_REVIEW.format(accepted=1, returned=1),
        )
        in after.text
    )


async def test_close_with_returned_events_asks_first(world: World, app_storage: Storage) -> None:
    author, desk, event = await submitted(world, app_storage)
    await return_with(desk, event)

    [asked] = await desk.send("/close")
    [kept] = await desk.press(Periods.CLOSE_NO)
    await desk.send("/close")
    [closed] = await desk.press(Periods.CLOSE_YES)

    assert asked.text == Periods.CLOSE_RETURNED.format(
        period="IV квартал 2023 года", count="1 мероприятие"
    )
    assert kept.text == Periods.CLOSE_KEPT_OPEN.format(period="IV квартал 2023 года")
    assert closed.text.startswith(Periods.CLOSED.format(period="IV квартал 2023 года"))
    assert await author.press_data(f"ev:edit:{event.id}") == []
    assert author.alerts() == [MyEvents.CLOSED]
    assert await author.press_data("cl:yes:1") == []  # a reporter: not their button
    assert author.alerts()[-1] == Common.STALE_BUTTON


# --- /report ---------------------------------------------------------------------------------


def caption_lines(desk: Person) -> list[str]:
    return (desk.documents()[-1].caption or "").split("\n")


async def test_the_reports_caption_counts_the_review_and_what_changed_since_the_last_file(
    world: World, app_storage: Storage
) -> None:
    author, desk, first = await submitted(world, app_storage)
    await fill_event(author, "Вторая выставка")
    await author.press(Dialogue.SUBMIT)
    await fill_event(author, "Третья выставка")
    await author.press(Dialogue.SUBMIT)
    _, second, third = await stored_events(app_storage.sessionmaker)
    await desk.send("/report 2023-Q4")
    earlier = caption_lines(desk)
    await desk.press_data(f"rv:ok:{first.id}:0")
    await return_with(desk, second)
    await author.press_data(f"ev:del:{third.id}")
    await author.press(MyEvents.YES_DELETE)
    await author.press_data(f"ev:edit:{second.id}")
    await author.press("Место")
    await author.send("г. Гомель")
    await author.press(Dialogue.SAVE)
    await fill_event(author, "Четвёртая выставка")
    await author.press(Dialogue.SUBMIT)
    fourth = (await stored_events(app_storage.sessionmaker))[-1]

    await desk.send("/report 2023-Q4")
    later = caption_lines(desk)
    markup = desk.documents()[-1].reply_markup
    assert isinstance(markup, InlineKeyboardMarkup)
    buttons = {b.text: b.callback_data for row in markup.inline_keyboard for b in row}
    assert buttons[Review.ACCEPTED_ONLY] == f"ra:{first.period_id}"
    await desk.press_data(f"ra:{first.period_id}")
    accepted = desk.documents()[-1]
    await desk.send("/report 2023-Q4")
    again = caption_lines(desk)

    assert earlier == [
        Desk.CAPTION.format(period="IV квартал 2023 года", count=3),
        Review.CAPTION_REVIEW.format(accepted=0, pending=3, returned=0),
    ]
    assert later == [
        Desk.CAPTION.format(period="IV квартал 2023 года", count=3),
        Review.CAPTION_REVIEW.format(accepted=1, pending=2, returned=0),
        Review.CAPTION_SINCE.format(
            parts=f"новые №{fourth.id}; изменённые №{second.id}; исключённые №{third.id}"
        ),
    ]
    assert accepted.document.filename == "report_2023_Q4_accepted.docx"  # type: ignore[union-attr]
    assert (accepted.caption or "").split("\n")[:2] == [
        Desk.CAPTION.format(period="IV квартал 2023 года", count=1),
        Review.CAPTION_ACCEPTED_ONLY,
    ]
    # the accepted-only file was the last one: the two others are "withdrawn" from it
    assert again[-1] == Review.CAPTION_SINCE.format(parts=f"новые №{second.id}, №{fourth.id}")
    assert all(len(d.caption or "") <= 1024 for d in desk.documents())


async def test_report_accepted_only_says_when_nothing_is_accepted_yet(
    world: World, app_storage: Storage
) -> None:
    _, desk, _ = await submitted(world, app_storage)

    [reply] = await desk.send("/report 2023-Q4 принятые")

    assert reply.text == Review.NO_ACCEPTED.format(period="IV квартал 2023 года")
    assert desk.documents() == []


async def test_a_caption_of_many_changes_names_some_and_counts_the_rest(
    world: World, app_storage: Storage
) -> None:
    _, desk, first = await submitted(world, app_storage)
    await desk.send("/report 2023-Q4")
    async with app_storage.sessionmaker() as session, session.begin():
        period_ = await session.get(ReportingPeriod, first.period_id)
        for number in range(60):
            await factories.event(session, period_=period_, name=f"Лекция {number}")

    await desk.send("/report 2023-Q4")

    caption = desk.documents()[-1].caption or ""
    assert len(caption) <= 1024  # the recording session refuses a longer one too
    assert caption.split("\n")[-1].endswith(" и ещё 45.")
