"""Compile a period's report: load the model from a source, render it off the event loop."""

from __future__ import annotations

import asyncio
from typing import Protocol

from reports.docx import render_docx
from reports.model import Report
from reports.quarters import Period


class ReportSource(Protocol):
    """Anything that can build a period's report model (the storage layer, a fixture)."""

    async def load_report(self, quarter: Period) -> Report: ...


async def compile_docx(source: ReportSource, quarter: Period) -> bytes:
    """Load the period's report (a quarter's or a year's), render it as .docx in a thread."""
    report = await source.load_report(quarter)
    return await asyncio.to_thread(render_docx, report)
