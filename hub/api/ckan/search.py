"""package_search: CKAN's q / fq, rows / start, sorts and facets, over the catalogue's packages.

The catalogue is small (hundreds to a few thousand datasets), so packages are matched in memory
against a Solr-like index of each package rather than through a search server.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from hub.api.ckan.errors import (
    SearchQueryError,
    ValidationError,
    as_int,
    as_list,
    as_natural,
    as_text,
)
from hub.api.ckan.query import WORD, Doc, fold, has_prefix, parse_all, words_in

ROWS_MAX = 1000
DEFAULT_SORT = "score desc, metadata_modified desc"
FIELD_NAME = re.compile(r"[\w.:*-]{1,100}")
SORT_KEYS_MAX = 8  # each key is one more sort of every hit
SCORED_TERMS = 32  # relevance counts the first words of q: each is looked up in every hit
FACETS = ["organization", "tags", "groups", "license_id", "res_format"]
# CKAN's dismax boosts: name^4 title^4 tags^2 groups^2 text
WEIGHTS = {"name": 4, "title": 4, "tags": 2, "groups": 2, "text": 1}
SORTABLE = {
    "score",
    "id",
    "name",
    "title",
    "title_string",
    "metadata_modified",
    "metadata_created",
    "num_resources",
    "num_tags",
    "record_count",
}


def index_of(package: dict[str, Any]) -> Doc:
    """The searchable fields of a package, as lists of strings (Solr-style)."""
    extras = {e["key"]: e["value"] for e in package["extras"]}
    org = package["organization"] or {}
    doc: Doc = {
        "id": [package["id"]],
        "name": [package["name"]],
        "title": [package["title"]],
        "title_string": [package["title"]],
        "notes": [package["notes"] or ""],
        "organization": [org.get("name", "")],
        "owner_org": [package["owner_org"] or ""],
        "tags": [t["name"] for t in package["tags"]],
        "groups": [g["name"] for g in package["groups"]],
        "res_format": sorted({r["format"] for r in package["resources"]}),
        "license_id": [package["license_id"]],
        "type": [package["type"]],
        "state": [package["state"]],
        "capacity": ["public"],
        "metadata_modified": [package["metadata_modified"]],
        "metadata_created": [package["metadata_created"]],
        "num_resources": [str(package["num_resources"])],
        "num_tags": [str(package["num_tags"])],
    }
    for key, value in extras.items():
        doc.setdefault(key, [value])
        doc[f"extras_{key}"] = [value]
    doc["text"] = [
        " ".join(
            [
                package["name"],
                package["title"],
                package["notes"] or "",
                org.get("title", ""),
                *doc["tags"],
                *doc["groups"],
                *(g["title"] for g in package["groups"]),
                *extras.values(),
            ]
        )
    ]
    return doc


def search(packages: list[dict[str, Any]], data: dict[str, Any]) -> dict[str, Any]:
    """CKAN's package_search over already-built package dicts."""
    rows = min(as_natural(data, "rows", 10) or 0, ROWS_MAX)
    start = as_natural(data, "start", 0) or 0
    q = as_text(data, "q").strip() or "*:*"
    filters = [f for f in [as_text(data, "fq"), *(as_list(data, "fq_list") or [])] if f.strip()]
    query, *wanted = parse_all([q, *filters])
    facet_fields, fields = field_names(data, "facet.field") or FACETS, field_names(data, "fl")
    limit, mincount = facet_limit(data), as_natural(data, "facet.mincount", 1) or 0
    sort = as_text(data, "sort").strip()
    if sort in ("", "rank", "None"):
        sort = DEFAULT_SORT
    terms = text_terms(q)[:SCORED_TERMS]
    hits = []
    for package in packages:
        doc = index_of(package)
        if query(doc) and all(f(doc) for f in wanted):
            hits.append((package, doc, score(doc, terms)))
    order(hits, sort)
    results = [partial(p, fields) for p, _, _ in hits[start : start + rows]]
    facets = count_facets([d for _, d, _ in hits], facet_fields, limit=limit, mincount=mincount)
    return {
        "count": len(hits),
        "facets": facets,
        "results": results,
        "sort": sort,
        "search_facets": restructure(facets, packages),
    }


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


def text_terms(q: str) -> list[str]:
    """The free-text words of q, for scoring."""
    if q.strip() == "*:*":
        return []
    return [
        w
        for token in q.split()
        if ":" not in token and token not in ("AND", "OR", "NOT")
        for w in WORD.findall(fold(token))
    ]


def score(doc: Doc, terms: list[str]) -> float:
    """Dismax-like relevance: each term counts by the boost of the fields it appears in."""
    total = 0.0
    for field, weight in WEIGHTS.items():
        texts = [words_in(value) for value in doc.get(field, [])]
        total += weight * sum(1 for t in terms if any(has_prefix(w, t) for w in texts))
    return total


def order(hits: list[tuple[dict[str, Any], Doc, float]], sort: str) -> None:
    """Sort hits in place by `field dir, field dir …`."""
    keys: list[tuple[str, bool]] = []
    if sort.count(",") >= SORT_KEYS_MAX:
        raise SearchQueryError(f"can not sort on more than {SORT_KEYS_MAX} fields")
    for clause in sort.split(","):
        parts = clause.split()
        if not parts:
            continue
        field, direction = parts[0], (parts[1].lower() if len(parts) > 1 else "asc")
        if field not in SORTABLE or direction not in ("asc", "desc") or len(parts) > 2:
            raise SearchQueryError(f"can not sort on {clause.strip()!r}")
        keys.append((field, direction == "desc"))
    for field, descending in reversed(keys):  # stable sorts, last key first
        hits.sort(key=partial_key(field), reverse=descending)


def partial_key(field: str) -> Callable[[tuple[dict[str, Any], Doc, float]], Any]:
    """The sort key of one field."""
    return lambda hit: sort_key(hit, field)


def sort_key(hit: tuple[dict[str, Any], Doc, float], field: str) -> Any:
    package, doc, relevance = hit
    if field == "score":
        return relevance
    if field in ("num_resources", "num_tags"):
        return package[field]
    if field == "record_count":
        return int((doc.get("record_count") or ["0"])[0])
    return fold((doc.get(field) or [""])[0] or "")


def count_facets(
    docs: list[Doc], fields: list[str], limit: int, mincount: int
) -> dict[str, dict[str, int]]:
    """Value counts per facet field, most frequent first (limit < 0: all)."""
    facets = {}
    for field in fields:
        counts = Counter(v for doc in docs for v in set(doc.get(field, [])) if v)
        ranked = [
            (k, n)
            for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            if n >= mincount
        ]
        facets[field] = dict(ranked if limit < 0 else ranked[:limit])
    return facets


def restructure(
    facets: dict[str, dict[str, int]], packages: list[dict[str, Any]]
) -> dict[str, Any]:
    """CKAN's search_facets: titled items, sorted by display name descending as CKAN does."""
    names: dict[str, dict[str, str]] = {"organization": {}, "groups": {}, "license_id": {}}
    for package in packages:
        if package["organization"]:
            names["organization"][package["organization"]["name"]] = package["organization"][
                "title"
            ]
        for group in package["groups"]:
            names["groups"][group["name"]] = group["title"]
        names["license_id"][package["license_id"]] = package["license_title"]
    result = {}
    for field, counts in facets.items():
        items: list[dict[str, Any]] = [
            {"name": k, "display_name": names.get(field, {}).get(k) or k, "count": n}
            for k, n in counts.items()
        ]
        items.sort(key=lambda item: str(item["display_name"]), reverse=True)
        result[field] = {"title": field, "items": items}
    return result
