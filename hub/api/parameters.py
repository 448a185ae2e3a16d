"""OpenAPI descriptions of the parameters routes read by hand: a purpose, record filters, `q`.

`purpose` and `X-Purpose` are read by hub.api.auth for every caller, and the field filters by
hub.reading from the raw query string (their names are the schema's fields, unknown to FastAPI).
They are described here, for openapi_extra, so that /docs and generated clients can send them;
what the routes accept does not change.
"""

from __future__ import annotations

from typing import Any

PURPOSE_DESCRIPTION = (
    "why the caller reads, one of the charter's purposes: a service reading personal records "
    "names the purpose of the subjects' consents; kept in the access log"
)
PURPOSE: list[dict[str, Any]] = [
    {
        "name": "purpose",
        "in": "query",
        "required": False,
        "description": f"{PURPOSE_DESCRIPTION} (or the `X-Purpose` header)",
        "schema": {"type": "string", "maxLength": 200},
    },
    {
        "name": "X-Purpose",
        "in": "header",
        "required": False,
        "description": f"{PURPOSE_DESCRIPTION} (or `?purpose=`, which wins)",
        "schema": {"type": "string", "maxLength": 200},
    },
]
FILTER_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(__(gte|gt|lte|lt|ne|null|contains|eq))?$"
FILTERS: dict[str, Any] = {
    "name": "filters",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": True,
    "description": "field filters, each its own query parameter (`station_id=FR01`, "
    "`value__gte=50`): `field`, `field__gte`, `__gt`, `__lte`, `__lt`, `__ne`, `__null`, "
    "`__contains`, `__eq`, on the schema's fields (`/schema`); `filters` itself is never sent",
    "schema": {
        "type": "object",
        "propertyNames": {"pattern": FILTER_NAME},
        "additionalProperties": {"type": "string"},
    },
}
WORDS: dict[str, Any] = {
    "name": "q",
    "in": "query",
    "required": False,
    "description": "words that must each appear in some field's text, whatever their case",
    "schema": {"type": "string", "minLength": 1},
}


def extra(*parameters: dict[str, Any]) -> dict[str, Any]:
    """openapi_extra that adds `parameters` to an operation's own."""
    return {"parameters": list(parameters)}
