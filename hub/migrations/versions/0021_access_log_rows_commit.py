"""access log entries chain a commitment to their rows, not the rows

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 14:00:00

A data subject checks each entry of their access log by recomputing its hash, so they were shown
every chained field, `rows` included: the rows a read sent, everyone's. When a read took the rows
of several subjects, each learnt the others' count (`rows` minus their own). From now on an entry
keeps a random `rows_nonce` (not chained) and chains `rows_commit`, the SHA-256 of that nonce and
`rows`, in place of `rows` (hub.audit.rows_commitment): the subject hashes the commitment, and
the rows and nonce go only to those who may see everyone's count. Entries written before keep
both empty and chain `rows` as they did, so they still verify.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place (no batch copy): the append-only triggers of the table stay.
    op.add_column(
        "accessevent",
        sa.Column("rows_nonce", sa.String(length=32), nullable=False, server_default=""),
    )
    op.add_column(
        "accessevent",
        sa.Column("rows_commit", sa.String(length=64), nullable=False, server_default=""),
    )


def downgrade() -> None:
    # Entries written since then no longer verify without their commitment.
    op.drop_column("accessevent", "rows_commit")  # SQLite >= 3.35 drops it in place
    op.drop_column("accessevent", "rows_nonce")
