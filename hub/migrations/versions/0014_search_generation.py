"""the search index's generation: a number every change to the index replaces

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 14:00:00

`searchstate` holds SLOTS rows; `hub.searchindex` sets one row's `generation` to a new random
number in the same transaction as every change it makes to the index's rows, and the index's
generation is the rows' exclusive or. Several rows, so that concurrent writers on PostgreSQL
(harvests publishing at once) each lock a row of their own instead of queueing on one. `hub.searchcache` keeps the
ranked hits of a word expression under the generation it read them at, and uses them only while
a search reads that same generation: a change committed by any process, or a change of the
searcher's own transaction, names another generation; one rolled back is never seen again.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SLOTS = 16  # as hub.searchindex.GENERATION_SLOTS


def upgrade() -> None:
    table = op.create_table(
        "searchstate",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    )
    rows = [{"id": slot, "generation": secrets.randbits(62) + 1} for slot in range(1, SLOTS + 1)]
    op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("searchstate")
