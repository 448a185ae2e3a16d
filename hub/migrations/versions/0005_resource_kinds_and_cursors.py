"""resource kinds and source cursors

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 07:00:00

Resources are no longer only record tables: a grid (a stored NetCDF file) or a file a portal
links to has no table, so `table_name` becomes nullable and `kind` says which it is, with what
the kind needs in `details`. `sourcecursor` keeps where each source's last harvest stopped
(ETag, Last-Modified, a portal's metadata_modified) so that unchanged data is not read again.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="records")
        )
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch_op.alter_column("table_name", existing_type=sa.String(length=63), nullable=True)
    op.create_table(
        "sourcecursor",
        sa.Column("source_id", sa.String(length=100), nullable=False),
        sa.Column("etag", sa.Text(), nullable=False, server_default=""),
        sa.Column("last_modified", sa.Text(), nullable=False, server_default=""),
        sa.Column("position", sa.Text(), nullable=False, server_default=""),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source_id"),
    )


def downgrade() -> None:
    op.drop_table("sourcecursor")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.alter_column("table_name", existing_type=sa.String(length=63), nullable=False)
        batch_op.drop_column("details")
        batch_op.drop_column("kind")
