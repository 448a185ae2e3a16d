"""self data: services, subject links, link attempts, consents, and the subjects of access events

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:00:00

Tokens gain the subject account or registered service they speak for. Access events gain the
subjects a read of personal rows covered: `subjects` (chained: "", "*" or a Merkle root) and
`subject_list` (the pseudonyms). The access log's append-only triggers stay: columns are added
in place (no table rebuild, which would drop them on SQLite), with defaults for past entries.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("apitoken", sa.Column("account", sa.String(length=64), nullable=True))
    op.add_column("apitoken", sa.Column("service_id", sa.String(length=64), nullable=True))
    op.create_index("ix_apitoken_account", "apitoken", ["account"])
    op.add_column(
        "accessevent",
        sa.Column("subjects", sa.String(length=64), nullable=False, server_default=""),
    )
    op.add_column(
        "accessevent", sa.Column("subject_list", sa.Text(), nullable=False, server_default="")
    )
    op.create_table(
        "service",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("organization", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "subjectlink",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("producer", sa.String(length=100), nullable=False),
        sa.Column("dataset_id", sa.String(length=100), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account", "dataset_id", "pseudonym"),
    )
    op.create_index("ix_subjectlink_account", "subjectlink", ["account"])
    op.create_index("ix_subjectlink_dataset_account", "subjectlink", ["dataset_id", "account"])
    op.create_table(
        "linkattempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("dataset_id", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_linkattempt_account_at", "linkattempt", ["account", "at"])
    op.create_index("ix_linkattempt_dataset_at", "linkattempt", ["dataset_id", "at"])
    op.create_table(
        "consent",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("producer", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=False),
        sa.Column("receipt_hash", sa.String(length=80), nullable=False),
    )
    op.create_index("ix_consent_account", "consent", ["account"])
    op.create_index("ix_consent_service_purpose", "consent", ["service_id", "purpose"])
    op.create_table(
        "consentdataset",
        sa.Column(
            "consent_id", sa.String(length=36), sa.ForeignKey("consent.id"), primary_key=True
        ),
        sa.Column("dataset_id", sa.String(length=100), primary_key=True),
    )
    op.create_index("ix_consentdataset_dataset_id", "consentdataset", ["dataset_id"])


def downgrade() -> None:
    op.drop_table("consentdataset")
    op.drop_table("consent")
    op.drop_table("linkattempt")
    op.drop_table("subjectlink")
    op.drop_table("service")
    op.drop_column("accessevent", "subject_list")
    op.drop_column("accessevent", "subjects")
    op.drop_index("ix_apitoken_account", "apitoken")
    op.drop_column("apitoken", "service_id")
    op.drop_column("apitoken", "account")
