"""run heartbeat

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:04:22.344077

A running harvest renews `heartbeat_at`; any hub process fails a run whose heartbeat is stale and
whose process is gone. Adding a nullable column needs no table copy on SQLite, so 0002's
triggers stay.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvestrun", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("heartbeat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("harvestrun", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
