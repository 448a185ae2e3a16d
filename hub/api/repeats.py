"""A single-valued query parameter given twice on /api/v1 is a 400 that names it.

Starlette keeps every value of a repeated key; FastAPI reads the last of a single-valued
parameter, while the records' field bounds (hub.selection) read each: `from=A&from=B` was B
and `x__gte=A&x__gte=B` was A, silently. Only the parameters a route declares as lists (a
facet filter such as `theme`), and the records' equality filters (`field=a&field=b`: any of
them, README), take several values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from hub.api.origin import route_path

API_PREFIX = "/api/v1/"
READ_BY_HAND = frozenset({"purpose"})  # single values the routes read from the query themselves
SEQUENCES = (list, tuple, set, frozenset)


def refuse_repeated(request: Request) -> None:
    """A 400 for the first single-valued parameter of an /api/v1 route given more than once."""
    route = request.scope.get("route")  # the route as its router declares it, without prefix
    if not isinstance(route, APIRoute) or not route_path(request.scope).startswith(API_PREFIX):
        return
    counts = Counter(name for name, _ in request.query_params.multi_items())
    repeated = sorted(name for name, count in counts.items() if count > 1)
    for name in repeated:
        if name in READ_BY_HAND or name in single_valued(route):
            raise HTTPException(
                400, f"{name[:60]!r} is given {counts[name]} times: it takes one value"
            )


def single_valued(route: APIRoute) -> frozenset[str]:
    """The query parameters (as spelt in the URL) of a route that hold one value."""
    known: frozenset[str] | None = getattr(route, "hub_single_valued", None)
    if known is None:  # read once a route, kept on it
        known = _single_valued(route)
        route.hub_single_valued = known  # type: ignore[attr-defined]
    return known


def _single_valued(route: APIRoute) -> frozenset[str]:
    return frozenset(
        field.alias
        for field in _query_fields(route.dependant)
        if not _is_sequence(field.field_info.annotation)
    )


def _query_fields(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.query_params
    for inner in dependant.dependencies:
        yield from _query_fields(inner)


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_sequence(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return any(_is_sequence(arg) for arg in get_args(annotation))
    return annotation in SEQUENCES or origin in SEQUENCES
