"""personal data: a person erased at a coordinator's request keeps their row, nameless

Only a column is added: `people.telegram_id` stays NOT NULL (an erased person's is a
negative stand-in, see `PersonRepository.erase`), because making it nullable would make
SQLite rebuild `people`, which the rows referring to it forbid inside the migration's
transaction (foreign keys cannot be switched off there).

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("people", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place; batch mode's rebuild would trip on the rows
    # that refer to people.
    op.execute("ALTER TABLE people DROP COLUMN erased_at")
