"""access log indexed by data subject

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:00:00

A subject's access log was found by scanning every entry's `subject_list` for their pseudonyms,
and a page of it read the whole history. `accesssubject` holds one row per pseudonym an entry
named, keyed (pseudonym, dataset, entry), written in the entry's transaction; reads of every row
(`*`) are found through a (dataset, subjects, id) index. Past entries are indexed here. The index
is append-only, as the log is: a row removed would hide a read from its subject.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BATCH = 5_000


def upgrade() -> None:
    op.create_table(
        "accesssubject",
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("dataset_id", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("accessevent.id"), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", "dataset_id", "event_id"),
    )
    op.create_index(
        "ix_accessevent_dataset_subjects", "accessevent", ["dataset_id", "subjects", "id"]
    )
    index_past_entries(op.get_bind())
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER accesssubject_no_{verb.lower()} BEFORE {verb} ON accesssubject "
                "BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END"
            )
    else:
        # accessevent_append_only() (migration 0002) raises whatever table it guards
        op.execute(
            "CREATE TRIGGER accesssubject_append_only BEFORE UPDATE OR DELETE ON accesssubject "
            "FOR EACH ROW EXECUTE FUNCTION accessevent_append_only()"
        )


def index_past_entries(connection: sa.Connection) -> None:
    """One row per pseudonym of every entry logged before this migration."""
    events = sa.table(
        "accessevent", sa.column("id"), sa.column("dataset_id"), sa.column("subject_list")
    )
    index = sa.table(
        "accesssubject", sa.column("pseudonym"), sa.column("dataset_id"), sa.column("event_id")
    )
    after = 0
    while True:
        page = connection.execute(
            sa.select(events.c.id, events.c.dataset_id, events.c.subject_list)
            .where(events.c.id > after, events.c.subject_list != "")
            .order_by(events.c.id)
            .limit(BATCH)
        ).all()
        if not page:
            return
        rows = [
            {"pseudonym": pseudonym, "dataset_id": dataset, "event_id": event}
            for event, dataset, listed in page
            for pseudonym in sorted(set(listed.split()))
        ]
        if rows:
            connection.execute(sa.insert(index), rows)
        after = page[-1][0]


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS accesssubject_no_update")
        op.execute("DROP TRIGGER IF EXISTS accesssubject_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS accesssubject_append_only ON accesssubject")
    op.drop_index("ix_accessevent_dataset_subjects", table_name="accessevent")
    op.drop_table("accesssubject")
