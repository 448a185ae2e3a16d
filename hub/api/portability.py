"""A data subject's export (GDPR art. 20) as one Frictionless data package zip.

Each linked dataset's rows come through `hub.reading` like any read (the subject's rows only,
the access logged), then the subject's consents and their access log — which by then holds the
export's own reads. Every resource is a CSV with its Table Schema; charters and receipts ride
along as JSON files the descriptor's `hub` section names.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlmodel import Session

from hub import audit, catalogue, quarantine, reading
from hub.api import csvtext, exports
from hub.api.downloads import DownloadResponse
from hub.config import get_settings
from hub.models import Dataset, SubjectLink, as_utc
from hub.refusals import render
from hub.selfdata import consents, history, links, standing

Member = tuple[str, bytes | Iterator[bytes]]
LOG_PAGE = 1000

CONSENT_FIELDS = [
    ("id", "string", "the consent's (and its receipt's) id"),
    ("service", "string", "the registered service it lets read"),
    ("datasets", "string", "the datasets it covers, space-separated"),
    ("purpose", "string", "the purpose it allows"),
    ("created", "datetime", "when it was given"),
    ("expires", "datetime", "when it ends"),
    ("revoked", "datetime", "when it was revoked, if it was"),
    ("status", "string", "live, suspended, expired or revoked when exported"),
    (
        "suspended",
        "string",
        "the datasets the charter in force refuses its purpose on, each `dataset: reason`, "
        "semicolon-separated",
    ),
    ("receipt_hash", "string", "SHA-256 of the receipt's canonical JSON (consents/receipts.json)"),
]
LINK_FIELDS = [
    ("id", "string", "the link's id"),
    ("dataset", "string", "the dataset whose rows it opens to you"),
    ("created", "datetime", "when the operator's matching service vouched for it"),
    ("pseudonym", "string", "the keyed pseudonym of your subject key in that dataset's rows"),
]
QUARANTINE_FIELDS = [
    ("dataset", "string", "the dataset the row was sent for"),
    ("row", "integer", "its row number in the operator's batch"),
    ("cells", "string", "its cells as the gate read them (JSON)"),
    ("errors", "string", "why the gate quarantined it (JSON)"),
]
LOG_FIELDS = [
    ("id", "integer", "the entry's place in the hash chain"),
    ("at", "string", "when (ISO 8601, UTC, microseconds: as hashed)"),
    ("who", "string", "who read, in words"),
    ("actor_id", "string", "the reading token's id"),
    ("actor_role", "string", "the reading token's role"),
    ("organization", "string", "the reader's organizations"),
    ("dataset_id", "string", "the dataset read"),
    ("producer", "string", "its producer"),
    ("outcome", "string", "granted"),
    ("scope", "string", "all, or subjects"),
    ("purpose", "string", "the purpose the reader declared"),
    (
        "rows",
        "integer",
        "rows sent, everyone's, shown when the read named your rows alone or rows_commit is "
        "empty (empty: hidden, or a download or feed stream, counted when it ended)",
    ),
    ("rows_commit", "string", "the commitment to rows, chained in its place (empty: before it)"),
    ("rows_nonce", "string", "the nonce under rows_commit, shown with rows"),
    ("your_rows", "integer", "of your rows, the read took (empty: not counted)"),
    ("route", "string", "the route that read"),
    ("reason", "string", "why it was granted"),
    ("subjects", "string", "* (every subject) or the Merkle root of the subjects read"),
    ("pseudonym", "string", "your pseudonym the read named"),
    ("proof", "string", "that pseudonym's Merkle proof, space-separated"),
    ("prev_hash", "string", "the hash of the entry before"),
    ("hash", "string", "this entry's hash"),
]


class Package(NamedTuple):
    """The package's files, and the downloads of rows they stream (ended with the response)."""

    members: list[Member]
    downloads: list[reading.Download]


def package(session: Session, caller: reading.Caller, account: str, root: str) -> Package:
    """The package's files; the rows' reads happen (and are logged) now, before the log's."""
    resources: list[dict[str, Any]] = []
    files: list[Member] = []
    downloads: list[reading.Download] = []
    charters: dict[str, str] = {}
    for dataset_id in sorted(links.held(session, account)):
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            continue  # withdrawn since the link was made
        try:
            descriptor = catalogue.resource_of(session, dataset_id).schema_descriptor
        except catalogue.NotFound:
            continue  # no records (yet)
        download = reading.stream_records(
            session,
            dataset,
            caller,
            reading.Criteria(),
            None,
            max_rows=get_settings().max_export_rows,
        )
        downloads.append(download)
        name = f"records-{_name(dataset_id)}-{len(resources) + 1}"
        charters[dataset_id] = f"charters/{name}.json"
        resources.append(_records_resource(dataset, name))
        files += [
            (f"schemas/{name}.json", _json(exports.exported_schema(descriptor))),
            (
                charters[dataset_id],
                exports.charter_document(dataset).model_dump_json(indent=2).encode(),
            ),
            (f"data/{name}.csv", _csv(download)),
        ]
    held = links.listing(session, account)
    quarantined, cut = _quarantined(
        session, caller, sorted({row.dataset_id for row in held}), get_settings().max_export_rows
    )
    given = consents.listing(session, account)
    seen = _log(session, account)
    resources += [
        _table_resource("links", "links.csv", "Your links to your rows", LINK_FIELDS),
        {
            **_table_resource(
                "quarantine", "quarantine.csv", "Your rows the gate quarantined", QUARANTINE_FIELDS
            ),
            **({"description": _cut_note(cut, root)} if cut else {}),
        },
        _table_resource("consents", "consents.csv", "Your consents to services", CONSENT_FIELDS),
        _table_resource("access-log", "access-log.csv", "Every read of your rows", LOG_FIELDS),
    ]
    files += [
        ("links.csv", _table([_link_row(row) for row in held], LINK_FIELDS)),
        ("quarantine.csv", _table(quarantined, QUARANTINE_FIELDS)),
        ("consents.csv", _table([_consent_row(session, g) for g in given], CONSENT_FIELDS)),
        ("consents/receipts.json", _json([_receipt(g) for g in given])),
        ("access-log.csv", _table([_log_row(s) for s in seen], LOG_FIELDS)),
    ]
    head_id, head_hash = audit.head(session)
    descriptor = _descriptor(root, resources, charters, head_id, head_hash)
    return Package([("datapackage.json", _json(descriptor)), *files], downloads)


def answer(made: Package, headers: dict[str, str]) -> DownloadResponse:
    """The package as a zip attachment, written as it is sent, its downloads ended with it."""
    return DownloadResponse(
        exports.zipped(made.members, datetime.now(UTC).timetuple()[:6]),
        made.downloads,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="my-data.zip"', **headers},
    )


def _descriptor(
    root: str, resources: list[dict[str, Any]], charters: dict[str, str], head: int, hash_: str
) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "profile": "tabular-data-package",
        "name": "my-data",
        "title": "My data: my rows, consents and access log",
        "description": "What the hub holds about one data subject, exported at their request "
        "(GDPR article 20): their rows of each dataset they are linked to (quarantined ones too), "
        "their links, the datasets' schemas and charters, their consents with receipts, and "
        "every read of their rows.",
        "homepage": f"{root}api/v1/me",
        "created": now,
        "resources": resources,
        # Not Frictionless's: the terms, the receipts, and the log's head to check entries against.
        "hub": {
            "charters": charters,
            "receipts": "consents/receipts.json",
            "access_log_head": {"id": head, "hash": hash_},
            "verify": history.HOW_TO_VERIFY,
        },
    }


def _records_resource(dataset: Dataset, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "path": f"data/{name}.csv",
        "profile": "tabular-data-resource",
        "title": f"{dataset.title} — your rows",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": f"schemas/{name}.json",
    }


def _table_resource(
    name: str, path: str, title: str, fields: list[tuple[str, str, str]]
) -> dict[str, Any]:
    return {
        "name": name,
        "path": path,
        "profile": "tabular-data-resource",
        "title": title,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": {
            "fields": [
                {"name": field, "type": kind, "description": about} for field, kind, about in fields
            ],
            "missingValues": [""],
        },
    }


def _csv(download: reading.Download) -> Iterator[bytes]:
    return (text.encode() for text in csvtext.csv_lines(download.layout, download.pages))


def _table(rows: list[dict[str, Any]], fields: list[tuple[str, str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([field for field, _, _ in fields])
    for row in rows:
        writer.writerow(["" if row.get(f) is None else row[f] for f, _, _ in fields])
    return buffer.getvalue().encode()


def _consent_row(session: Session, given: consents.Given) -> dict[str, Any]:
    row = given.consent
    now = standing.standing(session, given)
    return {
        "id": row.id,
        "service": row.service_id,
        "datasets": " ".join(given.datasets),
        "purpose": row.purpose,
        "created": _instant(row.created_at),
        "expires": _instant(row.expires_at),
        "revoked": _instant(row.revoked_at) if row.revoked_at else None,
        "status": now.status,
        "suspended": "; ".join(
            f"{s.dataset}: {render(s.message.code, s.message.params)}" for s in now.suspensions
        )
        or None,
        "receipt_hash": row.receipt_hash,
    }


def _link_row(row: SubjectLink) -> dict[str, Any]:
    return {
        "id": row.id,
        "dataset": row.dataset_id,
        "created": _instant(row.created_at),
        "pseudonym": row.pseudonym,
    }


def _quarantined(
    session: Session, caller: reading.Caller, dataset_ids: list[str], limit: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The subject's quarantined rows of each linked dataset, up to HUB_MAX_EXPORT_ROWS each
    (each read logged), and the datasets cut there: the last row id given, to read on from."""
    found: list[dict[str, Any]] = []
    cut: dict[str, int] = {}
    for dataset_id in dataset_ids:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            continue  # withdrawn since the link was made
        rows = reading.read_own_quarantine(session, dataset, caller, limit)
        if len(rows) > limit:  # one more than asked: more follow
            cut[dataset_id] = rows[limit - 1].id or 0
        for row in rows[:limit]:
            found.append(
                {
                    "dataset": dataset_id,
                    "row": row.row_number,
                    "cells": json.dumps(row.cells, ensure_ascii=False, sort_keys=True),
                    "errors": json.dumps(row.errors, ensure_ascii=False),
                }
            )
    return found, cut


def _cut_note(cut: dict[str, int], root: str) -> str:
    """What the package leaves out of the quarantined rows, and where the rest is read."""
    return "Cut at HUB_MAX_EXPORT_ROWS rows per dataset; read on from " + "; ".join(
        f"{root}api/v1/datasets/{dataset_id}/quarantine?cursor={quarantine.encode_cursor(0, last)}"
        for dataset_id, last in sorted(cut.items())
    )


def _receipt(given: consents.Given) -> dict[str, Any]:
    return {"receipt": given.consent.receipt, "receipt_hash": given.consent.receipt_hash}


def _log(session: Session, account: str) -> list[history.Seen]:
    seen: list[history.Seen] = []
    while True:
        after = (seen[-1].event.id or 0) if seen else 0
        page = history.entries(session, account, after=after, limit=LOG_PAGE)
        seen += page
        if len(page) < LOG_PAGE:
            return seen


def _log_row(seen: history.Seen) -> dict[str, Any]:
    event = seen.event
    return {
        **{f: getattr(event, f) for f, _, _ in LOG_FIELDS if hasattr(event, f)},
        "at": as_utc(event.at).isoformat(timespec="microseconds"),
        "who": seen.who,
        "rows": seen.total,
        "rows_nonce": seen.nonce,
        "your_rows": seen.rows,
        "pseudonym": seen.pseudonym,
        "proof": " ".join(seen.proof) if seen.proof else None,
    }


def _name(dataset_id: str) -> str:
    """A resource name Frictionless takes: lower case, digits, `.`, `_`, `-`."""
    return re.sub(r"[^a-z0-9._-]+", "-", dataset_id.lower()).strip("-") or "dataset"


def _instant(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()
