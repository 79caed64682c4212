"""The reporting dialogue: seven steps, a summary with a button per field, one submit."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple

from aiogram import Bot, F, Router, html
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import duplicates, review
from handlers import keyboards as kb
from handlers.access import can_edit, may_view
from handlers.draft import (
    TEXT_LIMITS,
    Draft,
    clean_answer,
    dates_to_data,
    read_count,
)
from handlers.filters import HAS_TEXT, IS_ANSWER, NO_TEXT, InStates, IsKnown
from handlers.labels import period_label
from handlers.states import STEPS, ReportStates
from handlers.texts import Common, Dialogue, Nothing
from handlers.views import (
    MESSAGE_MAX,
    Clock,
    collecting,
    collecting_examples,
    event_card,
    fields_text,
    period_choices,
    shown,
)
from reports.dates import DateParseError, DateRange, find_earliest_date, format_dates, parse_dates
from reports.participants import characters, read_count_answer
from storage.models import Person, ReportingPeriod, Sphere
from storage.repositories import (
    DuplicateRepository,
    EventRepository,
    OrganisationRepository,
    PeriodRepository,
    ReportingRepository,
    SphereRepository,
)
from storage.repositories.duplicates import Lookalike

if TYPE_CHECKING:
    from bot.settings import Settings

router = Router(name=__name__)
router.message.filter(IsKnown())
router.callback_query.filter(IsKnown())
log = logging.getLogger(__name__)


NEXT = dict(zip(STEPS, (*STEPS[1:], None), strict=True))
PREVIOUS = dict(zip(STEPS, (None, *STEPS[:-1]), strict=True))
# The numbered step a state belongs to (the confirmation and the count are parts of steps).
STEP_OF_STATE = {
    **{getattr(ReportStates, step).state: step for step in STEPS},
    ReportStates.dates_confirm.state: "dates",
    ReportStates.count.state: "participants",
    ReportStates.summary.state: "summary",
}
TEXT_STATES = (
    ReportStates.name,
    ReportStates.place,
    ReportStates.result,
    ReportStates.participants,
)
DATES_STATES = (ReportStates.dates, ReportStates.dates_confirm)
BUTTON_STATES = (ReportStates.sphere, ReportStates.period, ReportStates.summary)
ALL_STATES = (*TEXT_STATES, *DATES_STATES, *BUTTON_STATES, ReportStates.count)
SPHERE_PAGE = "sphere_page"  # FSM data: the page of spheres shown last (absent: the first)


class SphereView(NamedTuple):
    """What the sphere question shows on a page."""

    choices: list[tuple[int, str]]  # every active sphere: (id, name)
    page: int
    chosen: Sphere | None  # the sphere chosen before
    nav: dict[str, bool]  # «Оставить как есть» and «Назад», as `_nav` gives them


class Conversation:
    """What every step needs: the chat, the state, the database, the settings and clock."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        state: FSMContext,
        session: AsyncSession,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.bot, self.chat_id, self.state = bot, chat_id, state
        self.session, self.settings, self.clock = session, settings, clock

    async def draft(self) -> Draft:
        return Draft.load(await self.state.get_data())

    async def save(self, draft: Draft, **extra: Any) -> None:
        await self.state.set_data({"draft": draft.dump(), **extra})

    async def say(self, text: str, markup: Any = None) -> None:
        await self.bot.send_message(self.chat_id, text, reply_markup=markup)

    async def collecting_year(self) -> tuple[int, Any]:
        quarter = await collecting(self.session, self.settings, self.clock())
        return quarter.year, quarter

    async def ask(self, draft: Draft, step: str) -> None:
        """Put the question of `step`, with its buttons and the current answer if any."""
        await self.save(draft)
        await self.state.set_state(getattr(ReportStates, step))
        head = Dialogue.STEP.format(number=STEPS.index(step) + 1)
        if step == "sphere":
            await self.ask_sphere(draft)
            return
        if step == "period":
            periods, default, kept = await self.period_view(draft)
            if not periods:  # closed meanwhile: nothing to choose, the draft waits
                text = head + Dialogue.ASK["period"] + Dialogue.NO_PERIOD_AT_STEP
                await self.say(text, kb.step_keyboard("period"))
                return
            chosen = draft.period_id or default
            choices = [(p.id, period_label(p), p.id == chosen) for p in periods]
            text = head + Dialogue.ASK["period"]
            if draft.editing and kept is not None:
                # From the summary the quarter shown is pressed to keep it, so no «Назад»,
                # which would do the same (a quarter closed since: «Назад» to the summary).
                text += Dialogue.CURRENT.format(value=period_label(kept))
            back = not draft.editing or kept is None
            await self.say(text, kb.periods_keyboard(choices, back=back))
            return
        text = head + Dialogue.ASK[step]
        if step == "dates":
            examples = await collecting_examples(self.session, self.settings, self.clock())
            text = head + Dialogue.ASK["dates"].format(**examples)
        current = draft.value(step)
        if step == "dates" and draft.dates:
            current = format_dates(DateRange(**_dates_kwargs(draft.dates)))
        if current:
            text += Dialogue.CURRENT.format(value=shown(str(current), 300))
        await self.say(text, kb.step_keyboard(step, **_nav(draft, step, bool(current))))

    async def ask_sphere(self, draft: Draft, page: int | None = None) -> None:
        """The sphere question, with a page of the spheres as buttons (`page`: by default
        the page shown last). The sphere chosen before, if any, is marked «✓» on its page:
        pressing it keeps it, so «Оставить как есть» is offered only on the other pages."""
        data = await self.state.get_data()
        asked = data.get(SPHERE_PAGE, 0) if page is None else page
        view = await self.sphere_view(draft, asked)
        if view is None:
            await self.say(Dialogue.NO_SPHERES)
            return
        choices, page, chosen, nav = view
        if page != data.get(SPHERE_PAGE, 0):  # the page shown, for its buttons' check
            await self.save(draft, **({SPHERE_PAGE: page} if page else {}))
        chosen_id = chosen.id if chosen is not None else None
        markup = kb.spheres_keyboard(choices, page, chosen=chosen_id, **nav)
        head = Dialogue.STEP.format(number=STEPS.index("sphere") + 1)
        text = head + Dialogue.ASK["sphere"] + "\n" + html.quote(kb.sphere_lines(choices, page))
        if chosen is not None:
            text += Dialogue.CURRENT.format(value=shown(chosen.name, 300))
        await self.say(text, markup)

    async def sphere_view(self, draft: Draft, page: int) -> SphereView | None:
        """What the sphere question shows on `page`: the spheres, the page (within those
        there are), the sphere chosen before and the navigation buttons; None without
        spheres."""
        sphere_repo = SphereRepository(self.session)
        choices = await sphere_repo.active_choices()
        if not choices:
            return None
        page = kb.sphere_page(choices, page)
        chosen = await sphere_repo.snapshot(draft.sphere_id) if draft.sphere_id else None
        nav = _nav(draft, "sphere", chosen is not None)
        if chosen is not None and kb.page_of_sphere(choices, chosen.id) == page:
            nav["keep"] = False  # the chosen sphere's own button («✓») keeps it
        return SphereView(choices, page, chosen, nav)

    async def period_view(
        self, draft: Draft
    ) -> tuple[list[ReportingPeriod], int | None, ReportingPeriod | None]:
        """The periods the period question offers, the default one, and the period chosen
        before if it is among them."""
        start = date.fromisoformat(draft.dates["start"]) if draft.dates else None
        periods, default = await period_choices(self.session, self.settings, self.clock(), start)
        kept = next((p for p in periods if p.id == draft.period_id), None)
        return periods, default, kept

    async def nav_shown(self, draft: Draft, step: str, data: dict[str, Any]) -> dict[str, bool]:
        """Which of «Оставить как есть» and «Назад» the question of `step` shows as it
        stands now (the page of spheres shown last, the periods open now)."""
        if step == "sphere":
            view = await self.sphere_view(draft, data.get(SPHERE_PAGE, 0))
            return view.nav if view is not None else {"keep": False, "back": False}
        if step == "period":
            periods, _, kept = await self.period_view(draft)
            return {"keep": False, "back": not periods or not draft.editing or kept is None}
        if step == "dates":
            return _dates_nav(draft)
        return _nav(draft, step, draft.value(step) not in (None, ""))

    async def ask_count(self) -> None:
        """The participants' total, when the text did not give it."""
        await self.say(Dialogue.ASK_COUNT, kb.count_keyboard())

    async def confirm_dates(self, dates: DateRange) -> None:
        """The dates as the table will print them, to be confirmed or fixed."""
        await self.say(
            Dialogue.CONFIRM_DATES.format(dates=shown(format_dates(dates))),
            kb.confirm_dates_keyboard(),
        )

    async def summary(self, draft: Draft) -> None:
        """Show the whole event with a button per field and the submit button."""
        draft.editing = True
        await self.save(draft)
        await self.state.set_state(ReportStates.summary)
        head = (
            Dialogue.SUMMARY_EDIT_HEAD.format(id=draft.event_id)
            if draft.event_id
            else Dialogue.SUMMARY_HEAD
        )
        body = await fields_text(
            self.session,
            sphere_id=draft.sphere_id,
            name=draft.name,
            place=draft.place,
            dates=DateRange(**_dates_kwargs(draft.dates)) if draft.dates else None,
            result=draft.result,
            participants=draft.participants,
            count=draft.count,
            period_id=draft.period_id,
        )
        markup = kb.summary_keyboard(
            STEPS, editing=draft.event_id is not None, key=submit_key(draft)
        )
        await self.say(f"{head}\n\n{body}\n{Dialogue.SUMMARY_FOOT}", markup)

    async def advance(self, draft: Draft, after: str) -> None:
        """Go on after `after` was answered: the next step, or back to the summary."""
        if draft.editing:
            missing = draft.missing(STEPS)
            if missing:
                await self.ask(draft, missing[0])
            else:
                await self.summary(draft)
            return
        following = NEXT[after]
        if following is None:
            await self.summary(draft)
        else:
            await self.ask(draft, following)


def _nav(draft: Draft, step: str, current: bool) -> dict[str, bool]:
    """Which of «Оставить как есть» and «Назад» a step's question shows, so that no two
    buttons do the same: from the summary «Назад» returns to it unchanged, which is what
    keeping the answer shown does, so only «Оставить как есть» is offered then; the first
    step has no step before it."""
    if draft.editing:
        return {"keep": current, "back": not current}
    return {"keep": current, "back": step != STEPS[0]}


def _dates_kwargs(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "start": date.fromisoformat(data["start"]),
        "end": date.fromisoformat(data["end"]),
        "precision": data["precision"],
        "note": data.get("note"),
    }


def _dialogue(
    event: Message | CallbackQuery,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> Conversation:
    user = event.from_user
    assert user is not None
    return Conversation(bot, user.id, state, session, settings, clock)


async def start_dialogue(dialogue: Conversation, draft: Draft) -> None:
    """Begin a new event (or a copy, which opens at the summary)."""
    if draft.editing:
        await dialogue.summary(draft)
    else:
        await dialogue.ask(draft, "sphere")


async def in_progress(state: FSMContext) -> Draft | None:
    """The draft of the dialogue under way, if it has answers (else None)."""
    raw_state = await state.get_state()
    if raw_state is None or raw_state not in ReportStates:
        return None
    draft = Draft.load(await state.get_data())
    return draft if draft.answered() else None


def drop_question(draft: Draft) -> tuple[str, InlineKeyboardMarkup]:
    """What «Отмена» on a draft with answers asks: to delete the draft, or, for changes
    to a saved event, to drop the changes (the event itself stays)."""
    if draft.event_id is not None:
        text = Dialogue.CONFIRM_DROP_EDIT.format(id=draft.event_id)
        return text, kb.drop_draft_keyboard(submit_key(draft), editing=True)
    return Dialogue.CONFIRM_DROP, kb.drop_draft_keyboard(submit_key(draft))


def dropped(draft: Draft) -> str:
    """What is said once the draft (or the changes to a saved event) is dropped."""
    return Dialogue.EDIT_CANCELLED if draft.event_id is not None else Dialogue.CANCELLED


async def ask_about_draft(bot: Bot, chat_id: int, draft: Draft, what: str, item: int = 0) -> None:
    """A new start met a draft in progress: go on with it, or start `what` anew."""
    markup = kb.draft_keyboard(submit_key(draft), what, item)
    await bot.send_message(chat_id, Dialogue.DRAFT_IN_PROGRESS, reply_markup=markup)


async def draft_asked(callback: CallbackQuery, key: str, state: FSMContext, person: Person) -> bool:
    """Whether a button about a draft names the draft under way; if not (the draft was
    sent, deleted or replaced since, or the data is forged), the button is refused."""
    raw_state = await state.get_state()
    if raw_state is not None and raw_state in ReportStates:
        if submit_key(Draft.load(await state.get_data())) == key:
            return True
    log.warning("person %s pressed %r in state %s", person.id, callback.data, raw_state)
    await callback.answer(Common.STALE_BUTTON, show_alert=True)
    return False


async def _new(
    bot: Bot,
    chat_id: int,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    periods: list[ReportingPeriod] | None = None,
) -> None:
    """A new draft, unless no period is open (`periods`: the open ones, if known)."""
    if periods is None:
        periods, _ = await period_choices(session, settings, clock(), None)
    if not periods:  # the last step would have no quarter to offer: say so at once
        await bot.send_message(chat_id, Dialogue.NO_OPEN_PERIODS)
        return
    dialogue = Conversation(bot, chat_id, state, session, settings, clock)
    await start_dialogue(dialogue, Draft.new())


@router.message(Command("new"))
async def new_event(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    assert message.from_user is not None
    chat_id = message.from_user.id
    periods, _ = await period_choices(session, settings, clock(), None)
    draft = await in_progress(state)
    if draft is not None and periods:
        await ask_about_draft(bot, chat_id, draft, "new")
        return
    await _new(bot, chat_id, state, session, settings, clock, periods)


@router.callback_query(kb.DraftCb.filter(F.action.in_({"resume", "drop"})))
async def resume_or_drop(
    callback: CallbackQuery,
    callback_data: kb.DraftCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    person: Person,
) -> None:
    """«Продолжить черновик» / «Нет, продолжить»: the question the draft is at, again;
    «Да, удалить»: the draft is deleted."""
    if not await draft_asked(callback, callback_data.key, state, person):
        return
    await callback.answer()
    if callback_data.action == "drop":
        draft = Draft.load(await state.get_data())
        await state.clear()
        await bot.send_message(person.telegram_id, dropped(draft))
        return
    await repeat_question(bot, person.telegram_id, state, session, settings, clock, notice="")


@router.callback_query(kb.DraftCb.filter((F.action == "anew") & (F.what == "new")))
async def new_instead(
    callback: CallbackQuery,
    callback_data: kb.DraftCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    person: Person,
) -> None:
    """«Начать заново» after /new: the draft makes way for a new one."""
    if not await draft_asked(callback, callback_data.key, state, person):
        return
    await callback.answer()
    await _new(bot, person.telegram_id, state, session, settings, clock)


# --- answers -----------------------------------------------------------------------------


@router.callback_query(InStates(ReportStates.sphere), kb.SphereCb.filter())
async def got_sphere(
    callback: CallbackQuery,
    callback_data: kb.SphereCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    person: Person,
) -> None:
    sphere = await SphereRepository(session).snapshot(callback_data.id)
    if sphere is None or not sphere.active:
        log.warning("person %s sent an unknown sphere id %s", person.id, callback_data.id)
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    await callback.answer()
    dialogue = _dialogue(callback, bot, state, session, settings, clock)
    draft = await dialogue.draft()
    draft.sphere_id = sphere.id
    await dialogue.advance(draft, "sphere")


@router.callback_query(InStates(ReportStates.sphere), kb.SpherePageCb.filter())
async def sphere_page(
    callback: CallbackQuery,
    callback_data: kb.SpherePageCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    await callback.answer()
    dialogue = _dialogue(callback, bot, state, session, settings, clock)
    await dialogue.ask_sphere(await dialogue.draft(), callback_data.page)


@router.message(InStates(*TEXT_STATES), HAS_TEXT, IS_ANSWER)
async def got_text(
    message: Message,
    raw_state: str,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    step = STEP_OF_STATE[raw_state]
    dialogue = _dialogue(message, bot, state, session, settings, clock)
    data = await state.get_data()
    whole = await _whole_text(dialogue, data, step, message)
    if whole is not None:
        await _take_text(dialogue, data, step, whole)


async def _take_text(
    dialogue: Conversation, data: dict[str, Any], step: str, whole: WholeText
) -> None:
    """Check a text step's answer (one message, or the parts of a paste) and keep it."""
    text = clean_answer(whole.text)
    if not text:
        await _refuse(dialogue, data, Dialogue.EMPTY)
        return
    if not whole.fits(text, TEXT_LIMITS[step]):
        await _refuse(dialogue, data, whole.too_long(text, TEXT_LIMITS[step]))
        return
    draft = Draft.load(data)
    setattr(draft, step, text)
    if step == "participants":
        draft.count = read_count(text)
        if draft.count is None:
            await dialogue.save(draft)
            await dialogue.state.set_state(ReportStates.count)
            await dialogue.ask_count()
            return
    await dialogue.advance(draft, step)


async def _refuse(dialogue: Conversation, data: dict[str, Any], reply: str) -> None:
    """Refuse an answer: nothing of it is kept (a refused paste is dropped whole)."""
    if PASTE in data:
        await dialogue.state.set_data({key: value for key, value in data.items() if key != PASTE})
    await dialogue.say(reply)


# --- long pastes, split by Telegram --------------------------------------------------------
# Telegram clients send a pasted text longer than 4096 characters as several messages, a
# second or two apart, cutting at a line break or a space and dropping it. A message of
# PART_MIN characters or more (up to 4096) is kept in FSM data as a part of a paste, with its
# `date`; a next message at the same step within PASTE_WINDOW seconds of the last part is
# joined to it, and the first one shorter than PART_MIN ends the paste: the joined whole is
# the answer, checked against the step's limit as one text. «Это весь текст» takes the
# parts received so far. A message later than the window while parts wait is not taken
# alone: the person chooses to join it, to take it alone, or to take the parts alone.

PASTE = "paste"  # the FSM data key of the parts waiting
PART_MIN = 3500
PASTE_WINDOW = 10  # seconds between the `date`s of two parts of one paste
PASTE_KEPT = 3 * MESSAGE_MAX  # beyond every limit: a longer paste is kept cut, and refused
PASTE_ACTIONS = ("whole", "join", "new")
PASTE_STATES = (*TEXT_STATES, *DATES_STATES)
_SENTENCE_END = frozenset(".!?;:…»)")


class WholeText:
    """An answer: one message, or the parts of one paste joined (`length` counts all)."""

    def __init__(self, text: str, length: int | None = None, *, parts: int = 1) -> None:
        self.text, self.parts = text, parts
        self.length = len(text) if length is None else length

    def fits(self, text: str, limit: int) -> bool:
        """Whether the cleaned `text` of this answer is within `limit` (and was not cut)."""
        return len(text) <= limit and self.length <= PASTE_KEPT

    def too_long(self, text: str, limit: int) -> str:
        """The refusal, naming the length of the whole (of the text kept, unless it was cut)."""
        length = self.length if self.length > PASTE_KEPT else len(text)
        if self.parts > 1:
            return Dialogue.PASTE_TOO_LONG.format(length=characters(length), limit=limit)
        return Dialogue.TOO_LONG.format(length=characters(length), limit=limit)


def is_part(text: str) -> bool:
    """Whether a message is likely one part of a longer paste split by Telegram."""
    return PART_MIN <= len(text) <= MESSAGE_MAX


def join_parts(first: str, second: str) -> str:
    """Two parts of a paste, with the blank Telegram dropped at the cut put back: a line
    break after the end of a sentence, else a space (none if either side has one)."""
    if not first or not second or first[-1].isspace() or second[0].isspace():
        return first + second
    return first + ("\n" if first[-1] in _SENTENCE_END else " ") + second


async def _keep_paste(dialogue: Conversation, data: dict[str, Any], paste: dict[str, Any]) -> None:
    await dialogue.state.set_data({**data, PASTE: paste})


async def _whole_text(
    dialogue: Conversation, data: dict[str, Any], step: str, message: Message
) -> WholeText | None:
    """The answer this message completes, or None when it is kept as a part for now."""
    raw = message.text or ""
    at = int(message.date.timestamp())
    paste = data.get(PASTE)
    if paste is not None and paste.get("step") != step:
        paste = None  # left from another step: replaced below, or dropped with the answer
    if paste is None:
        if not is_part(raw):
            return WholeText(raw)
        paste = {"step": step, "text": raw, "length": len(raw), "parts": 1, "at": at}
        await _keep_paste(dialogue, data, paste)
        await dialogue.say(Dialogue.PASTE_PART.format(length=len(raw)), kb.paste_keyboard(step))
        return None
    if "late" in paste or at - paste["at"] > PASTE_WINDOW:
        # After the window: not a part Telegram split off; the person says what it is.
        late = join_parts(paste["late"], raw) if "late" in paste else raw
        paste = {**paste, "late": late[:PASTE_KEPT], "late_length": len(late), "at": at}
        await _keep_paste(dialogue, data, paste)
        await dialogue.say(
            Dialogue.PASTE_LATE.format(length=paste["length"], late=len(late)),
            kb.paste_late_keyboard(step),
        )
        return None
    joined = join_parts(paste["text"], raw)
    length = paste["length"] + len(joined) - len(paste["text"])
    parts = paste["parts"] + 1
    if is_part(raw):
        paste = {**paste, "text": joined[:PASTE_KEPT], "length": length, "parts": parts, "at": at}
        await _keep_paste(dialogue, data, paste)
        await dialogue.say(Dialogue.PASTE_PART.format(length=length), kb.paste_keyboard(step))
        return None
    return WholeText(joined, length, parts=parts)


def _paste_waits(data: dict[str, Any], step: str, action: str) -> bool:
    """Whether a paste button matches the parts waiting (a late message for join and new)."""
    paste = data.get(PASTE)
    if not paste or paste.get("step") != step:
        return False
    return action == "whole" or "late" in paste


async def _take_paste(dialogue: Conversation, data: dict[str, Any], step: str, action: str) -> None:
    """The person's choice about the parts waiting: all of them, joined with the later text,
    or the later text alone."""
    paste = data[PASTE]
    if action == "whole":
        whole = WholeText(paste["text"], paste["length"], parts=paste["parts"])
    elif action == "join":
        text = join_parts(paste["text"], paste["late"])
        separator = len(text) - len(paste["text"]) - len(paste["late"])
        length = paste["length"] + separator + paste["late_length"]
        whole = WholeText(text, length, parts=paste["parts"] + 1)
    else:
        whole = WholeText(paste["late"], paste["late_length"])
    if step == "dates":
        await _take_dates(dialogue, data, whole)
    else:
        await _take_text(dialogue, data, step, whole)


@router.message(InStates(ReportStates.count), HAS_TEXT, IS_ANSWER)
async def got_count(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    total = read_count_answer(clean_answer(message.text or ""))
    if total is None:
        await message.answer(Dialogue.BAD_COUNT)
        return
    if total.qualifier:  # «около 20»: no number of its own to print; the text can say it
        await message.answer(Dialogue.APPROXIMATE_COUNT.format(total=total.shown))
        return
    dialogue = _dialogue(message, bot, state, session, settings, clock)
    draft = await dialogue.draft()
    draft.count = total.count
    await dialogue.advance(draft, "participants")


@router.message(InStates(*DATES_STATES), HAS_TEXT, IS_ANSWER)
async def got_dates(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    dialogue = _dialogue(message, bot, state, session, settings, clock)
    data = await state.get_data()
    whole = await _whole_text(dialogue, data, "dates", message)
    if whole is not None:
        await _take_dates(dialogue, data, whole)


async def _take_dates(dialogue: Conversation, data: dict[str, Any], whole: WholeText) -> None:
    """Read the dates typed: confirm them, offer to keep the text as written, or ask again."""
    text = clean_answer(whole.text)
    if not text:
        await _refuse(dialogue, data, Dialogue.EMPTY)
        return
    if not whole.fits(text, TEXT_LIMITS["dates"]):
        await _refuse(dialogue, data, whole.too_long(text, TEXT_LIMITS["dates"]))
        return
    state = dialogue.state
    draft = Draft.load(data)
    year, quarter = await dialogue.collecting_year()
    try:
        dates = parse_dates(text, year=year, period=quarter)
    except DateParseError as error:
        start = find_earliest_date(text, year=year) if error.code == "unreadable" else None
        await state.set_state(ReportStates.dates)
        refused = error.message
        if error.code in Dialogue.DATES_REFUSED:
            shown_examples = await collecting_examples(
                dialogue.session, dialogue.settings, dialogue.clock()
            )
            refused = Dialogue.DATES_REFUSED[error.code].format(**shown_examples)
        if start is None:
            await dialogue.save(draft)
            await dialogue.say(refused, kb.step_keyboard("dates", **_dates_nav(draft)))
            return
        if await _not_started(dialogue, draft, start):
            return
        note = DateRange(start, start, "day", text)
        await dialogue.save(draft, pending=dates_to_data(note))
        offer = Dialogue.OFFER_NOTE.format(start=format_dates(DateRange(start, start)))
        await dialogue.say(refused + offer, kb.keep_note_keyboard(**_dates_nav(draft)))
        return
    if await _not_started(dialogue, draft, dates.start):
        return
    await dialogue.save(draft, pending=dates_to_data(dates))
    await state.set_state(ReportStates.dates_confirm)
    await dialogue.confirm_dates(dates)


async def _not_started(dialogue: Conversation, draft: Draft, start: date) -> bool:
    """Refuse an event that starts after today (the report is about events held; one
    still going on is accepted): the draft is kept and the dates asked again."""
    today = dialogue.clock().astimezone(dialogue.settings.timezone).date()
    if start <= today:
        return False
    await dialogue.state.set_state(ReportStates.dates)
    await dialogue.save(draft)
    shown_start = format_dates(DateRange(start, start))
    markup = kb.step_keyboard("dates", **_dates_nav(draft))
    await dialogue.say(Dialogue.NOT_STARTED.format(start=shown_start), markup)
    return True


def _dates_nav(draft: Draft) -> dict[str, bool]:
    """The buttons of the dates asked again after a refusal: as when they were first asked,
    so the dates shown before (reached by «Назад» or from the summary) can still be kept."""
    return _nav(draft, "dates", draft.dates is not None)


@router.callback_query(InStates(ReportStates.period), kb.PeriodCb.filter())
async def got_period(
    callback: CallbackQuery,
    callback_data: kb.PeriodCb,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    person: Person,
) -> None:
    period = await PeriodRepository(session).snapshot(callback_data.id)
    if period is None:
        log.warning("person %s sent an unknown period id %s", person.id, callback_data.id)
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    dialogue = _dialogue(callback, bot, state, session, settings, clock)
    draft = await dialogue.draft()
    if period.status != "open":
        await callback.answer(Dialogue.PERIOD_CLOSED, show_alert=True)
        await dialogue.ask(draft, "period")
        return
    await callback.answer()
    draft.period_id = period.id
    await dialogue.advance(draft, "period")


# --- buttons under the questions ---------------------------------------------------------


@router.callback_query(InStates(*ALL_STATES), kb.DialogueCb.filter())
async def dialogue_button(
    callback: CallbackQuery,
    callback_data: kb.DialogueCb,
    raw_state: str,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    person: Person,
) -> None:
    action, step = callback_data.action, callback_data.step
    data = await state.get_data()
    shown = _shown_in(raw_state, action, step) and not (
        action in PASTE_ACTIONS and not _paste_waits(data, step, action)
    )
    if shown and action in KEYED_ACTIONS and step != "summary":
        # An older summary's button names its own draft: not the one now at the summary.
        shown = step == submit_key(Draft.load(data))
    if shown and action in ("keep", "back") and raw_state != ReportStates.count.state:
        # Only as the question now asked shows them: the same button under an older
        # message of this step (e.g. «Назад» from before an edit from the summary, where
        # the question shows «Оставить как есть» instead; «Оставить как есть» with nothing
        # to keep) is stale. The count's «Назад» is always shown.
        conversation = _dialogue(callback, bot, state, session, settings, clock)
        shown = (await conversation.nav_shown(Draft.load(data), step, data))[action]
    if not shown:
        if action in ("submit", "force") and await _saved_already(
            callback, step, bot, session, person
        ):
            return
        log.warning("person %s pressed %r in state %s", person.id, callback.data, raw_state)
        await callback.answer(Common.STALE_BUTTON, show_alert=True)
        return
    await callback.answer()
    dialogue = _dialogue(callback, bot, state, session, settings, clock)
    draft = Draft.load(data)
    if PASTE in data and action not in (*PASTE_ACTIONS, "cancel"):  # the parts are dropped
        await dialogue.say(Dialogue.PASTE_DROPPED.format(length=data[PASTE]["length"]))
    if action in PASTE_ACTIONS:
        await _take_paste(dialogue, data, step, action)
    elif action == "cancel":
        if draft.answered():  # asked first: «Да, удалить» / «Нет, продолжить»
            await dialogue.say(*drop_question(draft))
        else:
            await state.clear()
            await dialogue.say(dropped(draft))
    elif action == "keep":
        if step == "participants" and draft.count is None:  # the count was not given yet
            await dialogue.save(draft)
            await state.set_state(ReportStates.count)
            await dialogue.ask_count()
        else:
            await dialogue.advance(draft, step)
    elif action == "edit":
        await dialogue.ask(draft, step)
    elif action in ("submit", "force"):  # «Всё равно отправить» after the lookalikes
        await submit(dialogue, draft, person, confirmed=action == "force")
    elif action == "resume":  # «Вернуться к сводке»
        await dialogue.summary(draft)
    elif action == "back":
        if raw_state == ReportStates.count.state:
            await dialogue.ask(draft, step)  # back from a sub-question: the step itself
        elif draft.editing:
            await dialogue.summary(draft)
        else:
            await dialogue.ask(draft, PREVIOUS.get(step) or step)
    elif action in ("yes", "note"):
        await _take_pending_dates(dialogue, draft)
    elif action == "fix":
        await dialogue.ask(draft, "dates")
    else:  # nocount
        draft.count = None
        await dialogue.advance(draft, "participants")


PASTE_STATE_NAMES = frozenset(state.state for state in PASTE_STATES)
# The buttons each state shows (every other state shows keep, back and cancel).
STATE_BUTTONS = {
    ReportStates.dates.state: ("keep", "back", "cancel", "note"),
    ReportStates.dates_confirm.state: ("cancel", "yes", "fix"),
    ReportStates.count.state: ("back", "cancel", "nocount"),
    ReportStates.period.state: ("back", "cancel"),
    ReportStates.summary.state: ("edit", "submit", "cancel", "force", "resume"),
}
# The buttons whose `step` is the draft's submit key: the submit button and, under the
# warning of lookalikes (handlers/duplicates.py), «Всё равно отправить» and «Вернуться к
# сводке».
KEYED_ACTIONS = frozenset({"submit", "force", "resume"})


def _shown_in(raw_state: str, action: str, step: str) -> bool:
    """Whether the dialogue in `raw_state` shows this button: anything else is refused."""
    if action in PASTE_ACTIONS:  # under the notice of a part received (see _whole_text)
        return raw_state in PASTE_STATE_NAMES and step == STEP_OF_STATE[raw_state]
    if action not in STATE_BUTTONS.get(raw_state, ("keep", "back", "cancel")):
        return False
    if action == "edit":
        return step in STEPS
    if action in KEYED_ACTIONS:
        return True  # its `step` is the draft's key (`submit_key`)
    return step == STEP_OF_STATE[raw_state]


def submit_key(draft: Draft) -> str:
    """What the submit button carries: the new event's dedup key, or `e<id>` of the
    event being edited (see `_saved_already`)."""
    if draft.event_id is not None:
        return f"e{draft.event_id}"
    return draft.token or "summary"


@router.callback_query(InStates(None), kb.DialogueCb.filter(F.action.in_({"submit", "force"})))
async def submit_again(
    callback: CallbackQuery,
    callback_data: kb.DialogueCb,
    bot: Bot,
    session: AsyncSession,
    person: Person,
) -> None:
    """«Отправить» pressed on a summary whose dialogue has ended: most often because the
    confirmation never arrived (a crash or a stop in between), so the person tries again."""
    if not await _saved_already(callback, callback_data.step, bot, session, person):
        log.warning("person %s pressed %r with no dialogue", person.id, callback.data)
        await callback.answer(Common.STALE_BUTTON, show_alert=True)


async def _saved_already(
    callback: CallbackQuery, key: str, bot: Bot, session: AsyncSession, person: Person
) -> bool:
    """If the submit button's `key` names an event the person may see, tell them it is
    saved and show its card (never a second event); False when it names none."""
    events = EventRepository(session)
    if key.startswith("e") and key[1:].isdigit():
        event = await events.get(int(key[1:]))
    else:
        event = await events.by_dedup_key_of(person.id, key)
    if event is None or event.status == "deleted" or not await may_view(session, person, event):
        return False
    await callback.answer()
    card = await event_card(session, event)
    await bot.send_message(
        person.telegram_id,
        f"{Dialogue.SAVED_ALREADY}\n\n{card}",
        reply_markup=await review.card_markup(session, person, event),
    )
    return True


async def _take_pending_dates(dialogue: Conversation, draft: Draft) -> None:
    pending = (await dialogue.state.get_data()).get("pending")
    if not pending:
        await dialogue.ask(draft, "dates")
        return
    draft.dates = pending
    await dialogue.advance(draft, "dates")


async def submit(
    dialogue: Conversation, draft: Draft, person: Person, *, confirmed: bool = False
) -> None:
    """File the event (or save the edited one) exactly once; first, unless `confirmed`,
    tell the person of other organisations' events of the period that look alike."""
    session = dialogue.session
    missing = draft.missing(STEPS)
    if missing:
        names = ", ".join(Dialogue.FIELD_NAMES[step] for step in missing)
        await dialogue.say(Dialogue.MISSING_FIELDS.format(fields=names))
        await dialogue.ask(draft, missing[0])
        return
    events = EventRepository(session)
    event = await events.get(draft.event_id) if draft.event_id is not None else None
    if draft.event_id is not None and (
        event is None or not await can_edit(session, person, event)
    ):  # its period closed, or it was deleted, since the edit began
        log.warning("person %s may not change event %s", person.id, draft.event_id)
        await dialogue.state.clear()
        await dialogue.say(Dialogue.NO_LONGER_CHANGEABLE)
        return
    assert draft.period_id is not None
    period = await PeriodRepository(session).snapshot(draft.period_id)  # read, not changed
    if period is None or period.status != "open":
        start = date.fromisoformat(draft.dates["start"]) if draft.dates else None
        others, _ = await period_choices(session, dialogue.settings, dialogue.clock(), start)
        if not others:  # nowhere else to put it: the person waits at the summary
            label = period_label(period) if period else Dialogue.MISSING
            await dialogue.say(Dialogue.PERIOD_CLOSED_KEPT.format(period=label))
            return
        await dialogue.say(Dialogue.PERIOD_CLOSED)
        draft.period_id = None
        await dialogue.ask(draft, "period")
        return
    if event is not None:
        organisation_id = event.organisation_id
    elif person.organisation_id is not None:
        organisation_id = person.organisation_id
    else:
        organisations = OrganisationRepository(session)
        organisation_id = (
            await organisations.get_or_add(dialogue.settings.default_organisation)
        ).id
    fields = draft.fields()
    already = event is None and await events.dedup_key_taken(organisation_id, draft.token)
    lookalikes: list[Lookalike] = []
    if not already:
        lookalikes = await DuplicateRepository(session).lookalikes(
            period_id=period.id,
            organisation_id=organisation_id,
            name=fields.name,
            place=fields.place,
            start=fields.dates.start,
            end=fields.dates.end,
            event_id=event.id if event is not None else None,
        )
    if lookalikes and not confirmed:  # the draft stays at the summary
        await dialogue.say(
            *duplicates.warning(lookalikes, key=submit_key(draft), editing=event is not None)
        )
        return
    filed = False  # an event now stands in the period: "nothing to report" no longer holds
    notices: list[review.Notice] = []
    if event is not None:
        before = await review.snapshot(session, event)
        dissolved = await events.update(event, fields, period_id=period.id)
        notices = await review.after_edit(session, person, event, before, dialogue.clock)
        notices += await duplicates.dissolved_notices(session, dissolved)
        filed = event.status == "submitted"
        if filed:
            await duplicates.note_pairs(session, event.id, lookalikes)
        reply = Dialogue.UPDATED
    else:
        reply = Dialogue.SUBMITTED.format(period=period_label(period))
        if already:
            reply = Dialogue.ALREADY_SUBMITTED
        else:
            try:
                async with session.begin_nested():
                    added = await events.add(
                        fields,
                        period_id=period.id,
                        organisation_id=organisation_id,
                        author_id=person.id,
                        status="submitted",
                        submitted_at=dialogue.clock(),
                        dedup_key=draft.token,
                    )
                filed = True
                await duplicates.note_pairs(session, added.id, lookalikes)
            except IntegrityError:  # the same draft submitted at the same moment elsewhere
                reply = Dialogue.ALREADY_SUBMITTED
    if filed and await ReportingRepository(session).withdraw_nothing(organisation_id, period.id):
        reply += Nothing.WITHDRAWN_ON_SUBMIT.format(period=period_label(period))
    await dialogue.state.clear()
    # Committed by CommitBeforeSending with the reply's outbox row: saved and owed together.
    await dialogue.say(reply)
    await review.send_notices(dialogue.bot, notices)


# --- anything else inside the dialogue ---------------------------------------------------


@router.message(InStates(*TEXT_STATES, *DATES_STATES, ReportStates.count), NO_TEXT)
async def not_text(message: Message) -> None:
    await message.answer(Dialogue.NEED_TEXT)


@router.message(InStates(ReportStates.summary), HAS_TEXT, IS_ANSWER)
async def dates_at_the_summary(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    """A summary without dates (a copy opens so) takes them typed right away, read and
    refused as at the dates step; any other text there is no answer."""
    data = await state.get_data()
    if Draft.load(data).dates is not None:
        await message.answer(Dialogue.NEED_BUTTON)
        return
    dialogue = _dialogue(message, bot, state, session, settings, clock)
    await _take_dates(dialogue, data, WholeText(message.text or ""))


@router.message(InStates(*BUTTON_STATES), IS_ANSWER)
async def not_a_button(message: Message) -> None:
    await message.answer(Dialogue.NEED_BUTTON)


# --- after a failure ---------------------------------------------------------------------


class _Repeat(Conversation):
    """The dialogue shown again as stored: nothing is saved, and the first message opens
    with a notice (one message, so the person sees both or, on a failure, neither)."""

    def __init__(self, *args: Any, notice: str) -> None:
        super().__init__(*args)
        self.notice = notice

    async def save(self, draft: Draft, **extra: Any) -> None:
        """Keep the stored data as it is: the draft shown is the stored one, and data kept
        beside it (the dates waiting to be confirmed or kept as written) stays."""

    async def say(self, text: str, markup: Any = None) -> None:
        if self.notice:
            text, self.notice = f"{self.notice}\n\n{text}", ""
        await super().say(text, markup)


async def repeat_question(
    bot: Bot,
    chat_id: int,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    *,
    notice: str = Dialogue.AFTER_ERROR,
) -> bool:
    """After a failed update, show the step the stored dialogue is at, as the dialogue
    showed it, after `notice`; False (and nothing sent) when the chat is not in the dialogue.

    The stored step is right whether or not the failed update was saved (its reply may
    have failed after its answer was committed), so the next answer lands in its field.
    The step and the draft are only rewritten with their own values.
    """
    raw_state = await state.get_state()
    if raw_state is None or raw_state not in ReportStates:
        return False
    data = await state.get_data()
    draft = Draft.load(data)
    dialogue = _Repeat(bot, chat_id, state, session, settings, clock, notice=notice)
    pending = data.get("pending")
    if raw_state == ReportStates.summary.state:
        await dialogue.summary(draft)
    elif raw_state == ReportStates.count.state:
        await dialogue.ask_count()
    elif raw_state == ReportStates.dates_confirm.state and pending:
        await dialogue.confirm_dates(DateRange(**_dates_kwargs(pending)))
    else:  # a numbered step (dates too when nothing waits to be confirmed)
        await dialogue.ask(draft, STEP_OF_STATE[raw_state])
    return True
