"""harvestrun flow_run_id, flow_run_api: the Prefect flow run a harvest ran in

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 12:10:00

A harvest whose process died (kill -9, a worker stopped, the database lost) is failed by the
hub's recovery, but its Prefect flow run stayed "Running" for ever, and under a work-pool
concurrency limit those zombies took every slot. The run now names its flow run and the
Prefect API it reported to, so that the recovery ends that flow run as Crashed too.
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvestrun") as batch:
        batch.add_column(sa.Column("flow_run_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("flow_run_api", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("harvestrun") as batch:
        batch.drop_column("flow_run_api")
        batch.drop_column("flow_run_id")
