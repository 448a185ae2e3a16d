"""withdrawn datasets: a tombstone for each dataset a portal stopped listing

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 14:00:00

A portal's whole listing deletes the datasets it no longer lists; nothing then told an
incremental harvester (CKAN fq=metadata_modified, DCAT modified_since, updated_since) that they
went. `withdrawndataset` keeps each one's id, title, organization, theme, source, run and time,
listed at /api/v1/datasets/withdrawn?since=. Datasets withdrawn before this migration left no
trace and cannot be listed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "withdrawndataset",
        sa.Column("id", sa.String(length=100), primary_key=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("organization_id", sa.String(length=100), nullable=False),
        sa.Column("theme", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_withdrawndataset_withdrawn_at", "withdrawndataset", ["withdrawn_at"])


def downgrade() -> None:
    op.drop_index("ix_withdrawndataset_withdrawn_at", table_name="withdrawndataset")
    op.drop_table("withdrawndataset")
