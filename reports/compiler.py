"""Compile a period's report: load the model from a source, render it off the event loop."""

from __future__ import annotations

import asyncio
from typing import Protocol

from reports.docx import render_docx
from reports.model import Report
from reports.quarters import Quarter


class ReportSource(Protocol):
    """Anything that can build a period's report model (the storage layer, a fixture)."""

    async def load_report(self, quarter: Quarter) -> Report: ...


async def compile_docx(source: ReportSource, quarter: Quarter) -> bytes:
    """Load the quarter's report and render it as .docx in a worker thread."""
    report = await source.load_report(quarter)
    return await asyncio.to_thread(render_docx, report)
