"""Repositories: the only place that builds queries. Each takes an AsyncSession.

`from storage.repositories import X` loads only X's module (PEP 562): a short command
(`python -m bot import`) then loads the few it uses, not the dialect-specific upserts
and similarity searches of the others.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.repositories.access import CounterRepository, JoinCodeRepository
    from storage.repositories.duplicates import DuplicateRepository
    from storage.repositories.events import EventFields, EventRepository
    from storage.repositories.organisations import OrganisationRepository
    from storage.repositories.people import PersonRepository
    from storage.repositories.periods import PeriodRepository
    from storage.repositories.reminders import OrgStatus, ReminderRepository, ReportingRepository
    from storage.repositories.review import ReviewRepository
    from storage.repositories.spheres import SphereRepository
    from storage.repositories.updates import ProcessedUpdateRepository

_MODULES = {
    "CounterRepository": "access",
    "JoinCodeRepository": "access",
    "DuplicateRepository": "duplicates",
    "EventFields": "events",
    "EventRepository": "events",
    "OrganisationRepository": "organisations",
    "PersonRepository": "people",
    "PeriodRepository": "periods",
    "OrgStatus": "reminders",
    "ReminderRepository": "reminders",
    "ReportingRepository": "reminders",
    "ReviewRepository": "review",
    "SphereRepository": "spheres",
    "ProcessedUpdateRepository": "updates",
}

__all__ = [
    "CounterRepository",
    "DuplicateRepository",
    "EventFields",
    "EventRepository",
    "JoinCodeRepository",
    "OrgStatus",
    "OrganisationRepository",
    "PeriodRepository",
    "PersonRepository",
    "ProcessedUpdateRepository",
    "ReminderRepository",
    "ReportingRepository",
    "ReviewRepository",
    "SphereRepository",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})
