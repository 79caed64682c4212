"""The process's Prometheus metrics, in one registry (docs/metrics.md lists them).

Counters and histograms are module attributes; the code that does the work moves them
(bot/observing.py holds the middlewares and listeners that do, and the /metrics page).
Nothing here imports aiogram, so the command-line desk opens the database without it.
Labels carry names of things (update types, routers, Bot API methods, outcomes), never
what people typed, their names or their ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # CPU, memory, open files of the process
METRICS_PATH = "/metrics"

# Seconds, from a free connection (well under a millisecond) to a pool drained by a burst.
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

POOL_WAIT = Histogram(
    "bot_pool_wait_seconds",
    "Time taken to get a connection from a pool (database or Redis)",
    ["pool"],
    buckets=WAIT_BUCKETS,
    registry=REGISTRY,
)
POOL_SLOW_WAITS = Counter(
    "bot_pool_slow_waits",
    "Connections got from a pool only after more than POOL_SLOW_WAIT seconds",
    ["pool"],
    registry=REGISTRY,
)
POOL_TIMEOUTS = Counter(
    "bot_pool_timeouts",
    "Waits for a pool connection given up after DB_POOL_TIMEOUT / REDIS_POOL_TIMEOUT",
    ["pool"],
    registry=REGISTRY,
)

SLOW_WAIT_LOG_EVERY = 10.0  # seconds between two log lines about slow pool waits


@cache
def labelled(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)`, kept: the same child every time (prometheus_client keeps
    each child until it is removed, which nothing here does), without labels()'s checks,
    conversions and lock, five times an update."""
    return metric.labels(*values)


UPDATE_SLOTS = "updates"  # the "pool" of updates handled at once (UPDATES_IN_HAND)


@dataclass
class PoolWaits:
    """Observes the waits of one pool (`database`, `database_reader`, `redis`, or
    `updates`: a turn among the updates handled at once): each goes
    into the histogram; one longer than `slow_after` seconds is counted and logged, at
    most one log line every SLOW_WAIT_LOG_EVERY seconds (with the count since the last)."""

    pool: str
    slow_after: float
    clock: Callable[[], float] = time.monotonic
    _unlogged: int = 0
    _longest: float = 0.0
    _logged_at: float | None = field(default=None, repr=False)

    def __call__(self, seconds: float, *, timed_out: bool = False) -> None:
        labelled(POOL_WAIT, self.pool).observe(seconds)
        if timed_out:
            POOL_TIMEOUTS.labels(self.pool).inc()
            log.error("no %s connection within %.1f s: the pool stayed busy", self.pool, seconds)
            return
        if seconds <= self.slow_after:
            return
        POOL_SLOW_WAITS.labels(self.pool).inc()
        self._unlogged += 1
        self._longest = max(self._longest, seconds)
        now = self.clock()
        if self._logged_at is not None and now - self._logged_at < SLOW_WAIT_LOG_EVERY:
            return
        what = (
            "a turn among UPDATES_IN_HAND"
            if self.pool == UPDATE_SLOTS
            else f"a {self.pool} connection"
        )
        log.warning(
            "%s slow wait(s) for %s (longest %.2f s, threshold %.2f s); %s",
            self._unlogged,
            what,
            self._longest,
            self.slow_after,
            "a burst" if self.pool == UPDATE_SLOTS else "consider a larger pool",
        )
        self._logged_at, self._unlogged, self._longest = now, 0, 0.0


# --- updates ----------------------------------------------------------------------------

UPDATE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

UPDATES = Counter(
    "bot_updates",
    "Updates handled, by update type, the router and handler that took it, and outcome "
    "(handled, unhandled: no handler or a redelivery skipped, failed: an error raised)",
    ["type", "router", "handler", "outcome"],
    registry=REGISTRY,
)
UPDATE_SECONDS = Histogram(
    "bot_update_seconds",
    "Time from taking an update to its end (replies sent), by update type",
    ["type"],
    buckets=UPDATE_BUCKETS,
    registry=REGISTRY,
)

# --- Bot API ----------------------------------------------------------------------------

API_REQUESTS = Counter(
    "bot_api_requests",
    "Bot API requests (each attempt), by method and outcome: ok, rate_limited (429), "
    "server_error (5xx), network_error, forbidden (403), refused (other 4xx)",
    ["method", "outcome"],
    registry=REGISTRY,
)
API_RETRIES = Counter(
    "bot_api_retries",
    "Bot API requests sent again after a 429, a 5xx or a network error, by method and reason",
    ["method", "reason"],
    registry=REGISTRY,
)

# --- reminders, reports, events ---------------------------------------------------------

REMINDERS = Counter(
    "bot_reminders",
    "Reminders and digests delivered or not, by outcome: sent, failed (left for recovery "
    "or refused for good), unreachable (the person blocked the bot)",
    ["outcome"],
    registry=REGISTRY,
)
REPORT_SECONDS = Histogram(
    "bot_report_compile_seconds",
    "Time to compile a report (load the events and render the file), by format",
    ["format"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
EVENTS_SUBMITTED = Counter(
    "bot_events_submitted",
    "Events filed into a period's report (committed), by period (2023-Q4)",
    ["period"],
    registry=REGISTRY,
)
