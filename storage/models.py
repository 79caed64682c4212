"""The data model: organisations, people, spheres, reporting periods, notes and events."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME_MAX = 500
PLACE_MAX = 1000
RESULT_MAX = 8000  # Text columns: the limit is the dialogue's, to fit a joined paste
PARTICIPANTS_MAX = 8000
DATES_NOTE_MAX = 1000


def utcnow() -> datetime:
    """Now, aware, in UTC (a callable default, evaluated per row)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as UTC on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Organisation | None] = relationship(remote_side=[id])


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (CheckConstraint("role IN ('reporter', 'coordinator')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Once the person is erased (`erased_at`), a negative stand-in no Telegram user has.
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    full_name: Mapped[str] = mapped_column(String(NAME_MAX))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="reporter")
    # False only when a coordinator deactivated the person: refused like a stranger.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Since when Telegram refuses the bot's messages to this chat (403, or the person
    # blocked the bot); cleared when they unblock it or write again. Still a member.
    # (Declared in the order the migrations added the columns: see storage/migrate.py.)
    unreachable_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Erased at a coordinator's request (personal data): the row stays, so the person's
    # events keep their author, but the name is blank and the Telegram id gone; shown as
    # «сотрудник удалён». A later message from that account is a stranger's.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation | None] = relationship()

    @property
    def reachable(self) -> bool:
        """Whether the bot's messages reach this person's chat (as far as we know)."""
        return self.unreachable_since is None


class Sphere(Base):
    __tablename__ = "spheres"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ReportingPeriod(Base):
    __tablename__ = "reporting_periods"
    __table_args__ = (
        UniqueConstraint("year", "quarter", name="uq_reporting_periods_year_quarter"),
        CheckConstraint("quarter BETWEEN 1 AND 4", name="quarter"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(8), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PeriodNote(Base):
    """A closing note of a period: a paragraph printed after the table."""

    __tablename__ = "period_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("reporting_periods.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("precision IN ('day', 'month')", name="precision"),
        CheckConstraint("status IN ('draft', 'submitted', 'deleted')", name="status"),
        CheckConstraint("end_date >= start_date", name="dates_order"),
        UniqueConstraint("organisation_id", "dedup_key", name="uq_events_dedup_key"),
        Index("ix_events_period_status", "period_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("reporting_periods.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    sphere_id: Mapped[int] = mapped_column(ForeignKey("spheres.id"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    place: Mapped[str] = mapped_column(String(PLACE_MAX))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    precision: Mapped[str] = mapped_column(String(8), default="day")
    dates_note: Mapped[str | None] = mapped_column(String(DATES_NOTE_MAX))
    result: Mapped[str] = mapped_column(Text)
    participants: Mapped[str] = mapped_column(Text)
    participant_count: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    # An import hash or a dialogue token: the same key twice is the same event.
    dedup_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The review of a submitted event: «на проверке» (pending) until a reviewer accepts it
    # or returns it to the author with `review_comment`; the author's fix makes it pending
    # again. `review_since`: when it last began to wait for a decision. (No CHECK: SQLite
    # would have to rebuild `events`, which the rows referring to it forbid.)
    review: Mapped[str] = mapped_column(String(10), server_default="pending")
    review_comment: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sphere: Mapped[Sphere] = relationship()
    period: Mapped[ReportingPeriod] = relationship()
    organisation: Mapped[Organisation] = relationship()


class JoinCode(Base):
    """A join link's code: opening it binds a Telegram account to an organisation."""

    __tablename__ = "join_codes"
    __table_args__ = (CheckConstraint("role IN ('reporter', 'coordinator')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    # None: the one-time setup code printed at the first start (it makes a coordinator).
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="reporter")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uses: Mapped[int] = mapped_column(Integer, default=0)

    organisation: Mapped[Organisation | None] = relationship()


class FsmRecord(Base):
    """aiogram's FSM state and data of one chat, kept in our database."""

    __tablename__ = "fsm_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Counter(Base):
    """A named counter (e.g. refusals to strangers: the only trace they leave)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class NothingToReport(Base):
    """An organisation's word that it held no events in a period (its report, withdrawable)."""

    __tablename__ = "nothing_to_report"
    __table_args__ = (
        UniqueConstraint("organisation_id", "period_id", name="uq_nothing_to_report_org_period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    period_id: Mapped[int] = mapped_column(ForeignKey("reporting_periods.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reminder(Base):
    """One reminder to one person about one period: recorded before sending, exactly once.

    `kind` is `before_7`, `before_3`, `before_1`, `deadline`, `digest` or `manual:<hour>`.
    The unique constraint is what makes a restart, a second scheduler or a job that fires
    twice harmless; `sent_at` stays empty until Telegram accepted the message, so a crash
    between recording and sending is found and finished later.
    """

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("person_id", "period_id", "kind", name="uq_reminders_once"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        Index("ix_reminders_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    period_id: Mapped[int] = mapped_column(ForeignKey("reporting_periods.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProcessedUpdate(Base):
    """A Telegram update already taken by a worker: a redelivery of it is skipped.

    Claimed inside the update's own transaction, so an update whose handling failed (and
    was rolled back) is handled again when Telegram retries it.
    """

    __tablename__ = "processed_updates"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class OutboxMessage(Base):
    """A message an update sends, or a job it asked for, until Telegram confirmed it.

    Written in the update's own transaction (see `bot.outbox`), so what is committed and
    what the person is told cannot part: a row still here after a crash is delivered at
    the next start (or, once its lease `due_at` has passed, by any worker). `method` is
    the Bot API method (`sendMessage`, `editMessageText`, ...) with its parameters in
    `payload`, or `job:<name>` for work that ends in a message (the report: compiled
    again rather than stored), or `notice:<row id>` for a sendMessage queued behind that
    row (dropped with it if it is given up: bot/owed.py).

    `owner` is the process that wrote or took the row (bot/workers.py: while its heartbeat
    lives, nobody else sends the row). A row delivered after its process died is kept with
    `delivered_at` (Telegram's date of the message) for a day, so that a text the person
    typed before seeing it is not taken as the answer to it (bot/owed.py).
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    method: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    owner: Mapped[str | None] = mapped_column(String(40))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DuplicatePair(Base):
    """Two organisations' events suspected to be one joint event, and what became of it.

    `first_id` is the lower event id (the one reported first): a merged pair prints as one
    row in the report, under the first's name and sphere, with the places, results and
    participants of both and both organisations credited (`storage.report_source`). Both
    events stay submitted, each in its organisation's lists and status. A pair marked
    `distinct` is never suggested again.
    """

    __tablename__ = "duplicate_pairs"
    __table_args__ = (
        UniqueConstraint("first_id", "second_id", name="uq_duplicate_pairs_events"),
        CheckConstraint("first_id < second_id", name="order"),
        CheckConstraint("status IN ('suspected', 'merged', 'distinct')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    second_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="suspected")
    name_score: Mapped[int] = mapped_column(Integer, default=0)
    place_score: Mapped[int] = mapped_column(Integer, default=0)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    first: Mapped[Event] = relationship(foreign_keys=[first_id])
    second: Mapped[Event] = relationship(foreign_keys=[second_id])


class EventVersion(Base):
    """One change of a submitted event: who, when, which field, the value before and after.

    Values are kept as the card shows them (a sphere's name, dates as the report prints
    them), so the history reads the same after the spheres or the formatter change.
    `field` is a dialogue step (`name`, `dates`, ...), `count`, `review` or `status`.
    """

    __tablename__ = "event_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    field: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)


class Reviewer(Base):
    """A person who reviews the events of an executive body and its institutions."""

    __tablename__ = "reviewers"
    __table_args__ = (
        UniqueConstraint("person_id", "organisation_id", name="uq_reviewers_person_org"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportDelivery(Base):
    """A report file sent to a coordinator: what each event looked like in it (`events`:
    event id → a fingerprint of its fields), so the next file's caption says what changed."""

    __tablename__ = "report_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    period_id: Mapped[int] = mapped_column(ForeignKey("reporting_periods.id"), index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    events: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
