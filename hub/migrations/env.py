"""Alembic environment: migrates the catalogue tables on the connection `hub.db.upgrade` gives."""

from alembic import context
from sqlmodel import SQLModel

import hub.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    # Record tables are built at run time from Table Schemas, not migrated.
    include_name=lambda name, type_, parent: type_ != "table" or not str(name).startswith("rec_"),
)
with context.begin_transaction():
    context.run_migrations()
