"""/api/v1/datasets/{id}/aggregates: public sums, means and subject counts of a personal dataset
per hour, day or month, groups of fewer than k data subjects suppressed (hub.aggregates)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from hub import aggregates, catalogue
from hub.aggregates import Answer, Cell, iso
from hub.api.auth import CallerDep
from hub.api.deps import SessionDep
from hub.api.guards import find_dataset, refuse_unknown
from hub.api.records import parse_moment

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])

PARAMETERS = ("by", "group", "measure", "from", "to")
STREAM_CELLS = 500  # cells per chunk of the streamed answer


class AggregateCell(BaseModel):
    """One bucket (and group value): null values when suppressed."""

    bucket: datetime = Field(description="the bucket's start, UTC")
    group: str | None = Field(None, description="the group field's value (with `group` only)")
    subjects: int | None = Field(description="distinct data subjects, at least k; null: hidden")
    sum: float | None
    mean: float | None = Field(description="the measure's mean over the cell's readings")
    suppressed: bool
    complete: bool | None = Field(
        description="false: readings of groups under k subjects are left out of this cell"
    )


class Aggregates(BaseModel):
    """A personal dataset's public aggregates: every bucket of the window, suppressed or not."""

    dataset: str
    by: str
    group: str | None
    measure: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    k: int = Field(description="the charter's minimum group size: fewer subjects are hidden")
    cells: list[AggregateCell]


@router.get(
    "/{dataset_id}/aggregates",
    response_model=Aggregates,
    responses={
        400: {
            "description": "an unknown parameter or field; from/to missing, not on a bucket's "
            "start, or more than 1 000 buckets apart"
        },
        404: {"description": "no such dataset, or one that has no aggregates (not personal)"},
        503: {"description": "the charter or the access log cannot be read just now"},
    },
)
def read_aggregates(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    dataset_id: str,
    by: str = Query("day", description="hour, day or month (UTC)"),
    group: str | None = Query(
        None, description="a field with few values (e.g. circuit): one cell per value"
    ),
    measure: str | None = Query(
        None, description="the numeric field summed; default: the schema's only one"
    ),
    start: str | None = Query(
        None, alias="from", description="the first bucket's start (ISO 8601; no zone = UTC)"
    ),
    end: str | None = Query(
        None, alias="to", description="the end of the last bucket, excluded (ISO 8601)"
    ),
) -> Any:
    """Sum, mean and count of subjects per hour, day or month; groups under k suppressed."""
    # the dataset and its kind first: no parameter makes a dataset without aggregates have some
    dataset = find_dataset(session, dataset_id)
    try:
        aggregates.check_aggregated(dataset)
    except aggregates.NotAggregated as error:
        raise HTTPException(404, str(error)) from None
    refuse_unknown(request, PARAMETERS, "aggregates take")
    first, last = parse_moment("from", start), parse_moment("to", end)
    if first is None or last is None:
        raise HTTPException(
            400, "aggregates need from and to, on the boundaries of the buckets asked for"
        )
    question = aggregates.Question(by, first, last, group or None, measure or None)
    try:
        answer = aggregates.read_aggregates(session, dataset, caller, question)
    except aggregates.AggregateError as error:
        raise HTTPException(400, str(error)) from None
    except (aggregates.NotAggregated, catalogue.NotFound) as error:
        raise HTTPException(404, str(error)) from None
    except aggregates.CharterUnavailable as error:
        raise HTTPException(503, str(error), {"Retry-After": "60"}) from None
    return StreamingResponse(json_chunks(answer), media_type="application/json")


def json_chunks(answer: Answer) -> Iterator[str]:
    """The answer as JSON text, its cells a few hundred at a time."""
    question = answer.question
    head = {
        "dataset": answer.dataset,
        "by": question.by,
        "group": question.group,
        "measure": answer.measure,
        "from": iso(question.start),
        "to": iso(question.end),
        "k": answer.k,
    }
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "cells": ['
    for index in range(0, len(answer.cells), STREAM_CELLS):
        part = answer.cells[index : index + STREAM_CELLS]
        text = ", ".join(
            json.dumps(to_json(cell, question.group), ensure_ascii=False) for cell in part
        )
        yield ("" if index == 0 else ", ") + text
    yield "]}"


def to_json(cell: Cell, group: str | None) -> dict[str, Any]:
    """A cell as the answer shows it (`group` only when the query grouped)."""
    shown: dict[str, Any] = {"bucket": iso(cell.bucket)}
    if group is not None:
        shown["group"] = cell.group
    shown.update(
        subjects=cell.subjects,
        sum=cell.sum,
        mean=cell.mean,
        suppressed=cell.suppressed,
        complete=cell.complete,
    )
    return shown
