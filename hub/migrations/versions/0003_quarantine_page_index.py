"""quarantine page index

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 03:22:19.533649

Quarantine pages are read by keyset on (row_number, id) within a run: without this index each
page re-sorted the whole run.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantinedrow", schema=None) as batch_op:
        batch_op.create_index(
            "ix_quarantinedrow_run_row", ["run_id", "row_number", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("quarantinedrow", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantinedrow_run_row")
