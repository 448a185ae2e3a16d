"""CKAN's answers: the envelope, the bare-string 400, JSONP, and HTTP errors in CKAN's shapes.

Everything under /api/3 and /api/action answers in CKAN's shapes, errors of routing and parsing
included. CKAN itself answers those (an unknown URL, a wrong method, a body too large) with an
HTML error page that no CKAN client reads; the hub answers the envelope with the same status
instead, `Not Found Error` for a 404 so that ckanapi raises its NotFound.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import Scope

from hub.api.origin import public_root, route_path

MEDIA_TYPE = "application/json;charset=utf-8"
ACTION_PREFIXES = ("/api/3/action/", "/api/action/")
# What harvesters fetch again and again: a successful GET of these carries the ETag of its bytes
# (hub.api.etags), and If-None-Match holding it answers 304.
REVALIDATED = ("package_show", "package_search")
_CALLBACK = re.compile(r"[A-Za-z_$][\w$.]{0,99}", re.ASCII)  # a JS name, nothing to inject
# Ambient credentials: what a browser adds by itself to a <script src> request.
CREDENTIALS = ("authorization", "x-ckan-api-key", "cookie")


def is_ckan_path(path: str) -> bool:
    """Whether a route path is CKAN's: /api/3 and /api/action and everything under them."""
    return path in ("/api/3", "/api/action") or path.startswith(("/api/3/", "/api/action/"))


def help_url(scope: Scope) -> str:
    """CKAN's `help` link for the action a path names (help_show itself otherwise)."""
    path = route_path(scope)
    name = path.rsplit("/", 1)[-1] if path.startswith(ACTION_PREFIXES) else ""
    suffix = f"?name={name}" if re.fullmatch(r"\w{1,100}", name) else ""
    return f"{public_root(scope)}api/3/action/help_show{suffix}"


def failure_body(scope: Scope, kind: str, message: str) -> str:
    """A failed envelope's text."""
    return json.dumps(
        {"help": help_url(scope), "success": False, "error": {"__type": kind, "message": message}},
        ensure_ascii=False,
    )


# orjson writes what json.dumps(ensure_ascii=False, default=str) writes, ten times faster (a page
# of 10 packages is 45 kB): dates, times and dataclasses go to `str` as json.dumps sends them.
_ORJSON = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)


def dumps(body: Any) -> bytes:
    """A result as JSON (UTF-8, non-ASCII unescaped, anything else as its `str`): through
    orjson, or json.dumps for what orjson refuses (an integer past 64 bits)."""
    try:
        return orjson.dumps(body, default=_as_json, option=_ORJSON)
    except orjson.JSONEncodeError:
        return json.dumps(body, ensure_ascii=False, default=str).encode()


def _as_json(value: Any) -> Any:
    """What orjson does not write itself, as json.dumps writes it: a float's subclass (numpy's
    float64) as a number, anything else as its `str`."""
    return float(value) if isinstance(value, float) else str(value)


def envelope(body: dict[str, Any], status: int, request: Request) -> Response:
    """CKAN's JSON envelope; JSONP for a GET without credentials that asks, its errors too,
    with status 200 as CKAN answers them (a script tag sees no status: `success` tells)."""
    text = dumps(body)
    callback = request.query_params.get("callback", "")
    if _CALLBACK.fullmatch(callback) and jsonp_allowed(request):
        return Response(
            b"%s(%s);" % (callback.encode(), text),
            200,
            media_type="application/javascript;charset=utf-8",
        )
    return Response(text, status, media_type=MEDIA_TYPE)


def jsonp_allowed(request: Request) -> bool:
    """JSONP only on a GET that carries no credentials: its answer is then the one anyone gets
    (CKAN answers JSONP as an anonymous user). A script tag on any site can read a JSONP answer,
    and the browser adds cookies to it by itself, so an answer to a caller it knows stays plain
    JSON, which `nosniff` keeps from running as a script. What an anonymous caller reads is
    readable from any origin anyway (hub.api.cors)."""
    return request.method == "GET" and not any(request.headers.get(h) for h in CREDENTIALS)


def bare(message: str) -> Response:
    """CKAN's un-enveloped 400: the body is a JSON string, not an object."""
    return Response(json.dumps(f"Bad request: {message}"), 400, media_type=MEDIA_TYPE)


async def answer_http_error(request: Request, exc: Exception) -> Response:
    """An HTTP error (unknown route, wrong method …) in CKAN's envelope on CKAN paths."""
    assert isinstance(exc, HTTPException)
    if not is_ckan_path(route_path(request.scope)):
        return await http_exception_handler(request, exc)
    kind = "Not Found Error" if exc.status_code == 404 else _reason(exc.status_code)
    message = "Not found: no such CKAN route" if exc.status_code == 404 else str(exc.detail)
    return Response(
        failure_body(request.scope, kind, message),
        exc.status_code,
        headers=exc.headers,
        media_type=MEDIA_TYPE,
    )


async def answer_invalid_request(request: Request, exc: Exception) -> Response:
    """A request to a CKAN route that FastAPI could not validate: CKAN's Validation Error
    (hub.app sends the other routes' to hub.api.invalid)."""
    assert isinstance(exc, RequestValidationError)
    fields: dict[str, Any] = {}
    for error in exc.errors():
        fields.setdefault(
            ".".join(str(p) for p in error.get("loc", ())[1:]) or "request", []
        ).append(str(error.get("msg", "invalid")))
    body = {
        "help": help_url(request.scope),
        "success": False,
        "error": {**fields, "__type": "Validation Error"},
    }
    return Response(json.dumps(body, ensure_ascii=False), 409, media_type=MEDIA_TYPE)


def _reason(status: int) -> str:
    """The HTTP reason phrase of a status, as the error's type."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Bad Request"
