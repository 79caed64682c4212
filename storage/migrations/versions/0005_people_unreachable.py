"""people: unreachable since (a 403 or a block no longer deactivates the person)

Before this revision a 403 made the person inactive, the same flag a coordinator's
/deactivate sets. The two are told apart by the reminders table: a person made inactive
whose reminder was failed `blocked` and who has shown no sign of life since (no later
reminder delivered, no event written or changed after it) was made inactive by the 403:
they become active again and unreachable since that reminder. Anyone else inactive stays
deactivated. A person who blocked the bot, came back through a new link and was then
deactivated before any reminder reached them or any event of theirs was saved cannot be
told apart: they are taken as unreachable (recognised again if they write).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BLOCKED = "blocked"  # bot/sender.BLOCKED: the reminder's error after a 403

people = sa.table(
    "people",
    sa.column("id", sa.Integer()),
    sa.column("active", sa.Boolean()),
    sa.column("unreachable_since", sa.DateTime(timezone=True)),
)
reminders = sa.table(
    "reminders",
    sa.column("id", sa.Integer()),
    sa.column("person_id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("error", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
events = sa.table(
    "events",
    sa.column("author_id", sa.Integer()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _blocked_last() -> sa.Exists:
    """The person (of the outer statement) has a `blocked` reminder with no sign of life
    after it."""
    blocked = reminders.alias("blocked")
    later = reminders.alias("later")
    delivered_later = (
        sa.exists()
        .where(
            later.c.person_id == people.c.id,
            later.c.status == "sent",
            later.c.id > blocked.c.id,
        )
        .correlate(people, blocked)
    )
    wrote_later = (
        sa.exists()
        .where(events.c.author_id == people.c.id, events.c.updated_at > blocked.c.created_at)
        .correlate(people, blocked)
    )
    return sa.exists().where(
        blocked.c.person_id == people.c.id,
        blocked.c.error == BLOCKED,
        ~delivered_later,
        ~wrote_later,
    )


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=True)
        )
    since = (
        sa.select(sa.func.max(reminders.c.created_at))
        .where(reminders.c.person_id == people.c.id, reminders.c.error == BLOCKED)
        .scalar_subquery()
    )
    op.execute(
        people.update()
        .where(people.c.active == sa.false(), _blocked_last())
        .values(active=sa.true(), unreachable_since=since)
    )


def downgrade() -> None:
    # The old schema knew only "inactive": unreachable people become inactive again.
    op.execute(
        people.update().where(people.c.unreachable_since.is_not(None)).values(active=sa.false())
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's own DROP COLUMN (3.35+): a batch copy of the table would drop `people`,
        # which the foreign keys of events, reminders and join codes refuse.
        op.execute("ALTER TABLE people DROP COLUMN unreachable_since")
    else:
        op.drop_column("people", "unreachable_since")
