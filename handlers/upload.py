"""A past report sent as a .docx: the coordinator sees what was read, then loads it.

Only documents of people in no dialogue state are taken here: in the middle of the
reporting dialogue (or any other question) the document goes to that dialogue, which asks
for text. The file is downloaded and read once; what was read waits in the chat's FSM
data (no state is set) until «Загрузить» or «Отмена».
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import date
from functools import partial
from io import BytesIO
from typing import TYPE_CHECKING, Any

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Document, InaccessibleMessage, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.filters import Check, InStates, IsCoordinator, IsKnown
from handlers.labels import quarter_label
from handlers.texts import Counted, Upload
from handlers.views import split_message
from reports.dates import DateRange
from reports.docx_import import (
    DocxImportError,
    ImportedEvent,
    NoPeriodInTitle,
    ReadReport,
    RowProblem,
    SphereMatch,
    read_report,
)
from reports.participants import plural
from reports.quarters import Quarter
from storage.importer import CELL_LIMITS, import_read_report
from storage.models import Person
from storage.repositories import EventRepository, OrganisationRepository, PeriodRepository

if TYPE_CHECKING:
    from bot.settings import Settings

router = Router(name=__name__)
log = logging.getLogger(__name__)

DOWNLOAD_MAX = 20 * 2**20  # the largest file the Bot API's getFile hands to a bot
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
UPLOAD = "upload"  # the FSM data key of the report waiting for «Загрузить»
_HAS_DOCUMENT = Check(F.document)


def _is_docx(document: Document) -> bool:
    name = (document.file_name or "").lower()
    return name.endswith(".docx") or document.mime_type == DOCX_MIME


_IS_DOCX = Check(
    F.func(lambda message: message.document is not None and _is_docx(message.document))
)


def _dump(read: ReadReport, key: str) -> dict[str, Any]:
    """What was read, as JSON for the FSM data, with the questions still to ask."""
    rows: dict[str, int] = {}
    for event in read.events:
        rows[event.written_sphere] = rows.get(event.written_sphere, 0) + 1
    return {
        "key": key,
        "period": read.period.label,
        "notes": read.notes,
        "events": [
            [
                event.sphere,
                event.name,
                event.place,
                event.dates.start.isoformat(),
                event.dates.end.isoformat(),
                event.dates.precision,
                event.dates.note,
                event.result,
                event.participants,
                event.participant_count,
                event.written_sphere,
            ]
            for event in read.events
        ],
        # [sphere as written, candidate configured spheres, its rows]: asked one by one.
        "questions": [
            [match.written, list(match.candidates), rows[match.written]]
            for match in read.unsure
            if match.candidates and rows.get(match.written)
        ],
        "answers": [],  # per question answered: the sphere chosen, or None (rows left out)
        "organisation": None,  # chosen: 0 (DEFAULT_ORGANISATION) or an organisation's id
    }


def _load(data: dict[str, Any]) -> ReadReport:
    """The report as read, with the coordinator's answers applied (spheres, rows left out)."""
    chosen = {
        question[0]: answer
        for question, answer in zip(data["questions"], data["answers"], strict=False)
    }
    events = []
    for index, (
        sphere,
        name,
        place,
        start,
        end,
        precision,
        note,
        result,
        participants,
        count,
        written,
    ) in enumerate(data["events"], start=1):
        if written in chosen:
            if chosen[written] is None:
                continue
            sphere = chosen[written]
        events.append(
            ImportedEvent(
                row=index,
                number="",
                sphere=sphere,
                name=name,
                place=place,
                dates=DateRange(
                    date.fromisoformat(start), date.fromisoformat(end), precision, note
                ),
                result=result,
                participants=participants,
                participant_count=count,
                written_sphere=written,
            )
        )
    return ReadReport(Quarter.parse(data["period"]), "", events, list(data["notes"]))


def _rows(count: int) -> str:
    return f"{count} {plural(count, *Counted.ROWS)}"


async def _organisations(session: AsyncSession, settings: Settings) -> list[tuple[int, str]]:
    """The organisations to load from: the default first (id 0), then the others by name."""
    default = settings.default_organisation
    others = await OrganisationRepository(session).all()
    return [(0, default)] + [(o.id, o.name) for o in others if o.name != default]


async def _organisation_name(
    session: AsyncSession, settings: Settings, chosen: int | None
) -> str | None:
    """The chosen organisation's name (None: it is gone since)."""
    if not chosen:
        return settings.default_organisation
    organisation = await OrganisationRepository(session).get(chosen)
    return None if organisation is None else organisation.name


async def _ask_organisation(
    message: Message | InaccessibleMessage,
    session: AsyncSession,
    settings: Settings,
    key: str,
    page: int,
) -> None:
    organisations = await _organisations(session, settings)
    pages = kb.pages_of(len(organisations), kb.ORGANISATIONS_PAGE)
    page = min(max(page, 0), pages - 1)
    await message.answer(
        Upload.ORGANISATION_QUESTION.format(page=page + 1, pages=pages),
        reply_markup=kb.upload_organisations_keyboard(key, organisations, page),
    )


async def _next_step(
    message: Message | InaccessibleMessage,
    session: AsyncSession,
    settings: Settings,
    waiting: dict[str, Any],
) -> None:
    """The next question about an upload: an unsure sphere, the organisation, «Загрузить»."""
    key = waiting["key"]
    questions, step = waiting["questions"], len(waiting["answers"])
    if step < len(questions):
        written, candidates, rows = questions[step]
        lines = [
            Upload.SPHERE_QUESTION.format(
                number=step + 1,
                total=len(questions),
                written=html.quote(kb.short(written, 200)),
                rows=_rows(rows),
            )
        ]
        lines += [
            Upload.SPHERE_CANDIDATE.format(number=number, sphere=html.quote(name))
            for number, name in enumerate(candidates, 1)
        ]
        markup = kb.upload_sphere_keyboard(key, step, candidates)
        await message.answer("\n".join(lines), reply_markup=markup)
        return
    if waiting["organisation"] is None and len(await _organisations(session, settings)) > 1:
        await _ask_organisation(message, session, settings, key, 0)
        return
    name = await _organisation_name(session, settings, waiting["organisation"])
    period = Quarter.parse(waiting["period"])
    await message.answer(
        Upload.CONFIRM.format(
            organisation=html.quote(name or settings.default_organisation),
            period=quarter_label(period.year, period.quarter),
        ),
        reply_markup=kb.upload_keyboard(key),
    )


def _problem_line(problem: RowProblem) -> str:
    return Upload.PROBLEM.format(
        row=problem.row,
        number=f" (№ {html.quote(problem.number)})" if problem.number else "",
        name=f" «{html.quote(problem.name)}»" if problem.name else "",
        reason=html.quote(problem.reason),
    )


def _unsure_line(match: SphereMatch) -> str:
    written = html.quote(match.written)
    if match.sphere is None:
        return Upload.UNSURE_KEPT.format(written=written)
    return Upload.UNSURE_MATCHED.format(written=written, sphere=html.quote(match.sphere))


def summary_lines(read: ReadReport, file_name: str) -> list[str]:
    """What the coordinator is shown of a read report, one line each (split to fit)."""
    period = quarter_label(read.period.year, read.period.quarter)
    lines = [
        Upload.READ_HEAD.format(period=period, file=html.quote(file_name)),
        Upload.READ_TOTALS.format(events=len(read.events), notes=len(read.notes)),
    ]
    if read.events:
        lines.append(Upload.PER_SPHERE_HEAD)
        lines += [
            Upload.PER_SPHERE.format(sphere=html.quote(sphere), count=count)
            for sphere, count in read.per_sphere()
        ]
    if read.problems:
        lines.append(Upload.PROBLEMS_HEAD.format(count=len(read.problems)))
        lines += [_problem_line(problem) for problem in read.problems]
    if read.unsure:
        lines.append(Upload.UNSURE_HEAD)
        lines += [_unsure_line(match) for match in read.unsure]
    return lines


async def _existing(session: AsyncSession, quarter: Quarter) -> int:
    period = await PeriodRepository(session).get(quarter)
    return 0 if period is None else await EventRepository(session).count_of_period(period.id)


async def _download(bot: Bot, document: Document) -> bytes | None:
    buffer = BytesIO()
    await bot.download(document, destination=buffer)
    return buffer.getvalue()


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f}".replace(".", ",")


@router.message(IsCoordinator(), InStates(None), _HAS_DOCUMENT)
async def report_file(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    state: FSMContext,
    settings: Settings,
    person: Person,
) -> None:
    document = message.document
    assert document is not None
    file_name = document.file_name or Upload.NO_NAME
    if not _is_docx(document):
        await message.answer(Upload.NOT_DOCX)
        return
    if document.file_size is not None and document.file_size > DOWNLOAD_MAX:
        await message.answer(Upload.TOO_BIG.format(size=_megabytes(document.file_size)))
        return
    await session.commit()  # the database is not held while the file comes and is read
    try:
        content = await _download(bot, document)
    except TelegramBadRequest as error:
        if "too big" in error.message:
            await message.answer(Upload.TOO_BIG_UNSIZED)
            return
        log.warning("coordinator %s: the file could not be fetched: %s", person.id, error)
        await message.answer(Upload.DOWNLOAD_FAILED)
        return
    except TelegramAPIError as error:
        log.warning("coordinator %s: the file could not be fetched: %s", person.id, error)
        await message.answer(Upload.DOWNLOAD_FAILED)
        return
    try:
        read = await asyncio.to_thread(
            partial(read_report, limits=CELL_LIMITS), content or b"", settings.spheres
        )
    except NoPeriodInTitle:
        await message.answer(Upload.NO_PERIOD)
        return
    except DocxImportError as error:
        await message.answer(
            Upload.BAD_FILE.format(file=html.quote(file_name), error=html.quote(str(error)))
        )
        return
    lines = summary_lines(read, file_name)
    period = quarter_label(read.period.year, read.period.quarter)
    existing = await _existing(session, read.period)
    markup = None
    if existing:
        lines.append(
            Upload.PERIOD_TAKEN.format(period=period, count=existing, events=len(read.events))
        )
    elif not read.events:
        lines.append(Upload.NOTHING_TO_LOAD)
    else:
        key = secrets.token_hex(4)
        waiting = _dump(read, key)
        await state.update_data({UPLOAD: waiting})
        if waiting["questions"] or len(await _organisations(session, settings)) > 1:
            for part in split_message(lines):
                await message.answer(part)
            await _next_step(message, session, settings, waiting)
            return
        lines.append(
            Upload.CONFIRM.format(
                organisation=html.quote(settings.default_organisation), period=period
            )
        )
        markup = kb.upload_keyboard(key)
    parts = split_message(lines)
    for part in parts[:-1]:
        await message.answer(part)
    await message.answer(parts[-1], reply_markup=markup)


@router.message(IsKnown(), InStates(None), _IS_DOCX)
async def staff_report_file(message: Message) -> None:
    await message.answer(Upload.STAFF_REFUSED)


async def _waiting(callback: CallbackQuery, state: FSMContext, key: str) -> dict[str, Any] | None:
    """The upload the button belongs to, or None (an older or finished one: refused)."""
    waiting = (await state.get_data()).get(UPLOAD)
    if not isinstance(waiting, dict) or waiting.get("key") != key:
        await callback.answer(Upload.STALE, show_alert=True)
        return None
    return waiting


@router.callback_query(IsCoordinator(), kb.UploadSphereCb.filter())
async def upload_sphere_chosen(
    callback: CallbackQuery,
    callback_data: kb.UploadSphereCb,
    session: AsyncSession,
    state: FSMContext,
    settings: Settings,
) -> None:
    waiting = await _waiting(callback, state, callback_data.key)
    if waiting is None:
        return
    questions, answers = waiting["questions"], waiting["answers"]
    if callback_data.q != len(answers) or callback_data.q >= len(questions):
        await callback.answer(Upload.ANSWERED, show_alert=True)
        return
    written, candidates, rows = questions[callback_data.q]
    if callback_data.pick >= len(candidates):
        await callback.answer(Upload.ANSWERED, show_alert=True)
        return
    chosen = None if callback_data.pick < 0 else candidates[callback_data.pick]
    waiting = {**waiting, "answers": [*answers, chosen]}
    await state.update_data({UPLOAD: waiting})
    await callback.answer()
    assert callback.message is not None
    if chosen is None:
        said = Upload.ROWS_SKIPPED.format(
            written=html.quote(kb.short(written, 200)), rows=_rows(rows)
        )
    else:
        said = Upload.SPHERE_TAKEN.format(
            written=html.quote(kb.short(written, 200)), sphere=html.quote(chosen)
        )
    await callback.message.answer(said)
    await _next_step(callback.message, session, settings, waiting)


@router.callback_query(IsCoordinator(), kb.UploadOrgPageCb.filter())
async def upload_organisation_page(
    callback: CallbackQuery,
    callback_data: kb.UploadOrgPageCb,
    session: AsyncSession,
    state: FSMContext,
    settings: Settings,
) -> None:
    waiting = await _waiting(callback, state, callback_data.key)
    if waiting is None:
        return
    if waiting["organisation"] is not None:
        await callback.answer(Upload.ANSWERED, show_alert=True)
        return
    await callback.answer()
    assert callback.message is not None
    message = callback.message
    await _ask_organisation(message, session, settings, callback_data.key, callback_data.page)


@router.callback_query(IsCoordinator(), kb.UploadOrgCb.filter())
async def upload_organisation_chosen(
    callback: CallbackQuery,
    callback_data: kb.UploadOrgCb,
    session: AsyncSession,
    state: FSMContext,
    settings: Settings,
) -> None:
    waiting = await _waiting(callback, state, callback_data.key)
    if waiting is None:
        return
    if waiting["organisation"] is not None or len(waiting["answers"]) < len(waiting["questions"]):
        await callback.answer(Upload.ANSWERED, show_alert=True)
        return
    if await _organisation_name(session, settings, callback_data.id) is None:
        await callback.answer(Upload.ORGANISATION_GONE, show_alert=True)
        return
    waiting = {**waiting, "organisation": callback_data.id}
    await state.update_data({UPLOAD: waiting})
    await callback.answer()
    assert callback.message is not None
    await _next_step(callback.message, session, settings, waiting)


@router.callback_query(IsCoordinator(), kb.UploadCb.filter())
async def upload_chosen(
    callback: CallbackQuery,
    callback_data: kb.UploadCb,
    session: AsyncSession,
    state: FSMContext,
    settings: Settings,
    person: Person,
) -> None:
    waiting = await _waiting(callback, state, callback_data.key)
    if waiting is None:
        return
    assert callback.message is not None
    organisation = None
    if callback_data.action == "load":
        if len(waiting["answers"]) < len(waiting["questions"]):
            await callback.answer(Upload.ANSWERED, show_alert=True)
            return
        organisation = await _organisation_name(session, settings, waiting["organisation"])
        if organisation is None:
            await callback.answer(Upload.ORGANISATION_GONE, show_alert=True)
            await state.update_data({UPLOAD: {**waiting, "organisation": None}})
            await _ask_organisation(callback.message, session, settings, waiting["key"], 0)
            return
    data = await state.get_data()
    await state.set_data({name: value for name, value in data.items() if name != UPLOAD})
    if organisation is None:
        await callback.answer()
        await callback.message.answer(Upload.CANCELLED)
        return
    read = _load(waiting)
    if not read.events:
        await callback.answer()
        await callback.message.answer(Upload.NOTHING_LEFT)
        return
    result = await import_read_report(
        session,
        read,
        organisation=organisation,
        deadline_of=settings.default_deadline,
    )
    period = quarter_label(read.period.year, read.period.quarter)
    await callback.answer()
    if result.skipped:
        await callback.message.answer(
            Upload.PERIOD_TAKEN.format(
                period=period, count=result.existing, events=len(read.events)
            )
        )
        return
    log.info("coordinator %s loaded %s events of %s", person.id, result.added, read.period)
    text = Upload.LOADED.format(events=result.added, notes=result.notes_added, period=period)
    if result.repeated:
        text += "\n" + Upload.REPEATED.format(count=result.repeated)
    await callback.message.answer(text)
