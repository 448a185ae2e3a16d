"""CKAN's Action API at /api/3/action/NAME and /api/action/NAME, with CKAN's exact envelopes.

ckanapi and CKAN harvesters read `success`, `result` and `error.__type` (see
reference/catalogues.md §1): the shapes, status codes and bare-string 400s below follow
ckan/views/api.py so every CKAN client works unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from python_multipart.exceptions import FormParserError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from hub import jsontext
from hub.api import etags
from hub.api.auth import AuthError, authenticate, declared_purpose
from hub.api.ckan.actions import ACTIONS, OWN_TOKENS, WRITE_ACTIONS, WRITES, Call
from hub.api.ckan.docs import ACTION_DOCS, GENERIC, get_operation, post_operation
from hub.api.ckan.errors import ActionError, NotAuthorized, as_text
from hub.api.ckan.replies import REVALIDATED, bare, envelope
from hub.api.guards import base_url
from hub.api.headers import shows_credentials
from hub.api.limits import BodyTooLarge
from hub.api.outages import OUTAGES
from hub.db import get_engine
from hub.redaction import clipped

log = logging.getLogger(__name__)

router = APIRouter(tags=["ckan"])

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BadRequest(ValueError):
    """A request CKAN answers with a bare JSON string and a 400, not an envelope."""


@router.get("/api", operation_id="ckan_api_version")
def api_version() -> dict[str, int]:
    """The API version CKAN reports at /api."""
    return {"version": 1}


@router.get("/api/3", operation_id="ckan_action_api_version")
def api_version_3() -> dict[str, int]:
    """The Action API version, which clients probe to recognise a CKAN."""
    return {"version": 3}


def route_documented(name: str) -> None:
    """GET and POST /api/3/action/NAME, described with NAME's parameters, served by call_action."""

    async def call_named(request: Request) -> Response:
        return await call_action(request, name)

    path = f"/api/3/action/{name}"
    # POST first: a PUT or DELETE is answered 405 with `Allow` naming the first route's method,
    # and POST is the one every action takes.
    router.add_api_route(
        path,
        call_named,
        methods=["POST"],
        operation_id=f"ckan_{name}_post",
        openapi_extra=post_operation(name),
    )
    router.add_api_route(
        path,
        call_named,
        methods=["GET"],
        operation_id=f"ckan_{name}_get",
        openapi_extra=get_operation(name),
    )


# The read actions get their own paths in the OpenAPI document, parameters and all; they answer
# exactly as the generic route below would (which still serves /api/action/NAME and the rest).
for _action in ACTION_DOCS:
    route_documented(_action)


@router.get(
    "/api/3/action/{name}",
    operation_id="ckan_action_get",
    responses=GENERIC,
    summary="Any other action: a write answers 403, an unknown name 400",
)
@router.post(
    "/api/3/action/{name}",
    operation_id="ckan_action_post",
    responses=GENERIC,
    summary="Any other action: a write answers 403, an unknown name 400",
)
@router.get(
    "/api/action/{name}",
    operation_id="ckan_unversioned_action_get",
    responses=GENERIC,
    summary="Any action at the unversioned path ckanapi calls, as at /api/3/action/{name}",
)
@router.post(
    "/api/action/{name}",
    operation_id="ckan_unversioned_action_post",
    responses=GENERIC,
    summary="Any action at the unversioned path ckanapi calls, as at /api/3/action/{name}",
)
async def call_action(request: Request, name: str) -> Response:
    """Call a CKAN action (GET with query arguments, or POST with JSON or a form)."""
    if name not in ACTIONS and name not in WRITE_ACTIONS:
        return bare(f"Action name not known: {clipped(name)}")
    readable = name in ACTIONS
    try:
        data = await read_data(request, readable)
    except BadRequest as exc:
        return bare(f"JSON Error: {exc}")
    help_url = f"{base_url(request)}api/3/action/help_show?name={name}"
    try:
        # One trip to a worker thread for the session, the token and the action: each trip
        # waits for a thread to be scheduled, which a busy server pays per request.
        result = await run_in_threadpool(answer, request, name, readable, data)
    except AuthError as refused:
        failure = {"__type": "Authorization Error", "message": refused.message}
        response = envelope(
            {"help": help_url, "success": False, "error": failure}, refused.status, request
        )
        response.headers.update(refused.headers)
        return response
    except ActionError as error:
        return envelope(
            {"help": help_url, "success": False, "error": error.error()}, error.status, request
        )
    except OUTAGES:  # the database restarting: a 503 in CKAN's envelope (hub.api.outages)
        raise
    except Exception:
        log.exception("CKAN action %s failed", name)
        failure = {"__type": "Internal Server Error", "message": "Internal Server Error"}
        return envelope({"help": help_url, "success": False, "error": failure}, 500, request)
    reply = envelope({"help": help_url, "success": True, "result": result}, 200, request)
    if request.method == "GET" and name in REVALIDATED:  # a POST is never answered 304
        return etags.conditional(request, reply, shared=not shows_credentials(request.scope))
    return reply


def answer(request: Request, name: str, readable: bool, data: dict[str, Any]) -> Any:
    """An action's result, in a read session of its own, for the actor the request's token
    proves (AuthError if it proves none)."""
    with Session(get_engine()) as session:
        actor = authenticate(request, session)
        writer = name in WRITES and name not in OWN_TOKENS
        if writer and actor.role not in ("operator", "admin"):  # before any check
            raise NotAuthorized(f"{name} needs an operator's API token")
        if not readable and name not in WRITES:
            raise NotAuthorized(
                f"the hub does not take {name} through the CKAN API (it takes "
                f"{', '.join(sorted(WRITES))})"
            )
        purpose = declared_purpose(request, as_text(data, "purpose"))
        call = Call(
            session=session,
            base=base_url(request),
            actor=actor,
            purpose=purpose,
            route=request.url.path,
        )
        return (ACTIONS.get(name) or WRITES[name])(call, data)


async def read_data(request: Request, side_effect_free: bool) -> dict[str, Any]:
    """The action's parameters, read the way ckan/views/api.py::_get_request_data does."""
    data: dict[str, Any] = {}
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").lower()
        if content_type.startswith(FORM_TYPES):
            data = from_form(await read_form(request))
        else:
            data = from_json(await request.body())
        refuse_nul(data)  # the query string's NULs are refused before any route (hub.api.nul)
    if side_effect_free:
        return {**mixed(request.query_params), **data}
    if request.method == "GET":
        raise BadRequest("Invalid request. Please use POST method for your request")
    return data


def refuse_nul(data: dict[str, Any]) -> None:
    """A NUL character anywhere in the data (PostgreSQL takes none in text) is a bad request."""
    try:
        jsontext.check(data)
    except jsontext.HoldsNul as held:
        raise BadRequest(str(held)) from None


async def read_form(request: Request) -> FormData:
    """The form of a POST, its parsing errors as CKAN's bad request (not FastAPI's detail)."""
    try:
        return await request.form()
    except BodyTooLarge:
        raise
    except (HTTPException, MultiPartException, FormParserError, ValueError) as exc:
        reason = exc.detail if isinstance(exc, HTTPException) else str(exc)
        raise BadRequest(f"Error decoding form data. Error: {reason}") from None


def from_form(form: FormData) -> dict[str, Any]:
    """Form fields as a dict; a lone key holding JSON (value '' or '1') is CKAN's legacy form."""
    items = list(form.multi_items())
    if len(items) == 1 and items[0][1] in ("", "1"):
        try:
            decoded = jsontext.loads(items[0][0])
        except ValueError as exc:
            raise BadRequest(f"Error decoding JSON data. Error: {exc!r}") from None
        if isinstance(decoded, dict):
            return decoded
    return mixed(form)


def from_json(body: bytes) -> dict[str, Any]:
    """A JSON body, which must decode to an object."""
    if not body.strip():
        return {}
    try:
        decoded = jsontext.loads(body)
    except jsontext.HoldsNul as held:
        raise BadRequest(str(held)) from None
    except ValueError as exc:  # also numbers of more than 4300 digits, and nesting too deep
        raise BadRequest(
            f"Error decoding JSON data. Error: {exc!r} JSON data extracted from "
            f"the request: {body[:200]!r}"
        ) from None
    if not isinstance(decoded, dict):
        raise BadRequest(
            f"Request data JSON decoded to {repr(decoded)[:200]} but it needs to be a dictionary."
        )
    return decoded


def mixed(values: QueryParams | FormData) -> dict[str, Any]:
    """Repeated keys become lists, single keys stay strings (werkzeug's MultiDict.mixed)."""
    result: dict[str, Any] = {}
    for key, value in values.multi_items():
        if key in result:
            previous = result[key]
            result[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            result[key] = value
    return result
