"""duplicate pairs: two organisations' events suspected to be one, merged or kept apart

Revision ID: 0009_duplicates
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_duplicates"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duplicate_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_id", sa.Integer(), nullable=False),
        sa.Column("second_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("name_score", sa.Integer(), nullable=False),
        sa.Column("place_score", sa.Integer(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("first_id < second_id", name=op.f("ck_duplicate_pairs_order")),
        sa.CheckConstraint(
            "status IN ('suspected', 'merged', 'distinct')", name=op.f("ck_duplicate_pairs_status")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["people.id"],
            name=op.f("fk_duplicate_pairs_decided_by_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["first_id"], ["events.id"], name=op.f("fk_duplicate_pairs_first_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["second_id"], ["events.id"], name=op.f("fk_duplicate_pairs_second_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_pairs")),
        sa.UniqueConstraint("first_id", "second_id", name="uq_duplicate_pairs_events"),
    )
    with op.batch_alter_table("duplicate_pairs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_duplicate_pairs_second_id"), ["second_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("duplicate_pairs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_pairs_second_id"))
    op.drop_table("duplicate_pairs")
