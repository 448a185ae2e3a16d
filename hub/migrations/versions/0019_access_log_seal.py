"""access log entries sealed with the hub's key

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 10:00:00

`hash` is a plain SHA-256 chain that anyone with write access to the database could recompute
after an edit. From now on each entry also carries `mac`, an HMAC-SHA256 of its hash under the
hub's secret key (`hub.auditanchor.seal`), which nobody without the key can forge. Entries
written before this migration keep an empty `mac`: they still verify by their SHA-256 chain, and
the first sealed entry (whose hash covers theirs through `prev_hash`) marks where the keyed chain
starts. `hub audit verify` refuses an unsealed entry after a sealed one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "accessevent",
        sa.Column("mac", sa.String(length=64), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("accessevent", "mac")  # SQLite >= 3.35 drops it in place, triggers kept
