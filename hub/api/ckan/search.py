"""package_search: CKAN's q / fq, rows / start, sorts and facets, through the catalogue's one
search (`hub.search`): CKAN's query language compiles to its conditions, which run in SQL, and only
the page of packages asked for is built."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlmodel import Session, col, select

from hub import citations, geo, licences, searchcache
from hub import search as catalogue_search
from hub.access import Actor
from hub.api.ckan import packages, replies
from hub.api.ckan.errors import (
    SearchQueryError,
    ValidationError,
    as_bool,
    as_int,
    as_list,
    as_natural,
    as_text,
    echoed,
)
from hub.api.ckan.query import parse_all
from hub.api.shapes import THEMES
from hub.models import Dataset, Organization, Resource

ROWS_MAX = 1000
DEFAULT_SORT = "score desc, metadata_modified desc"
FIELD_NAME = re.compile(r"[\w.:*-]{1,100}")
SORT_KEYS_MAX = 8
FACETS = ["organization", "tags", "groups", "license_id", "res_format"]


def search(
    session: Session,
    data: dict[str, Any],
    base: str,
    actor: Actor,
    whole: Callable[[Dataset], bool],
) -> dict[str, Any]:
    """CKAN's package_search, for `actor` (`whole`: may they see a dataset's computed values)."""
    rows = min(as_natural(data, "rows", 10) or 0, ROWS_MAX)
    start = as_natural(data, "start", 0) or 0
    q = as_text(data, "q").strip() or "*:*"
    filters = [f for f in [as_text(data, "fq"), *(as_list(data, "fq_list") or [])] if f.strip()]
    now = datetime.now(UTC)  # date math's NOW, and the clock facets'
    conditions = parse_all([q, *filters], now)
    facet_fields, fields = field_names(data, "facet.field") or FACETS, field_names(data, "fl")
    if not as_bool(data, "facet", True):
        facet_fields = []  # CKAN then counts none: `facets` and `search_facets` stay, empty
    sort = as_text(data, "sort").strip()
    if sort in ("", "rank", "None"):
        sort = DEFAULT_SORT
    query = catalogue_search.Query(
        where=catalogue_search.AllOf(tuple(conditions)),
        bbox=extent_box(data),
        sort=sort_keys(sort),
        limit=rows,
        offset=start,
        facets=tuple(facet_fields),
        facet_limit=facet_limit(data),
        facet_mincount=as_natural(data, "facet.mincount", 1) or 0,
        now=now,
    )
    found = catalogue_search.find(session, query, actor)
    derived = searchcache.Derived(session.connection())
    page = page_packages(session, derived, found.ids, base, whole)
    results = [partial(p, fields) for p in page]
    facets = {name: dict(counts) for name, counts in found.facets.items()}
    if "license_id" in facets:
        facets["license_id"] = ckan_licences(facets["license_id"])
    search_facets = restructure(session, derived, facets)
    derived.keep()
    return {
        "count": found.total,
        "facets": facets,
        "results": results,
        "sort": sort,
        "search_facets": search_facets,
    }


def extent_box(data: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """ckanext-spatial's `ext_bbox=minx,miny,maxx,maxy`, as the hub's own search's `bbox`: the
    datasets whose extent meets it (spatial CKAN clients, QGIS's among them, send it)."""
    text = as_text(data, "ext_bbox").strip()
    if not text:
        return None
    try:
        west, south, east, north = geo.parse_bbox(text)
    except geo.BBoxError as bad:
        raise ValidationError({"ext_bbox": [str(bad)]}) from None
    return west, south, east, north


def page_packages(
    session: Session,
    derived: searchcache.Derived,
    ids: list[str],
    base: str,
    whole: Callable[[Dataset], bool],
) -> list[dict[str, Any]]:
    """The package dicts of one page of dataset ids, in their order (ids gone since the search
    are left out): kept per generation of the index, as the caller may see each (`whole`), and
    built from the rows for those not kept (at most four queries, whatever the page size)."""
    loaded: dict[str, Dataset] = {}

    def detached(read: Callable[[Session], Iterable[Any]]) -> list[Any]:
        # Read by a session of their own on the request's connection (its snapshot), which
        # lets go of them: detached, every column loaded, they are kept and shared without a
        # copy, and the request's session holds none of them.
        with Session(bind=session.connection()) as reading:
            return list(read(reading))

    def load(wanted: list[str]) -> list[Dataset]:
        unread = [i for i in wanted if i not in loaded]
        if unread:
            found = detached(lambda reading: catalogue_search.datasets(reading, unread))
            loaded.update((d.id, d) for d in found)
        return [loaded[i] for i in wanted if i in loaded]

    # Each dataset's row, detached: what `whole` decides on, without reading it.
    rows = derived.lookup(
        [("dataset", i) for i in ids],
        lambda keys: {("dataset", d.id): d for d in load([k[1] for k in keys])},
    )
    shown = [(i, whole(rows[("dataset", i)])) for i in ids if ("dataset", i) in rows]

    def build(keys: list[tuple[str, str, bool, str]]) -> dict[tuple[str, str, bool, str], bytes]:
        datasets = {d.id: d for d in load([k[3] for k in keys])}
        # A page's few producers recur from page to page: their rows are kept too.
        organizations = derived.lookup(
            [("organization row", d.organization_id) for d in datasets.values()],
            lambda wanted: {
                ("organization row", o.id): o
                for o in detached(
                    lambda reading: reading.exec(
                        select(Organization).where(col(Organization.id).in_([k[1] for k in wanted]))
                    )
                )
            },
        )
        resources: dict[str, list[Resource]] = {i: [] for i in datasets}
        for resource in session.exec(
            select(Resource)
            .where(col(Resource.dataset_id).in_(list(datasets)))
            .order_by(col(Resource.position))
        ):
            resources[resource.dataset_id].append(resource)
        versions = citations.versions_of(session, list(datasets))
        return {
            key: replies.dumps(  # as the envelope writes it
                packages.package_dict(
                    d,
                    organizations.get(("organization row", d.organization_id)),
                    resources[d.id],
                    base,
                    key[2],
                    versions[d.id].label if d.id in versions else None,
                )
            )
            for key in keys
            if (d := datasets.get(key[3])) is not None
        }

    keys = [("package", base, sees, i) for i, sees in shown]
    built = derived.lookup(keys, build)
    # Kept as JSON bytes, shared by every request at this generation: each parses its own.
    return [orjson.loads(built[key]) for key in keys if key in built]


def sort_keys(sort: str) -> tuple[tuple[str, bool], ...]:
    """CKAN's `field dir, field dir …` as the search's sort keys."""
    if sort.count(",") >= SORT_KEYS_MAX:
        raise SearchQueryError(f"can not sort on more than {SORT_KEYS_MAX} fields")
    keys = []
    for clause in sort.split(","):
        parts = clause.split()
        if not parts:
            continue
        field, direction = parts[0], (parts[1].lower() if len(parts) > 1 else "asc")
        if (
            field not in catalogue_search.SORT_KEYS
            or direction not in ("asc", "desc")
            or len(parts) > 2
        ):
            raise SearchQueryError(f"can not sort on {echoed(clause.strip())}")
        keys.append((field, direction == "desc"))
    return tuple(keys)


def field_names(data: dict[str, Any], key: str) -> list[str] | None:
    """A list of index field names (fl, facet.field); anything else is no field."""
    names = as_list(data, key)
    bad = [n for n in names or [] if not FIELD_NAME.fullmatch(n)]
    if bad:
        raise ValidationError({key: [f"Not a field name: {echoed(bad[0])}"]})
    return names


def facet_limit(data: dict[str, Any]) -> int:
    """How many values per facet (negative: all), CKAN's default 50."""
    return as_int(data, "facet.limit", 50) or 0


def partial(package: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """The whole package, or only the fields `fl` asks for."""
    if not fields or fields == ["*"]:
        return package
    return {k: package.get(k) for k in fields}


def licence_titles(session: Session, licences: list[str]) -> dict[str, str]:
    """Licences' titles, each as one dataset under it gives it: one index seek per licence,
    where a DISTINCT over every dataset under a common licence read tens of thousands of rows."""
    titles = {}
    for licence in licences:
        title = session.exec(
            select(Dataset.licence_title)
            .where(col(Dataset.licence_id) == licence, col(Dataset.licence_title) != "")
            .limit(1)
        ).first()
        titles[licence] = title or licence
    return titles


def ckan_licences(counts: dict[str, int]) -> dict[str, int]:
    """Licence facet counts under CKAN's ids: charter ids sharing one (CC-BY-SA-3.0 and -4.0
    are both cc-by-sa) add up."""
    merged: dict[str, int] = {}
    for licence, count in counts.items():
        key = licences.ckan_id(licence)
        merged[key] = merged.get(key, 0) + count
    return merged


def restructure(
    session: Session, derived: searchcache.Derived, facets: dict[str, dict[str, int]]
) -> dict[str, Any]:
    """CKAN's search_facets: titled items, sorted by display name descending as CKAN does."""
    # Only the names of the values counted (a whole-table scan here cost more than the search),
    # kept per generation of the index: a licence's title is a dataset's, an organization's
    # name changes its datasets' search rows.
    organizations = derived.lookup(
        [("organization", o) for o in facets.get("organization", {})],
        lambda keys: {
            ("organization", o.id): o.name
            for o in session.exec(
                select(Organization).where(col(Organization.id).in_([k[1] for k in keys]))
            )
        },
    )
    titled = derived.lookup(
        [
            ("licence", licence)
            for licence in facets.get("license_id", {})
            if licence not in packages.CKAN_TITLES
        ],
        lambda keys: {
            ("licence", licence): title
            for licence, title in licence_titles(session, [k[1] for k in keys]).items()
        },
    )
    names: dict[str, dict[str, str]] = {
        "organization": {key[1]: name for key, name in organizations.items()},
        "groups": dict(THEMES),
        "license_id": {
            **packages.CKAN_TITLES,
            **{key[1]: title for key, title in titled.items()},
        },
    }
    result = {}
    for field, counts in facets.items():
        items: list[dict[str, Any]] = [
            {"name": k, "display_name": names.get(field, {}).get(k) or k, "count": n}
            for k, n in counts.items()
        ]
        items.sort(key=lambda item: str(item["display_name"]), reverse=True)
        result[field] = {"title": field, "items": items}
    return result
