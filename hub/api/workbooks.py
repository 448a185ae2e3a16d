"""Records as an Excel workbook (XLSX) with typed cells: numbers as numbers, times and dates as
dates, text as text (a code's leading zero kept), headed by the schema's titles.

A CSV is read by a spreadsheet's guesses, which depend on its locale: a French one takes `10.5`
for text and `08003` for the number 8003. A workbook says each cell's type itself. XlsxWriter's
constant_memory mode writes each row to disk as it comes, so a large download holds one page
of records in memory; the file is sent once complete (a zip's directory comes last).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, time, tzinfo
from typing import IO, Any

import xlsxwriter

from hub import localtimes, records

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A worksheet holds 1,048,576 rows, the header being one of them.
MAX_ROWS = 1_048_575
CHUNK = 64 * 1024
# Excel cannot write a date before 1900 (nor Calc one it reads from Excel's serial numbers).
FIRST_YEAR = 1900
TEXT_LIMIT = 32_767  # characters a cell may hold
WIDTHS = {"datetime": 19, "date": 11, "time": 9, "number": 12, "integer": 10, "boolean": 7}


def workbook_chunks(
    layout: records.Layout,
    fields: list[dict[str, Any]],
    pages: Iterator[list[dict[str, Any]]],
    zone: tzinfo,
) -> Iterator[bytes]:
    """The workbook of every page of records, in chunks of bytes; its times in `zone`."""
    with tempfile.TemporaryFile() as file:
        write_workbook(file, layout, fields, pages, zone)
        file.seek(0)
        while chunk := file.read(CHUNK):
            yield chunk


def write_workbook(
    file: IO[bytes],
    layout: records.Layout,
    fields: list[dict[str, Any]],
    pages: Iterator[list[dict[str, Any]]],
    zone: tzinfo,
) -> None:
    """Write the records' sheet (typed cells), then a sheet that describes each column."""
    book = xlsxwriter.Workbook(
        file,
        {
            "constant_memory": True,
            "nan_inf_to_errors": True,  # NaN and ±infinity as #NUM!, #DIV/0! rather than refused
            "strings_to_formulas": False,  # a cell beginning with `=` is text, never run
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    described = {f["name"]: f for f in fields}
    names = list(layout.columns)
    kinds = [layout.types[name] for name in names]
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    formats = {
        "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "time": book.add_format({"num_format": "hh:mm:ss"}),
    }
    zone_name = localtimes.zone_label(zone)
    sheet = book.add_worksheet("records")
    for column, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        sheet.set_column(column, column, WIDTHS.get(kind, 16))
        sheet.write_string(0, column, heading(described.get(name, {}), name, zone_name), bold)
    sheet.freeze_panes(1, 0)
    row = 0
    for page in pages:
        for record in page:
            row += 1
            for column, (value, kind) in enumerate(zip(record.values(), kinds, strict=True)):
                write_cell(sheet, row, column, value, kind, formats, zone)
    sheet.autofilter(0, 0, max(row, 1), max(len(names) - 1, 0))
    write_fields(book.add_worksheet("fields"), names, described, kinds, bold)
    book.close()


def heading(field: dict[str, Any], name: str, zone_name: str) -> str:
    """A column's heading: the field's title, its unit when the schema gives one, and the time
    zone of a date-time (a spreadsheet's date has none)."""
    text = str(field.get("title") or name)
    unit = field.get("unit")
    if unit:
        text += f" ({unit})"
    if field.get("type") == "datetime":
        text += f" ({zone_name})"
    return text


def write_cell(
    sheet: Any,
    row: int,
    column: int,
    value: Any,
    kind: str,
    formats: dict[str, Any],
    zone: tzinfo,
) -> None:
    """One record value in the cell its type calls for; text when it cannot be typed."""
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    elif isinstance(value, int | float) and kind in ("number", "integer", "year"):
        if isinstance(value, int) and abs(value) > 2**53:  # past a double's exact integers
            sheet.write_string(row, column, str(value))
        else:
            sheet.write_number(row, column, value if math.isfinite(value) else float(value))
    elif kind in formats and isinstance(value, str):
        moment = typed_moment(value, kind, zone)
        if moment is None:
            sheet.write_string(row, column, value)
        else:
            sheet.write_datetime(row, column, moment, formats[kind])
    elif isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        sheet.write_string(row, column, text[:TEXT_LIMIT])
    else:
        sheet.write_string(row, column, str(value)[:TEXT_LIMIT])


def typed_moment(text: str, kind: str, zone: tzinfo) -> datetime | date | time | None:
    """A record's ISO date, time or date-time as a spreadsheet writes it (a date-time in
    `zone`, without one); None for what a spreadsheet cannot hold (before 1900)."""
    try:
        if kind == "datetime":
            moment = localtimes.parse(text).astimezone(zone).replace(tzinfo=None)
            return moment if moment.year >= FIRST_YEAR else None
        if kind == "date":
            day = date.fromisoformat(text)
            return day if day.year >= FIRST_YEAR else None
        return time.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        return None


def write_fields(
    sheet: Any,
    names: list[str],
    described: dict[str, dict[str, Any]],
    kinds: list[str],
    bold: Any,
) -> None:
    """The second sheet: each column's name, title, type and description (units are told there)."""
    for column, heading_text in enumerate(("name", "title", "type", "description")):
        sheet.write_string(0, column, heading_text, bold)
    sheet.set_column(0, 2, 20)
    sheet.set_column(3, 3, 100)
    for row, (name, kind) in enumerate(zip(names, kinds, strict=True), start=1):
        field = described.get(name, {})
        sheet.write_string(row, 0, name)
        sheet.write_string(row, 1, str(field.get("title") or ""))
        sheet.write_string(row, 2, kind)
        sheet.write_string(row, 3, str(field.get("description") or "")[:TEXT_LIMIT])
