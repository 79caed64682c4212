"""The figures of /stats: events per sphere and per organisation, a period against the
previous one and the same period a year before, counted from the periods' report models."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from reports.model import Report
from reports.quarters import Period, Year, year_before

OTHER_SPHERES = "Прочие сферы"
_SPHERE_PREFIX = "сотрудничество "


@dataclass(frozen=True, slots=True)
class StatsLine:
    """One sphere or organisation: its events in each compared period, in column order."""

    name: str
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Stats:
    """The compared periods (the asked one first) and the counts of each.

    For a quarter the columns are the quarter, the one before and the same quarter a year
    before; for a year, the year and the year before (the two comparisons are one)."""

    periods: tuple[Period, ...]
    totals: tuple[int, ...]
    spheres: tuple[StatsLine, ...]
    organisations: tuple[StatsLine, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """The periods' short names: `IV кв. 2023`, `2023 г.`."""
        return tuple(short_period(period) for period in self.periods)

    @property
    def is_empty(self) -> bool:
        """No event in any compared period."""
        return not any(self.totals)


def compared_periods(period: Period) -> tuple[Period, ...]:
    """The period, the previous one and the same period a year before, without repeats."""
    found = [period, period.prev(), year_before(period)]
    return tuple(dict.fromkeys(found))


def short_period(period: Period) -> str:
    """`IV кв. 2023` for a quarter, `2023 г.` for a year."""
    if isinstance(period, Year):
        return f"{period.year} г."
    return f"{period.roman} кв. {period.year}"


def sphere_short(name: str) -> str:
    """A sphere's name without the shared «Сотрудничество»: `В сфере культуры и туризма`."""
    line = " ".join(name.split())
    if line.lower().startswith(_SPHERE_PREFIX) and len(line) > len(_SPHERE_PREFIX):
        line = line[len(_SPHERE_PREFIX) :]
        line = line[0].upper() + line[1:]
    return line


def wrapped(name: str, width: int = 28, lines: int = 3) -> str:
    """A label broken into at most `lines` lines of about `width` characters, cut with «…»."""
    parts = textwrap.wrap(name, width) or [""]
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = textwrap.shorten(parts[-1] + " …", width, placeholder="…")
        if not parts[-1].endswith("…"):
            parts[-1] += "…"
    return "\n".join(parts)


def _counts(report: Report | None) -> tuple[Counter[str], Counter[str]]:
    spheres: Counter[str] = Counter()
    organisations: Counter[str] = Counter()
    if report is None:
        return spheres, organisations
    for group in report.groups:
        spheres[group.sphere] += len(group.rows)
        for row in group.rows:
            organisations[row.organisation] += 1
    return spheres, organisations


def build_stats(
    periods: Sequence[Period], reports: Sequence[Report | None], spheres: Sequence[str]
) -> Stats:
    """Count each period's report (None: no such period, all zeros).

    Spheres go in the configured order (then any others by name), those without an event
    in every period left out; organisations by their events in the first period, then in
    the others, then by name."""
    counted = [_counts(report) for report in reports]
    by_sphere = [sphere_counts for sphere_counts, _ in counted]
    by_organisation = [organisation_counts for _, organisation_counts in counted]
    seen_spheres = {name for counts in by_sphere for name in counts}
    order = [name for name in dict.fromkeys(spheres) if name in seen_spheres]
    order += sorted(seen_spheres - set(order))
    sphere_lines = tuple(
        StatsLine(name, tuple(counts[name] for counts in by_sphere)) for name in order
    )
    names = {name for counts in by_organisation for name in counts}
    organisation_lines = sorted(
        (StatsLine(name, tuple(counts[name] for counts in by_organisation)) for name in names),
        key=lambda line: (tuple(-count for count in line.counts), line.name),
    )
    totals = tuple(sum(counts.values()) for counts in by_sphere)
    return Stats(tuple(periods), totals, sphere_lines, tuple(organisation_lines))


def top(lines: Sequence[StatsLine], limit: int, other: str) -> tuple[StatsLine, ...]:
    """The first `limit` lines; the rest summed into one line named `other` (with its count
    of names), so a chart stays readable however many organisations there are."""
    if len(lines) <= limit:
        return tuple(lines)
    kept, rest = lines[: limit - 1], lines[limit - 1 :]
    summed = tuple(sum(column) for column in zip(*(line.counts for line in rest), strict=True))
    return (*kept, StatsLine(f"{other} ({len(rest)})", summed))
