"""outbox owner: the process holding a row, and when a row owed after a crash was delivered

Revision ID: 0012_outbox_owner
Revises: 0009_duplicates
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_outbox_owner"
down_revision: str | None = "0009_duplicates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("owner", sa.String(length=40), nullable=True))
    op.add_column("outbox", sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_outbox_chat_id"), "outbox", ["chat_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_chat_id"), table_name="outbox")
    # SQLite (3.35+) drops a column in place, as in 0011.
    op.execute("ALTER TABLE outbox DROP COLUMN delivered_at")
    op.execute("ALTER TABLE outbox DROP COLUMN owner")
