"""contacts and credits: an organization's e-mail and website, a dataset's creator, contact,
citation and DOI

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 18:00:00

Reusers had nobody to ask about a figure (the DCAT contact point was a link back to the hub's
own search), and an EML's creator, contact, citation and DOI were dropped. `organization.email`
and `organization.website` (empty when undeclared) come from the source file's `operator`, CKAN's
organization_create; `dataset.credits` (JSON, null when nothing is declared) keeps what the feed
says of its dataset's authorship: `creator`, `contact_name`, `contact_email`, `citation`, `doi`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.add_column(
            sa.Column("email", sa.String(length=254), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("website", sa.String(), nullable=False, server_default=""))
    with op.batch_alter_table("dataset") as batch:
        batch.add_column(sa.Column("credits", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset") as batch:
        batch.drop_column("credits")
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("website")
        batch.drop_column("email")
