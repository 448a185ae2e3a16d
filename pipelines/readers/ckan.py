"""The `ckan` reader: every dataset of a CKAN portal, paged through `package_search` by ckanapi.

`url` is the portal's root (https://www.envidat.ch). Pages of `options.rows` (default 100) are
asked sorted by `metadata_modified`; `options.fq` filters (Solr syntax, as CKAN takes it), and
the harvest's stored position (or `options.since`, an ISO time) asks only for what changed
since then: an increment, whose datasets missing from the answer are not withdrawn. The batch's
position for the next increment is the latest `metadata_modified` read. Every
`options.relist_hours` (default 24) the portal is listed whole again, and what it no longer
lists is withdrawn. `options.files` and `options.files_limit` say which files of the listed
datasets the hub reads too (`pipelines.portalfiles`).
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from ckanapi import RemoteCKAN
from ckanapi.errors import CKANAPIError, ServerIncompatibleError

from hub import credits
from hub.batches import FileResource, MetadataBatch, PortalDataset
from hub.redaction import redact_text, redact_url
from pipelines import portal
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.sources import Source
from pipelines.transport import AddressRefused

log = logging.getLogger(__name__)

ROWS = 100
MAX_ROWS = 1000  # CKAN's default ckan.search.rows_max: more is silently cut to it
SORT = "metadata_modified asc, id asc"
API_SUFFIXES = ("/api/3/action", "/api/action", "/api/3", "/api")
USER_AGENT = "territorial-data-hub (ckan harvester; ckanapi)"
DECODED_MAX = 100_000  # characters of a dict or list written as text that are worth decoding


def read(source: Source, fetched: Fetched) -> MetadataBatch:
    """The portal's datasets (or those changed since `options.since`) with their resources."""
    rows = _rows(source.options.get("rows", ROWS))
    since = portal.since_of(source, fetched)
    fq = _filter(source.options.get("fq"), since)
    root = portal_root(source.url)
    with portal.portal_client(source) as client:
        ckan = RemoteCKAN(root, user_agent=USER_AGENT, session=client.session)
        packages, whole = search_all(ckan, client, rows, fq)
    shown = redact_url(root)  # links go public: no user:password@ from the source's url
    language = source.options.get("language")
    languages = [str(language).lower()] if language else []
    datasets = [dataset_of(source.id, shown, p, [*languages, "en"]) for p in packages]
    return portal.metadata_batch(source, datasets, since, whole)


def portal_root(url: str) -> str:
    """The portal's root, should the source name its API (…/api/3/action) instead."""
    root = url.strip().rstrip("/")
    for suffix in API_SUFFIXES:
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


def _rows(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ROWS:
        raise ReaderError(
            f"options.rows must be a whole number from 1 to {MAX_ROWS}, got {value!r}"
        )
    return value


def _filter(fq: object, since: datetime | None) -> str | None:
    """The Solr filter: the source's own, and the increment's start (to the second)."""
    if fq is not None and not isinstance(fq, str):
        raise ReaderError(f"options.fq must be a Solr filter as text, got {fq!r}")
    if since is None:
        return fq or None
    # To the second: the dataset at the boundary comes again, which publishing twice tolerates.
    term = f"metadata_modified:[{since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} TO *]"
    return f"({fq}) AND {term}" if fq else term


def search_all(
    ckan: RemoteCKAN, client: portal.PortalClient, rows: int, fq: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """Every package the search finds, and whether that is all of them (the count is met)."""
    seen: dict[str, dict[str, Any]] = {}
    start = count = 0
    while True:
        results, count = _search(ckan, client, rows, start, fq)
        fresh = [p for p in results if _key(p) not in seen]
        if results and not fresh:
            log.warning(
                "%s answered the page at start=%d with datasets already read: it ignores "
                "paging; stopping with the %d datasets read (nothing will be withdrawn)",
                redact_url(ckan.address), start, len(seen),
            )  # fmt: skip
            return list(seen.values()), False
        seen.update((_key(p), p) for p in fresh)
        start += len(results)  # not `rows`: a portal may cut pages shorter than asked
        if not results or start >= count:
            break
    if len(seen) < count:  # datasets moved while paging: some may have been stepped over
        log.warning(
            "%s counted %d datasets, %d were read: kept as an increment, nothing withdrawn",
            redact_url(ckan.address), count, len(seen),
        )  # fmt: skip
    return list(seen.values()), len(seen) >= count


def _search(
    ckan: RemoteCKAN, client: portal.PortalClient, rows: int, start: int, fq: str | None
) -> tuple[list[dict[str, Any]], int]:
    """One page of package_search: its packages and the total count."""
    params: dict[str, Any] = {"q": "*:*", "rows": rows, "start": start, "sort": SORT}
    if fq:
        params["fq"] = fq
    shown = redact_url(ckan.address)
    try:
        result = ckan.call_action(
            "package_search", params, requests_kwargs={"timeout": client.timeouts()}
        )
    except (requests.RequestException, AddressRefused) as exc:
        raise ReaderError(f"CKAN portal {shown}: {client.described(exc)}") from None
    except (CKANAPIError, ServerIncompatibleError) as exc:
        raise ReaderError(
            f"CKAN portal {shown}: package_search failed: {_why(exc, client)}"
        ) from None
    if not isinstance(result, dict) or not isinstance(result.get("results"), list):
        raise ReaderError(f"CKAN portal {shown}: package_search answered no results list")
    count = result.get("count")
    if isinstance(count, bool) or not isinstance(count, int):
        raise ReaderError(f"CKAN portal {shown}: package_search answered no count")
    packages = [p for p in result["results"] if isinstance(p, dict) and _key(p)]
    if len(packages) < len(result["results"]):
        log.warning(
            "%s: %d results without a name skipped", shown, len(result["results"]) - len(packages)
        )
    return packages, count


def _why(exc: Exception, client: portal.PortalClient) -> str:
    """What the portal said: CKAN's error envelope, or the answer that was not one."""
    if type(exc) not in (CKANAPIError, ServerIncompatibleError):  # NotFound, NotAuthorized …
        return redact_text(f"{type(exc).__name__}: {str(exc)[:300]}", client.secrets)
    try:
        error = client.last.json().get("error") if client.last is not None else None
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and client.last is not None:
        said = f"{error.get('__type', 'error')}: {error.get('message', '')}"
        return redact_text(f"HTTP {client.last.status_code}, {said[:300]}", client.secrets)
    return f"not CKAN's JSON: {client.answer()}"


def _key(package: dict[str, Any]) -> str:
    """The package's name in the portal (its id if it has no name)."""
    return _text(package.get("name")) or _text(package.get("id"))


def dataset_of(
    source_id: str, root: str, package: dict[str, Any], languages: Sequence[str] = ("en",)
) -> PortalDataset:
    """A CKAN package as the hub's PortalDataset, its texts in the first language it has."""
    name = _key(package)
    resources = [
        _resource(root, r, languages) for r in package.get("resources") or [] if isinstance(r, dict)
    ]
    return PortalDataset(
        id=portal.hub_dataset_id(source_id, name),
        title=_translated(package, "title", languages) or name,
        description=_translated(package, "notes", languages),
        keywords=_tags(package.get("tags")),
        licence=_text(package.get("license_title")) or _text(package.get("license_id")),
        modified=portal.parse_time(package.get("metadata_modified")),
        landing_page=f"{root}/dataset/{quote(name)}",
        identifier=_text(package.get("id")),
        iri=_original_iri(root, package),
        issued=portal.parse_time(package.get("metadata_created")),
        organization=_organization(package.get("organization"), languages),
        bbox=portal.bbox_of_geojson(_spatial(package)),
        resources=[r for r in resources if r is not None],
        credits=credits.declared(
            creator=_text(package.get("author")),
            contact_name=_text(package.get("maintainer")) or _text(package.get("author")),
            contact_email=_text(package.get("maintainer_email"))
            or _text(package.get("author_email")),
        ).stored(),
    )


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _translated(holder: dict[str, Any], key: str, languages: Sequence[str]) -> str:
    """A text field, or its translation in the first of `languages` the portal gives.

    ckanext-fluent portals write `title_translated: {en, fr}` beside `title` (open.canada.ca),
    or `title` itself as `{de, fr, it, en}`, sometimes as JSON text (opendata.swiss).
    """
    for value in (holder.get(f"{key}_translated"), holder.get(key)):
        texts = _decoded(value) if isinstance(value, str) else value
        if isinstance(texts, dict):
            chosen = [_text(texts.get(language)) for language in languages]
            found = next((t for t in [*chosen, *map(_text, texts.values())] if t), "")
            if found:
                return found
        elif _text(value):
            return _text(value)
    return ""


def _decoded(value: object) -> object:
    """A dict or list some portals (EnviDat's recorded answers) write as JSON or Python text."""
    if not isinstance(value, str) or not value.lstrip().startswith(("{", "[")):
        return value
    if len(value) > DECODED_MAX:
        return None
    try:
        return json.loads(value)
    except ValueError:
        pass
    try:  # literals only: ast.literal_eval never runs code
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _tags(value: object) -> list[str]:
    tags = _decoded(value)
    names = (
        [t.get("display_name") or t.get("name") if isinstance(t, dict) else t for t in tags]
        if isinstance(tags, list)
        else []
    )
    return list(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))


def _organization(value: object, languages: Sequence[str]) -> str:
    organization = _decoded(value)
    if isinstance(organization, dict):
        return _translated(organization, "title", languages) or _text(organization.get("name"))
    return _text(organization)


def _spatial(package: dict[str, Any]) -> object:
    """ckanext-spatial's GeoJSON: a `spatial` field, or an extra of that name."""
    return package.get("spatial") or _extra(package, "spatial")


def _extra(package: dict[str, Any], key: str) -> object:
    """The value of one of the package's extras, None if it has none of that key."""
    extras = package.get("extras")
    if not isinstance(extras, list):
        return None
    found = [e.get("value") for e in extras if isinstance(e, dict) and e.get("key") == key]
    return found[0] if found else None


def _original_iri(root: str, package: dict[str, Any]) -> str:
    """The package's IRI as ckanext-dcat publishes it: its `uri` extra, else
    {portal}/dataset/{id}, so that aggregators harvesting that DCAT find the same IRI."""
    written = portal.web_link(_extra(package, "uri"))
    identifier = _text(package.get("id"))
    return written or (f"{root}/dataset/{quote(identifier)}" if identifier else "")


def _resource(root: str, resource: dict[str, Any], languages: Sequence[str]) -> FileResource | None:
    """A CKAN resource as a FileResource; one without a web link is left out."""
    written = _text(resource.get("url"))  # an upload's url may be relative to the portal
    url = portal.web_link(urljoin(f"{root}/", written)) if written else ""
    if not url:
        return None
    size = resource.get("size")
    return FileResource(
        name=_translated(resource, "name", languages)
        or urlsplit(url).path.rsplit("/", 1)[-1]
        or url,
        url=url,
        format=_format(resource),
        description=_translated(resource, "description", languages),
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        modified=portal.parse_time(
            resource.get("last_modified")
            or resource.get("metadata_modified")
            or resource.get("created")
        ),
    )


def _format(resource: dict[str, Any]) -> str:
    """The resource's format; a vocabulary IRI (DCAT-US file-type/CSV) by its last segment."""
    written = _text(resource.get("format")) or _text(resource.get("mimetype"))
    if portal.web_link(written):
        return written.rstrip("/").rsplit("/", 1)[-1]
    return written


READER = Reader(
    "ckan",
    "metadata",
    read,
    options=("rows", "fq", "since", "language", "relist_hours", "files", "files_limit"),
    fetches_itself=True,
)
