"""The `rudi` reader: the metadata of a RUDI producer node (Rennes' data-sharing platform).

`url` is the node's root; its catalogue API answers `GET /api/v1/resources?limit=&offset=`
with `{total, items}` (RUDI-PRODUCER 1.3/1.4 metadata), paged here until a short page.
The harvest's stored position (or `options.since`, an ISO time) asks only for what changed
since (`updated_after`): an increment, whose missing resources are not withdrawn. Every
`options.relist_hours` (default 24) the node is listed whole again, withdrawing what it dropped.
Texts given in several languages (`synopsis`, `summary`) are taken in `options.language`, else
English, else the first given. `options.files` and `options.files_limit` say which media of
the listed resources the hub reads too (`pipelines.portalfiles`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from hub.batches import FileResource, MetadataBatch, PortalDataset
from hub.redaction import redact_url
from pipelines import portal
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.sources import Source

log = logging.getLogger(__name__)

RESOURCES = "/api/v1/resources"
LIMIT = 100
MAX_LIMIT = 500  # the node's own cap
SIDES = (("west", "longitude"), ("south", "latitude"), ("east", "longitude"), ("north", "latitude"))


def read(source: Source, fetched: Fetched) -> MetadataBatch:
    """The node's resources (or those updated since `options.since`) with their media."""
    limit = _limit(source.options.get("limit", LIMIT))
    since = portal.since_of(source, fetched)
    listing = listing_url(source.url)
    language = source.options.get("language")
    with portal.portal_client(source) as client:
        items, whole = list_all(client, listing, limit, since)
    preference = [str(language).lower()] if language else []
    shown = redact_url(listing)  # links go public: no user:password@ from the source's url
    datasets = [dataset_of(source.id, shown, item, [*preference, "en"]) for item in items]
    return portal.metadata_batch(source, datasets, since, whole)


def listing_url(url: str) -> str:
    """The node's resource listing, should the source name the node's root."""
    root = url.strip().rstrip("/")
    return root if root.endswith(RESOURCES) else root + RESOURCES


def _limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise ReaderError(
            f"options.limit must be a whole number from 1 to {MAX_LIMIT}, got {value!r}"
        )
    return value


def list_all(
    client: portal.PortalClient, url: str, limit: int, since: datetime | None
) -> tuple[list[dict[str, Any]], bool]:
    """Every resource listed, and whether that is all of them (its total met, no page twice)."""
    params: dict[str, Any] = {"limit": limit, "offset": 0}
    if since is not None:
        params["updated_after"] = since.astimezone(UTC).isoformat().replace("+00:00", "Z")
    seen: dict[str, dict[str, Any]] = {}
    while True:
        items, served, total = _page(client.get_json(url, params), url)
        fresh = [i for i in items if _key(i) not in seen]
        if items and not fresh:
            log.warning(
                "%s answered offset=%d with resources already read: it ignores paging; "
                "stopping with the %d read (nothing will be withdrawn)",
                redact_url(url), params["offset"], len(seen),
            )  # fmt: skip
            return list(seen.values()), False
        seen.update((_key(i), i) for i in fresh)
        if served < limit:  # a short page is the last one
            break
        params["offset"] += served
    if total is not None and len(seen) < total:  # resources moved while paging
        log.warning("%s counted %d resources, %d were read", redact_url(url), total, len(seen))
    return list(seen.values()), total is None or len(seen) >= total


def _page(answer: object, url: str) -> tuple[list[dict[str, Any]], int, int | None]:
    """One answer's resources, how many it served, and the total it counts (if it says)."""
    items = answer.get("items") if isinstance(answer, dict) else answer  # older nodes: a list
    if not isinstance(items, list):
        raise ReaderError(f"{redact_url(url)}: the answer is not a RUDI listing {{total, items}}")
    total = answer.get("total") if isinstance(answer, dict) else None
    kept = [i for i in items if isinstance(i, dict) and _key(i)]
    if len(kept) < len(items):
        log.warning(
            "%s: %d resources without global_id skipped", redact_url(url), len(items) - len(kept)
        )
    counted = isinstance(total, int) and not isinstance(total, bool)
    return kept, len(items), total if counted else None


def _key(item: dict[str, Any]) -> str:
    """The resource's id on RUDI: its global_id (a UUID), else its local_id."""
    return _text(item.get("global_id")) or _text(item.get("local_id"))


def dataset_of(
    source_id: str, listing: str, item: dict[str, Any], languages: list[str]
) -> PortalDataset:
    """A RUDI metadata record as the hub's PortalDataset."""
    name = _key(item)
    producer, geography = _mapping(item.get("producer")), _mapping(item.get("geography"))
    dates = _mapping(item.get("dataset_dates"))
    theme = _text(item.get("theme"))
    keywords = [k for k in item.get("keywords") or [] if isinstance(k, str)]
    media = [m for m in item.get("available_formats") or [] if isinstance(m, dict)]
    resources = [_resource(m, languages) for m in media]
    return PortalDataset(
        id=portal.hub_dataset_id(source_id, name),
        title=_text(item.get("resource_title")) or name,
        description=_in(item.get("summary"), languages) or _in(item.get("synopsis"), languages),
        keywords=list(dict.fromkeys([*keywords, *([theme] if theme else [])])),
        licence=_licence(_mapping(_mapping(item.get("access_condition")).get("licence"))),
        modified=portal.parse_time(dates.get("updated") or dates.get("published")),
        landing_page=f"{listing}/{name}",
        identifier=name,
        issued=portal.parse_time(dates.get("published") or dates.get("created")),
        organization=_text(producer.get("organization_name")),
        bbox=_bbox(_mapping(geography.get("bounding_box"))),
        resources=[r for r in resources if r is not None],
    )


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _in(entries: object, languages: list[str]) -> str:
    """The text of a [{lang, text}] list in the first preferred language, else the first."""
    if isinstance(entries, str):
        return entries.strip()
    if not isinstance(entries, list):
        return ""
    texts = [
        (_text(e.get("lang")).lower(), _text(e.get("text"))) for e in entries if isinstance(e, dict)
    ]
    for wanted in languages:
        for lang, text in texts:
            if text and (lang == wanted or lang.split("-")[0] == wanted):
                return text
    return next((text for _, text in texts if text), "")


def _licence(licence: dict[str, Any]) -> str:
    """A STANDARD licence's code (etalab-2.0), or a CUSTOM one's URI (else its label)."""
    if licence.get("licence_type") == "CUSTOM":
        return _text(licence.get("custom_licence_uri")) or _in(
            licence.get("custom_licence_label"), ["en"]
        )
    return _text(licence.get("licence_label"))


def _bbox(box: dict[str, Any]) -> list[float] | None:
    sides = [box.get(f"{side}_{axis}") for side, axis in SIDES]
    numbers = [float(v) for v in sides if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != len(SIDES):
        return None
    west, south, east, north = numbers
    return portal.box_of([(west, south), (east, north)])


def _resource(media: dict[str, Any], languages: list[str]) -> FileResource | None:
    """A RUDI media (FILE, SERVICE or SERIES) as a FileResource, reached through its connector."""
    connector = _mapping(media.get("connector"))
    url = portal.web_link(connector.get("url") or media.get("file_url") or media.get("url"))
    if not url:
        return None
    size = media.get("file_size")
    contract = _text(connector.get("interface_contract"))
    return FileResource(
        name=_text(media.get("media_name")) or _text(media.get("file_name")) or url,
        url=url,
        format=_text(media.get("file_type")) or contract.upper() or _text(media.get("media_type")),
        description=_in(media.get("media_caption"), languages),
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        modified=portal.parse_time(_mapping(media.get("media_dates")).get("updated")),
    )


READER = Reader(
    "rudi",
    "metadata",
    read,
    options=("limit", "since", "language", "relist_hours", "files", "files_limit"),
    fetches_itself=True,
)
