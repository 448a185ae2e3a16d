"""portal listings: when a portal was last listed whole, and long resource formats

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00

An increment of a portal cannot see a deletion, so a portal is listed whole again at intervals:
`sourcecursor.listed_at` is when it last was. A portal's file resources name their format as the
portal does, often a media type longer than 20 characters, so `resource.format` takes 100.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sourcecursor", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("listed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.alter_column(
            "format", existing_type=sa.String(length=20), type_=sa.String(length=100)
        )


def downgrade() -> None:
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.alter_column(
            "format", existing_type=sa.String(length=100), type_=sa.String(length=20)
        )
    with op.batch_alter_table("sourcecursor", schema=None) as batch_op:
        batch_op.drop_column("listed_at")
