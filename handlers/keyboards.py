"""Callback data factories and the keyboards that use them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import Field

from handlers.texts import Desk, Dialogue, MyEvents, Periods, Reminders, Review, Upload

BUTTON_TEXT_MAX = 60
SPHERE_BUTTON_MAX = 45  # about what one button line of a phone shows
SPHERES_PAGE = 12  # the twelve spheres of the reference report fit one page
# A row id as the database can hold it (Integer keys): a forged number outside is no button.
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
YearNumber = Annotated[int, Field(ge=1900, le=9998)]  # as reports.quarters.Year accepts


class DialogueCb(CallbackData, prefix="d"):
    """A dialogue button: `action` (back, keep, cancel, yes, fix, note, nocount, edit,
    submit; whole, join, new for the parts of a long paste)."""

    action: str
    step: str


class DraftCb(CallbackData, prefix="df"):
    """A question about the draft in progress: `action` resume (go on with it), anew (drop
    it and start `what` instead: new, copy, edit of event `id`, or rem, the reminder's
    period `id`), drop (delete it, after «Отмена»). `key` names the draft (its submit key),
    so the buttons of another draft, or of one already gone, are refused."""

    action: str
    what: str = "-"
    id: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    key: str


class SphereCb(CallbackData, prefix="sp"):
    id: RowId


class SpherePageCb(CallbackData, prefix="sg"):
    """Another page of the spheres, when more are configured than fit one keyboard."""

    page: Annotated[int, Field(ge=0, le=9999)]


class PeriodCb(CallbackData, prefix="pe"):
    id: RowId


class EventCb(CallbackData, prefix="ev"):
    """An event button: open, edit, del, delyes, delno, copy."""

    action: str
    id: RowId


class ListCb(CallbackData, prefix="ls"):
    view: str  # mine, org, earlier
    page: Annotated[int, Field(ge=0, le=9999)] = 0


class ReportCb(CallbackData, prefix="rp"):
    id: RowId


class YearReportCb(CallbackData, prefix="ry"):
    """The yearly report: `kind` docx (from the chooser) or xlsx (under the .docx)."""

    year: YearNumber
    kind: str = "docx"


class Keyboard:
    """The part of aiogram's InlineKeyboardBuilder used here (button, adjust, as_markup),
    without its deep copy of every button on every call: that copying was a tenth of the
    time the bot spent on a dialogue step."""

    MAX_WIDTH = 8

    def __init__(self) -> None:
        self.buttons: list[InlineKeyboardButton] = []
        self.sizes: tuple[int, ...] = (self.MAX_WIDTH,)

    def button(self, *, text: str, callback_data: CallbackData) -> None:
        self.buttons.append(InlineKeyboardButton(text=text, callback_data=callback_data.pack()))

    def adjust(self, *sizes: int) -> None:
        """Rows of these sizes; the last size repeats for the remaining buttons."""
        self.sizes = sizes or (self.MAX_WIDTH,)

    def as_markup(self) -> InlineKeyboardMarkup:
        rows: list[list[InlineKeyboardButton]] = []
        start = 0
        for index in range(len(self.buttons)):
            if start >= len(self.buttons):
                break
            size = self.sizes[min(index, len(self.sizes) - 1)]
            rows.append(self.buttons[start : start + size])
            start += size
        return InlineKeyboardMarkup(inline_keyboard=rows)


def buttons(*pairs: tuple[str, CallbackData], width: int = 2) -> InlineKeyboardMarkup:
    """A small keyboard of (text, callback data) buttons, `width` a row: a yes/no
    question, or a single button under a message."""
    builder = Keyboard()
    for text, data in pairs:
        builder.button(text=text, callback_data=data)
    builder.adjust(width)
    return builder.as_markup()


def short(text: str, limit: int = BUTTON_TEXT_MAX) -> str:
    """A label: one line, cut with an ellipsis at a word boundary (mid-word only when
    one word fills most of the limit)."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:–—-") + "…"


# The word most sphere names start with: a phone shows the rest («В сфере культуры…»).
_SPHERE_PREFIXES = ("сотрудничество ",)


def sphere_label(number: int, name: str, *, chosen: bool = False) -> str:
    """A sphere's button on a phone: its number in the message's list and the name
    without the shared «Сотрудничество», cut at a word boundary; the sphere `chosen`
    before is marked «✓»."""
    line = " ".join(name.split())
    for prefix in _SPHERE_PREFIXES:
        if line.lower().startswith(prefix) and len(line) > len(prefix):
            line = line[len(prefix) :]
            line = line[0].upper() + line[1:]
            break
    mark = Dialogue.CHOSEN_MARK if chosen else ""
    return short(f"{mark}{number}. {line}", SPHERE_BUTTON_MAX)


def sphere_lines(spheres: Sequence[tuple[int, str]], page: int = 0) -> str:
    """The spheres of a page in full, numbered as their buttons are."""
    start = sphere_page(spheres, page) * SPHERES_PAGE
    chosen = spheres[start : start + SPHERES_PAGE]
    return "\n".join(f"{start + i}. {name}" for i, (_, name) in enumerate(chosen, 1))


def sphere_page(spheres: Sequence[tuple[int, str]], page: int) -> int:
    """The page shown when `page` is asked for (a page past the last shows the last)."""
    pages = max(-(-len(spheres) // SPHERES_PAGE), 1)
    return min(max(page, 0), pages - 1)


def page_of_sphere(spheres: Sequence[tuple[int, str]], sphere_id: int | None) -> int | None:
    """The page the sphere `sphere_id` is on, or None when it is not among `spheres`."""
    for index, (candidate, _) in enumerate(spheres):
        if candidate == sphere_id:
            return index // SPHERES_PAGE
    return None


def _nav(builder: Keyboard, step: str, *, back: bool = True, keep: bool = False) -> int:
    """«Оставить как есть» (keep the answer shown), «Назад», «Отмена»; how many were added."""
    added = 0
    if keep:
        builder.button(text=Dialogue.KEEP, callback_data=DialogueCb(action="keep", step=step))
        added += 1
    if back:
        builder.button(text=Dialogue.BACK, callback_data=DialogueCb(action="back", step=step))
        added += 1
    builder.button(text=Dialogue.CANCEL, callback_data=DialogueCb(action="cancel", step=step))
    return added + 1


@cache  # the same buttons every time: built once
def step_keyboard(step: str, *, back: bool = True, keep: bool = False) -> InlineKeyboardMarkup:
    """Under a text question: keep the answer shown (if any), back, cancel."""
    builder = Keyboard()
    added = _nav(builder, step, back=back, keep=keep)
    builder.adjust(*([1] if added == 3 else []), 2)
    return builder.as_markup()


def spheres_keyboard(
    spheres: Sequence[tuple[int, str]],
    page: int = 0,
    *,
    back: bool = False,
    keep: bool = False,
    chosen: int | None = None,
) -> InlineKeyboardMarkup:
    """One button per sphere of this page (`SPHERES_PAGE` a page, so any number of
    configured spheres fits Telegram's 100 buttons), the other pages, back and cancel;
    the sphere `chosen` before is marked (pressing it keeps it)."""
    return _spheres_keyboard(tuple(spheres), page, back=back, keep=keep, chosen=chosen)


@lru_cache(maxsize=256)  # everyone asked the sphere gets the same few keyboards: built once
def _spheres_keyboard(
    spheres: tuple[tuple[int, str], ...],
    page: int,
    *,
    back: bool,
    keep: bool,
    chosen: int | None,
) -> InlineKeyboardMarkup:
    pages = max(-(-len(spheres) // SPHERES_PAGE), 1)
    page = sphere_page(spheres, page)
    builder = Keyboard()
    sizes: list[int] = []
    start = page * SPHERES_PAGE
    for number, (sphere_id, name) in enumerate(spheres[start : start + SPHERES_PAGE], start + 1):
        label = sphere_label(number, name, chosen=sphere_id == chosen)
        builder.button(text=label, callback_data=SphereCb(id=sphere_id))
        sizes.append(1)
    turns = [(page - 1, MyEvents.PREVIOUS), (page + 1, MyEvents.NEXT)]
    for number, label in turns:
        if 0 <= number < pages:
            builder.button(text=label, callback_data=SpherePageCb(page=number))
    if pages > 1:
        sizes.append(2 if 0 < page < pages - 1 else 1)
    added = _nav(builder, "sphere", back=back, keep=keep)
    builder.adjust(*sizes, *([1] if added == 3 else []), 2)
    return builder.as_markup()


@cache  # the same buttons every time: built once
def confirm_dates_keyboard() -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=Dialogue.YES, callback_data=DialogueCb(action="yes", step="dates"))
    builder.button(text=Dialogue.FIX, callback_data=DialogueCb(action="fix", step="dates"))
    builder.button(text=Dialogue.CANCEL, callback_data=DialogueCb(action="cancel", step="dates"))
    builder.adjust(2, 1)
    return builder.as_markup()


@cache  # the same buttons every time: built once
def keep_note_keyboard(*, back: bool = True, keep: bool = False) -> InlineKeyboardMarkup:
    """Under unreadable dates: keep the text as written, or (`keep`) the dates shown before."""
    builder = Keyboard()
    builder.button(text=Dialogue.KEEP_NOTE, callback_data=DialogueCb(action="note", step="dates"))
    added = _nav(builder, "dates", back=back, keep=keep)
    builder.adjust(1, *([1] if added == 3 else []), 2)
    return builder.as_markup()


@cache  # the same buttons every time: built once
def paste_keyboard(step: str) -> InlineKeyboardMarkup:
    """Under «part of the text received»: take what has arrived as the whole answer."""
    return buttons((Dialogue.WHOLE_TEXT, DialogueCb(action="whole", step=step)))


@cache  # the same buttons every time: built once
def paste_late_keyboard(step: str) -> InlineKeyboardMarkup:
    """A message after the parts of a paste: join them, or take one of the two alone."""
    builder = Keyboard()
    builder.button(text=Dialogue.JOIN_PARTS, callback_data=DialogueCb(action="join", step=step))
    builder.button(text=Dialogue.ONLY_LATE, callback_data=DialogueCb(action="new", step=step))
    builder.button(text=Dialogue.ONLY_PARTS, callback_data=DialogueCb(action="whole", step=step))
    builder.adjust(1)
    return builder.as_markup()


@cache  # the same buttons every time: built once
def count_keyboard() -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(
        text=Dialogue.DONT_KNOW, callback_data=DialogueCb(action="nocount", step="participants")
    )
    _nav(builder, "participants")
    builder.adjust(1, 2)
    return builder.as_markup()


def periods_keyboard(
    periods: Iterable[tuple[int, str, bool]], *, back: bool = True
) -> InlineKeyboardMarkup:
    """One button per open period: (id, label, is_default); «Назад» unless `back` is
    false (from the summary, where the quarter already chosen returns to it unchanged)."""
    return _periods_keyboard(tuple(periods), back=back)


@lru_cache(maxsize=64)  # everyone asked the quarter gets the same few keyboards: built once
def _periods_keyboard(
    periods: tuple[tuple[int, str, bool], ...], *, back: bool
) -> InlineKeyboardMarkup:
    builder = Keyboard()
    rows = 0
    for period_id, label, is_default in periods:
        text = label + (Dialogue.DEFAULT_MARK if is_default else "")
        builder.button(text=text, callback_data=PeriodCb(id=period_id))
        rows += 1
    added = _nav(builder, "period", back=back)
    builder.adjust(*([1] * rows), added)
    return builder.as_markup()


def summary_keyboard(
    steps: Iterable[str], *, editing: bool, key: str = "summary"
) -> InlineKeyboardMarkup:
    """The summary's buttons; the submit button carries `key` (the draft's dedup key, or
    `e<id>` for an edit), so a second press finds what the first one saved."""
    fields, cancel = _summary_buttons(tuple(steps))
    submit = InlineKeyboardButton(
        text=Dialogue.SAVE if editing else Dialogue.SUBMIT,
        callback_data=DialogueCb(action="submit", step=key).pack(),
    )
    return InlineKeyboardMarkup(inline_keyboard=[*fields, [submit], [cancel]])


@cache  # the same buttons for every summary: built once (only the submit button is its own)
def _summary_buttons(
    steps: tuple[str, ...],
) -> tuple[tuple[list[InlineKeyboardButton], ...], InlineKeyboardButton]:
    """A button per field, two a row (the last alone when they are odd), and «Отмена»."""
    edits = [
        InlineKeyboardButton(
            text=Dialogue.FIELD_NAMES[step],
            callback_data=DialogueCb(action="edit", step=step).pack(),
        )
        for step in steps
    ]
    cancel = InlineKeyboardButton(
        text=Dialogue.CANCEL, callback_data=DialogueCb(action="cancel", step="summary").pack()
    )
    return tuple(edits[start : start + 2] for start in range(0, len(edits), 2)), cancel


def events_keyboard(
    events: Iterable[tuple[int, str]],
    *,
    views: Iterable[tuple[str, str]],
    view: str = "mine",
    page: int = 0,
    pages: int = 1,
) -> InlineKeyboardMarkup:
    """One button per event of this page, the pages before and after, then the view
    switches: (view, label)."""
    builder = Keyboard()
    sizes: list[int] = []
    for event_id, label in events:
        builder.button(text=short(label), callback_data=EventCb(action="open", id=event_id))
        sizes.append(1)
    turns = [(page - 1, MyEvents.PREVIOUS), (page + 1, MyEvents.NEXT)]
    turns = [(number, label) for number, label in turns if 0 <= number < pages]
    for number, label in turns:
        builder.button(text=label, callback_data=ListCb(view=view, page=number))
    if turns:
        sizes.append(len(turns))
    switches = 0
    for switch, label in views:
        builder.button(text=label, callback_data=ListCb(view=switch))
        switches += 1
    builder.adjust(*sizes, max(switches, 1))
    return builder.as_markup()


class ReviewCb(CallbackData, prefix="rv"):
    """A reviewer's button on an event card: `action` ok (accept), ret (return with a
    comment), cancel (no return after all); hist shows page `page` of the history."""

    action: str
    id: RowId
    page: Annotated[int, Field(ge=0, le=9999)] = 0


def event_keyboard(
    event_id: int,
    *,
    can_change: bool,
    review: str | None = None,
    can_edit: bool = False,
    history: bool = False,
) -> InlineKeyboardMarkup:
    """The card's buttons: the author's «Изменить» and «Удалить» (`can_change`), a
    reviewer's «Принять» / «Вернуть» (`review`: the event's review state) and «Изменить»
    (`can_edit`), «Копировать», and «История» once the event has versions."""
    builder = Keyboard()
    sizes: list[int] = []
    if review is not None:
        if review != "accepted":
            builder.button(text=Review.ACCEPT, callback_data=ReviewCb(action="ok", id=event_id))
        if review != "returned":
            builder.button(text=Review.RETURN, callback_data=ReviewCb(action="ret", id=event_id))
        sizes.append(1 if review in ("accepted", "returned") else 2)
    row = 1
    if can_change or can_edit:
        builder.button(text=MyEvents.EDIT, callback_data=EventCb(action="edit", id=event_id))
        row += 1
    if can_change:
        builder.button(text=MyEvents.DELETE, callback_data=EventCb(action="del", id=event_id))
        row += 1
    builder.button(text=MyEvents.COPY, callback_data=EventCb(action="copy", id=event_id))
    sizes.append(row)
    if history:
        builder.button(text=Review.HISTORY, callback_data=ReviewCb(action="hist", id=event_id))
    builder.adjust(*sizes, 1)
    return builder.as_markup()


def returned_keyboard(event_id: int) -> InlineKeyboardMarkup:
    """Under a returned event sent to its author: «Исправить» (the author's edit) and
    «История»."""
    builder = Keyboard()
    builder.button(text=Review.FIX, callback_data=EventCb(action="edit", id=event_id))
    builder.button(text=Review.HISTORY, callback_data=ReviewCb(action="hist", id=event_id))
    builder.adjust(2)
    return builder.as_markup()


def open_event_keyboard(event_id: int) -> InlineKeyboardMarkup:
    """One button: open the event's card."""
    builder = Keyboard()
    builder.button(text=Review.OPEN, callback_data=EventCb(action="open", id=event_id))
    return builder.as_markup()


def comment_keyboard(event_id: int) -> InlineKeyboardMarkup:
    """Under the question for a return's comment: «Отмена»."""
    builder = Keyboard()
    builder.button(text=Review.CANCEL, callback_data=ReviewCb(action="cancel", id=event_id))
    return builder.as_markup()


def history_keyboard(event_id: int, page: int, pages: int) -> InlineKeyboardMarkup | None:
    """The pages of an event's history before and after this one; None for one page."""
    builder = Keyboard()
    for number, label in ((page - 1, MyEvents.PREVIOUS), (page + 1, MyEvents.NEXT)):
        if 0 <= number < pages:
            builder.button(
                text=label, callback_data=ReviewCb(action="hist", id=event_id, page=number)
            )
    return builder.as_markup() if builder.buttons else None


def confirm_delete_keyboard(event_id: int) -> InlineKeyboardMarkup:
    return buttons(
        (MyEvents.YES_DELETE, EventCb(action="delyes", id=event_id)),
        (MyEvents.NO, EventCb(action="delno", id=event_id)),
    )


def draft_keyboard(key: str, what: str, item: int = 0) -> InlineKeyboardMarkup:
    """A draft in progress met a new start (`what`): go on with the draft, or start anew."""
    return buttons(
        (Dialogue.RESUME, DraftCb(action="resume", key=key)),
        (Dialogue.RESTART, DraftCb(action="anew", what=what, id=item, key=key)),
        width=1,
    )


def drop_draft_keyboard(key: str, *, editing: bool = False) -> InlineKeyboardMarkup:
    """«Отмена» on a draft with answers (or on changes to a saved event): delete it, or
    go on with it."""
    yes = Dialogue.DROP_EDIT_YES if editing else Dialogue.DROP_YES
    return buttons(
        (yes, DraftCb(action="drop", key=key)),
        (Dialogue.DROP_NO, DraftCb(action="resume", key=key)),
    )


def report_periods_keyboard(
    periods: Iterable[tuple[int, str, bool]], years: Iterable[tuple[int, str]] = ()
) -> InlineKeyboardMarkup:
    """The /report chooser: the quarters (id, label, default?), then the years (year, label)."""
    builder = Keyboard()
    for period_id, label, is_default in periods:
        text = label + (Dialogue.DEFAULT_MARK if is_default else "")
        builder.button(text=text, callback_data=ReportCb(id=period_id))
    for year, label in years:
        builder.button(text=label, callback_data=YearReportCb(year=year))
    builder.adjust(1)
    return builder.as_markup()


class NothingCb(CallbackData, prefix="no"):
    """«Мероприятий не было» for a period: `action` is say or undo."""

    action: str
    period: RowId


class NewReportCb(CallbackData, prefix="nr"):
    """Start a new event report (from a reminder) for a period."""

    period: RowId


def reminder_keyboard(period_id: int) -> InlineKeyboardMarkup:
    """Under a reminder: report an event, or say there were none."""
    return buttons(
        (Reminders.NEW_REPORT, NewReportCb(period=period_id)),
        (Reminders.NOTHING, NothingCb(action="say", period=period_id)),
        width=1,
    )


def nothing_undo_keyboard(period_id: int) -> InlineKeyboardMarkup:
    return buttons((Reminders.NOTHING_UNDO, NothingCb(action="undo", period=period_id)))


def nothing_keyboard(period_id: int) -> InlineKeyboardMarkup:
    """/nothing: the one button «Мероприятий не было»."""
    return buttons((Reminders.NOTHING, NothingCb(action="say", period=period_id)))


class XlsxCb(CallbackData, prefix="xl"):
    """Send a period's report as .xlsx."""

    id: RowId


class AcceptedCb(CallbackData, prefix="ra"):
    """Send a period's report of the accepted events only."""

    id: RowId


def report_keyboard(period_id: int, *, accepted_only: bool = False) -> InlineKeyboardMarkup:
    """Under a report: «Скачать .xlsx», and «Только принятые» (unless it is that file)."""
    builder = Keyboard()
    builder.button(text=Desk.XLSX, callback_data=XlsxCb(id=period_id))
    if not accepted_only:
        builder.button(text=Review.ACCEPTED_ONLY, callback_data=AcceptedCb(id=period_id))
    builder.adjust(1)
    return builder.as_markup()


def xlsx_keyboard(period_id: int) -> InlineKeyboardMarkup:
    return buttons((Desk.XLSX, XlsxCb(id=period_id)))


def year_xlsx_keyboard(year: int) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=Desk.XLSX, callback_data=YearReportCb(year=year, kind="xlsx"))
    return builder.as_markup()


class NoteCb(CallbackData, prefix="nt"):
    """Delete a closing note of a period."""

    period: RowId
    id: RowId


def note_keyboard(period_id: int, note_id: int) -> InlineKeyboardMarkup:
    return buttons((Periods.NOTE_DELETE, NoteCb(period=period_id, id=note_id)))


class PersonCb(CallbackData, prefix="pp"):
    """Deactivating a person (by database id): `action` is off (confirmed) or keep;
    erasing their personal data: erase (confirmed) or spare."""

    action: str
    id: RowId


def deactivate_keyboard(person_id: int) -> InlineKeyboardMarkup:
    return buttons(
        (Desk.DEACTIVATE_YES, PersonCb(action="off", id=person_id)),
        (Desk.DEACTIVATE_NO, PersonCb(action="keep", id=person_id)),
    )


def erase_keyboard(person_id: int) -> InlineKeyboardMarkup:
    """Erasing a person's personal data: `erase` (confirmed) or `spare`."""
    return buttons(
        (Desk.ERASE_YES, PersonCb(action="erase", id=person_id)),
        (Desk.ERASE_NO, PersonCb(action="spare", id=person_id)),
    )


class UploadCb(CallbackData, prefix="up"):
    """«Загрузить» (`load`) or «Отмена» (`drop`) under a report read from a .docx; `key`
    names the upload, so the buttons of an older one are refused."""

    action: str
    key: Annotated[str, Field(max_length=16)]


class UploadSphereCb(CallbackData, prefix="us"):
    """The answer to question `q` of upload `key` about an unsure sphere: the candidate
    `pick` (from 0), or -1 to leave those rows out."""

    key: Annotated[str, Field(max_length=16)]
    q: Annotated[int, Field(ge=0, le=999)]
    pick: Annotated[int, Field(ge=-1, le=99)]


class UploadOrgCb(CallbackData, prefix="uo"):
    """The organisation `id` chosen for upload `key` (0: DEFAULT_ORGANISATION)."""

    key: Annotated[str, Field(max_length=16)]
    id: Annotated[int, Field(ge=0, le=2**31 - 1)]


class UploadOrgPageCb(CallbackData, prefix="ug"):
    """Another page of the organisations offered for upload `key`."""

    key: Annotated[str, Field(max_length=16)]
    page: Annotated[int, Field(ge=0, le=9999)]


ORGANISATIONS_PAGE = 8


def upload_sphere_keyboard(
    key: str, question: int, candidates: Sequence[str]
) -> InlineKeyboardMarkup:
    """One numbered button per candidate sphere (named in full in the question's text),
    «Пропустить эти строки» and «Отмена»."""
    builder = Keyboard()
    for pick, name in enumerate(candidates):
        data = UploadSphereCb(key=key, q=question, pick=pick)
        builder.button(text=sphere_label(pick + 1, name), callback_data=data)
    skip = UploadSphereCb(key=key, q=question, pick=-1)
    builder.button(text=Upload.SKIP_ROWS, callback_data=skip)
    builder.button(text=Upload.CANCEL, callback_data=UploadCb(action="drop", key=key))
    builder.adjust(1)
    return builder.as_markup()


def pages_of(count: int, size: int) -> int:
    """How many pages `count` items take, `size` a page (at least one)."""
    return max(-(-count // size), 1)


def upload_organisations_keyboard(
    key: str, organisations: Sequence[tuple[int, str]], page: int
) -> InlineKeyboardMarkup:
    """A page of organisations (id 0 the default one, listed first), the other pages and
    «Отмена»: any number of organisations fits Telegram's 100 buttons."""
    pages = pages_of(len(organisations), ORGANISATIONS_PAGE)
    page = min(max(page, 0), pages - 1)
    builder = Keyboard()
    sizes: list[int] = []
    start = page * ORGANISATIONS_PAGE
    for organisation_id, name in organisations[start : start + ORGANISATIONS_PAGE]:
        mark = Upload.DEFAULT_MARK if organisation_id == 0 else ""
        label = short(name, BUTTON_TEXT_MAX - len(mark)) + mark
        builder.button(text=label, callback_data=UploadOrgCb(key=key, id=organisation_id))
        sizes.append(1)
    turns = [(page - 1, Upload.PREVIOUS), (page + 1, Upload.NEXT)]
    for number, label in turns:
        if 0 <= number < pages:
            builder.button(text=label, callback_data=UploadOrgPageCb(key=key, page=number))
    if pages > 1:
        sizes.append(2 if 0 < page < pages - 1 else 1)
    builder.button(text=Upload.CANCEL, callback_data=UploadCb(action="drop", key=key))
    builder.adjust(*sizes, 1)
    return builder.as_markup()


def upload_keyboard(key: str) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=Upload.LOAD, callback_data=UploadCb(action="load", key=key))
    builder.button(text=Upload.CANCEL, callback_data=UploadCb(action="drop", key=key))
    builder.adjust(2)
    return builder.as_markup()
