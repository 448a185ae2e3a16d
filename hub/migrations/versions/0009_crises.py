"""crises: declared crises, their area, window and cells

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 06:20:00

While a crisis is declared and not closed, tokens of its cells (crisis-cell role) read the rows
of crisis datasets inside its area (GeoJSON, WGS84, with its bbox for a quick first filter) and
its window [starts_at, ends_at).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crisis",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("area", sa.JSON(), nullable=False),
        sa.Column("bbox", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("declared_by", sa.String(length=64), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=False, server_default=""),
    )
    op.create_index("ix_crisis_ends_at", "crisis", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_crisis_ends_at", table_name="crisis")
    op.drop_table("crisis")
