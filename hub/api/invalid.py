"""A request whose parameters or body FastAPI could not read: the hub's 400, not FastAPI's 422.

Everywhere else the hub answers a bad parameter with a 400 whose `detail` names it and says why
(README, "Records"); the typed parameters FastAPI checks itself (`format=xml`, `page=abc`) answered
422 with a list instead, so a client had two error shapes to handle for one mistake. Now they are
one: a 400 whose `detail` is a sentence, with FastAPI's list kept under `errors` for machines
(without the values sent, which the sentence quotes clipped). A page of the catalogue UI asked for
by a browser gets the same sentence as a page in the visitor's language. CKAN's routes keep their
own shape (hub.api.ckan.replies).

An address that names nothing is answered the same way: a browser asking for a page outside the
API's paths gets the 404 as a page in its language, with the site's navigation; API clients keep
the JSON `{"detail": "Not Found"}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlmodel import Session

from hub.api.origin import route_path
from hub.db import get_engine
from hub.redaction import clipped
from hub.ui.pages import render
from hub.ui.routes import PAGE_ENDPOINTS
from hub.ui.visitors import visitor_of

DESCRIPTION = (
    "Bad request: a parameter or the body is unknown, missing, repeated or not of its kind; "
    "`detail` says which and why"
)
ERROR_SCHEMA: dict[str, Any] = {
    "title": "BadRequest",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "what is wrong, naming the parameter"},
        "errors": {
            "type": "array",
            "description": "for a parameter the route checks by its type: where, what and why",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
# Where machines read (the API, CKAN's, DCAT's catalogue, the OpenAPI document and its viewers,
# the health check, static files): an unknown address there stays JSON, whatever the client accepts.
_API_PATHS = re.compile(
    r"/(?:api|docs|docs-assets|redoc|static|healthz|readyz|openapi\.json|catalog\.[^/]*)(?:/|$)"
)
# pydantic's messages about the value itself: "Input should be …", "String should have …"
_SHOULD = re.compile(
    r"(?:Input|String|List|Value|Dictionary|Tuple|Set|Decimal) should (?P<rest>.+)"
)


def sentence(errors: Iterable[Mapping[str, Any]]) -> str:
    """What FastAPI's errors say, as one sentence per parameter: `format must be 'json', 'csv'
    or 'geojson' (got 'xml')`, `page is required`."""
    parts = []
    for error in errors:
        place = [str(p) for p in error.get("loc", ())]
        name = ".".join(place[1:]) or (place[0] if place else "request")
        message = str(error.get("msg", "is not valid"))
        if error.get("type") == "missing":
            parts.append(f"{name} is required")
            continue
        should = _SHOULD.match(message)
        if should:  # "List should have at least 1 item after validation, not 0"
            message = f"must {should['rest'].replace(' after validation', '')}"
        else:
            message = f"is not valid: {message[:1].lower()}{message[1:]}"
        given = error.get("input")
        got = f" (got {clipped(given)!r})" if isinstance(given, str | int | float) else ""
        parts.append(f"{name} {message}{got}")
    return "; ".join(parts) or "the request could not be read"


def bare_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's errors without the values sent (a body may be large, or someone's secret)."""
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in errors
    ]


def pages_here(request: Request) -> bool:
    """Whether an error here is a page for a browser: on one of the catalogue UI's routes, or at
    an address no route answers outside the API's paths (its answer then depends on Accept)."""
    if "endpoint" in request.scope:  # a route or a mount answered: a page only if it is the UI's
        return getattr(request.scope.get("route"), "endpoint", None) in PAGE_ENDPOINTS
    return not _API_PATHS.match(route_path(request.scope))


def wants_page(request: Request) -> bool:
    """Whether a browser asked for a page of the catalogue UI (not its CSV or GeoJSON)."""
    return "text/html" in request.headers.get("accept", "") and pages_here(request)


def by_accept(response: Response) -> Response:
    """An answer that is a page or JSON by the request's Accept: a shared cache must keep both."""
    named = [v.strip() for v in response.headers.get("vary", "").split(",") if v.strip()]
    if "accept" not in {v.lower() for v in named}:
        response.headers["Vary"] = ", ".join([*named, "Accept"])
    return response


def answer(request: Request, exc: RequestValidationError) -> Response:
    """The hub's 400 for a request FastAPI could not validate."""
    errors = exc.errors()
    detail = sentence(errors)
    if wants_page(request):
        with Session(get_engine()) as session:
            visitor = visitor_of(request, session)
            return by_accept(render(request, visitor, "invalid.html", {"detail": detail}, 400))
    refused = JSONResponse({"detail": detail, "errors": bare_errors(errors)}, status_code=400)
    return by_accept(refused) if pages_here(request) else refused


def answer_missing(request: Request) -> Response:
    """The 404 page of an address that names no page, in the visitor's language."""
    with Session(get_engine()) as session:
        visitor = visitor_of(request, session)
        return by_accept(render(request, visitor, "nowhere.html", {"path": request.url.path}, 404))


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document saying what the routes answer: FastAPI's 422 becomes the hub's 400
    (or nothing, on CKAN's routes, whose validation errors are their documented 409)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "422" not in responses:
                continue
            del responses["422"]
            if "409" in responses and "400" in responses:
                continue  # a CKAN action: its Validation Error is already there
            said = responses.setdefault("400", {"description": DESCRIPTION})
            said.setdefault("content", {"application/json": {"schema": ERROR_SCHEMA}})
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's, referred to no more
        others = {name: c for name, c in components.items() if name != unused}
        if f"#/components/schemas/{unused}" not in repr((schema.get("paths"), others)):
            components.pop(unused, None)
    return schema
