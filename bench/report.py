"""Benchmark the quarterly report compiler against a bare python-docx loop.

    python bench/report.py [--sizes 42,1000,10000] [--part all|report|import] [--repeat N]

For each size N it measures, on N synthetic events (the 42 reference events cycled with
shifted dates and numbered names, or generated text when ../shared is absent):

(a) floor:  a bare python-docx loop writing the same cells through the per-cell API
            (`row = table.add_row(); row.cells[i].text = ...`, sphere rows as a first cell
            without merging) and saving;
(b) render: `build_report` + `render_docx` from `ReportEvent`s;
(c) cli:    `python -m bot report 2023-Q4 --out OUT.docx` as a subprocess, after an untimed
            `python -m bot import FILE.json` into a fresh SQLite database.

Then, for reading reports back (`python -m bot import FILE.docx`), on the same N events
compiled by `render_docx` into a file:

(d) read floor: python-docx opening the file and reading every cell's text through its
                API (`for row in table.rows: for cell in row.cells: cell.text`);
(e) import:     the whole `python -m bot import FILE.docx` as a subprocess into a fresh
                SQLite database (interpreter start, migrations, reading, inserting).

(a), (b) and (d) each run in a fresh child process. Memory is the peak resident set size from
`resource.getrusage` (ru_maxrss): for (a) and (b) the rise of the child's peak over its
baseline after imports and test data are ready; for (c) the whole CLI process's peak
(os.wait4), interpreter and imports included. tracemalloc is not used: it misses libxml2's
allocations, which are most of a document's memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date, timedelta
from importlib.metadata import version
from importlib.util import find_spec
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import docx  # noqa: E402

from reports.dates import DateRange, format_dates, last_day_of_month  # noqa: E402
from reports.docx import render_docx  # noqa: E402
from reports.model import (  # noqa: E402
    COLUMNS,
    DEFAULT_SPHERES,
    Report,
    ReportEvent,
    build_report,
)
from reports.quarters import Quarter  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "report_2023_q4.json"
QUARTER = Quarter(2023, 4)
REGION = "исполнительными органами Смоленской области и подведомственными им учреждениями"
DEFAULT_SIZES = (42, 1_000, 10_000)
TARGET = 0.30
IMPORT_TARGET = 0.50  # the whole import CLI against the python-docx read floor, at 10,000

Item = dict[str, Any]


# -- test data ---------------------------------------------------------------------------------


def load_base() -> tuple[dict[str, Any], str]:
    """The reference fixture, or a generated stand-in of the same shape."""
    if FIXTURE.exists():
        return json.loads(FIXTURE.read_text(encoding="utf-8")), f"fixture {FIXTURE}"
    return generated_base(), f"generated text ({FIXTURE} not found)"


def generated_base() -> dict[str, Any]:
    words = (
        "международный форум сотрудничество делегация Республика Беларусь Смоленск "
        "области встреча соглашение программа участие культура выставка конференция "
        "развитие учреждение представители молодежь проект обмен опытом переговоры"
    ).split()

    def text(seed: int, count: int) -> str:
        return " ".join(words[(seed * 7 + i * 3) % len(words)] for i in range(count))

    events = []
    for i in range(42):
        start = date(2023, 10, 1) + timedelta(days=(i * 5) % 85)
        events.append(
            {
                "number": i + 1,
                "sphere": DEFAULT_SPHERES[i * len(DEFAULT_SPHERES) // 42],
                "name": f"«{text(i, 10)}»",
                "place": f"г. Смоленск,\n{text(i + 1, 4)}",
                "start": start.isoformat(),
                "end": (start + timedelta(days=i % 3)).isoformat(),
                "precision": "day",
                "dates_note": None,
                "result": f"{text(i + 2, 45)}.\n{text(i + 3, 30)}",
                "participants": text(i + 4, 18),
            }
        )
    return {
        "period": QUARTER.label,
        "title": "",
        "columns": list(COLUMNS),
        "closing_note": "В IV квартале 2023 года состоялись 3 встречи",
        "events": events,
    }


def shifted(item: Item, cycle: int) -> tuple[str, str]:
    """The item's start and end moved `cycle` days within the start's month."""
    start, end = date.fromisoformat(item["start"]), date.fromisoformat(item["end"])
    if cycle == 0 or item["precision"] == "month":
        return item["start"], item["end"]
    days = last_day_of_month(start).day
    new_start = start.replace(day=(start.day - 1 + cycle) % days + 1)
    return new_start.isoformat(), (new_start + (end - start)).isoformat()


def synthetic(base: dict[str, Any], size: int) -> dict[str, Any]:
    """`size` events in the fixture's JSON format, cycling the base events."""
    events = []
    pool = base["events"]
    for index in range(size):
        item = pool[index % len(pool)]
        cycle = index // len(pool)
        start, end = shifted(item, cycle)
        event = dict(item)
        event.update(
            number=index + 1,
            name=item["name"] if cycle == 0 else f"{item['name']} (повтор {cycle})",
            start=start,
            end=end,
        )
        dates = to_dates(event)
        event["dates_text"] = format_dates(dates)
        events.append(event)
    return {**base, "events": events}


def to_dates(item: Item) -> DateRange:
    return DateRange(
        date.fromisoformat(item["start"]),
        date.fromisoformat(item["end"]),
        item["precision"],
        item["dates_note"],
    )


def to_events(data: dict[str, Any]) -> list[ReportEvent]:
    return [
        ReportEvent(
            sphere=item["sphere"],
            name=item["name"],
            place=item["place"],
            dates=to_dates(item),
            result=item["result"],
            participants=item["participants"],
            seq=item["number"],
        )
        for item in data["events"]
    ]


def notes_of(data: dict[str, Any]) -> list[str]:
    return [data["closing_note"]] if data.get("closing_note") else []


# -- the measured work ----------------------------------------------------------------------


def floor_docx(report: Report) -> bytes:
    """The naive way: python-docx's per-cell API for every cell, then save."""
    document = docx.Document()
    document.add_paragraph(report.title)
    table = document.add_table(rows=1, cols=len(COLUMNS))
    table.style = "Table Grid"
    header = table.rows[0]
    for i, text in enumerate(COLUMNS):
        header.cells[i].text = text
    for group in report.groups:
        row = table.add_row()
        row.cells[0].text = group.sphere
        for report_row in group.rows:
            row = table.add_row()
            for i, text in enumerate(report_row.cells):
                row.cells[i].text = text
    for note in report.notes:
        document.add_paragraph(note)
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def read_floor(path: Path) -> int:
    """The naive way to read a report: python-docx's API for every cell's text."""
    document = docx.Document(str(path))
    characters = 0
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                characters += len(cell.text)
    return characters


def hwm_mb() -> float:
    """This process's own peak RSS (Linux VmHWM): unlike ru_maxrss, not inherited from
    the parent that spawned it (a big benchmark process would hide a child's peak)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return peak_rss_mb()


# `python -m bot ARGS` with the process's own peak RSS printed to stderr at its exit.
_WITH_PEAK = (
    "import runpy, sys\n"
    "sys.argv = ['bot', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('bot', run_name='__main__', alter_sys=True)\n"
    "finally:\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            print('PEAK_KB', line.split()[1], file=sys.stderr)\n"
)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(kind: str, size: int) -> None:
    """Measure one kind of work on `size` events in this (fresh) process; print JSON."""
    if kind == "read":  # no test data built: its memory would hide the reading's
        path = Path(os.environ["BENCH_DOCX"])
        baseline = hwm_mb()
        started, cpu = time.perf_counter(), time.process_time()
        characters = read_floor(path)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        mb = hwm_mb() - baseline
        print(json.dumps({"seconds": seconds, "cpu": cpu, "mb": mb, "chars": characters}))
        return
    data = synthetic(load_base()[0], size)
    events = to_events(data)
    notes = notes_of(data)
    if kind == "floor":
        prepared = build_report(QUARTER, REGION, DEFAULT_SPHERES, events, notes)
        baseline = peak_rss_mb()
        started = time.perf_counter()
        blob = floor_docx(prepared)
    else:
        baseline = peak_rss_mb()
        started = time.perf_counter()
        blob = render_docx(build_report(QUARTER, REGION, DEFAULT_SPHERES, events, notes))
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "mb": peak_rss_mb() - baseline, "bytes": len(blob)}
    print(json.dumps(result))


def run_child(kind: str, size: int, env: dict[str, str] | None = None) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--size", str(size)]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, env=env or None
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} {size} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the CLI --------------------------------------------------------------------------------


def cli_unavailable() -> str | None:
    """Why `python -m bot` cannot be benchmarked yet, or None."""
    try:
        if find_spec("bot.__main__") is None:
            return "bot/__main__.py does not exist yet (python -m bot unavailable)"
    except ImportError as error:
        return f"bot cannot be imported: {error}"
    return None


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def fresh_env(folder: Path) -> dict[str, str]:
    """The CLI's environment: a fresh SQLite file in `folder`, nobody's Redis."""
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'bench.db'}"}
    env.pop("REDIS_URL", None)
    return env


def run_cli(data: dict[str, Any], expected_rows: int) -> dict[str, Any]:
    """Import the events (untimed), then time `python -m bot report`; or say why not."""
    reason = cli_unavailable()
    if reason:
        return {"skipped": reason}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folder = Path(tmp)
        source = folder / "events.json"
        source.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        out = folder / "OUT.docx"
        env = fresh_env(folder)
        command = [sys.executable, "-m", "bot"]
        imported = subprocess.run(
            [*command, "import", str(source)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if imported.returncode != 0:
            why = last_line(imported.stderr or imported.stdout)
            return {"skipped": f"import failed ({imported.returncode}): {why}"}

        errors = folder / "stderr.txt"
        with errors.open("wb") as stderr:
            started = time.perf_counter()
            process = subprocess.Popen(
                [*command, "report", QUARTER.label, "--out", str(out)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            why = last_line(errors.read_text(encoding="utf-8", errors="replace"))
            return {"skipped": f"report failed ({code}): {why}"}
        if not out.exists():
            return {"skipped": "report exited 0 but wrote no file"}
        with zipfile.ZipFile(out) as archive:
            rows = archive.read("word/document.xml").count(b"</w:tr>")
        result: dict[str, Any] = {"seconds": seconds, "mb": usage.ru_maxrss / 1024}
        if rows != expected_rows:
            result["warning"] = f"table has {rows} rows, expected {expected_rows}"
        return result


def run_import(path: Path, expected: int) -> dict[str, Any]:
    """Time the whole `python -m bot import FILE.docx` into a fresh SQLite database."""
    reason = cli_unavailable()
    if reason:
        return {"skipped": reason}
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        folder = Path(tmp)
        env = fresh_env(folder)
        output, errors = folder / "out.txt", folder / "err.txt"
        with output.open("wb") as out, errors.open("wb") as err:
            started = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-c", _WITH_PEAK, "import", str(path)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=err,
            )
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        text = output.read_text(encoding="utf-8", errors="replace")
        problems = errors.read_text(encoding="utf-8", errors="replace")
        peaks = [line.split()[1] for line in problems.splitlines() if line.startswith("PEAK_KB")]
        if code != 0:
            said = "\n".join(line for line in problems.splitlines() if "PEAK_KB" not in line)
            return {"skipped": f"import failed ({code}): {last_line(said or text)}"}
        result: dict[str, Any] = {
            "seconds": seconds,
            "cpu": usage.ru_utime + usage.ru_stime,
            "mb": int(peaks[-1]) / 1024 if peaks else usage.ru_maxrss / 1024,
        }
        if f": {expected} мероприят" not in text:
            result["warning"] = f"expected {expected} events loaded: {last_line(text)}"
        return result


def import_table(base: dict[str, Any], sizes: list[int], repeat: int = 1) -> list[str]:
    """Read floor against the whole import CLI, per size, each the run of least CPU time
    of `repeat` (a shared machine's noise); the notes to print after."""
    print()
    header = (
        f"{'size':>6} | {'read floor s':>12} | {'floor cpu s':>11} | {'floor MB':>8} | "
        f"{'import s (×floor)':>17} | {'import cpu s (×floor)':>21} | {'import MB':>9}"
    )
    print(header)
    print("-" * len(header))
    notes: list[str] = []
    for size in sizes:
        data = synthetic(base, size)
        report = build_report(QUARTER, REGION, DEFAULT_SPHERES, to_events(data), notes_of(data))
        with tempfile.TemporaryDirectory(prefix="bench-docx-") as tmp:
            path = Path(tmp) / f"report_{size}.docx"
            path.write_bytes(render_docx(report))
            floors, imports = [], []
            for _ in range(repeat):  # alternated, so both meet the same load
                floors.append(run_child("read", size, env={**os.environ, "BENCH_DOCX": str(path)}))
                imports.append(run_import(path, report.row_count))
            floor = min(floors, key=lambda run: run["cpu"])
            done = [run for run in imports if "skipped" not in run]
            loaded = min(done, key=lambda run: run["cpu"]) if done else imports[0]
        if "skipped" in loaded:
            cells = f"{'skipped':>17} | {'':>21} | {'':>9}"
            notes.append(f"import at {size}: skipped: {loaded['skipped']}")
        else:
            cells = (
                f"{ratio(loaded['seconds'], floor['seconds']):>17} | "
                f"{ratio(loaded['cpu'], floor['cpu']):>21} | {loaded['mb']:9.1f}"
            )
            if "warning" in loaded:
                notes.append(f"import at {size}: {loaded['warning']}")
            if size == 10_000:
                share = loaded["seconds"] / floor["seconds"]
                cpu_share = loaded["cpu"] / floor["cpu"]
                verdict = "met" if share <= IMPORT_TARGET else "NOT met"
                notes.append(
                    f"target: the whole import <= {IMPORT_TARGET:.2f} × the read floor at "
                    f"10,000 (wall time): {verdict} ({share:.2f}×; CPU time {cpu_share:.2f}×)"
                )
        print(
            f"{size:>6} | {floor['seconds']:12.2f} | {floor['cpu']:11.2f} | "
            f"{floor['mb']:8.1f} | {cells}",
            flush=True,
        )
    return notes


# -- the table ------------------------------------------------------------------------------


def ratio(seconds: float, floor: float) -> str:
    return f"{seconds:7.2f} ({seconds / floor:.2f}×)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES))
    parser.add_argument(
        "--part",
        choices=("all", "report", "import"),
        default="all",
        help="compile only (a)-(c), read back only (d)-(e), or both",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="read floor and import: the best of N runs each"
    )
    parser.add_argument("--child", choices=("floor", "render", "read"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.size)
        return 0

    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()]
    base, origin = load_base()
    print(f"events: {origin}; python-docx {version('python-docx')}; {os.cpu_count()} CPUs")
    print("memory: peak RSS (resource ru_maxrss); floor/render = rise over the child's baseline,")
    print("        cli/import = whole CLI process peak incl. interpreter")
    print(f"load average at start: {load_average()}")
    if args.part != "import":
        report_table(base, sizes)
    if args.part != "report":
        for note in import_table(base, sizes, args.repeat):
            print(note)
    print(f"load average at end: {load_average()}")
    return 0


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (the machine may be shared)."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def report_table(base: dict[str, Any], sizes: list[int]) -> None:
    """The compile floor against the renderer and the report CLI, per size."""
    print()
    header = (
        f"{'size':>6} | {'floor s':>7} | {'floor MB':>8} | {'render s (×floor)':>17} | "
        f"{'render MB':>9} | {'cli s (×floor)':>17} | {'cli MB':>6}"
    )
    print(header)
    print("-" * len(header))
    notes: list[str] = []
    for size in sizes:
        floor = run_child("floor", size)
        render = run_child("render", size)
        data = synthetic(base, size)
        report = build_report(QUARTER, REGION, DEFAULT_SPHERES, to_events(data))
        expected_rows = 1 + len(report.groups) + report.row_count
        cli = run_cli(data, expected_rows)
        if "skipped" in cli:
            cli_cells = f"{'skipped':>17} | {'':>6}"
            notes.append(f"cli at {size}: skipped: {cli['skipped']}")
        else:
            cli_cells = f"{ratio(cli['seconds'], floor['seconds']):>17} | {cli['mb']:6.1f}"
            if "warning" in cli:
                notes.append(f"cli at {size}: {cli['warning']}")
        print(
            f"{size:>6} | {floor['seconds']:7.2f} | {floor['mb']:8.1f} | "
            f"{ratio(render['seconds'], floor['seconds']):>17} | {render['mb']:9.1f} | "
            f"{cli_cells}",
            flush=True,
        )
    print()
    for note in dict.fromkeys(notes):
        print(note)
    print(f"target: cli <= {TARGET:.2f} × floor at 10,000")


if __name__ == "__main__":
    sys.exit(main())
