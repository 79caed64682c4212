"""the review: events' review state, their versions, reviewers, reports sent

Columns are only added to `events` (SQLite adds them in place; a rebuild would trip on
the rows that refer to events). Submitted events already stored wait for review.

Revision ID: 0013_review
Revises: 0009_duplicates
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_review"
down_revision: str | None = "0012_outbox_owner"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_COLUMNS = ("review", "review_comment", "reviewed_by_id", "reviewed_at", "review_since")


def upgrade() -> None:
    op.add_column(
        "events",
        sa.Column("review", sa.String(length=10), server_default="pending", nullable=False),
    )
    op.add_column("events", sa.Column("review_comment", sa.Text(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":  # a column's REFERENCES, added in place
        op.execute("ALTER TABLE events ADD COLUMN reviewed_by_id INTEGER REFERENCES people (id)")
    else:
        op.add_column("events", sa.Column("reviewed_by_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_events_reviewed_by_id_people"), "events", "people", ["reviewed_by_id"], ["id"]
        )
    op.add_column("events", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("events", sa.Column("review_since", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE events SET review_since = submitted_at WHERE status = 'submitted'")
    op.create_table(
        "event_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_versions_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_event_versions_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_versions")),
    )
    op.create_index(op.f("ix_event_versions_event_id"), "event_versions", ["event_id"])
    op.create_table(
        "reviewers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_reviewers_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_reviewers_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviewers")),
        sa.UniqueConstraint("person_id", "organisation_id", name="uq_reviewers_person_org"),
    )
    op.create_index(op.f("ix_reviewers_person_id"), "reviewers", ["person_id"])
    op.create_index(op.f("ix_reviewers_organisation_id"), "reviewers", ["organisation_id"])
    op.create_table(
        "report_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_report_deliveries_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["reporting_periods.id"],
            name=op.f("fk_report_deliveries_period_id_reporting_periods"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_deliveries")),
    )
    op.create_index(op.f("ix_report_deliveries_period_id"), "report_deliveries", ["period_id"])


def downgrade() -> None:
    op.drop_table("report_deliveries")
    op.drop_table("reviewers")
    op.drop_table("event_versions")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_events_reviewed_by_id_people", "events", type_="foreignkey")
    for column in reversed(EVENT_COLUMNS):  # SQLite (3.35+) drops a column in place
        op.execute(f"ALTER TABLE events DROP COLUMN {column}")
