"""when a crisis's start and end were announced

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 12:00:00

`crisis.started_told_at` and `crisis.ended_told_at`: when the feed was told that a crisis
started (a scheduled one) or reached its end, so that each is said once, by one process. Crises
whose start or end is already past were announced as they were (no late events on upgrade).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crisis") as batch:
        batch.add_column(sa.Column("started_told_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("ended_told_at", sa.DateTime(), nullable=True))
    crisis = sa.table(
        "crisis",
        sa.column("id", sa.String()),
        sa.column("starts_at", sa.DateTime()),
        sa.column("ends_at", sa.DateTime()),
        sa.column("closed_at", sa.DateTime()),
        sa.column("started_told_at", sa.DateTime()),
        sa.column("ended_told_at", sa.DateTime()),
    )
    # what is past already counts as told: only later passages are news
    bind = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = bind.execute(
        sa.select(crisis.c.id, crisis.c.starts_at, crisis.c.ends_at, crisis.c.closed_at)
    )
    for crisis_id, starts_at, ends_at, closed_at in rows.all():
        told = {}
        if _naive(starts_at) <= now:
            told["started_told_at"] = now
        if closed_at is not None or _naive(ends_at) <= now:
            told["ended_told_at"] = now
        if told:
            bind.execute(crisis.update().where(crisis.c.id == crisis_id).values(**told))


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def downgrade() -> None:
    with op.batch_alter_table("crisis") as batch:
        batch.drop_column("ended_told_at")
        batch.drop_column("started_told_at")
