"""A dataset's documents and its export: the Table Schema, the charter's public part, and the
whole dataset as a Frictionless data package zip, streamed.

The zip is written as it is sent (a zip writer over the CSV stream, sizes in data descriptors),
so an export of millions of rows holds one page of them at a time. Its rows come through
`hub.reading` like any read: only those the caller may read, the access logged.
"""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from hub import access, catalogue, charters, charterterms, citations, reading, selection
from hub.api import csvtext, parameters
from hub.api import records as records_api
from hub.api.auth import CallerDep
from hub.api.deps import SessionDep
from hub.api.downloads import DownloadResponse
from hub.api.guards import base_url, find_dataset
from hub.api.headers import PERSONAL
from hub.api.shapes import (
    CharterDocument,
    LicenceOut,
    PersonalDataTerms,
    Signature,
    UpcomingVersion,
    web_url,
)
from hub.config import get_settings
from hub.models import Dataset, Organization, as_utc

router = APIRouter()

PARAMETERS = ("from", "to", "bbox", "purpose")
DATA_PATH = "data/records.csv"
# Cells stay as the data holds them (a text cell may begin with = + - @): pandas, R and GDAL read
# exact values, and the package validates against its own schema. A quote put before such cells
# would change values, break patterns and keys, and could not be told from a real one; the safe
# way to open the file in a spreadsheet is said instead (README, "Records").
SPREADSHEET_NOTE = (
    "Cells are written exactly as the data holds them, so a text cell may begin with =, +, - or "
    "@. Do not open this CSV directly in a spreadsheet: import it with its text columns as text "
    "(LibreOffice: Text Import with 'Evaluate formulas' unticked; Excel: Data > From Text/CSV), "
    "so that no cell is run as a formula."
)
ZIP_CHUNK = 1 << 16  # bytes gathered before a piece of the zip is sent
PACKAGE_LICENCES = {"etalab-2.0", "ODbL-1.0", "CC-BY-4.0"}  # Open Definition / SPDX ids
# Field properties that describe how a source spelled its values; the export writes them the
# hub's one way (ISO 8601 dates, plain numbers, true/false), so they go.
SPELLING = ("format", "decimalChar", "groupChar", "bareNumber", "trueValues", "falseValues")
TEMPORAL = {"date", "datetime", "time"}


@router.get(
    "/{dataset_id}/schema",
    responses={404: {"description": "no such dataset, or one without records"}},
)
def show_schema(session: SessionDep, dataset_id: str) -> dict[str, Any]:
    """The Table Schema the dataset's records are stored under (public, like all metadata)."""
    find_dataset(session, dataset_id)
    try:
        return dict(catalogue.resource_of(session, dataset_id).schema_descriptor)
    except catalogue.NotFound as exc:
        raise HTTPException(404, f"{exc}, so no Table Schema") from None


@router.get("/{dataset_id}/charter", response_model=CharterDocument)
def show_charter(session: SessionDep, dataset_id: str) -> CharterDocument:
    """The public part of the charter version the dataset is shared under."""
    return charter_document(find_dataset(session, dataset_id))


def charter_document(dataset: Dataset) -> CharterDocument:
    """The charter version a dataset was published under, without its member list; only what
    the dataset recorded of it when the charter file is gone."""
    licence = LicenceOut(
        id=dataset.licence_id,
        title=dataset.licence_title or dataset.licence_id,
        url=dataset.licence_url,
    )
    summary: dict[str, Any] = {
        "id": dataset.charter_id,
        "version": dataset.charter_version,
        "access": access.shared_level(dataset),
        "licence": licence,
        "mandatory_mention": dataset.mandatory_mention,
    }
    charter = _charter_of(dataset)
    if charter is None:
        return CharterDocument(
            **summary,
            title=None,
            producer=None,
            gdpr_sensitive=None,
            personal_data=None,
            valid_from=None,
            valid_until=None,
            in_force=None,
            signed=None,
            schemas=None,
        )
    personal = charters.terms_of(charter)
    try:  # the rule hub.access reads by: a renewal counts at once
        current = charters.current_version(dataset.charter_id)
    except charters.CharterError:
        current = None
    term = charterterms.term(dataset.charter_id)
    upcoming = term.upcoming if term else None
    return CharterDocument(
        **summary,
        title=charter.title,
        producer=charter.producer,
        purposes=list(charter.purposes),
        gdpr_sensitive=charter.gdpr_sensitive,
        personal_data=PersonalDataTerms.of(personal) if personal else None,
        valid_from=charter.valid_from,
        valid_until=charter.valid_until,
        shared_until=term.ends if term else charter.valid_until,
        upcoming=UpcomingVersion(
            version=upcoming.version,
            valid_from=upcoming.valid_from,
            valid_until=upcoming.valid_until,
            access=upcoming.access,
            licence=_licence_of(upcoming),
        )
        if upcoming
        else None,
        in_force=current is not None,
        version_in_force=current.version
        if current and current.version != charter.version
        else None,
        file_access=charter.access if charter.access != dataset.access else None,
        signed=Signature(**charter.signed) if charter.signed else None,
        themes=list(charter.themes),
        schemas=list(charter.schemas) if charter.schemas is not None else None,
    )


def _licence_of(charter: charters.Charter) -> LicenceOut:
    """A charter version's licence as the API shows one."""
    licence = charter.licence
    return LicenceOut(
        id=licence.get("id", ""),
        title=licence.get("label") or licence.get("id", ""),
        url=licence.get("uri", ""),
    )


def _charter_of(dataset: Dataset) -> charters.Charter | None:
    """The exact charter version a dataset records, if its file can still be read."""
    try:
        versions = charters.charter_versions(dataset.charter_id)
    except charters.CharterError:
        return None
    return next((c for c in versions if c.version == dataset.charter_version), None)


@router.get(
    "/{dataset_id}/datapackage.zip",
    description="Filters as on `/records` (from, to, bbox, field filters) narrow the export.",
    openapi_extra=parameters.extra(parameters.FILTERS, *parameters.PURPOSE),
    responses={
        200: {"content": {"application/zip": {}}},
        400: {"description": "an unknown parameter, a bad filter, or over HUB_MAX_EXPORT_ROWS"},
        401: {"description": "no valid token, and the charter does not open the records to all"},
        403: {"description": "the charter does not open these records to the caller"},
        404: {"description": "no such dataset, or one without records"},
    },
)
@router.get(
    "/{dataset_id}/export.zip",
    operation_id="export_package_as_export_zip",
    summary="The same data package as datapackage.zip, at its other address",
    description="Filters as on `/records` (from, to, bbox, field filters) narrow the export.",
    openapi_extra=parameters.extra(parameters.FILTERS, *parameters.PURPOSE),
    responses={
        200: {"content": {"application/zip": {}}},
        400: {"description": "an unknown parameter, a bad filter, or over HUB_MAX_EXPORT_ROWS"},
        401: {"description": "no valid token, and the charter does not open the records to all"},
        403: {"description": "the charter does not open these records to the caller"},
        404: {"description": "no such dataset, or one without records"},
    },
)
def export_package(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    dataset_id: str,
    start: str | None = Query(None, alias="from", description="ISO 8601, inclusive"),
    end: str | None = Query(None, alias="to", description="ISO 8601, exclusive"),
    bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat (WGS84)"),
) -> StreamingResponse:
    """The dataset as a Frictionless data package: datapackage.json, the records the caller may
    read as CSV, schema.json and charter.json, in one zip streamed as it is written."""
    dataset = find_dataset(session, dataset_id)
    criteria = reading.Criteria(
        records_api.parse_moment("from", start),
        records_api.parse_moment("to", end),
        records_api.parse_box(bbox),
        filters=tuple((k, v) for k, v in request.query_params.multi_items() if k not in PARAMETERS),
    )
    if criteria.start and criteria.end and criteria.start > criteria.end:
        raise HTTPException(400, f"from ({start}) is after to ({end})")
    try:
        download = reading.stream_records(
            session, dataset, caller, criteria, None, max_rows=get_settings().max_export_rows
        )
        descriptor = catalogue.resource_of(session, dataset_id).schema_descriptor
    except records_api.READ_ERRORS as error:
        raise records_api.answer_to(error, unknown_parameter, "narrow") from None
    package = package_members(session, dataset, base_url(request), descriptor, download)
    return DownloadResponse(
        zipped(package, _stamp(dataset)),
        [download],
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{dataset_id}.zip"',
            **({"Cache-Control": PERSONAL} if dataset.access == "personal" else {}),
        },
    )


def unknown_parameter(unknown: selection.UnknownParameter) -> str:
    """The 400 of a parameter the export does not take, with what it takes."""
    return (
        f"unknown parameter {unknown.name!r}: an export takes {', '.join(PARAMETERS)} and "
        f"filters on this dataset's fields ({', '.join(unknown.fields)}) as on /records"
    )


def package_members(
    session: Session,
    dataset: Dataset,
    root: str,
    descriptor: dict[str, Any],
    download: reading.Download,
) -> list[tuple[str, bytes | Iterator[bytes]]]:
    """The files of a dataset's package, its data last (read as the zip is written)."""
    schema = exported_schema(descriptor)
    charter = charter_document(dataset)
    organization = session.get(Organization, dataset.organization_id)
    package = package_descriptor(dataset, organization, root, charter)
    version = citations.version_of(session, dataset.id)
    if version is not None:  # the last run that changed the data (hub.citations)
        package["version"] = version.label
    csv = (text.encode() for text in csvtext.csv_lines(download.layout, download.pages))
    return [
        ("datapackage.json", _json(package)),
        ("schema.json", _json(schema)),
        ("charter.json", charter.model_dump_json(indent=2).encode()),
        (DATA_PATH, csv),
    ]


def exported_schema(descriptor: dict[str, Any]) -> dict[str, Any]:
    """The records' Table Schema as the export writes them: empty cells for nulls, ISO 8601
    dates, plain numbers, true/false; no foreign keys (an export may hold only the rows its
    reader may see or asked for, which the keys of the whole table can point beyond)."""
    schema = copy.deepcopy(descriptor)
    schema["missingValues"] = [""]
    schema.pop("foreignKeys", None)
    for field in schema.get("fields", []):
        kind = field.get("type", "string")
        if kind in TEMPORAL or kind in ("number", "integer", "boolean"):
            for name in SPELLING:
                field.pop(name, None)
        if kind == "boolean":
            field["trueValues"], field["falseValues"] = ["true"], ["false"]
    return schema


def package_descriptor(
    dataset: Dataset, organization: Organization | None, root: str, charter: CharterDocument
) -> dict[str, Any]:
    """datapackage.json: the dataset, its licence and its one tabular resource."""
    publisher = organization.name if organization else dataset.organization_id
    licence: dict[str, str] = {"path": charter.licence.url, "title": charter.licence.title}
    if charter.licence.id in PACKAGE_LICENCES:
        licence["name"] = charter.licence.id
    package: dict[str, Any] = {
        "profile": "tabular-data-package",
        "name": re.sub(r"[^a-z0-9._-]+", "-", dataset.id.lower()).strip("-") or "dataset",
        "id": f"{root}api/v1/datasets/{dataset.id}",
        "title": dataset.title,
        "description": dataset.description,
        "homepage": f"{root}datasets/{dataset.id}",
        "keywords": list(dataset.keywords or []),
        "licenses": [{k: v for k, v in licence.items() if v}],
        "contributors": [{"title": publisher, "role": "publisher"}],
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "resources": [
            {
                "name": "records",
                "path": DATA_PATH,
                "profile": "tabular-data-resource",
                "title": f"{dataset.title} — records",
                "description": SPREADSHEET_NOTE,
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": "schema.json",
            }
        ],
        # Not Frictionless's: where the terms are, and who may have read which rows.
        "hub": {
            "charter": "charter.json",
            "access": access.shared_level(dataset),
            "mandatory_mention": dataset.mandatory_mention,
            "rows": "the records the exporting caller was allowed to read",
        },
    }
    if web_url(dataset.source_url):
        package["sources"] = [{"title": publisher, "path": dataset.source_url}]
    return package


class _Sink(io.RawIOBase):
    """Where the zip writer writes: bytes kept until taken, no seeking (so zipfile streams)."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        """Whether the sink takes writes (it does)."""
        return True

    def write(self, data: Any) -> int:
        """Keep a piece of the zip."""
        piece = bytes(data)
        self._parts.append(piece)
        self.size += len(piece)
        return len(piece)

    def take(self) -> bytes:
        """The bytes written since the last take."""
        taken = b"".join(self._parts)
        self._parts.clear()
        self.size = 0
        return taken


def zipped(
    members: Iterable[tuple[str, bytes | Iterator[bytes]]], stamp: tuple[int, ...]
) -> Iterator[bytes]:
    """A zip of `members`, written and sent piece by piece (Zip64, sizes after each member)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            if isinstance(content, bytes):
                archive.writestr(info, content)
            else:
                with archive.open(info, mode="w", force_zip64=True) as member:
                    for chunk in content:
                        member.write(chunk)
                        if sink.size >= ZIP_CHUNK:
                            yield sink.take()
            if sink.size >= ZIP_CHUNK:
                yield sink.take()
    yield sink.take()


def _stamp(dataset: Dataset) -> tuple[int, ...]:
    """The zip entries' time: the dataset's last publication (UTC; zip starts in 1980)."""
    moment = as_utc(dataset.published_at or dataset.modified_at)
    return max(moment.timetuple()[:6], (1980, 1, 1, 0, 0, 0))


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()
