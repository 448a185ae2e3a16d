"""catalogue sessions kept server-side, so signing out ends them

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 09:00:00

A session cookie was a signed, stateless value: signing out only asked the browser to drop it,
and a copy kept working until its expiry. `signin` holds one row per open session (its random
id, the token it was opened with, its end); the cookie names the row, signing out deletes it,
revoking a token deletes its rows. Cookies signed before this change name no row: their holders
sign in again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_signin_token_id", "signin", ["token_id"])
    op.create_index("ix_signin_expires_at", "signin", ["expires_at"])


def downgrade() -> None:
    op.drop_table("signin")
