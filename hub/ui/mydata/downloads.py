"""My data's downloads: a citizen's rows of one linked dataset as CSV, and the portability
export of GET /api/v1/me/export, both read as the subject (and logged)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import Response

from hub import reading
from hub.api import portability
from hub.api.csvtext import csv_lines
from hub.api.deps import SessionDep
from hub.api.downloads import DownloadResponse
from hub.api.guards import base_url
from hub.api.records import READ_ERRORS
from hub.config import get_settings
from hub.models import Dataset
from hub.selfdata import links
from hub.ui.mydata.answers import NO_CACHE, back, refusal
from hub.ui.pages import render
from hub.ui.visitors import VisitorDep

router = APIRouter(include_in_schema=False)


@router.get("/me/datasets/{dataset_id}/records.csv")
def download_rows(
    request: Request, session: SessionDep, visitor: VisitorDep, dataset_id: str
) -> Response:
    """The subject's rows of one linked dataset as CSV (read as the subject, and logged)."""
    refused = refusal(request, visitor)
    if refused is not None:
        return refused
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset_id not in links.held(session, visitor.actor.account):
        return render(request, visitor, "mydata.html", {"state": "unlinked"}, 404)
    try:
        download = reading.stream_records(
            session,
            dataset,
            visitor.caller,
            reading.Criteria(),
            None,
            max_rows=get_settings().max_export_rows,
        )
    except READ_ERRORS:
        return back(request, "download-failed", "flash")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset_id)
    return DownloadResponse(
        csv_lines(download.layout, download.pages),
        [download],
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-my-rows.csv"', **NO_CACHE},
    )


@router.get("/me/export")
def export(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    """The portability export of GET /api/v1/me/export, for the signed-in subject."""
    refused = refusal(request, visitor)
    if refused is not None:
        return refused
    try:
        made = portability.package(
            session, visitor.caller, visitor.actor.account, base_url(request)
        )
    except READ_ERRORS:
        return back(request, "download-failed", "flash")
    return portability.answer(made, NO_CACHE)
