"""/api/v1/schemas: the read-only schema registry, for the builders of services on the data.

Each schema with its version in force and the datasets on it at their version; each version at
a stable URL (`/api/v1/schemas/NAME/VERSION`), which is also the IRI DCAT names the standard by.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from hub import schemas, schemaversions
from hub.api.deps import SessionDep
from hub.api.guards import base_url

router = APIRouter(prefix="/api/v1/schemas", tags=["schemas"])


class SchemaVersionOut(BaseModel):
    version: str
    url: str  # the Table Schema of this version


class SchemaUserOut(BaseModel):
    id: str
    title: str
    version: str  # the schema version the dataset's rows are stored under
    url: str  # the dataset in the REST API


class SchemaOut(BaseModel):
    name: str
    version: str  # the version in force: what a new batch is checked against
    title: str
    theme: str
    description: str
    url: str  # the Table Schema of the version in force, at its versioned URL
    versions: list[SchemaVersionOut]  # in force and still used, newest first
    datasets: list[SchemaUserOut]


class SchemaPage(BaseModel):
    count: int
    schemas: list[SchemaOut]


def version_url(base: str, name: str, version: str) -> str:
    """The stable URL of one version of a schema (its DCAT `dct:Standard` IRI too)."""
    return f"{base}api/v1/schemas/{quote(name, safe='')}/{quote(version, safe='')}"


@router.get("", response_model=SchemaPage)
def list_schemas(request: Request, session: SessionDep) -> SchemaPage:
    """Every schema with its version in force, title and theme, and the datasets on it."""
    found = [_described(entry, base_url(request)) for entry in schemaversions.entries(session)]
    return SchemaPage(count=len(found), schemas=found)


@router.get("/{name}", response_model=SchemaOut, responses={404: {"description": "no such schema"}})
def describe_schema(request: Request, session: SessionDep, name: str) -> SchemaOut:
    """One schema: its version in force, the versions still used and the datasets on each."""
    try:
        return _described(schemaversions.entry(session, name), base_url(request))
    except schemas.UnknownSchemaError as exc:
        raise HTTPException(404, str(exc)) from None
    except schemas.SchemaFileError as exc:
        raise HTTPException(404, f"schema {name!r} cannot be loaded: {exc.problems[0]}") from None


@router.get(
    "/{name}/{version}",
    responses={404: {"description": "neither in force nor used by a dataset"}},
)
def show_schema_version(session: SessionDep, name: str, version: str) -> dict[str, Any]:
    """The Table Schema of one version: in force, or one a dataset is still stored under."""
    descriptor = schemaversions.descriptor(session, name, version)
    if descriptor is None:
        raise HTTPException(
            404, f"no version {version!r} of schema {name!r} is in force or used by a dataset"
        )
    return descriptor


def _described(entry: schemaversions.Entry, base: str) -> SchemaOut:
    return SchemaOut(
        name=entry.name,
        version=entry.version,
        title=entry.title,
        theme=entry.theme,
        description=entry.description,
        url=version_url(base, entry.name, entry.version),
        versions=[
            SchemaVersionOut(version=v, url=version_url(base, entry.name, v))
            for v in entry.versions
        ],
        datasets=[
            SchemaUserOut(
                id=user.id,
                title=user.title,
                version=user.version,
                url=f"{base}api/v1/datasets/{quote(user.id, safe='')}",
            )
            for user in entry.datasets
        ],
    )
