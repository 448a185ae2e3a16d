"""aggregate atoms remember the measures and groupable fields they were built with

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 13:30:00

A schema version may add a measure or a groupable field; atoms built before it have no sums for
the one nor values of the other. hub.atoms now keeps the plan's shape beside the record table it
built from and builds the atoms again when either differs. Atoms built before this migration
have no shape: `hub db upgrade` builds them again (hub.db.build_missing_atoms).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aggregatestate") as table:
        table.add_column(sa.Column("shape", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("aggregatestate") as table:
        table.drop_column("shape")
