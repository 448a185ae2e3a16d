"""package_search: CKAN's q / fq, rows / start, sorts and facets, through the catalogue's one
search (`hub.search`): CKAN's query language compiles to its conditions, which run in SQL, and only
the page of packages asked for is built."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from hub import search as catalogue_search
from hub.access import Actor
from hub.api.ckan import packages
from hub.api.ckan.errors import (
    SearchQueryError,
    ValidationError,
    as_int,
    as_list,
    as_natural,
    as_text,
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
    conditions = parse_all([q, *filters])
    facet_fields, fields = field_names(data, "facet.field") or FACETS, field_names(data, "fl")
    sort = as_text(data, "sort").strip()
    if sort in ("", "rank", "None"):
        sort = DEFAULT_SORT
    query = catalogue_search.Query(
        where=catalogue_search.AllOf(tuple(conditions)),
        sort=sort_keys(sort),
        limit=rows,
        offset=start,
        facets=tuple(facet_fields),
        facet_limit=facet_limit(data),
        facet_mincount=as_natural(data, "facet.mincount", 1) or 0,
    )
    found = catalogue_search.find(session, query, actor)
    page = catalogue_search.datasets(session, found.ids)
    results = [partial(p, fields) for p in page_packages(session, page, base, whole)]
    facets = {name: dict(counts) for name, counts in found.facets.items()}
    return {
        "count": found.total,
        "facets": facets,
        "results": results,
        "sort": sort,
        "search_facets": restructure(session, facets),
    }


def page_packages(
    session: Session, page: list[Dataset], base: str, whole: Callable[[Dataset], bool]
) -> list[dict[str, Any]]:
    """The package dicts of one page of datasets (three queries, whatever the page size)."""
    ids = [d.id for d in page]
    organizations = {
        o.id: o
        for o in session.exec(
            select(Organization).where(col(Organization.id).in_({d.organization_id for d in page}))
        )
    }
    resources: dict[str, list[Resource]] = {i: [] for i in ids}
    for resource in session.exec(
        select(Resource).where(col(Resource.dataset_id).in_(ids)).order_by(col(Resource.position))
    ):
        resources[resource.dataset_id].append(resource)
    return [
        packages.package_dict(
            d, organizations.get(d.organization_id), resources[d.id], base, whole(d)
        )
        for d in page
    ]


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
            raise SearchQueryError(f"can not sort on {clause.strip()!r}")
        keys.append((field, direction == "desc"))
    return tuple(keys)


def field_names(data: dict[str, Any], key: str) -> list[str] | None:
    """A list of index field names (fl, facet.field); anything else is no field."""
    names = as_list(data, key)
    bad = [n for n in names or [] if not FIELD_NAME.fullmatch(n)]
    if bad:
        raise ValidationError({key: [f"Not a field name: {bad[0][:100]!r}"]})
    return names


def facet_limit(data: dict[str, Any]) -> int:
    """How many values per facet (negative: all), CKAN's default 50."""
    return as_int(data, "facet.limit", 50) or 0


def partial(package: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """The whole package, or only the fields `fl` asks for."""
    if not fields or fields == ["*"]:
        return package
    return {k: package.get(k) for k in fields}


def licence_title(session: Session, licence: str) -> str:
    """A licence's title, as one dataset under it gives it: one index seek, where a DISTINCT over
    every dataset under a common licence read tens of thousands of rows."""
    title = session.exec(
        select(Dataset.licence_title)
        .where(col(Dataset.licence_id) == licence, col(Dataset.licence_title) != "")
        .limit(1)
    ).first()
    return title or licence


def restructure(session: Session, facets: dict[str, dict[str, int]]) -> dict[str, Any]:
    """CKAN's search_facets: titled items, sorted by display name descending as CKAN does."""
    # Only the names of the values counted: a whole-table scan here cost more than the search.
    organizations = list(facets.get("organization", {}))
    licences = list(facets.get("license_id", {}))
    names: dict[str, dict[str, str]] = {
        "organization": {
            o.id: o.name
            for o in session.exec(
                select(Organization).where(col(Organization.id).in_(organizations))
            )
        },
        "groups": dict(THEMES),
        "license_id": {licence: licence_title(session, licence) for licence in licences},
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
