"""The half-filled event kept in FSM data: reading, checking and turning it into fields."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from reports.dates import DateRange
from reports.participants import read_total
from storage.models import (
    DATES_NOTE_MAX,
    NAME_MAX,
    PARTICIPANTS_MAX,
    PLACE_MAX,
    RESULT_MAX,
    Event,
)
from storage.repositories import EventFields

TEXT_LIMITS = {
    "name": NAME_MAX,
    "place": PLACE_MAX,
    "result": RESULT_MAX,
    "participants": PARTICIPANTS_MAX,
    "dates": DATES_NOTE_MAX,
}


def clean_answer(text: str) -> str:
    """A typed answer as it is kept: control characters dropped (line breaks and tabs
    stay), outer blanks trimmed; "" when nothing visible is left (zero-width spaces and
    direction marks alone are no answer)."""
    kept = _CONTROLS.sub("", text.replace("\r\n", "\n")).strip()
    if _WORD.search(kept):  # a letter or digit is visible (neither a blank nor a format mark)
        return kept
    if all(char.isspace() or unicodedata.category(char) == "Cf" for char in kept):
        return ""
    return kept


# Unicode's control characters (category Cc: C0, DEL and C1) but line breaks and tabs.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_WORD = re.compile(r"\w")


def read_count(text: str) -> int | None:
    """The total number of participants stated in free text, if it is stated (an
    approximate total, `более 1000 человек`, counts as its number; the text keeps the word)."""
    total = read_total(text)
    return None if total is None else total.count


def dates_to_data(dates: DateRange) -> dict[str, Any]:
    return {
        "start": dates.start.isoformat(),
        "end": dates.end.isoformat(),
        "precision": dates.precision,
        "note": dates.note,
    }


def dates_from_data(data: dict[str, Any] | None) -> DateRange | None:
    if not data:
        return None
    return DateRange(
        date.fromisoformat(data["start"]),
        date.fromisoformat(data["end"]),
        data["precision"],
        data.get("note"),
    )


@dataclass(slots=True)
class Draft:
    """What the person has answered so far; JSON-friendly in FSM data."""

    sphere_id: int | None = None
    name: str | None = None
    place: str | None = None
    dates: dict[str, Any] | None = None
    result: str | None = None
    participants: str | None = None
    count: int | None = None
    period_id: int | None = None
    token: str = ""  # the dedup key of a new event: submitting twice stores it once
    event_id: int | None = None  # set when editing an existing event
    editing: bool = False  # answers return to the summary

    @classmethod
    def new(cls) -> Draft:
        return cls(token=uuid.uuid4().hex)

    @classmethod
    def load(cls, data: dict[str, Any]) -> Draft:
        fields = data.get("draft") or {}
        known = {name: fields[name] for name in cls.__slots__ if name in fields}  # type: ignore[attr-defined]
        return cls(**known)

    def dump(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]

    @classmethod
    def of_event(cls, event: Event, *, copy: bool) -> Draft:
        """A draft from a stored event: to edit it, or (copy) as the start of a new one."""
        draft = cls(
            sphere_id=event.sphere_id,
            name=event.name,
            place=event.place,
            result=event.result,
            participants=event.participants,
            count=event.participant_count,
            editing=True,
        )
        if copy:
            draft.token = uuid.uuid4().hex
        else:
            draft.event_id = event.id
            draft.period_id = event.period_id
            draft.dates = dates_to_data(
                DateRange(event.start_date, event.end_date, event.precision, event.dates_note)  # type: ignore[arg-type]
            )
        return draft

    def value(self, step: str) -> Any:
        if step == "sphere":
            return self.sphere_id
        if step == "period":
            return self.period_id
        return getattr(self, step)

    def answered(self) -> bool:
        """Whether anything was answered (or copied in): such a draft is not thrown away
        without asking. A period preset by a reminder's button is no answer."""
        answers = (self.sphere_id, self.name, self.place, self.dates, self.result)
        return any(value not in (None, "") for value in (*answers, self.participants))

    def missing(self, steps: tuple[str, ...]) -> list[str]:
        """The steps not answered yet, in dialogue order."""
        return [step for step in steps if self.value(step) in (None, "")]

    def fields(self) -> EventFields:
        """The event's fields; call only when nothing is missing."""
        dates = dates_from_data(self.dates)
        assert self.sphere_id is not None and dates is not None
        return EventFields(
            sphere_id=self.sphere_id,
            name=self.name or "",
            place=self.place or "",
            dates=dates,
            result=self.result or "",
            participants=self.participants or "",
            participant_count=self.count,
        )
