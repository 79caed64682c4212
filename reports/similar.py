"""Suspected duplicates: two organisations' events that look like one joint event.

Two events are suspected duplicates when they belong to different organisations, their
dates overlap, and both their names and their places are similar. Similarity (0-100) is
the mean of rapidfuzz's `token_set_ratio` and `token_sort_ratio` on normalised text (the
set ratio alone scores 100 whenever one name's words are a subset of the other's, e.g.
«V Международный вокальный конкурс» within a longer name; the sort ratio alone punishes
one institution's extra words about the same event): lower case, «ё» as «е», quotes
and punctuation dropped, service words («участие», «в», «г.»…) left out and every word cut
to its first six letters, so that Russian case endings («международной» /
«международном», «Смоленск» / «Смоленской») do not count as differences.

The thresholds (`NAME_MIN`, `PLACE_MIN`) were chosen on the reference quarter
(IV квартал 2023 года, 42 events): among its pairs with overlapping dates the highest
name score is 60, 15 below `NAME_MIN`, while joint events reported by two institutions
in their own words score 83 and more on the name and 78 and more on the place
(tests/test_similar.py).
Same name with other dates (reference events 20 and 21) or another place (25 and 26) is
never a pair: the dates must overlap and the places must be similar too. Names that both
carry numbers (`№5`, `2023`, `XVI`) and not the same ones are not a pair either: the V and
the VI festival are two events however alike the rest of their names.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache

from rapidfuzz import fuzz

from reports.dates import DateRange
from reports.model import ReportEvent
from reports.participants import with_total

NAME_MIN = 75.0
PLACE_MIN = 60.0  # places are written more loosely than names
STEM = 6  # letters of a word kept: enough to tell words apart, not their endings

# Words that say nothing about which event it was.
STOP_WORDS = frozenset(
    """
    в во на и с со по для о об от к ко из за у при а также
    участие участии г гор город пос п д ул пл р н рн обл область
    """.split()
)
_WORD = re.compile(r"[0-9a-zа-я]+")
_NUMBER = re.compile(r"^(?:\d+|[ivxlc]+)$")  # digits, or a Roman numeral in Latin letters


# The two below are pure functions of the text, run on every other event of the period at
# each submit (storage.repositories.duplicates): each text is worked out once per process.
# Names and places are at most 1,500 characters: the caches stay within a few megabytes.
TEXTS_KEPT = 2048


@lru_cache(maxsize=TEXTS_KEPT)
def numbers(text: str) -> frozenset[str]:
    """The numbers a name carries: `№5` → 5, `XVI Международная` → xvi."""
    return frozenset(w for w in _WORD.findall(text.lower()) if _NUMBER.match(w))


@lru_cache(maxsize=TEXTS_KEPT)
def normalise(text: str) -> str:
    """The words that identify an event, as compared: see the module's docstring."""
    words = _WORD.findall(text.lower().replace("ё", "е"))
    return " ".join(word[:STEM] for word in words if word not in STOP_WORDS)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One event as the matcher needs it; `key` names it back to the caller."""

    key: Hashable
    organisation: Hashable
    name: str
    place: str
    start: date
    end: date
    _name: str = field(init=False, repr=False, compare=False)
    _place: str = field(init=False, repr=False, compare=False)
    _numbers: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_name", normalise(self.name))
        object.__setattr__(self, "_place", normalise(self.place))
        object.__setattr__(self, "_numbers", numbers(self.name))


@dataclass(frozen=True, slots=True)
class Match:
    """A suspected pair: the two keys (in the order given) and their scores."""

    first: Hashable
    second: Hashable
    name_score: float
    place_score: float


def overlap(a: Candidate, b: Candidate) -> bool:
    """Whether the two events' dates share at least one day."""
    return a.start <= b.end and b.start <= a.end


def similarity(a: str, b: str) -> float:
    """How alike two normalised texts are, 0-100 (see the module's docstring)."""
    return (fuzz.token_set_ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 2


def scores(a: Candidate, b: Candidate) -> tuple[float, float]:
    """The name and place similarity of two events, 0-100."""
    return similarity(a._name, b._name), similarity(a._place, b._place)


def compare(a: Candidate, b: Candidate) -> Match | None:
    """The pair, if `a` and `b` are suspected duplicates; else None."""
    if a.organisation == b.organisation or not overlap(a, b):
        return None
    if a._numbers and b._numbers and a._numbers != b._numbers:
        return None  # another edition, another number
    name_score = similarity(a._name, b._name)
    if name_score < NAME_MIN:
        return None
    place_score = similarity(a._place, b._place)
    if place_score < PLACE_MIN:
        return None
    return Match(a.key, b.key, name_score, place_score)


def similar_to(event: Candidate, others: Iterable[Candidate]) -> list[Match]:
    """The suspected duplicates of one event among `others`, the most similar first."""
    found = [match for other in others if (match := compare(event, other)) is not None]
    return sorted(found, key=lambda m: (-(m.name_score + m.place_score), str(m.second)))


def suspected_pairs(events: Sequence[Candidate]) -> list[Match]:
    """Every suspected pair among a period's events, each once (earlier-given first).

    Events are swept in order of start date, so only those whose dates can still overlap
    are compared.
    """
    order = sorted(range(len(events)), key=lambda i: (events[i].start, i))
    found: list[Match] = []
    active: list[int] = []
    for i in order:
        event = events[i]
        active = [j for j in active if events[j].end >= event.start]
        for j in active:
            first, second = (j, i) if j < i else (i, j)
            match = compare(events[first], events[second])
            if match is not None:
                found.append(match)
        active.append(i)
    return found


def _distinct(texts: Iterable[str]) -> list[str]:
    """The texts in order, each once (texts that normalise alike count as one)."""
    seen: set[str] = set()
    kept: list[str] = []
    for text in texts:
        key = normalise(text) or text.strip()
        if text.strip() and key not in seen:
            seen.add(key)
            kept.append(text)
    return kept


def _merged_dates(dates: Sequence[DateRange]) -> DateRange:
    """The dates of one row for a merged group: the same dates once; days spanning from
    the earliest start to the latest end; else (month-only dates among them) the first's."""
    first = dates[0]
    if all(other == first for other in dates):
        return first
    if all(other.precision == "day" and other.note is None for other in dates):
        return DateRange(min(d.start for d in dates), max(d.end for d in dates), "day")
    return first


def merge_events(events: Sequence[ReportEvent]) -> ReportEvent:
    """One report row for events a coordinator merged (the first is the row kept).

    The name and sphere are the first's; places and results of all are kept, each once,
    as paragraphs; the participants of each keep their own total, and the row's total is
    their sum when every event has one; every organisation is credited (the .xlsx's
    organisation column lists them all, `; `-separated).
    """
    first = events[0]
    if len(events) == 1:
        return first
    counts = [event.participant_count for event in events]
    return replace(
        first,
        place=";\n".join(_distinct(event.place for event in events)),
        dates=_merged_dates([event.dates for event in events]),
        result="\n".join(_distinct(event.result for event in events)),
        participants="\n".join(
            _distinct(with_total(event.participants, event.participant_count) for event in events)
        ),
        participant_count=None if None in counts else sum(c for c in counts if c is not None),
        organisation="; ".join(_distinct(event.organisation for event in events)),
    )
