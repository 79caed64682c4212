"""Repositories: the only place that builds queries. Each takes an AsyncSession."""

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
