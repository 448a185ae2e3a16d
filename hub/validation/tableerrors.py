"""Frictionless error descriptors (type, title, message ...), built without frictionless."""

from __future__ import annotations

from typing import Any

_ROW_TAGS = ["#table", "#row"]
_CELL_TAGS = ["#table", "#row", "#cell"]
_LABEL_TAGS = ["#table", "#header", "#label"]
_SAME_COLUMNS = (
    "compared to the header row (the first row in the data source). A key concept is that "
    "all the rows in tabular data must have the same number of columns."
)

# Copied from frictionless 5.21 `errors/*.py` (title, description, template, tags); the
# conformance tests compare whole descriptors, so a drift in frictionless shows up there.
CATALOGUE: dict[str, tuple[str, str, str, list[str]]] = {
    "blank-header": (
        "Blank Header",
        "This header is empty. A header should contain at least one value.",
        "Header is completely blank",
        ["#table", "#header"],
    ),
    "extra-label": (
        "Extra Label",
        "The header of the data source contains label that does not exist in the provided schema.",
        'There is an extra label "{label}" in header at position "{fieldNumber}"',
        _LABEL_TAGS,
    ),
    "missing-label": (
        "Missing Label",
        "Based on the schema there should be a label that is missing in the data's header.",
        'There is a missing label in the header\'s field "{fieldName}" at position "{fieldNumber}"',
        _LABEL_TAGS,
    ),
    "blank-label": (
        "Blank Label",
        "A label in the header row is missing a value. Label should be provided and not be blank.",
        'Label in the header in field at position "{fieldNumber}" is blank',
        _LABEL_TAGS,
    ),
    "duplicate-label": (
        "Duplicate Label",
        "Two columns in the header row have the same value. Column names should be unique.",
        'Label "{label}" in the header at position "{fieldNumber}" is duplicated to a label: '
        "{note}",
        _LABEL_TAGS,
    ),
    "incorrect-label": (
        "Incorrect Label",
        "One of the data source header does not match the field name defined in the schema.",
        'Label "{label}" in field {fieldName} at position "{fieldNumber}" does not match the '
        "field name in the schema",
        _LABEL_TAGS,
    ),
    "blank-row": (
        "Blank Row",
        "This row is empty. A row should contain at least one value.",
        'Row at position "{rowNumber}" is completely blank',
        _ROW_TAGS,
    ),
    "primary-key": (
        "PrimaryKey Error",
        "Values in the primary key fields should be unique for every row",
        'Row at position "{rowNumber}" violates the primary key: {note}',
        _ROW_TAGS,
    ),
    "foreign-key": (
        "ForeignKey Error",
        "Values in the foreign key fields should exist in the reference table",
        'Row at position "{rowNumber}" violates the foreign key: {note}',
        _ROW_TAGS,
    ),
    "extra-cell": (
        "Extra Cell",
        "This row has more values " + _SAME_COLUMNS,
        'Row at position "{rowNumber}" has an extra value in field at position "{fieldNumber}"',
        _CELL_TAGS,
    ),
    "missing-cell": (
        "Missing Cell",
        "This row has less values " + _SAME_COLUMNS,
        'Row at position "{rowNumber}" has a missing cell in field "{fieldName}" at position '
        '"{fieldNumber}"',
        _CELL_TAGS,
    ),
    "type-error": (
        "Type Error",
        "The value does not match the schema type and format for this field.",
        'Type error in the cell "{cell}" in row "{rowNumber}" and field "{fieldName}" at '
        'position "{fieldNumber}": {note}',
        _CELL_TAGS,
    ),
    "constraint-error": (
        "Constraint Error",
        "A field value does not conform to a constraint.",
        'The cell "{cell}" in row at position "{rowNumber}" and field "{fieldName}" at position '
        '"{fieldNumber}" does not conform to a constraint: {note}',
        _CELL_TAGS,
    ),
    "unique-error": (
        "Unique Error",
        "This field is a unique field but it contains a value that has been used in another row.",
        'Row at position "{rowNumber}" has unique constraint violation in field "{fieldName}" at '
        'position "{fieldNumber}": {note}',
        _CELL_TAGS,
    ),
    "source-error": (
        "Source Error",
        "Data reading error because of not supported or inconsistent contents.",
        "The data source has not supported or has inconsistent contents: {note}",
        [],
    ),
    "encoding-error": (
        "Encoding Error",
        "Data reading error because of an encoding problem.",
        "The data source could not be successfully decoded: {note}",
        [],
    ),
    "schema-error": (
        "Schema Error",
        "Provided schema is not valid.",
        "Schema is not valid: {note}",
        [],
    ),
}


def describe_error(error_type: str, note: str = "", **details: Any) -> dict[str, Any]:
    """An error descriptor shaped like frictionless's `Error.to_descriptor()`."""
    title, description, template, tags = CATALOGUE[error_type]
    descriptor: dict[str, Any] = {
        "type": error_type,
        "title": title,
        "description": description,
        "message": "",
        "tags": list(tags),
        "note": note,
        **details,
    }
    descriptor["message"] = template.format_map(_Blank(descriptor))
    return descriptor


def describe_cell_error(
    error_type: str,
    note: str,
    cells: list[str],
    row_number: int,
    cell: str,
    field_name: str,
    field_number: int,
) -> dict[str, Any]:
    """A cell-level error descriptor (type, constraint, unique, extra/missing cell)."""
    title, description, template, tags = CATALOGUE[error_type]
    return {
        "type": error_type,
        "title": title,
        "description": description,
        "message": template.format(
            cell=cell,
            rowNumber=row_number,
            fieldName=field_name,
            fieldNumber=field_number,
            note=note,
        ),
        "tags": list(tags),
        "note": note,
        "cells": cells,
        "rowNumber": row_number,
        "cell": cell,
        "fieldName": field_name,
        "fieldNumber": field_number,
    }


def describe_row_error(
    error_type: str, note: str, cells: list[str], row_number: int
) -> dict[str, Any]:
    """A row-level error descriptor (blank-row, primary-key)."""
    title, description, template, tags = CATALOGUE[error_type]
    return {
        "type": error_type,
        "title": title,
        "description": description,
        "message": template.format(rowNumber=row_number, note=note),
        "tags": list(tags),
        "note": note,
        "cells": cells,
        "rowNumber": row_number,
    }


NORMALISATION_TITLE = "Normalisation Error"
NORMALISATION_DESCRIPTION = (
    "A value of this row cannot be put in the hub's canonical form "
    "(UTC timestamps, WGS84 coordinates, decimal numbers, controlled codes)."
)


def describe_row_problem(row_number: int, field_name: str | None, note: str) -> dict[str, Any]:
    """A reader's or normalisation's finding about a row, as a frictionless-style descriptor."""
    where = f' in field "{field_name}"' if field_name else ""
    return {
        "type": "normalisation-error",
        "title": NORMALISATION_TITLE,
        "description": NORMALISATION_DESCRIPTION,
        "message": f'Row at position "{row_number}" cannot be normalised{where}: {note}',
        "note": note,
        "tags": ["#row"],
        "rowNumber": row_number,
        "fieldName": field_name,
    }


class _Blank(dict[str, Any]):
    """Format mapping that renders unknown keys as "" (as frictionless's safe_format)."""

    def __missing__(self, key: str) -> str:
        return ""
