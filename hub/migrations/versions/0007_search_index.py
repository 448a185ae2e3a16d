"""the catalogue's search index: weighted words and field values of every dataset

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 14:30:00

`searchdoc` holds each dataset's stemmed words in three weighted parts and its extent,
`searchfield` one row per value the search filters, sorts or counts facets on. SQLite matches
words through the FTS5 table `searchfts` (rowid = searchdoc.id), PostgreSQL through a GIN index
on `searchdoc.document`. The index is derived: `hub.db.upgrade` builds it from the catalogue
once every migration has run (so that it reads the catalogue tables as they end up), and
`hub.searchindex` keeps it in step afterwards.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "searchdoc",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dataset_id", sa.String(length=100), nullable=False, unique=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("west", sa.Float()),
        sa.Column("south", sa.Float()),
        sa.Column("east", sa.Float()),
        sa.Column("north", sa.Float()),
    )
    op.create_table(
        "searchfield",
        sa.Column("dataset_id", sa.String(length=100), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("folded", sa.Text(), nullable=False),
        sa.Column("number", sa.Float()),
    )
    # Matching a field value; counting a facet's values; ranges; one dataset's rows.
    op.create_index("ix_searchfield_match", "searchfield", ["field", "folded", "dataset_id"])
    op.create_index("ix_searchfield_facet", "searchfield", ["field", "dataset_id", "value"])
    op.create_index("ix_searchfield_number", "searchfield", ["field", "number"])
    op.create_index("ix_searchfield_dataset", "searchfield", ["dataset_id"])
    # The search's default order (newest first) and its facet names read these.
    op.create_index("ix_dataset_modified_at", "dataset", ["modified_at"])
    op.create_index("ix_dataset_licence_id", "dataset", ["licence_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # The terms are already folded and stemmed: the tokenizer only splits on spaces.
        op.execute(
            "CREATE VIRTUAL TABLE searchfts USING fts5("
            "title, keywords, body, tokenize = 'unicode61 remove_diacritics 0')"
        )
    else:
        op.add_column("searchdoc", sa.Column("document", sa.dialects.postgresql.TSVECTOR()))
        op.create_index("ix_searchdoc_document", "searchdoc", ["document"], postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE searchfts")
    op.drop_index("ix_dataset_licence_id", table_name="dataset")
    op.drop_index("ix_dataset_modified_at", table_name="dataset")
    op.drop_table("searchfield")
    op.drop_table("searchdoc")
