"""event feed: who may receive each event, and an index on when it was logged

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 06:30:00

The feeds (hub.feeds) deliver an event only to readers whose grant covers it: events keep the
dataset's access level and a personal record's pseudonymous subject. `since=` replay and the
log's purge look events up by the time they were logged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "event", sa.Column("access", sa.String(length=20), nullable=False, server_default="open")
    )
    op.add_column(
        "event", sa.Column("subject", sa.String(length=64), nullable=False, server_default="")
    )
    op.create_index("ix_event_time", "event", ["time"])


def downgrade() -> None:
    op.drop_index("ix_event_time", table_name="event")
    op.drop_column("event", "subject")
    op.drop_column("event", "access")
