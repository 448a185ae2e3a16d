"""datastore_search: a records resource's rows in CKAN's datastore shapes, read through the read
gate (`hub.reading`): the caller's grant narrows every query and every read is logged.

CKAN pages with `offset`; the hub's record tables page with keyset cursors. A first `offset` is
skipped along the search's order (bounded by OFFSET_MAX), and `_links.next` carries, beside the
next offset, the `cursor` after the page: a client following `next` (as CKAN clients do) reads
each page as one keyset read, however deep, past OFFSET_MAX to the search's end.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlmodel import Session

from hub import access, catalogue, jsontext, reading, records, selection
from hub.api.ckan import packages
from hub.api.ckan.errors import (
    NotAuthorized,
    NotFound,
    ValidationError,
    as_bool,
    as_int,
    as_text,
    echoed,
    require_text,
)
from hub.models import Resource
from hub.selection import SortError

LIMIT_DEFAULT, LIMIT_MAX = 100, 32_000  # CKAN's ckan.datastore.search.rows_max
FORMATS = ("objects", "lists", "csv", "tsv")  # CKAN's records_format
OFFSET_MAX = 1_000_000  # a bare offset's skipped rows are read; deeper, `next`'s cursor goes on
END = "end"  # the cursor of `next` after the last page: an empty page, as CKAN's past the end


def search(
    session: Session, caller: reading.Caller, data: dict[str, Any], base: str = "/"
) -> dict[str, Any]:
    """CKAN's datastore_search: resource_id, filters, q, limit, offset, fields, sort,
    include_total; `purpose` as on /api/v1 (a service's consent names it); `base` the hub's
    root URL, whose path the `_links` start with."""
    resource_id = require_text(data, "resource_id", "id")
    resource = session.get(Resource, resource_id)
    if resource is None or resource.kind != "records":
        raise NotFound(f"Resource {echoed(resource_id)} was not found")
    if not as_bool(data, "plain", True) or as_bool(data, "distinct", False):
        raise ValidationError(
            {"plain": ["the hub matches plain words only (plain=false and distinct refused)"]}
        )
    form = as_text(data, "records_format") or "objects"
    if form not in FORMATS:
        raise ValidationError({"records_format": [f"one of {', '.join(FORMATS)}"]})
    dataset = catalogue.get(session, resource.dataset_id)
    limit = as_int(data, "limit", LIMIT_DEFAULT, low=0, high=LIMIT_MAX) or 0
    cursor = as_text(data, "cursor") or None
    offset = _offset(data, cursor)
    criteria = reading.Criteria(filters=filter_pairs(data) + _words(data), sort=_sort(data))
    counted = as_bool(data, "include_total", True)
    after: str | None
    try:
        if cursor == END:  # `next` of the last page
            page = reading.read_records(session, dataset, caller, criteria, 1, total=counted)
            rows, total, after = [], page.total, END
        elif cursor or offset == 0 or not limit:  # one keyset read: the page and its total
            page = reading.read_records(
                session, dataset, caller, criteria, max(limit, 1), cursor, total=counted
            )
            rows, total = page.records[:limit], page.total
            after = (page.next_cursor or END) if limit else cursor
        else:  # a first offset: its rows are skipped along the search's order
            page = reading.read_records_at(
                session, dataset, caller, criteria, offset, limit, total=counted
            )
            rows, total, after = page.records, page.total, page.next_cursor or END
    except access.AccessDenied as denied:
        raise NotAuthorized(denied.reason) from None
    except SortError as bad:
        raise ValidationError({"sort": [f"{echoed(as_text(data, 'sort'))}: {bad.why}"]}) from None
    except records.QueryError as bad:
        wrong = "cursor" if cursor and "cursor" in str(bad) else "filters"
        raise ValidationError({wrong: [str(bad)]}) from None
    fields = _fields(resource, data)
    names = [f["id"] for f in fields]
    result: dict[str, Any] = {
        "resource_id": resource.id,
        "fields": fields,
        "records": _records(rows, names, form),
        "records_format": form,
        "limit": limit,
        "offset": offset,
        "include_total": total is not None,
        "_links": _links(data, offset, limit, after, urlsplit(base).path or "/"),
    }
    if total is not None:
        result["total"], result["total_was_estimated"] = total, False
    return result


def filter_pairs(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """CKAN's `filters` ({field: value or [values]}) as the read gate's (field, value) pairs."""
    given = data.get("filters") or {}
    if isinstance(given, str):
        try:
            given = jsontext.loads(given)
        except ValueError:
            raise ValidationError({"filters": ["not a JSON object"]}) from None
    if not isinstance(given, dict):
        raise ValidationError({"filters": ["an object of field: value"]})
    pairs = []
    for field, value in given.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValidationError({"filters": [f"{echoed(field)}: no value"]})
        for one in values:
            if isinstance(one, dict | list):
                raise ValidationError(
                    {"filters": [f"{field!r}: a value, not {type(one).__name__}"]}
                )
            text = "" if one is None else str(one).lower() if isinstance(one, bool) else str(one)
            pairs.append((str(field), text.replace(",", "\\,")))
    if sum(1 for _ in pairs) > selection.MAX_VALUES:
        raise ValidationError({"filters": [f"at most {selection.MAX_VALUES} values"]})
    return tuple(pairs)


def _words(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """CKAN's `q`: words in any field (a string), or in the named fields ({field: words}); each
    word found inside a field's text, whatever its case."""
    given = data.get("q")
    if isinstance(given, str) and given.strip().startswith("{"):
        try:
            given = jsontext.loads(given)
        except ValueError:
            raise ValidationError({"q": ["not a JSON object"]}) from None
    if given in (None, ""):
        return ()
    if isinstance(given, dict):
        return tuple((f"{field}__contains", str(words)) for field, words in given.items())
    if isinstance(given, str | int | float) and not isinstance(given, bool):
        return (("q", str(given)),)
    raise ValidationError({"q": ["words, or an object of field: words"]})


def _sort(data: dict[str, Any]) -> str | None:
    """CKAN's `sort` (`field asc, other desc`) as the read gate's (`field,-other`)."""
    text = as_text(data, "sort")
    if not text.strip():
        return None
    keys = []
    for clause in text.split(","):
        parts = clause.split()
        if (
            not parts
            or len(parts) > 2
            or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc"))
        ):
            raise ValidationError({"sort": [f"cannot sort on {echoed(clause.strip())}"]})
        descending = len(parts) == 2 and parts[1].lower() == "desc"
        keys.append(("-" if descending else "") + parts[0].strip('"'))
    return ",".join(keys)


def _offset(data: dict[str, Any], cursor: str | None) -> int:
    """CKAN's `offset`: with `next`'s cursor only echoed (the cursor says where the page starts),
    without one at most OFFSET_MAX, the rows a first page may skip."""
    if cursor:
        return as_int(data, "offset", 0, low=0) or 0
    try:
        return as_int(data, "offset", 0, low=0, high=OFFSET_MAX) or 0
    except ValidationError:
        as_int(data, "offset", 0, low=0)  # not a number: that error
        raise ValidationError(
            {
                "offset": [
                    f"Must be at most {OFFSET_MAX} without a cursor: follow _links.next, whose "
                    "cursor reads on to the last row"
                ]
            }
        ) from None


def _fields(resource: Resource, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema's fields with CKAN's datastore types and Data Dictionary `info`, or those
    `fields` names, in its order."""
    every = [
        {"id": f["name"], "type": packages.ckan_type(f.get("type")), "info": field_info(f)}
        for f in resource.schema_descriptor.get("fields", [])
    ]
    wanted = data.get("fields")
    if wanted in (None, "", []):
        return every
    names = wanted if isinstance(wanted, list) else str(wanted).split(",")
    known = {f["id"]: f for f in every}
    unknown = [n for n in names if str(n).strip() not in known]
    if unknown:
        raise ValidationError({"fields": [f"field {echoed(unknown[0])} does not exist"]})
    return [known[str(n).strip()] for n in names]


def field_info(field: dict[str, Any]) -> dict[str, str]:
    """CKAN's Data Dictionary entry of a field, as its DataStore gives it: the schema's title as
    the label, its description as the notes (which ckanapi and CKAN's preview show)."""
    return {
        "label": str(field.get("title") or ""),
        "notes": str(field.get("description") or ""),
        "type_override": "",
    }


def _records(rows: list[dict[str, Any]], names: list[str], form: str) -> Any:
    """The rows in CKAN's `records_format`: objects, lists in the fields' order, or the text of
    CSV or TSV lines without a header (the `fields` say what the columns are)."""
    if form == "objects":
        return [{name: row.get(name) for name in names} for row in rows]
    lists = [[row.get(name) for name in names] for row in rows]
    if form == "lists":
        return lists
    text = io.StringIO()
    writer = csv.writer(text, delimiter="\t" if form == "tsv" else ",", lineterminator="\n")
    writer.writerows([["" if v is None else _cell(v) for v in line] for line in lists])
    return text.getvalue()


def _cell(value: Any) -> str:
    """A value as text in a CSV line (JSON for objects such as a GeoJSON geometry)."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _links(
    data: dict[str, Any], offset: int, limit: int, after: str | None, root: str
) -> dict[str, str]:
    """CKAN's `_links`: the same search from its start, and its next (and previous) page. Every
    parameter the caller gave is kept, whether by query string or JSON body, so that following
    `next` pages through the same filtered, sorted search; `next` adds the cursor `after` the
    page, its keyset continuation. Paths, as CKAN's, under the hub's root path `root` (`/hub/`
    when a proxy publishes it there)."""
    kept = {
        k: _param(v) for k, v in data.items() if k not in ("offset", "cursor") and v is not None
    }
    path = f"{root}api/3/action/datastore_search?"
    following = {**kept, "offset": offset + limit}
    links = {
        "start": path + urlencode(kept),
        "next": path + urlencode({**following, "cursor": after} if after else following),
    }
    if 0 < offset <= OFFSET_MAX + limit:  # a previous page within a bare offset's reach
        links["prev"] = path + urlencode({**kept, "offset": max(0, offset - limit)})
    return links


def _param(value: Any) -> str:
    """A parameter as the query string spells it: objects in JSON, lists comma-separated."""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)
