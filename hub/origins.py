"""Where a dataset a portal lists comes from: the original's identifier, IRI and dates.

Aggregators (data.europa.eu, data.gouv.fr) harvest both the original portal and this hub, and
deduplicate on the original's identity: without it every re-published dataset shows up twice.
The gate keeps it on the dataset (`Dataset.origin`, JSON) when it registers a portal's entry;
DCAT, CKAN and the REST detail write it back. Datasets the hub harvests from feeds or is pushed
have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.batches import PortalDataset
from hub.models import Dataset, as_utc


@dataclass(frozen=True)
class Origin:
    """The original dataset as its portal describes it; "" or None where it says nothing."""

    identifier: str = ""
    iri: str = ""
    issued: datetime | None = None
    modified: datetime | None = None


def stored_origin(entry: PortalDataset) -> dict[str, str] | None:
    """What `Dataset.origin` keeps of a portal's entry; None when the portal says nothing."""
    values = {
        "identifier": entry.identifier.strip(),
        "iri": entry.iri.strip(),
        "issued": _stamp(entry.issued),
        "modified": _stamp(entry.modified),
    }
    kept = {key: value for key, value in values.items() if value}
    return kept or None


def origin_of(dataset: Dataset) -> Origin | None:
    """A dataset's origin, None for one no portal lists."""
    stored = dataset.origin
    if not stored:
        return None
    return Origin(
        identifier=str(stored.get("identifier", "")),
        iri=str(stored.get("iri", "")),
        issued=_moment(stored.get("issued")),
        modified=_moment(stored.get("modified")),
    )


def _stamp(moment: datetime | None) -> str:
    return as_utc(moment).isoformat() if moment is not None else ""


def _moment(value: object) -> datetime | None:
    return as_utc(datetime.fromisoformat(value)) if isinstance(value, str) and value else None
