"""The schemas' versions as the catalogue knows them: the one in force (the file in the schema
folders) and each one a dataset is still stored under, with the datasets on each.

A schema folder holds one file per name, so an older version lives on only as the descriptor a
dataset's records were stored under (its record resource keeps it whole): that is the one served.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from hub import schemas
from hub.models import Dataset, Resource
from hub.schemachanges import version_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class User:
    """A dataset on a schema, at the version its rows are stored under."""

    id: str
    title: str
    version: str


@dataclass(frozen=True)
class Entry:
    """A schema of the registry: its version in force, and the datasets on it."""

    name: str
    version: str
    title: str
    theme: str
    description: str
    datasets: list[User] = field(default_factory=list)

    @property
    def versions(self) -> list[str]:
        """Every version served: the one in force and those datasets are stored under, newest
        first."""
        known = {self.version, *(user.version for user in self.datasets if user.version)}
        return sorted(known, key=lambda v: version_of(v) or (-1, -1, -1), reverse=True)


def entries(session: Session) -> list[Entry]:
    """Every schema in the schema folders, by name; a broken file is left out, with a warning."""
    users = _users(session)
    found = []
    for name in schemas.known_schemas():
        try:
            schema = schemas.load_schema(name)
        except schemas.SchemaError as exc:
            log.warning("schema %s left out of the registry: %s", name, exc)
            continue
        found.append(_entry(schema, users.get(name, [])))
    return found


def entry(session: Session, name: str) -> Entry:
    """One schema of the registry; UnknownSchemaError or SchemaFileError when it has none."""
    return _entry(_in_force(name), _users(session, name).get(name, []))


def descriptor(session: Session, name: str, version: str) -> dict[str, Any] | None:
    """The Table Schema of one version: the file when it is the one in force, else the one a
    dataset's records are stored under; None when neither holds it."""
    try:
        schema: schemas.TableSchema | None = _in_force(name)
    except schemas.SchemaError:  # no file, or a broken one: the stored versions are still served
        schema = None
    if schema is not None and schema.version == version:
        return dict(schema.descriptor)
    stored = session.exec(
        select(Resource.schema_descriptor)
        .join(Dataset, col(Dataset.id) == col(Resource.dataset_id))
        .where(
            Dataset.schema_name == name,
            Dataset.schema_version == version,
            Resource.kind == "records",
        )
        .order_by(col(Resource.dataset_id))
    ).first()
    return dict(stored) if stored and stored.get("version") == version else None


def _in_force(name: str) -> schemas.TableSchema:
    """The schema file of a registry name (never a path a caller slipped in as a name)."""
    if name not in schemas.known_schemas():
        raise schemas.UnknownSchemaError(name, schemas.known_schemas())
    return schemas.load_schema(name)


def _entry(schema: schemas.TableSchema, users: list[User]) -> Entry:
    return Entry(
        name=schema.name,
        version=schema.version,
        title=schema.title,
        theme=schema.theme,
        description=str(schema.descriptor.get("description", "")),
        datasets=users,
    )


def _users(session: Session, name: str | None = None) -> dict[str, list[User]]:
    """The datasets on each schema, by its name, each at the version it is stored under."""
    statement = (
        select(Dataset.schema_name, Dataset.id, Dataset.title, Dataset.schema_version)
        .where(Dataset.schema_name != "")
        .order_by(col(Dataset.id))
    )
    if name is not None:
        statement = statement.where(Dataset.schema_name == name)
    found: dict[str, list[User]] = {}
    for schema_name, dataset_id, title, version in session.exec(statement).all():
        found.setdefault(schema_name, []).append(User(dataset_id, title, version or ""))
    return found
