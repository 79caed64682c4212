"""Quarters and years as the person reads them (`IV квартал 2023 года`, `2023 год`).

Apart from the views (handlers/views.py) so that the command line can name a period
without loading aiogram.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.texts import Dialogue, Years
from reports.quarters import Period, Quarter, Year

if TYPE_CHECKING:
    from storage.models import ReportingPeriod

__all__ = ["period_label", "period_title", "quarter_label"]


def quarter_label(year: int, quarter: int) -> str:
    """`IV квартал 2023 года`."""
    return Dialogue.QUARTER.format(roman=Quarter(year, quarter).roman, year=year)


def period_label(period: ReportingPeriod) -> str:
    return quarter_label(period.year, period.quarter)


def period_title(period: Period) -> str:
    """`IV квартал 2023 года`, or `2023 год` for a year."""
    if isinstance(period, Year):
        return Years.LABEL.format(year=period.year)
    return quarter_label(period.year, period.quarter)
