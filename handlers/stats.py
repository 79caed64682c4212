"""/stats: a period's events per sphere and per organisation against the previous period
and the same period a year before, as a picture and as short text (coordinators only)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.desk import as_job, job_period, period_payload
from handlers.filters import IsCoordinator
from handlers.labels import period_title
from handlers.texts import Indicators
from handlers.views import Clock, collecting, echoed, shown, split_message, telegram_length
from reports.quarters import Period, QuarterError, Year, parse_period
from reports.stats import Stats, StatsLine, sphere_short
from storage.report_source import DatabaseReportSource

if TYPE_CHECKING:
    from bot.settings import Settings

router = Router(name=__name__)
router.message.filter(IsCoordinator())
log = logging.getLogger(__name__)

STATS_JOB = "stats"  # the outbox job that draws and sends the picture (bot/outbox.py)
CAPTION_MAX = 1024  # Telegram's limit on a photo's caption
NAME_MAX = 200  # an organisation's name in a line of the figures, cut with «…»


def _others(counts: tuple[int, ...]) -> str:
    return "; ".join(str(count) for count in counts[1:])


def stats_lines(stats: Stats, period: Period) -> list[str]:
    """The figures as lines of HTML: the head, the totals, the legend, then a line per
    sphere and per organisation (names escaped)."""
    labels = stats.labels
    totals = "; ".join(
        Indicators.OTHER.format(period=label, count=count)
        for label, count in zip(labels[1:], stats.totals[1:], strict=True)
    )
    lines = [
        Indicators.HEAD.format(period=period_title(period)),
        Indicators.TOTAL.format(count=stats.totals[0], others=totals),
        Indicators.LEGEND.format(periods="; ".join(labels[1:])),
    ]

    def section(head: str, found: tuple[StatsLine, ...], short: bool) -> None:
        lines.append(head)
        for line in found:
            name = sphere_short(line.name) if short else line.name
            lines.append(
                Indicators.LINE.format(
                    name=shown(name, NAME_MAX),
                    count=line.counts[0],
                    others=_others(line.counts),
                )
            )

    section(Indicators.SPHERES, stats.spheres, short=True)
    section(Indicators.ORGANISATIONS, stats.organisations, short=False)
    return lines


HEAD_LINES = 3  # the head, the totals and the legend: the caption when the rest is long


async def send_stats(
    bot: Bot,
    chat_id: int,
    period: Period,
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """Count the compared periods, draw the picture and send it with the figures: in its
    caption when they fit, else the head there and the figures in messages after it."""
    stats = await DatabaseReportSource(reader, settings.region_phrase).load_stats(period)
    others = ", ".join(stats.labels[1:])
    if stats.is_empty:
        await bot.send_message(
            chat_id, Indicators.EMPTY.format(period=period_title(period), others=others)
        )
        return
    # matplotlib is imported on the first /stats, not at every start of the process.
    from reports.chart import render_stats_png

    title = Indicators.TITLE.format(period=period_title(period), others=others)
    picture = await asyncio.to_thread(render_stats_png, stats, title)
    lines = stats_lines(stats, period)
    text = "\n".join(lines)
    name = f"stats_{period.year}.png" if isinstance(period, Year) else f"stats_{period}.png"
    if telegram_length(text) <= CAPTION_MAX:
        await bot.send_photo(chat_id, BufferedInputFile(picture, name), caption=text)
        return
    caption = "\n".join([*lines[:HEAD_LINES], Indicators.MORE])
    await bot.send_photo(chat_id, BufferedInputFile(picture, name), caption=caption)
    for part in split_message(lines[HEAD_LINES:]):
        await bot.send_message(chat_id, part)


async def run_stats_job(
    bot: Bot,
    chat_id: int,
    payload: dict[str, object],
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """Redo a /stats job left by a run that stopped before sending it."""
    await send_stats(bot, chat_id, job_period(payload), reader, settings)


@router.message(Command("stats"))
async def stats(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    reader: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Clock,
    outbox_owner: str | None = None,
) -> None:
    collected = await collecting(session, settings, clock())
    period: Period = collected
    if command.args:
        try:
            period = parse_period(command.args)
        except QuarterError:
            await message.answer(
                Indicators.BAD_PERIOD.format(value=echoed(command.args), label=collected.label)
            )
            return
    chat_id = message.chat.id

    async def send() -> None:
        await send_stats(bot, chat_id, period, reader, settings)

    await as_job(
        bot, session, chat_id, STATS_JOB, period_payload(period), settings, send, owner=outbox_owner
    )
