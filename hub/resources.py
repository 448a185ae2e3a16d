"""Resource registration: a dataset's record table, its stored grid, or the files it links to.

Called by the publish gate only, inside its transaction.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from hub import atoms, records, schemachanges
from hub.batches import FileResource, GridBatch
from hub.models import Dataset, QuarantinedRow, Resource, utcnow

RECORDS, GRID, FILE = "records", "grid", "file"


class ResourceConflict(ValueError):
    """A resource that cannot take this batch (its dataset is stored with other fields)."""


def register_records(
    session: Session, dataset: Dataset, descriptor: dict[str, Any], url: str
) -> Resource:
    """The dataset's record resource, created on its first batch.

    Its fields may then only grow as a minor schema version grows them: the stored rows keep
    their values and have the new fields empty. Any other change of fields is refused
    (`_not_extended` says why), as the stored rows could no longer be read as the schema says;
    so are a MAJOR, an older or a narrowing version (`schemachanges.refusal`), which the
    stored rows were never checked against.
    """
    resource = session.exec(
        select(Resource).where(Resource.dataset_id == dataset.id, Resource.kind == RECORDS)
    ).first()
    if resource is None:
        resource = Resource(
            id=f"{dataset.id}-records"[:64],
            dataset_id=dataset.id,
            name=f"{dataset.title} — records",
            kind=RECORDS,
            table_name=records.table_name_for(dataset.id),
            schema_descriptor=descriptor,
            url=url,
        )
    elif resource.schema_descriptor != descriptor:
        stored = resource.schema_descriptor
        why = _not_extended(stored, descriptor) if _shape(stored) != _shape(descriptor) else ""
        if why:
            raise ResourceConflict(
                f"dataset {dataset.id!r} is stored with other fields than schema "
                f"{dataset.schema_name} {dataset.schema_version} ({why}); "
                "publish it as a new dataset"
            )
        why = schemachanges.refusal(
            session.connection(), resource.table_name or "", stored, descriptor
        )
        if why:
            raise ResourceConflict(
                f"dataset {dataset.id!r} stays on schema {dataset.schema_name} "
                f"{stored.get('version', '')}: {dataset.schema_name} {why}; "
                "publish it as a new dataset"
            )
        resource.modified_at = utcnow()  # new columns or constraints: the distribution changed
    resource.schema_descriptor, resource.url = descriptor, url
    session.add(resource)
    session.flush()
    return resource


def register_grid(
    session: Session, dataset: Dataset, batch: GridBatch, stored: Path, digest: str
) -> Resource:
    """The dataset's grid resource, pointing at the stored file and describing what it holds."""
    resource = session.get(Resource, f"{dataset.id}-grid"[:64]) or Resource(
        id=f"{dataset.id}-grid"[:64],
        dataset_id=dataset.id,
        name=f"{dataset.title} — grid",
        kind=GRID,
        schema_descriptor={},
        format="NetCDF",
    )
    resource.url = batch.source_url
    resource.details = {
        "file": stored.name,
        "sha256_prefix": digest,  # the start of the content hash, which names the file
        "size": stored.stat().st_size,
        "variables": [
            {
                "name": v.name,
                "units": v.units,
                "long_name": v.long_name,
                "dimensions": list(v.dimensions),
            }
            for v in batch.variables
        ],
        "dimensions": dict(batch.dimensions),
        "bbox": batch.bbox,
        "time_min": batch.time_min.isoformat() if batch.time_min else None,
        "time_max": batch.time_max.isoformat() if batch.time_max else None,
        "attributes": dict(batch.attributes),
    }
    resource.modified_at = utcnow()
    session.add(resource)
    session.flush()
    return resource


def register_files(session: Session, dataset: Dataset, files: list[FileResource]) -> int:
    """The dataset's linked files, as the portal lists them now; returns how many changed."""
    existing = {
        r.id: r
        for r in session.exec(
            select(Resource).where(Resource.dataset_id == dataset.id, Resource.kind == FILE)
        ).all()
    }
    changed, kept = 0, set()
    for position, file in enumerate(files):
        resource_id = _file_resource_id(dataset.id, position)
        resource = existing.get(resource_id) or Resource(
            id=resource_id, dataset_id=dataset.id, name="", kind=FILE, schema_descriptor={}
        )
        details = {
            "description": file.description,
            "size": file.size,
            "modified": file.modified.isoformat() if file.modified else None,
        }
        fresh = (file.name or file.url, file.url, (file.format or "")[:100], details)
        if (resource.name, resource.url, resource.format, resource.details) != fresh:
            resource.name, resource.url, resource.format, resource.details = fresh
            resource.position, resource.modified_at = position, utcnow()
            session.add(resource)
            changed += 1
        kept.add(resource_id)
    for resource_id, resource in existing.items():
        if resource_id not in kept:  # gone from the portal: gone from the hub
            session.delete(resource)
            changed += 1
    session.flush()
    return changed


def remove_all(session: Session, dataset_id: str) -> None:
    """Forget every resource of a withdrawn dataset: a record table is dropped with its rows,
    and the rows its batches quarantined go too (runs stay: they are the dataset's history)."""
    for resource in session.exec(select(Resource).where(Resource.dataset_id == dataset_id)).all():
        if resource.kind == RECORDS and resource.table_name:
            layout = records.layout_for(
                resource.table_name, resource.schema_descriptor, sa.MetaData()
            )
            records.drop_table(session.connection(), layout)
            atoms.forget(session.connection(), dataset_id)
        session.delete(resource)
    session.execute(sa.delete(QuarantinedRow).where(col(QuarantinedRow.dataset_id) == dataset_id))
    session.flush()


def lists_files(session: Session, dataset_id: str) -> bool:
    """Whether a dataset links to files (a portal lists it)."""
    found = select(Resource.id).where(Resource.dataset_id == dataset_id, Resource.kind == FILE)
    return session.exec(found).first() is not None


def holds_data(session: Session, dataset_id: str) -> bool:
    """Whether a dataset has records or a grid stored (not only links to files)."""
    found = select(Resource.id).where(
        Resource.dataset_id == dataset_id, col(Resource.kind).in_([RECORDS, GRID])
    )
    return session.exec(found).first() is not None


def _file_resource_id(dataset_id: str, position: int) -> str:
    """A file resource's id: readable, and unique even for datasets whose ids start alike."""
    digest = hashlib.sha256(dataset_id.encode()).hexdigest()[:10]
    return f"{dataset_id[:40]}-{digest}-f{position}"


def _shape(descriptor: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["name"], f.get("type", "string")) for f in descriptor.get("fields", [])]


def _not_extended(stored: dict[str, Any], new: dict[str, Any]) -> str:
    """Why `new` does not merely add fields to `stored` (empty when it does).

    It may add optional fields, anywhere, as long as every stored field keeps its name, type
    and column, and the primary key stays. A table without a primary key keys its rows by a
    hash of all their fields, which a new field would change: it takes none.
    """
    old_types, new_types = dict(_shape(stored)), dict(_shape(new))
    for name, kind in old_types.items():
        if name not in new_types:
            return f"the stored field {name!r} is gone"
        if new_types[name] != kind:
            return f"the stored field {name!r} is now {new_types[name]!r}, not {kind!r}"
    old_columns = records.column_names(stored.get("fields", []))
    new_columns = records.column_names(new.get("fields", []))
    if any(new_columns[name] != column for name, column in old_columns.items()):
        return "the stored fields would be stored in other columns"
    key = _primary_key(stored)
    if not key:
        return "rows without a primary key cannot take new fields"
    if _primary_key(new) != key:
        return "the primary key changed"
    for field in new.get("fields", []):
        if field["name"] not in old_types and (field.get("constraints") or {}).get("required"):
            return f"the new field {field['name']!r} is required, and stored rows have none"
    return ""


def _primary_key(descriptor: dict[str, Any]) -> list[str]:
    key = descriptor.get("primaryKey") or []
    return [key] if isinstance(key, str) else list(key)
