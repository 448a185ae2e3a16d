"""/api/v1/feeds/stream: the real-time feed as server-sent events (DESIGN §4 "Events").

GET takes the filters as query parameters; POST takes the same as a JSON object, so that
`within` can be a GeoJSON polygon too large for a URL. Malformed filters, polygons and resume
points are answered 400 with the reason before the stream opens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from hub import crises, jsontext, reading
from hub.access import AccessDenied
from hub.api.auth import AuthError, authenticate_reader, declared_purpose, refusal
from hub.api.heads import asked_method
from hub.api.shapes import THEMES
from hub.db import get_engine
from hub.feeds import filters, replay, snapshot, sse, stream
from hub.feeds.clients import Client
from hub.feeds.fanout import Fanout
from hub.models import Dataset
from hub.reading import Caller

router = APIRouter(prefix="/api/v1", tags=["feeds"])

LISTS = ("types", "theme", "dataset", "status")
SINGLE = ("bbox", "min_severity", "since", "snapshot")
FIELDS = (*LISTS, *SINGLE, "within")
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "the event stream"},
    400: {"description": "a malformed filter, polygon, or resume point (the reason says which)"},
}
CRISIS_PREFIX = "crisis:"


@router.get("/feeds/stream", response_class=sse.EventStream, responses=RESPONSES, status_code=200)
async def feed_stream(
    request: Request,
    types: Annotated[list[str], Query(description="observation, alert, gap, dataset, crisis")] = [],  # noqa: B006
    theme: Annotated[list[str], Query(description="themes (repeat or comma-separate)")] = [],  # noqa: B006
    dataset: Annotated[list[str], Query(description="dataset ids (repeatable)")] = [],  # noqa: B006
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS84)")] = None,
    within: Annotated[
        str | None, Query(description="`crisis:<id>`, or a GeoJSON Polygon/MultiPolygon")
    ] = None,
    min_severity: Annotated[str | None, Query(description="Unknown < Minor < … < Extreme")] = None,
    status: Annotated[list[str], Query(description="CAP statuses; default Actual; or all")] = [],  # noqa: B006
    since: Annotated[str | None, Query(description="an ISO 8601 time, or an event id")] = None,
    snapshot_: Annotated[str | None, Query(alias="snapshot", description="`latest`")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> sse.EventStream:
    """Server-sent events: observations, alerts, dataset changes and crises, filtered, with
    replay by Last-Event-ID or `since` and an optional snapshot of the latest values."""
    raw = {name: request.query_params.getlist(name) for name in FIELDS}
    unknown = sorted(set(request.query_params) - set(FIELDS) - {"purpose"})
    return await _open(request, raw, last_event_id, unknown)


@router.post("/feeds/stream", response_class=sse.EventStream, responses=RESPONSES, status_code=200)
async def feed_stream_posted(
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> sse.EventStream:
    """The same stream, its filters in a JSON body: {"within": <GeoJSON polygon>, "types": …}."""
    try:
        body = jsontext.loads(await request.body())
    except ValueError:  # malformed, not UTF-8, or nested too deep
        raise HTTPException(400, "the body must be a JSON object of filters") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object of filters")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise HTTPException(
            400, f"unknown filter {unknown[0][:60]!r}: filters are {', '.join(FIELDS)}"
        )
    raw: dict[str, Any] = {name: request.query_params.getlist(name) for name in FIELDS}
    for name, value in body.items():
        raw[name] = _posted(name, value)
    return await _open(request, raw, last_event_id)


def _posted(name: str, value: Any) -> Any:
    """A JSON filter value as the query would give it (`within` stays an object)."""
    if name == "within":
        if isinstance(value, dict | str):
            return [value]
        raise HTTPException(400, "within must be a GeoJSON geometry or `crisis:<id>`")
    if name == "bbox" and isinstance(value, list):
        if len(value) != 4 or not all(isinstance(v, int | float) for v in value):
            raise HTTPException(400, "bbox must be four numbers: minlon, minlat, maxlon, maxlat")
        return [",".join(str(v) for v in value)]
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        raise HTTPException(400, f"{name} must be a string or a list of strings")
    if name in SINGLE and len(values) > 1:
        raise HTTPException(400, f"{name} takes one value")
    return [str(v) for v in values]


async def _open(
    request: Request,
    raw: Mapping[str, list[Any]],
    last_event_id: str | None,
    unknown: Sequence[str] = (),
) -> sse.EventStream:
    caller = await run_in_threadpool(_caller, request)  # a token in the query is refused first
    if unknown:  # a misspelt filter would otherwise stream everything
        raise HTTPException(
            400, f"unknown filter {unknown[0][:60]!r}: filters are {', '.join(FIELDS)}"
        )
    fanout = feeds_of(request)
    prepared = await run_in_threadpool(_prepare, caller, raw, last_event_id)
    chosen, start, preface = prepared
    client = Client(caller, chosen, fanout.new_queue())

    async def produce(write: stream.Write) -> None:
        await stream.run(fanout, client, start, preface, write)

    def keep(task: Any) -> None:
        client.task = task

    return sse.EventStream(produce, keep)


def _caller(request: Request) -> Caller:
    """Who calls, with a session of its own that is closed before the stream opens (a stream
    must not hold a database connection for its lifetime)."""
    with Session(get_engine()) as session:
        try:
            actor = authenticate_reader(request, session)  # a bearer token, or the UI's cookie
        except AuthError as refused:
            raise HTTPException(refused.status, refused.message, refused.headers) from None
    return Caller(
        actor=actor,
        route=f"{asked_method(request)} {stream.ROUTE}",
        purpose=declared_purpose(request),
    )


def _prepare(
    caller: Caller, raw: Mapping[str, list[Any]], last_event_id: str | None
) -> tuple[filters.Filters, replay.Start, list[bytes]]:
    """The stream's filters, start and preface (gap notice, snapshot); 400 for bad input."""
    engine = get_engine()
    try:
        chosen = filters.parse(raw, _within(raw.get("within") or []))
        since = raw.get("since") or []
        if len(since) > 1:
            raise filters.FilterError("since takes one value")
        start = replay.resolve(engine, last_event_id, str(since[0]) if since else None)
    except (filters.FilterError, replay.ReplayError) as bad:
        raise HTTPException(400, str(bad)) from None
    _check_named(engine, caller, chosen)
    preface: list[bytes] = []
    if start.gap is not None:
        preface.append(sse.message("gap", start.gap))
    wanted = raw.get("snapshot") or []
    if wanted:
        if [str(v) for v in wanted] != ["latest"]:
            raise HTTPException(400, "snapshot takes one value: latest")
        preface.extend(snapshot.latest(engine, caller, chosen))
    return chosen, start, preface


def _check_named(engine: Engine, caller: Caller, chosen: filters.Filters) -> None:
    """Named themes and datasets must exist (a misspelt one would match nothing, silently),
    and a named dataset the caller may not read is refused as a records read is: 403 (401
    without a token), kept in the access log."""
    unknown = sorted(chosen.themes - set(THEMES))
    if unknown:
        raise HTTPException(
            400, f"theme {unknown[0][:60]!r} is not a theme: themes are {', '.join(THEMES)}"
        )
    if not chosen.datasets:
        return
    with Session(engine) as session:
        statement = select(Dataset).where(col(Dataset.id).in_(sorted(chosen.datasets)))
        found = {dataset.id: dataset for dataset in session.exec(statement)}
    missing = sorted(chosen.datasets - set(found))
    if missing:
        raise HTTPException(400, f"dataset {missing[0][:120]!r}: no such dataset")
    for dataset in found.values():
        try:
            reading.admit(engine, dataset, caller)
        except AccessDenied as denied:
            raise refusal(denied) from None


def _within(given: list[Any]) -> tuple[dict[str, Any], str] | None:
    """The `within` area: a crisis's perimeter, or a GeoJSON geometry (object or JSON text)."""
    if not given:
        return None
    if len(given) > 1:
        raise filters.FilterError("give one `within` area")
    value = given[0]
    if isinstance(value, str) and value.startswith(CRISIS_PREFIX):
        crisis_id = value.removeprefix(CRISIS_PREFIX)
        try:
            crisis = crises.get(get_engine(), crisis_id)
        except crises.UnknownCrisis:
            raise filters.FilterError(f"within: no crisis {crisis_id[:100]!r}") from None
        ended = crises.why_over(crisis)
        if ended:  # a stream within it would never end; a 400 also stops EventSource retrying
            raise filters.FilterError(f"within: {ended}; its streams have ended")
        return crisis.area, crisis.id
    if isinstance(value, str):
        try:
            value = jsontext.loads(value)
        except ValueError:
            raise filters.FilterError(
                "within must be `crisis:<id>` or a GeoJSON Polygon/MultiPolygon"
            ) from None
    if not isinstance(value, dict):
        raise filters.FilterError("within must be a GeoJSON Polygon or MultiPolygon")
    return value, ""


def feeds_of(request: Request) -> Fanout:
    """The app's fan-out (made by the lifespan; made here if an app runs without one)."""
    state = request.app.state
    if getattr(state, "feeds", None) is None:
        state.feeds = Fanout(get_engine())
    fanout: Fanout = state.feeds
    return fanout
