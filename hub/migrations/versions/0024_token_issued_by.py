"""token issued_by: the token that issued a token through the organization's self-service

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 12:00:00

A token issued with a token (/api/v1/org/tokens, the Tokens page, CKAN's api_token_create)
outlived the revocation of the token that minted it, and nothing but the access log said which
one that was. `apitoken.issued_by` names it (null for the admin's `hub token` and for tokens
issued before this migration), so that a leaked token is revoked with every token it issued.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apitoken") as batch:
        batch.add_column(sa.Column("issued_by", sa.String(length=32), nullable=True))
        batch.create_index("ix_apitoken_issued_by", ["issued_by"])


def downgrade() -> None:
    with op.batch_alter_table("apitoken") as batch:
        batch.drop_index("ix_apitoken_issued_by")
        batch.drop_column("issued_by")
