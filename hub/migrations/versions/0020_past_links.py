"""past links: the links a subject removed, so that their log still shows those rows' reads

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 12:00:00

A subject's access log selected the entries naming the pseudonyms of the account's current
links, so unlinking hid every earlier read of those rows (a service's, an operator's) from the
subject, though the log and the rows remain. `pastlink` keeps each removed link's account,
dataset, pseudonym and dates, and nothing else; the log selects by current and past links.
Links removed before this migration left no trace and cannot be recovered.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pastlink",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("dataset_id", sa.String(length=100), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_pastlink_account", "pastlink", ["account"])


def downgrade() -> None:
    op.drop_index("ix_pastlink_account", table_name="pastlink")
    op.drop_table("pastlink")
