"""consent links: the links a consent shares, fixed when it is given

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 02:00:00

A consent covered whatever the account was linked to when a service read, so a link made after
the consent (or made again after an unlink) was shared at once though its receipt does not name
it. `consentlink` holds the links a consent shares; a service reads only through them. Consents
given before this migration share the links of their datasets the account already held when it
gave them (those whose pseudonyms its receipt names); later links, relinks included, stay out.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consentlink",
        sa.Column(
            "consent_id", sa.String(length=36), sa.ForeignKey("consent.id"), primary_key=True
        ),
        sa.Column("link_id", sa.String(length=32), primary_key=True),
    )
    op.create_index("ix_consentlink_link_id", "consentlink", ["link_id"])
    op.execute(
        "INSERT INTO consentlink (consent_id, link_id) "
        "SELECT DISTINCT c.id, l.id FROM consent c "
        "JOIN consentdataset d ON d.consent_id = c.id "
        "JOIN subjectlink l ON l.account = c.account AND l.dataset_id = d.dataset_id "
        "WHERE l.created_at <= c.created_at"
    )


def downgrade() -> None:
    op.drop_table("consentlink")
