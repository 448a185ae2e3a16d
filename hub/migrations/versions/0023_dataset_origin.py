"""dataset origin: the identifier, IRI and dates of the original a portal lists

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 16:00:00

A dataset re-published from a portal (ckan, dcat, rudi) lost the original's identity and dates,
so aggregators harvesting both the portal and the hub listed it twice. `dataset.origin` (JSON,
null for datasets no portal lists) keeps them; datasets harvested before this migration get
theirs at their portal's next harvest.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset") as batch:
        batch.add_column(sa.Column("origin", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset") as batch:
        batch.drop_column("origin")
