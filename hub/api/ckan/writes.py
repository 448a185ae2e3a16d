"""CKAN's writing actions, for operators: packages and resources become metadata batches, datastore
rows record batches, and every one goes through the publish gate (`hub.catalogue.publish`) under
the charter in force, as a harvested batch does — the CKAN API is one more way in, not a way
around the checks.

An operator writes only for the organizations its token names; nobody else writes a dataset, its
rows or withdrawals, admins included (they create organizations and read the access log; the
rows of personal and crisis datasets are not theirs to change or probe). The charter must name
that organization as producer and cover the theme, and rows are validated against the dataset's
schema, invalid ones quarantined and reported in the result.
"""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl
from sqlmodel import Session, col, select

from hub import (
    access,
    catalogue,
    charterdays,
    charters,
    credits,
    jsontext,
    metadatalimits,
    schemas,
    withdrawal,
)
from hub.access import Actor
from hub.api.ckan import datastore, packages
from hub.api.ckan.errors import (
    ActionError,
    NotAuthorized,
    NotFound,
    ValidationError,
    as_text,
    echoed,
    require_text,
)
from hub.api.shapes import THEMES
from hub.batches import Batch, FileResource, MetadataBatch, PortalDataset, Publisher
from hub.db import get_engine
from hub.models import Dataset, HarvestRun, Organization, Resource

NAME = re.compile(r"[a-z0-9_-]{2,100}")
URL = re.compile(r"https?://\S+", re.IGNORECASE)
ERRORS_SHOWN = 100  # a push's quarantined rows listed in its result (all are in the quarantine)


class Failed(ActionError):
    """The gate could not store a batch (the database, say): CKAN's 500, with the run named."""

    status, kind = 500, "Internal Server Error"


def check_writer(actor: Actor, organization_id: str) -> None:
    """Only an operator of the organization writes its datasets."""
    if actor.anonymous:
        raise NotAuthorized("writing needs an operator's API token")
    if not actor.operates(organization_id):
        raise NotAuthorized(
            f"this token may not write for organization {organization_id!r} "
            "(an operator writes for the organizations its token names)"
        )


# --- packages and resources --------------------------------------------------------------------


def create_package(session: Session, actor: Actor, base: str, data: dict[str, Any]) -> Any:
    """package_create: a new dataset, its metadata and linked files."""
    name = require_text(data, "name")
    if not NAME.fullmatch(name):
        raise ValidationError(
            {
                "name": [
                    "Must be purely lowercase alphanumeric (ascii) characters and these "
                    "symbols: -_ (2 to 100 characters)"
                ]
            }
        )
    if session.get(Dataset, name) is not None:
        raise ValidationError({"name": ["That URL is already in use."]})
    return _save(session, actor, base, data, None)


def update_package(session: Session, actor: Actor, base: str, data: dict[str, Any]) -> Any:
    """package_update: the dataset's metadata and files replaced by those given."""
    existing = _existing(session, require_text(data, "id", "name"))
    return _save(session, actor, base, data, existing)


def patch_package(session: Session, actor: Actor, base: str, data: dict[str, Any]) -> Any:
    """package_patch: the fields given replace the dataset's, the others stay."""
    existing = _existing(session, require_text(data, "id", "name"))
    current = packages.load_package(session, existing, base)
    return _save(session, actor, base, {**current, **data}, existing)


def create_resource(session: Session, actor: Actor, base: str, data: dict[str, Any]) -> Any:
    """resource_create: one more linked file of a dataset."""
    existing = _existing(session, require_text(data, "package_id"))
    if data.get("upload") not in (None, ""):
        raise ValidationError({"upload": ["the hub links files by URL; it does not store uploads"]})
    current = packages.load_package(session, existing, base)
    package = _save(
        session, actor, base, {**current, "resources": [*current["resources"], data]}, existing
    )
    return [r for r in package["resources"] if r.get("resource_type") == "file"][-1]


def _existing(session: Session, name: str) -> Dataset:
    dataset = session.get(Dataset, name)
    if dataset is None:
        raise NotFound(f"Dataset {echoed(name)} was not found")
    return dataset


def _save(
    session: Session, actor: Actor, base: str, data: dict[str, Any], existing: Dataset | None
) -> Any:
    """Publish a package's metadata as a one-dataset metadata batch, then show it."""
    organization_id = as_text(data, "owner_org") or (existing.organization_id if existing else "")
    if not organization_id:
        raise ValidationError({"owner_org": ["Missing value"]})
    check_writer(actor, organization_id)
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise ValidationError({"owner_org": ["Organization does not exist"]})
    if existing is not None and existing.organization_id != organization_id:
        raise ValidationError({"owner_org": ["a dataset stays with the organization that made it"]})
    extras = _extras(data)
    theme = _theme(data, extras, existing)
    name = existing.id if existing else require_text(data, "name")
    entry = PortalDataset(
        id=name,
        title=as_text(data, "title") or (existing.title if existing else name),
        description=as_text(data, "notes"),
        keywords=_tags(data),
        landing_page=_url(as_text(data, "url"), "url") if data.get("url") else "",
        resources=[_file(r, i) for i, r in enumerate(_files(data))],
        credits=_credits(data, extras, organization),
    )
    too_long = metadatalimits.problems(entry.title, entry.description, entry.keywords)
    if too_long:  # refused, not cut: the caller can shorten it (a harvest's is cut and noted)
        keys = {"title": "title", "description": "notes", "keywords": "tags"}
        raise ValidationError({keys[field]: [why] for field, why in too_long.items()})
    charter = _charter_for(extras, data, existing, organization_id, theme)
    batch = MetadataBatch(
        dataset_id=name,
        title=entry.title,
        publisher=Publisher(organization.id, organization.name, organization.kind),
        theme=theme,
        charter=charter,
        description=entry.description,
        keywords=entry.keywords,
        source_url=entry.landing_page,
        datasets=[entry],
    )
    _publish(batch)
    session.expire_all()  # the gate wrote through its own connection
    saved = _existing(session, name)
    # As package_show shows it to this caller (the same gate as every read).
    return packages.load_package(session, saved, base, access.sees_computed(saved, actor))


def _credits(
    data: dict[str, Any], extras: dict[str, str], organization: Organization
) -> dict[str, str] | None:
    """The package's author, maintainer, citation and DOI (extras), as the dataset's own
    credits; what package_show fills in from the organization (a package sent back as shown)
    is not the dataset's own."""
    email = as_text(data, "maintainer_email") or as_text(data, "author_email")
    if email and not credits.valid_email(email.strip()):
        raise ValidationError({"maintainer_email": ["not an e-mail address"]})

    def own(value: str, organizations: str) -> str:
        return "" if value.strip() == organizations else value

    return credits.declared(
        creator=own(as_text(data, "author"), organization.name),
        contact_name=own(as_text(data, "maintainer"), organization.name),
        contact_email=own(email, organization.email),
        citation=extras.get("citation", ""),
        doi=extras.get("doi", ""),
    ).stored()


def _files(data: dict[str, Any]) -> list[Any]:
    """The linked files among a package's resources: its records and grids are the hub's own
    (they come from pushed rows and harvests), so a package sent back as shown keeps them."""
    return [
        r
        for r in _list(data, "resources")
        if not (isinstance(r, dict) and r.get("resource_type") in ("api", "grid"))
    ]


def _extras(data: dict[str, Any]) -> dict[str, str]:
    extras = {}
    for item in _list(data, "extras"):
        if not isinstance(item, dict) or "key" not in item:
            raise ValidationError({"extras": ["each extra is an object with a key and a value"]})
        extras[str(item["key"])] = str(item.get("value", ""))
    return extras


def _theme(data: dict[str, Any], extras: dict[str, str], existing: Dataset | None) -> str:
    """The dataset's theme: its one group, the `theme` extra, or the theme it has."""
    groups = [g.get("name") if isinstance(g, dict) else g for g in _list(data, "groups")]
    chosen = [g for g in groups if g in THEMES] or ([extras["theme"]] if "theme" in extras else [])
    theme = chosen[0] if chosen else (existing.theme if existing else "")
    if theme not in THEMES or len(set(chosen)) > 1:
        raise ValidationError(
            {"groups": [f"name one theme, as a group or the `theme` extra: {', '.join(THEMES)}"]}
        )
    return theme


def _charter_for(
    extras: dict[str, str],
    data: dict[str, Any],
    existing: Dataset | None,
    producer: str,
    theme: str,
) -> str:
    """The charter named (the `charter` extra), the dataset's own, or the producer's only
    charter in force for the theme."""
    named = extras.get("charter") or as_text(data, "charter")
    if named:
        return named
    if existing is not None:
        return existing.charter_id
    today = charterdays.today()
    fitting = []
    for charter_id in charters.known_charters():
        try:
            charter = charters.load_charter(charter_id, today)
        except charters.CharterError:
            continue
        if charter.producer == producer and theme in charter.themes:
            fitting.append(charter_id)
    if len(fitting) != 1:
        found = ", ".join(fitting) or "none"
        raise ValidationError(
            {
                "extras": [
                    f"name the charter as the `charter` extra (in force for {producer} "
                    f"and {theme}: {found})"
                ]
            }
        )
    return fitting[0]


def _tags(data: dict[str, Any]) -> list[str]:
    names = []
    for tag in _list(data, "tags"):
        name = tag.get("name") if isinstance(tag, dict) else tag
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise ValidationError({"tags": ["each tag has a name of 1 to 100 characters"]})
        names.append(name.strip())
    return sorted(set(names))


def _file(resource: Any, position: int) -> FileResource:
    if not isinstance(resource, dict):
        raise ValidationError({"resources": [f"resource {position} is not an object"]})
    url = _url(str(resource.get("url") or ""), "resources")
    return FileResource(
        name=str(resource.get("name") or ""),
        url=url,
        format=str(resource.get("format") or ""),
        description=str(resource.get("description") or ""),
    )


def _url(url: str, key: str) -> str:
    """A link anyone can follow: http or https (no javascript:, file: or data: URLs)."""
    if not URL.fullmatch(url.strip()):
        raise ValidationError({key: [f"not an http(s) URL: {echoed(url, 200)}"]})
    return url.strip()


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value in (None, ""):
        return []
    if isinstance(value, str):  # a form field holding JSON, as CKAN's forms send it
        try:
            value = jsontext.loads(value)
        except ValueError:
            raise ValidationError({key: ["expected a list"]}) from None
    if not isinstance(value, list):
        raise ValidationError({key: ["expected a list"]})
    return value


def _publish(batch: Batch | MetadataBatch) -> HarvestRun:
    """Through the gate; its refusal or rejection in CKAN's error shape."""
    try:
        return catalogue.publish(batch, engine=get_engine())
    except catalogue.PublishRefused as refused:
        raise ValidationError({"charter": [refused.reason]}) from None
    except catalogue.BatchRejected as rejected:
        shown = [
            f"record {e['record']}: {e['field'] or 'row'}: {e['message']}"
            for e in _row_errors(rejected.report)[:ERRORS_SHOWN]
        ]
        raise ValidationError({"records": [rejected.reason, *shown]}) from None
    except catalogue.PublishFailed as failed:
        raise Failed(f"run {failed.run_id} failed: {failed.reason}") from None


# --- datastore: pushing rows -------------------------------------------------------------------


def create_datastore(session: Session, actor: Actor, base: str, data: dict[str, Any]) -> Any:
    """datastore_create: a dataset's record table, under a hub schema, with its first rows."""
    resource_id = as_text(data, "resource_id")
    resource = data.get("resource")
    if resource_id:
        dataset = _dataset_of_resource(session, resource_id)
    elif isinstance(resource, dict) and resource.get("package_id"):
        dataset = _existing(session, str(resource["package_id"]))
    else:
        raise ValidationError({"resource_id": ["Missing value: or resource.package_id"]})
    check_writer(actor, dataset.organization_id)
    schema = _schema_of(dataset, as_text(data, "schema"))
    fields = _list(data, "fields")
    unknown = [
        f.get("id") if isinstance(f, dict) else f
        for f in fields
        if not isinstance(f, dict) or f.get("id") not in schema.fields
    ]
    if unknown:
        raise ValidationError(
            {
                "fields": [
                    f"{echoed(unknown[0])} is not a field of schema {schema.name}: "
                    f"{', '.join(schema.fields)}"
                ]
            }
        )
    key = data.get("primary_key")
    wanted = [key] if isinstance(key, str) else key
    if wanted and list(wanted) != list(schema.descriptor.get("primaryKey", [])):
        raise ValidationError(
            {
                "primary_key": [
                    f"schema {schema.name} keys rows on {schema.descriptor.get('primaryKey')}"
                ]
            }
        )
    return _push(session, dataset, schema, _list(data, "records"), "insert")


def upsert_datastore(session: Session, actor: Actor, base: str, data: dict[str, Any]) -> Any:
    """datastore_upsert: rows inserted or updated on the schema's primary key (idempotent)."""
    dataset = _dataset_of_resource(session, require_text(data, "resource_id"))
    check_writer(actor, dataset.organization_id)
    method = as_text(data, "method") or "upsert"
    if method != "upsert":
        raise ValidationError(
            {"method": [f"the hub upserts on the schema's primary key; {method!r} is not taken"]}
        )
    schema = _schema_of(dataset, "")
    return _push(session, dataset, schema, _list(data, "records"), method)


def delete_datastore(session: Session, actor: Actor, base: str, data: dict[str, Any]) -> Any:
    """datastore_delete: the rows `filters` select withdrawn (hub.withdrawal). CKAN drops the
    whole table when filters are missing; the hub asks for them, and takes `{}` for every row
    (the resource and its schema stay, so the operator can push again)."""
    resource_id = require_text(data, "resource_id")
    dataset = _dataset_of_resource(session, resource_id)
    check_writer(actor, dataset.organization_id)
    given = data.get("filters")
    if isinstance(given, str):  # a form field holding JSON
        try:
            given = jsontext.loads(given)
        except ValueError:
            raise ValidationError({"filters": ["not a JSON object"]}) from None
    if given is None:
        raise ValidationError(
            {
                "filters": [
                    "Missing value: name the rows to withdraw ({field: value or [values]}); "
                    "{} withdraws every row of the resource"
                ]
            }
        )
    if not isinstance(given, dict):
        raise ValidationError({"filters": ["filters must be a dict: {field: value or [values]}"]})
    pairs = datastore.filter_pairs({"filters": given})
    try:
        done = withdrawal.withdraw(get_engine(), dataset.id, pairs, f"token {actor.id}")
    except withdrawal.WithdrawalRefused as refused:
        raise ValidationError({"filters": [str(refused)]}) from None
    except withdrawal.WithdrawalFailed as failed:
        raise Failed(f"run {failed.run_id} failed: {failed.reason}") from None
    session.expire_all()  # the withdrawal wrote through its own connection
    return {
        "resource_id": resource_id,
        "filters": given,
        "deleted": done.rows,
        "run": done.run_id,
    }


def _dataset_of_resource(session: Session, resource_id: str) -> Dataset:
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise NotFound(f"Resource {echoed(resource_id)} was not found")
    if resource.kind != "records":
        raise ValidationError(
            {
                "resource_id": [
                    f"resource {resource_id!r} links a file: rows go to a records resource"
                ]
            }
        )
    dataset = session.get(Dataset, resource.dataset_id)
    assert dataset is not None  # a resource's dataset is its foreign key
    return dataset


def _schema_of(dataset: Dataset, named: str) -> schemas.TableSchema:
    name = dataset.schema_name or named
    if not name:
        raise ValidationError(
            {
                "schema": [
                    f"dataset {dataset.id!r} has no schema yet: name the hub schema its "
                    "rows follow (`schema`)"
                ]
            }
        )
    if named and dataset.schema_name and named != dataset.schema_name:
        raise ValidationError(
            {"schema": [f"dataset {dataset.id!r} is stored under {dataset.schema_name}"]}
        )
    try:
        return schemas.load_schema(name)
    except schemas.UnknownSchemaError as unknown:
        raise ValidationError({"schema": [str(unknown)]}) from None


def _push(
    session: Session,
    dataset: Dataset,
    schema: schemas.TableSchema,
    rows: list[Any],
    method: str,
) -> dict[str, Any]:
    """Rows through the gate as a record batch; the result counts and lists what happened."""
    frame = _frame(rows, schema)
    organization = session.get(Organization, dataset.organization_id)
    assert organization is not None
    batch = Batch(
        dataset_id=dataset.id,
        title=dataset.title,
        publisher=Publisher(organization.id, organization.name, organization.kind),
        theme=dataset.theme,
        charter=dataset.charter_id,
        description=dataset.description,
        keywords=list(dataset.keywords or []),
        source_url=dataset.source_url,
        schema=schema.name,
        chunks=[frame],
    )
    run = _publish(batch)
    session.expire_all()
    resource = session.exec(
        select(Resource).where(Resource.dataset_id == dataset.id, col(Resource.kind) == "records")
    ).first()
    errors = _row_errors(run.report)
    return {
        "resource_id": resource.id if resource else None,
        "method": method,
        "fields": [
            {
                "id": name,
                "type": packages.ckan_type(schema.field_descriptor(name).get("type")),
                "info": datastore.field_info(schema.field_descriptor(name)),
            }
            for name in schema.fields
        ],
        "primary_key": schema.descriptor.get("primaryKey", []),
        "run": run.id,
        "status": run.status,
        "published": run.rows_published,
        "updated": run.rows_updated,
        "unchanged": run.rows_skipped,
        "quarantined": run.rows_quarantined,
        "errors": errors[:ERRORS_SHOWN],
    }


def _frame(rows: list[Any], schema: schemas.TableSchema) -> pl.DataFrame:
    """Pushed records as the gate's text columns; `_row` counts as frictionless does (first
    record = row 2), so record i's errors name row i + 2.

    A field left out or null is CKAN's null: the field's missing value (an empty cell), never a
    null cell, which the gate reads as a cell the row does not have (a CSV row cut short) and
    reports as a missing cell. A required field so left out fails its `required` constraint.
    """
    columns: dict[str, list[str]] = {name: [] for name in schema.fields}
    blanks = {name: schema.missing_value(name) for name in schema.fields}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValidationError({"records": [f"record {index} is not an object"]})
        unknown = sorted(set(row) - set(columns))
        if unknown:
            raise ValidationError(
                {
                    "records": [
                        f"record {index}: {echoed(unknown[0])} is not a field of schema "
                        f"{schema.name}"
                    ]
                }
            )
        for name, values in columns.items():
            cell = _cell(row.get(name))
            values.append(blanks[name] if cell is None else cell)
    frame = pl.DataFrame(columns, schema={name: pl.Utf8 for name in columns})
    return frame.with_columns(pl.Series("_row", range(2, len(rows) + 2), dtype=pl.Int64))


def _cell(value: Any) -> str | None:
    """A JSON value as the text a CSV cell would hold (null: none)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _row_errors(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A run report's row errors, each naming the record (0-based) it concerns."""
    errors = []
    for task in (report or {}).get("tasks", []):
        for error in task.get("errors", []):
            row = error.get("rowNumber")
            errors.append(
                {
                    "record": row - 2 if isinstance(row, int) else None,
                    "field": error.get("fieldName"),
                    "type": error.get("type"),
                    "message": error.get("message"),
                }
            )
    return errors
