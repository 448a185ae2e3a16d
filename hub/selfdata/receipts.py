"""Consent receipts: what a data subject is handed when they consent, and its seal.

The fields are those of the Kantara Initiative consent receipt v1.1, the structure ISO/IEC TS
27560 takes up (controllers, subject, purposes, data categories, legal basis, timestamps,
termination, receipt id, version), with the hub's datasets and expiry beside them. The seal is
the SHA-256 of the receipt's canonical JSON (keys sorted, no spaces, UTF-8): anyone holding the
receipt recomputes it; the hub keeps both, so a changed receipt no longer matches its seal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.models import as_utc

VERSION = "KI-CR-v1.1.0"
RECORD_SCHEMA = "ISO/IEC TS 27560:2023"
HUB_NAME = "Territorial data hub"


@dataclass(frozen=True)
class Covered:
    """One dataset a consent covers, as the receipt names it."""

    id: str
    title: str
    charter: str
    charter_version: str
    legal_basis: str
    categories: tuple[str, ...]  # the schema's field names: the data categories shared


@dataclass(frozen=True)
class Party:
    """Someone the receipt names: the producer, the hub, the service."""

    id: str
    name: str
    url: str = ""


def receipt(
    *,
    receipt_id: str,
    issued: datetime,
    expires: datetime,
    subjects: list[str],
    producer: Party,
    hub_url: str,
    service: Party,
    purpose: str,
    datasets: list[Covered],
    sensitive: bool,
) -> dict[str, Any]:
    """The receipt of one consent (a JSON object)."""
    categories = sorted({name for covered in datasets for name in covered.categories})
    return {
        "version": VERSION,
        "recordSchema": RECORD_SCHEMA,
        "consentReceiptID": receipt_id,
        "jurisdiction": "EU (GDPR)",
        "consentTimestamp": int(as_utc(issued).timestamp()),
        "issued": _instant(issued),
        "expires": _instant(expires),
        "collectionMethod": "the data subject's own request to the hub's API "
        "(POST /api/v1/me/consents), authenticated by their token",
        "language": "en",
        "piiPrincipalId": " ".join(sorted(set(subjects))),
        "piiControllers": [
            {"piiController": producer.name, "id": producer.id, "onBehalf": False},
            {
                "piiController": HUB_NAME,
                "url": hub_url,
                "onBehalf": True,
                "role": "trusted third party that keeps the link and shares the rows",
            },
        ],
        "policyUrl": f"{hub_url}api/v1/datasets/{datasets[0].id}/charter" if datasets else "",
        "services": [
            {
                "service": service.name,
                "serviceId": service.id,
                "serviceUrl": service.url,
                "purposes": [
                    {
                        "purpose": purpose,
                        "purposeCategory": [purpose],
                        "consentType": "EXPLICIT",
                        "piiCategory": categories,
                        "primaryPurpose": True,
                        "legalBasis": sorted({covered.legal_basis for covered in datasets}),
                        "termination": f"{_instant(expires)}, or when the data subject "
                        "revokes it (DELETE /api/v1/me/consents/{id})",
                        "thirdPartyDisclosure": True,
                        "thirdPartyName": service.name,
                    }
                ],
            }
        ],
        "sensitive": sensitive,
        "spiCat": [],
        "datasets": [
            {
                "id": covered.id,
                "title": covered.title,
                "charter": covered.charter,
                "charterVersion": covered.charter_version,
                "legalBasis": covered.legal_basis,
                "dataCategories": list(covered.categories),
            }
            for covered in datasets
        ],
    }


def canonical(value: Any) -> bytes:
    """A JSON value's canonical bytes: keys sorted, no insignificant space, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(value: dict[str, Any]) -> str:
    """`sha256:` and the hex SHA-256 of a receipt's canonical JSON."""
    return "sha256:" + hashlib.sha256(canonical(value)).hexdigest()


def _instant(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")
