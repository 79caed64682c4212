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
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Document, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards as kb
from handlers.filters import Check, IsCoordinator, IsKnown
from handlers.texts import Upload
from handlers.views import quarter_label, split_message
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
from reports.quarters import Quarter
from storage.importer import CELL_LIMITS, import_read_report
from storage.models import Person
from storage.repositories import EventRepository, PeriodRepository

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
    """What was read, as JSON for the FSM data."""
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
            ]
            for event in read.events
        ],
    }


def _load(data: dict[str, Any]) -> ReadReport:
    events = [
        ImportedEvent(
            row=index,
            number="",
            sphere=sphere,
            name=name,
            place=place,
            dates=DateRange(date.fromisoformat(start), date.fromisoformat(end), precision, note),
            result=result,
            participants=participants,
            participant_count=count,
        )
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
        ) in enumerate(data["events"], start=1)
    ]
    return ReadReport(Quarter.parse(data["period"]), "", events, list(data["notes"]))


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


@router.message(IsCoordinator(), StateFilter(None), _HAS_DOCUMENT)
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
        await state.update_data({UPLOAD: _dump(read, key)})
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


@router.message(IsKnown(), StateFilter(None), _IS_DOCX)
async def staff_report_file(message: Message) -> None:
    await message.answer(Upload.STAFF_REFUSED)


@router.callback_query(IsCoordinator(), kb.UploadCb.filter())
async def upload_chosen(
    callback: CallbackQuery,
    callback_data: kb.UploadCb,
    session: AsyncSession,
    state: FSMContext,
    settings: Settings,
    person: Person,
) -> None:
    data = await state.get_data()
    waiting = data.get(UPLOAD)
    if not isinstance(waiting, dict) or waiting.get("key") != callback_data.key:
        await callback.answer(Upload.STALE, show_alert=True)
        return
    await state.set_data({name: value for name, value in data.items() if name != UPLOAD})
    assert callback.message is not None
    if callback_data.action != "load":
        await callback.answer()
        await callback.message.answer(Upload.CANCELLED)
        return
    read = _load(waiting)
    result = await import_read_report(
        session,
        read,
        organisation=settings.default_organisation,
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
