"""CKAN's Action API at /api/3/action/NAME and /api/action/NAME, with CKAN's exact envelopes.

ckanapi and CKAN harvesters read `success`, `result` and `error.__type` (see
reference/catalogues.md §1): the shapes, status codes and bare-string 400s below follow
ckan/views/api.py so every CKAN client works unchanged.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams

from hub.api.auth import AuthError, authenticate
from hub.api.ckan_actions import ACTIONS, WRITE_ACTIONS, Call
from hub.api.ckan_errors import ActionError, NotAuthorized
from hub.api.deps import SessionDep
from hub.api.guards import base_url

log = logging.getLogger(__name__)

router = APIRouter(tags=["ckan"])

MEDIA_TYPE = "application/json;charset=utf-8"
_CALLBACK = re.compile(r"^[A-Za-z_$][\w$.]{0,99}$")


class BadRequest(ValueError):
    """A request CKAN answers with a bare JSON string and a 400, not an envelope."""


@router.get("/api", include_in_schema=False)
def api_version() -> dict[str, int]:
    """The API version CKAN reports at /api."""
    return {"version": 1}


@router.get("/api/3", include_in_schema=False)
def api_version_3() -> dict[str, int]:
    """The Action API version, which clients probe to recognise a CKAN."""
    return {"version": 3}


@router.get("/api/3/action/{name}", operation_id="ckan_action_get")
@router.post("/api/3/action/{name}", operation_id="ckan_action_post")
@router.get("/api/action/{name}", include_in_schema=False)
@router.post("/api/action/{name}", include_in_schema=False)
async def call_action(request: Request, name: str, session: SessionDep) -> Response:
    """Call a CKAN action (GET with query arguments, or POST with JSON or a form)."""
    if name not in ACTIONS and name not in WRITE_ACTIONS:
        return bare(f"Action name not known: {name}")
    readable = name in ACTIONS
    try:
        data = await read_data(request, readable)
    except BadRequest as exc:
        return bare(f"JSON Error: {exc}")
    help_url = f"{base_url(request)}api/3/action/help_show?name={name}"
    try:
        try:
            actor = await run_in_threadpool(authenticate, request, session)
        except AuthError as refused:
            failure = {"__type": "Authorization Error", "message": refused.message}
            response = envelope({"help": help_url, "success": False, "error": failure},
                                refused.status, request)
            response.headers.update(refused.headers)
            return response
        if not readable:
            raise NotAuthorized(f"the CKAN API does not take writes yet: {name} is not allowed")
        call = Call(session=session, base=base_url(request), actor=actor)
        result = await run_in_threadpool(ACTIONS[name], call, data)
    except ActionError as error:
        return envelope({"help": help_url, "success": False, "error": error.error()},
                        error.status, request)
    except Exception:
        log.exception("CKAN action %s failed", name)
        failure = {"__type": "Internal Server Error", "message": "Internal Server Error"}
        return envelope({"help": help_url, "success": False, "error": failure}, 500, request)
    return envelope({"help": help_url, "success": True, "result": result}, 200, request)


async def read_data(request: Request, side_effect_free: bool) -> dict[str, Any]:
    """The action's parameters, read the way ckan/views/api.py::_get_request_data does."""
    data: dict[str, Any] = {}
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            data = from_form(await request.form())
        else:
            data = from_json(await request.body())
    if side_effect_free:
        return {**mixed(request.query_params), **data}
    if request.method == "GET":
        raise BadRequest("Invalid request. Please use POST method for your request")
    return data


def from_form(form: FormData) -> dict[str, Any]:
    """Form fields as a dict; a lone key holding JSON (value '' or '1') is CKAN's legacy form."""
    items = list(form.multi_items())
    if len(items) == 1 and items[0][1] in ("", "1"):
        try:
            decoded = json.loads(items[0][0])
        except json.JSONDecodeError as exc:
            raise BadRequest(f"Error decoding JSON data. Error: {exc!r}") from None
        if isinstance(decoded, dict):
            return decoded
    return mixed(form)


def from_json(body: bytes) -> dict[str, Any]:
    """A JSON body, which must decode to an object."""
    if not body.strip():
        return {}
    try:
        decoded = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Error decoding JSON data. Error: {exc!r} JSON data extracted from "
                         f"the request: {body[:200]!r}") from None
    if not isinstance(decoded, dict):
        raise BadRequest(f"Request data JSON decoded to {decoded!r} but it needs to be a "
                         "dictionary.")
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


def envelope(body: dict[str, Any], status: int, request: Request) -> Response:
    """CKAN's JSON envelope; with a safe `callback` on a GET, JSONP (always 200, as CKAN)."""
    text = json.dumps(body, ensure_ascii=False, default=str)
    callback = request.query_params.get("callback", "")
    if request.method == "GET" and _CALLBACK.match(callback):
        return Response(f"{callback}({text});", 200, media_type="application/javascript")
    return Response(text, status, media_type=MEDIA_TYPE)


def bare(message: str) -> Response:
    """CKAN's un-enveloped 400: the body is a JSON string, not an object."""
    return Response(json.dumps(f"Bad request: {message}"), 400, media_type=MEDIA_TYPE)
