"""The OpenAPI description of each CKAN read action: its parameters, its envelope and its errors.

The actions are served by one generic route (hub.api.ckan), which reads its parameters as CKAN
does; FastAPI validates none of them. What is written here is for readers of /docs and for
schema-driven clients and fuzzers only: it changes nothing of what the routes accept.
"""

from __future__ import annotations

from typing import Any

from hub.api.ckan.replies import REVALIDATED
from hub.api.ckan.search import ROWS_MAX

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
JSONP = "application/javascript"
LIST_MAX = 1000

TEXT: dict[str, Any] = {"type": "string"}
FLAG: dict[str, Any] = {"type": "boolean"}
NATURAL: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
NAMES: dict[str, Any] = {"type": "array", "items": {"type": "string"}, "maxItems": LIST_MAX}
# A list action's `result`: names, or with `all_fields` the dicts CKAN describes them with.
NAMES_OR_DICTS: dict[str, Any] = {
    "type": "array",
    "items": {"anyOf": [{"type": "string"}, {"type": "object"}]},
}
DICTS: dict[str, Any] = {"type": "array", "items": {"type": "object"}}
SORT: dict[str, Any] = {
    "type": "string",
    "description": "`name`, `title` or `package_count`, then `asc` or `desc`",
}


def param(schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    """One parameter's description: its JSON schema, what it means, whether it is required."""
    return {"schema": schema, "description": description, "required": required}


GROUP_LIST = {
    "sort": param(SORT, "order, default `title asc`"),
    "limit": param({**NATURAL, "maximum": LIST_MAX}, f"at most this many (≤ {LIST_MAX})"),
    "offset": param(NATURAL, "skip this many"),
    "all_fields": param(FLAG, "dicts instead of names"),
}

# Each read action: (summary, parameters by name, the schema of `result`).
ACTION_DOCS: dict[str, tuple[str, dict[str, dict[str, Any]], dict[str, Any]]] = {
    "status_show": (
        "This site's title, URL, locale, extensions and CKAN API version.",
        {},
        {"type": "object"},
    ),
    "package_list": (
        "Names of every public dataset.",
        {
            "limit": param(NATURAL, "at most this many names"),
            "offset": param(NATURAL, "skip this many names"),
        },
        {"type": "array", "items": {"type": "string"}},
    ),
    "package_show": (
        "One dataset by id or name.",
        {
            "id": param(TEXT, "the dataset's id or name", required=True),
            "include_tracking": param(FLAG, "accepted; the hub keeps no tracking"),
        },
        {"type": "object"},
    ),
    "package_search": (
        "Search datasets with CKAN's (Solr's) q and fq syntax, sorts and facets.",
        {
            "q": param(TEXT, "Solr query: words, `field:value`, AND / OR / NOT, parentheses"),
            "fq": param(
                TEXT, "filter query, same syntax as q; date math in ranges: `[NOW-1DAY TO *]`"
            ),
            "fq_list": param(NAMES, "more filter queries"),
            "rows": param({**NATURAL, "maximum": ROWS_MAX}, f"results per page (≤ {ROWS_MAX})"),
            "start": param(NATURAL, "skip this many results"),
            "sort": param(TEXT, "e.g. `score desc, metadata_modified desc`"),
            "fl": param(NAMES, "only these fields of each package"),
            "facet": param(FLAG, "count facets (default true); false: `facets` stay empty"),
            "facet.field": param(NAMES, "fields to count values of"),
            "facet.limit": param(
                {"type": "integer", "minimum": -1, "maximum": 2**31 - 1},
                "values per facet; -1: all",
            ),
            "facet.mincount": param(NATURAL, "leave out values counted fewer times"),
            "include_private": param(FLAG, "accepted; what the caller may see is the token's"),
            "include_drafts": param(FLAG, "accepted; the hub has no drafts"),
        },
        {
            "type": "object",
            "required": ["count", "results"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "results": {"type": "array", "items": {"type": "object"}},
                "facets": {"type": "object"},
                "search_facets": {"type": "object"},
                "sort": {"type": "string"},
            },
        },
    ),
    "resource_show": (
        "One resource by id; its URL is the records' CSV export.",
        {
            "id": param(TEXT, "the resource's id", required=True),
        },
        {"type": "object"},
    ),
    "organization_list": (
        "Organizations by name, or as dicts with `all_fields`.",
        {
            **GROUP_LIST,
            "q": param(TEXT, "only organizations whose id or name contains this"),
            "organizations": param(NAMES, "only these organizations"),
            "include_dataset_count": param(
                FLAG, "with `all_fields`: count datasets (default true)"
            ),
        },
        NAMES_OR_DICTS,
    ),
    "organization_show": (
        "One organization by id, with its dataset count.",
        {
            "id": param(TEXT, "the organization's id", required=True),
            "include_datasets": param(FLAG, "list its datasets too"),
        },
        {"type": "object"},
    ),
    "group_list": ("The themes, as CKAN groups.", GROUP_LIST, NAMES_OR_DICTS),
    "group_show": (
        "One theme, as a CKAN group.",
        {
            "id": param(TEXT, "the theme", required=True),
            "include_datasets": param(FLAG, "list its datasets too"),
        },
        {"type": "object"},
    ),
    "tag_list": (
        "Keywords in use.",
        {
            "query": param(TEXT, "only keywords containing this"),
            "vocabulary_id": param(TEXT, "a vocabulary (the hub has free tags only)"),
            "all_fields": param(FLAG, "dicts instead of names"),
        },
        NAMES_OR_DICTS,
    ),
    "user_list": (
        "Empty: the hub keeps no user accounts (callers are known by their API tokens).",
        {},
        DICTS,
    ),
    "user_show": (
        "Not found, for any id: the hub keeps no user accounts.",
        {"id": param(TEXT, "a user's id or name", required=True)},
        {"type": "object"},
    ),
    "api_token_list": (
        "The live tokens of the caller's organization and role (operator, service or crisis "
        "cell), never a secret; api_token_create and api_token_revoke manage them.",
        {
            "user_id": param(TEXT, "the caller's organization (CKAN 2.9's name)"),
            "user": param(TEXT, "the same, as CKAN 2.10 names it"),
        },
        {"type": "array", "items": {"type": "object"}},
    ),
    "license_list": (
        "The licences of the charters and of the datasets, as CKAN describes licences.",
        {},
        DICTS,
    ),
    "datastore_search": (
        "Rows of a records resource, as the caller's token opens them (every read logged).",
        {
            "resource_id": param(TEXT, "the records resource's id", required=True),
            "filters": param({"type": "object"}, "field: value (or a list: any of them)"),
            "q": param(
                {"type": ["string", "object"]},
                "words found in any field's text (or {field: words}), whatever their case",
            ),
            "limit": param({**NATURAL, "maximum": 32_000}, "at most this many rows (100)"),
            "offset": param(
                NATURAL,
                "skip this many rows: at most 1000000 without `cursor` (409 beyond: follow "
                "`_links.next`); beside a cursor, only echoed",
            ),
            "cursor": param(
                TEXT,
                "the hub's keyset continuation, as `_links.next` writes it: the page starts "
                "after the row it names, however deep (the next page's is in its `_links.next`)",
            ),
            "fields": param(NAMES, "only these fields"),
            "sort": param(TEXT, "`field asc, other desc`"),
            "include_total": param(FLAG, "count every matching row (default true)"),
            "purpose": param(
                {"type": "string", "maxLength": 200},
                "why the caller reads, one of the charter's purposes: a service reading personal "
                "rows names its subjects' consents' purpose (or the `X-Purpose` header)",
            ),
        },
        {"type": "object"},
    ),
    "datastore_search_sql": (
        "Refused (403): the hub runs no SQL sent by callers.",
        {"sql": param(TEXT, "ignored: refused whatever it holds")},
        {"type": "object"},
    ),
    "help_show": (
        "The documentation of an action.",
        {
            "name": param(TEXT, "the action's name", required=True),
        },
        {"type": "string"},
    ),
}


def envelope(result: dict[str, Any]) -> dict[str, Any]:
    """CKAN's successful envelope around `result`."""
    return {
        "type": "object",
        "required": ["help", "success", "result"],
        "properties": {"help": {"type": "string"}, "success": {"const": True}, "result": result},
    }


FAILURE = {
    "type": "object",
    "required": ["help", "success", "error"],
    "properties": {
        "help": {"type": "string"},
        "success": {"const": False},
        "error": {
            "type": "object",
            "required": ["__type"],
            "properties": {"__type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}
FAILURES = {
    "400": (
        "Bad request, a bare JSON string and no envelope (body not JSON, GET of a write, "
        "unknown action); or Search Query Error, an envelope",
        {"anyOf": [{"type": "string"}, FAILURE]},
    ),
    "401": ("Authorization Error: the token is not valid", FAILURE),
    "403": ("Authorization Error: the caller may not", FAILURE),
    "404": ("Not Found Error: no such thing, or not one the caller may know of", FAILURE),
    "409": ("Validation Error: the error holds field → messages", FAILURE),
    "413": ("The request body is too large", FAILURE),
    "429": ("Too many invalid tokens from this client", FAILURE),
    "503": ("The database is unavailable for a moment: retry", FAILURE),
}


def responses(result: dict[str, Any], jsonp: bool) -> dict[int | str, dict[str, Any]]:
    """An action's documented answers: the envelope, then CKAN's failures."""
    success: dict[str, Any] = {JSON: {"schema": envelope(result)}}
    if jsonp:
        success[JSONP] = {"schema": {"type": "string"}}
    answers: dict[int | str, dict[str, Any]] = {
        "200": {"description": "CKAN's envelope, `success: true`", "content": success}
    }
    for status, (description, schema) in FAILURES.items():
        answers[status] = {"description": description, "content": {JSON: {"schema": schema}}}
    return answers


def query_parameters(parameters: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Query parameters; a list is given by repeating its key (or as JSON, or comma-separated)."""
    described = [{"name": name, "in": "query", **spec} for name, spec in parameters.items()]
    for spec in described:
        if spec["schema"].get("type") == "array":
            spec.update(style="form", explode=True)
    return [
        *described,
        {
            "name": "callback",
            "in": "query",
            "required": False,
            "description": "JSONP: a JavaScript name (open data, no credentials)",
            "schema": {"type": "string", "pattern": r"^[A-Za-z_$][\w$.]{0,99}$"},
        },
    ]


def body(parameters: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The POST body: a JSON object (or a form) of the same parameters."""
    schema = {
        "type": "object",
        "properties": {
            name: {**spec["schema"], "description": spec["description"]}
            for name, spec in parameters.items()
        },
        "required": [name for name, spec in parameters.items() if spec["required"]],
    }
    if not schema["required"]:
        del schema["required"]
    return {"required": False, "content": {JSON: {"schema": schema}, FORM: {"schema": schema}}}


def get_operation(name: str) -> dict[str, Any]:
    """The OpenAPI operation (for openapi_extra) of GET /api/3/action/NAME."""
    summary, parameters, result = ACTION_DOCS[name]
    answers = responses(result, jsonp=True)
    if name in REVALIDATED:
        answers["304"] = {"description": "If-None-Match holds the current ETag"}
    return {
        "summary": f"{name}: {summary}",
        "parameters": query_parameters(parameters),
        "responses": answers,
    }


def post_operation(name: str) -> dict[str, Any]:
    """The OpenAPI operation (for openapi_extra) of POST /api/3/action/NAME."""
    summary, parameters, result = ACTION_DOCS[name]
    return {
        "summary": f"{name}: {summary}",
        "requestBody": body(parameters),
        "responses": responses(result, jsonp=False),
    }


GENERIC = responses({}, jsonp=True)  # any other name: a write (403) or an unknown action (400)
