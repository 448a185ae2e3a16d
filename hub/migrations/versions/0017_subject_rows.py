"""how many of each subject's rows a read took

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 10:00:00

A subject's access log said `rows: null` for every download (its count is known only when the
stream ends) and, for a read of several subjects, only everyone's total. `accesssubject.rows`
holds the rows a read took of each subject it named; the entry's Merkle leaf of that subject
holds the count too (hub.audit), so each subject can check their own. Past entries counted
nothing (NULL), and their leaves hash as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accesssubject", sa.Column("rows", sa.Integer(), nullable=True))


def downgrade() -> None:
    # In place (SQLite >= 3.35 drops a column itself): a batch would rebuild the table without
    # the triggers that keep the access log append-only (migration 0011).
    op.drop_column("accesssubject", "rows")
