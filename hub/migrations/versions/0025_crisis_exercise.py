"""crises that are exercises

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 09:00:00

`crisis.exercise` marks an exercise (CAP status Exercise): it is shown as one everywhere, left
out of the public lists and feeds, and opens a charter's data only where the charter accepts
exercises. Crises declared before are real ones.
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crisis") as batch:
        batch.add_column(
            sa.Column("exercise", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("crisis") as batch:
        batch.drop_column("exercise")
