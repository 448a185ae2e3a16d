"""What every dataset route asks first: does the dataset exist, and may the caller read it."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException, Request
from sqlmodel import Session

from hub import catalogue
from hub.api.origin import public_root, route_path
from hub.models import Dataset, HarvestRun


def find_dataset(session: Session, dataset_id: str) -> Dataset:
    """The dataset, or a 404 that names it."""
    try:
        return catalogue.get(session, dataset_id)
    except catalogue.NotFound:
        raise HTTPException(404, f"no dataset {dataset_id!r}") from None


def find_run(session: Session, dataset_id: str, run_id: int) -> HarvestRun:
    """A run of this dataset, or a 404."""
    run = session.get(HarvestRun, run_id)
    if run is None or run.dataset_id != dataset_id:
        raise HTTPException(404, f"dataset {dataset_id!r} has no run {run_id}")
    return run


def base_url(request: Request) -> str:
    """The hub's absolute root URL, ending with a slash: HUB_PUBLIC_URL, never the Host header."""
    return public_root(request.scope)


def page_url(request: Request, **params: str | int) -> str:
    """This request's absolute URL under the public root, with `params` replaced in its query."""
    query = request.url.include_query_params(**params).query
    return f"{base_url(request)}{route_path(request.scope).lstrip('/')}?{query}"


def refuse_unknown(request: Request, known: Iterable[str], takes: str) -> None:
    """A 400 naming the first query parameter the route does not take, and those it takes
    (`takes`: "the grid takes"): a misspelt filter must not pass for one that found everything."""
    names = list(known)
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        raise HTTPException(
            400, f"unknown parameter {unknown[0][:60]!r}: {takes} {', '.join(names)}"
        )
