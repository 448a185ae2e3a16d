"""aggregate atoms: personal datasets' public aggregates read from stored atoms

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:30:00

hub.aggregates computed every cell from the readings of its window at each request; hub.atoms
stores, per hour and combination of groupable values, each measure's sum and readings and the
atom's subjects as a bitmap over a per-dataset numbering of pseudonyms. The gate keeps them up
to date; personal datasets published before this migration are built by `hub db upgrade`
(hub.db.upgrade) once the tables exist.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aggregateatom",
        sa.Column("dataset_id", sa.String(length=100), nullable=False),
        sa.Column("measure", sa.String(length=100), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("subjects", sa.LargeBinary(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("readings", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", "measure", "hour", "key"),
    )
    op.create_table(
        "aggregatesubject",
        sa.Column("dataset_id", sa.String(length=100), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", "pseudonym"),
        sa.UniqueConstraint("dataset_id", "number"),
    )
    op.create_table(
        "aggregatestate",
        sa.Column("dataset_id", sa.String(length=100), nullable=False),
        sa.Column("table_name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id"),
    )


def downgrade() -> None:
    op.drop_table("aggregatestate")
    op.drop_table("aggregatesubject")
    op.drop_table("aggregateatom")
