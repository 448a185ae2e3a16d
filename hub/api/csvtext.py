"""Records as CSV: the exact values (RFC 4180, comma, dot decimals, ISO times, UTF-8), or the
dialect a French spreadsheet opens by double-click (`excel-fr`).

`excel-fr` is what Excel and Calc in French expect: `;` between cells, a decimal comma, a UTF-8
byte order mark (without it, Windows' cp1252 reads `µg/m³` as `Âµg/mÂ³`) and date-times as
`2026-12-01 13:00:00`, in the zone the caller asked for (named in the column's heading), which
a spreadsheet reads as a date. A code's leading zero (`08003`) is still lost to the spreadsheet's
guess: the XLSX download types every cell. Since this file is meant to be opened, not imported,
a text cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) begins with an
apostrophe (OWASP's advice); the standard CSV keeps every value exact.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, tzinfo
from typing import Any, Literal

from fastapi.responses import StreamingResponse

from hub import localtimes, reading, records
from hub.api.downloads import DownloadResponse

Dialect = Literal["standard", "excel-fr"]
BOM = "\ufeff"
FORMULA_FIRST = ("=", "+", "-", "@", "\t", "\r")


def csv_answer(
    dataset_id: str,
    lines: Iterator[str],
    headers: dict[str, str],
    download: reading.Download | None = None,
) -> StreamingResponse:
    """Records as a CSV attachment named after the dataset (of a `download`, ended with it)."""
    return DownloadResponse(
        lines,
        [download] if download else [],
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{dataset_id}.csv"', **headers},
    )


def csv_lines(
    layout: records.Layout,
    pages: Iterator[list[dict[str, Any]]],
    dialect: Dialect = "standard",
    zone: tzinfo = UTC,
) -> Iterator[str]:
    """The header, then every page of records, as CSV of `dialect`."""
    if dialect == "excel-fr":
        yield from spreadsheet_lines(layout, pages, zone)
        return
    yield to_csv_lines([list(layout.columns)])
    # The csv module writes None as an empty cell itself: only booleans and GeoJSON (read as
    # objects) need spelling out.
    spelled = any(layout.types[field] in ("boolean", "geojson") for field in layout.columns)
    for rows in pages:
        if spelled:
            yield to_csv_lines([[csv_value(v) for v in r.values()] for r in rows])
        else:
            yield to_csv_lines([r.values() for r in rows])


def spreadsheet_lines(
    layout: records.Layout, pages: Iterator[list[dict[str, Any]]], zone: tzinfo
) -> Iterator[str]:
    """The `excel-fr` dialect: a BOM, `;`, decimal commas, date-times in `zone` without `T`."""
    kinds = [layout.types[name] for name in layout.columns]
    label = localtimes.zone_label(zone)
    header = [
        f"{name} ({label})" if kind == "datetime" else name
        for name, kind in zip(layout.columns, kinds, strict=True)
    ]
    yield BOM + to_csv_lines([header], delimiter=";")
    for rows in pages:
        yield to_csv_lines(
            (
                [spreadsheet_value(v, k, zone) for v, k in zip(r.values(), kinds, strict=True)]
                for r in rows
            ),
            delimiter=";",
        )


def spreadsheet_value(value: Any, kind: str, zone: tzinfo) -> Any:
    """A record value as a French spreadsheet reads it."""
    if isinstance(value, float):
        return repr(value).replace(".", ",")
    if kind == "datetime" and isinstance(value, str):
        try:
            moment = localtimes.parse(value).astimezone(zone)
        except ValueError:
            return value
        return moment.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, str) and value.startswith(FORMULA_FIRST):
        return "'" + value
    return csv_value(value)


def csv_value(value: Any) -> Any:
    """A record value as CSV text: empty for null, lower-case booleans, objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def to_csv_lines(rows: Iterable[Iterable[Any]], delimiter: str = ",") -> str:
    """CSV lines (RFC 4180 quoting, CRLF)."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue()
