"""What the OpenAPI document says beyond FastAPI's own: how callers authenticate, the headers
routes read and send, the statuses every route may answer, and a schema for each media type.

Tokens are read by hand (hub.api.auth, so that CKAN's routes take ckanapi's raw token too), so
FastAPI knows no security scheme; conditional reads and paging headers are set by hand as well.
Statuses that come from the layers every route shares — a dataset that is not there, a token
refused or sent too often, a body over the limit — are not in each route's `responses`. Generated
clients and Swagger UI's "Authorize" button need them declared: this module adds them to the
document FastAPI builds, from the routes' own dependencies, and changes no answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from hub.api.auth import CKAN_PREFIXES, current_caller

SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <token>`, a token from `hub token create`, "
        "`/api/v1/org/tokens` or CKAN's api_token_create",
    },
    "ckanToken": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "CKAN's routes only: the raw token in `Authorization`, as ckanapi sends it",
    },
    "ckanKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CKAN-API-Key",
        "description": "CKAN's routes only: the token in `X-CKAN-API-Key`",
    },
}
ANYONE: dict[str, list[str]] = {}  # an empty requirement: the operation also answers anonymously
BEARER: dict[str, list[str]] = {"bearer": []}
# Where a token is required (the routes call hub.api.auth.require_role): a subject's own data,
# an organization's tokens, the access log, and declaring or closing crises.
TOKEN_ONLY = ("/api/v1/me", "/api/v1/org/", "/api/v1/access-log")
# Where the route reads the token itself rather than through current_caller.
READ_BY_HAND = {"/api/v1/feeds/stream"}

IF_NONE_MATCH: dict[str, Any] = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "the ETag of the answer the client holds: 304 if it is still current",
    "schema": {"type": "string"},
}
TEXT = {"schema": {"type": "string"}}
ETAG = {"ETag": {"description": "names this answer, for If-None-Match", **TEXT}}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", **TEXT}}
CHALLENGE = {"WWW-Authenticate": {"description": 'Bearer realm="hub", with the error', **TEXT}}
PAGING = {
    "Link": {
        "description": '`<URL>; rel="next"` when more records follow (the one way a CSV page '
        "says so)",
        **TEXT,
    },
    "X-Total-Count": {
        "description": "with `total=true`: the matching records over all pages",
        "schema": {"type": "integer", "minimum": 0},
    },
}
PAGED = {"/api/v1/datasets/{dataset_id}/records"}
DCAT_PAGED = {"/catalog.{suffix}"}
DCAT_LINKS = {"Link": {"description": "first, previous, next and last pages", **TEXT}}

DETAIL = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["detail"],
            "properties": {"detail": {"type": "string"}},
        }
    }
}
# What every route reading a token may answer, and every dataset's route, and every write.
TOKEN_STATUSES = {
    "400": "a token sent in the query string (send `Authorization: Bearer <token>`)",
    "401": "the token is not valid (unknown, revoked or expired)",
    "429": "too many invalid tokens from this client: retry after `Retry-After` seconds",
}
# A route that answers in several media types describes each: FastAPI gives the JSON one its
# model's schema and leaves the others empty, which clients then read as JSON.
FILE = {"type": "string", "format": "binary"}
MEDIA_SCHEMAS: dict[str, dict[str, Any]] = {
    "text/csv": {"type": "string"},
    "application/geo+json": {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": {"type": "object"}},
        },
    },
    "application/zip": FILE,
    "application/x-netcdf": FILE,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": FILE,
    "application/atom+xml": {"type": "string"},
    "application/cap+xml": {"type": "string"},
    "application/ld+json": {"type": "object"},
    "text/turtle": {"type": "string"},
    "application/rdf+xml": {"type": "string"},
    "text/event-stream": {"type": "string"},
}
# A route of the UI's family that the README names for API clients (the maps' outline).
TERRITORY: dict[str, Any] = {
    "get": {
        "tags": ["territory"],
        "summary": "The territory's outline",
        "description": "HUB_TERRITORY_FILE, or the hull of the open datasets' extents",
        "operationId": "read_territory",
        "responses": {
            "200": {
                "description": "a GeoJSON object: the outline's geometry or Feature",
                "content": {
                    "application/geo+json": {
                        "schema": {
                            "type": "object",
                            "required": ["type"],
                            "properties": {"type": {"type": "string"}},
                        }
                    }
                },
            }
        },
    }
}
MISSING = "no such dataset (or, for what the route reads, no records, grid or run of it)"
TOO_LARGE = "the request body is over HUB_MAX_BODY_BYTES"


def operation_id(route: APIRoute) -> str:
    """A route's operationId: its endpoint's name, unless it names one (hub.app)."""
    return route.name


def document(openapi: dict[str, Any], routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """`openapi` with security schemes, each operation's security, If-None-Match where a 304 may
    answer, and the headers of its responses."""
    openapi.setdefault("components", {})["securitySchemes"] = SCHEMES
    openapi["paths"].setdefault("/territory.geojson", TERRITORY)
    authenticated = authenticated_operations(routes)
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            reads_token = (path, method) in authenticated or path in READ_BY_HAND
            security = security_of(path, method, reads_token)
            if security is not None:
                operation["security"] = security
            declare_statuses(path, method, operation, reads_token)
            declare_headers(path, operation)
            describe_media(operation)
    return openapi


def authenticated_operations(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    """(path, method) of every native route that reads the caller's token."""
    # FastAPI keeps included routers' routes under their own prefixes: their contexts give the
    # full paths, as the document names them.
    return {
        (str(context.path_format), method.lower())
        for context in iter_route_contexts(list(routes))
        if isinstance(context.route, APIRoute) and reads_caller(context.route.dependant)
        for method in context.route.methods or ()
    }


def reads_caller(dependant: Dependant) -> bool:
    """Whether a route's dependencies include hub.api.auth.current_caller."""
    return any(sub.call is current_caller or reads_caller(sub) for sub in dependant.dependencies)


def security_of(path: str, method: str, authenticated: bool) -> list[dict[str, Any]] | None:
    """The security requirements of one operation; None where no token is read."""
    if path.startswith(CKAN_PREFIXES):
        return [ANYONE, BEARER, {"ckanToken": []}, {"ckanKey": []}]
    if not authenticated:
        return None
    if path.startswith(TOKEN_ONLY) or (path.startswith("/api/v1/crises") and method == "post"):
        return [BEARER]
    return [ANYONE, BEARER]


def declare_statuses(path: str, method: str, operation: dict[str, Any], reads_token: bool) -> None:
    """The statuses an operation answers from the layers it shares with others."""
    responses = operation.setdefault("responses", {})
    missing: dict[str, str] = {}
    if reads_token:
        missing.update(TOKEN_STATUSES)
    if path.startswith("/api/v1/datasets/{dataset_id}"):
        missing["404"] = MISSING
    if path.startswith("/api/v1/") and method != "get":
        missing["413"] = TOO_LARGE
    for status, description in missing.items():
        responses.setdefault(status, {"description": description, "content": DETAIL})
    operation["responses"] = dict(sorted(responses.items()))


def describe_media(operation: dict[str, Any]) -> None:
    """A schema for each media type a response left without one; no empty JSON schema beside
    another media type (a download answers only in its own)."""
    for response in operation.get("responses", {}).values():
        content = response.get("content", {})
        if len(content) > 1 and content.get("application/json") == {"schema": {}}:
            del content["application/json"]
        for media, described in content.items():
            if not described.get("schema") and media in MEDIA_SCHEMAS:
                described["schema"] = MEDIA_SCHEMAS[media]


def declare_headers(path: str, operation: dict[str, Any]) -> None:
    """If-None-Match and the response headers of one operation."""
    responses = operation.get("responses", {})
    if "304" in responses:
        operation.setdefault("parameters", []).append(IF_NONE_MATCH)
        add_headers(responses.get("200"), ETAG)
    if path in PAGED:
        add_headers(responses.get("200"), PAGING)
    if path in DCAT_PAGED:
        add_headers(responses.get("200"), DCAT_LINKS)
    add_headers(responses.get("401"), CHALLENGE)
    add_headers(responses.get("429"), RETRY_AFTER)
    add_headers(responses.get("503"), RETRY_AFTER)


def add_headers(response: dict[str, Any] | None, headers: dict[str, Any]) -> None:
    """Declare `headers` on `response`, when the operation has it."""
    if response is not None:
        response.setdefault("headers", {}).update(headers)
