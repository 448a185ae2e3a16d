"""each term's postings beside FTS5, so SQLite ranks a common word's hits over arrays

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 23:00:00

SQLite only (PostgreSQL ranks with ts_rank over its tsvector). `searchpostings` holds, per term
and segment, the documents having the term with its count in each part of `searchfts` and their
length; `searchlength` the index's document and token counts. `hub.searchpostings` writes both in
step with `searchfts`; `hub.db.upgrade` fills them for the documents already indexed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        "searchpostings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("docs", sa.LargeBinary(), nullable=False),
        sa.Column("counts", sa.LargeBinary(), nullable=False),
        sa.Column("gone", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_searchpostings_term", "searchpostings", ["term"])
    table = op.create_table(
        "searchlength",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("documents", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "documents": 0, "tokens": 0}])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_table("searchlength")
    op.drop_table("searchpostings")
