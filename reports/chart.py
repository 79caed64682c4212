"""Draw the figures of /stats as a PNG with matplotlib, headless (the Agg renderer).

Two panels of horizontal bars, one above the other so the picture reads on a phone:
events per sphere, events per organisation (the busiest ones; the rest summed in one
bar), a bar per compared period. The figure is built without pyplot, so nothing global
is touched and pictures can be drawn in worker threads side by side.
"""

from __future__ import annotations

from io import BytesIO

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.stats import OTHER_SPHERES, Stats, StatsLine, sphere_short, top, wrapped

ORGANISATIONS_SHOWN = 15  # the bars of the busiest organisations; the rest in one more
# Spheres in the configured order; past this many the rest share one bar, so the picture
# stays within Telegram's photo limits (width + height at most 10,000 px) whatever SPHERES is.
SPHERES_SHOWN = 30
OTHER_ORGANISATIONS = "Другие организации"
SPHERES_TITLE = "Мероприятия по сферам сотрудничества"
ORGANISATIONS_TITLE = "Мероприятия по организациям"
NO_EVENTS = "Мероприятий нет"
COLOURS = ("#1f4e79", "#6fa8dc", "#b7b7b7")  # the period asked, the one before, a year before
DPI = 100
WIDTH_INCHES = 11.0
BAR_INCHES = 0.2  # the height of one bar
GAP_INCHES = 0.25  # between two categories
PANEL_INCHES = 1.1  # a panel's title, axis and legend


def _panel_height(count: int, columns: int) -> float:
    return PANEL_INCHES + max(count, 1) * (columns * BAR_INCHES + GAP_INCHES)


def _draw(axes, lines: tuple[StatsLine, ...], labels: tuple[str, ...], title: str) -> None:  # type: ignore[no-untyped-def]
    axes.set_title(title, loc="left", fontsize=13, fontweight="bold")
    if not lines:
        axes.text(0.5, 0.5, NO_EVENTS, ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return
    columns = len(labels)
    height = 0.8 / columns
    positions = range(len(lines))
    for column, label in enumerate(labels):
        offsets = [position - 0.4 + height * (column + 0.5) for position in positions]
        values = [line.counts[column] for line in lines]
        bars = axes.barh(offsets, values, height=height, color=COLOURS[column], label=label)
        axes.bar_label(bars, padding=2, fontsize=8)
    axes.set_yticks(list(positions), [wrapped(line.name) for line in lines], fontsize=9)
    axes.invert_yaxis()  # the first line on top
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    axes.margins(x=0.08)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.legend(loc="lower right", fontsize=9, frameon=False)


def render_stats_png(stats: Stats, title: str) -> bytes:
    """The picture of `stats` under `title`, as PNG bytes."""
    columns = len(stats.periods)
    shortened = [StatsLine(sphere_short(line.name), line.counts) for line in stats.spheres]
    spheres = top(shortened, SPHERES_SHOWN, OTHER_SPHERES)
    organisations = top(stats.organisations, ORGANISATIONS_SHOWN, OTHER_ORGANISATIONS)
    heights = [
        _panel_height(len(spheres), columns),
        _panel_height(len(organisations), columns),
    ]
    figure = Figure(figsize=(WIDTH_INCHES, sum(heights) + 0.6), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(wrapped(title, 90, 2), fontsize=14)
    top_axes, bottom_axes = figure.subplots(2, 1, height_ratios=heights)
    _draw(top_axes, spheres, stats.labels, SPHERES_TITLE)
    _draw(bottom_axes, organisations, stats.labels, ORGANISATIONS_TITLE)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()
