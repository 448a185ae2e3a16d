"""A table's foreign keys into itself, checked as frictionless-py checks them.

frictionless builds a lookup of the referenced fields' typed values over every row of the
resource (a row with errors included, a row whose referenced cells are all None left out), then
reports a `foreign-key` error for each row whose key cells are not all None and not in it. The
hub checks keys whose `reference.resource` is "" (the table itself); `hub.schemas` refuses the
others. The gate adds the values of the dataset's stored rows to the lookup, since a batch
adds to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl


@dataclass(frozen=True)
class ForeignKey:
    """One self-referencing key: `fields` must hold values the `reference` fields hold."""

    fields: tuple[str, ...]
    reference: tuple[str, ...]

    def note(self, values: list[Any]) -> str:
        """frictionless's note for a row whose values are not found."""
        fields, reference = ", ".join(self.fields), ", ".join(self.reference)
        found = ", ".join(str(value) for value in values)
        return f'for "{fields}": values "{found}" not found in the lookup table "" as "{reference}"'


def self_references(declared: list[dict[str, Any]], names: set[str]) -> list[ForeignKey]:
    """The schema's keys into its own table whose fields the header has (frictionless skips
    the others), as declared by frictionless's normalised `foreign_keys`."""
    found = []
    for key in declared:
        fields, reference = _names(key.get("fields")), key.get("reference") or {}
        if reference.get("resource") or not set(fields) <= names:
            continue
        found.append(ForeignKey(fields, _names(reference.get("fields"))))
    return found


class Lookup:
    """The referenced values seen so far, per tuple of referenced fields, as typed frames."""

    def __init__(self, keys: list[ForeignKey]):
        self.keys = keys
        self.values: dict[tuple[str, ...], list[pl.DataFrame]] = {k.reference: [] for k in keys}
        self.frames: dict[tuple[str, ...], pl.DataFrame] = {}

    @property
    def referenced(self) -> set[str]:
        """Every field some key references."""
        return {name for key in self.keys for name in key.reference}

    def add(self, columns: dict[str, pl.Series]) -> None:
        """Remember the referenced values of some rows (typed, None where a cell is not)."""
        for reference, parts in self.values.items():
            frame = pl.DataFrame({f"k{i}": columns[n] for i, n in enumerate(reference)})
            parts.append(frame.filter(~pl.all_horizontal(pl.all().is_null())).unique())
        self.frames.clear()

    def missing(
        self, keys: list[ForeignKey], columns: dict[str, pl.Series], height: int
    ) -> list[pl.Series]:
        """Per key, the rows whose key values are not all None and not in the lookup."""
        found = []
        for key in keys:
            frame = pl.DataFrame(
                {f"k{i}": columns[n] for i, n in enumerate(key.fields)}, height=height
            ).with_row_index("_at")
            known = self._frame(key.reference, frame)
            filled = frame.filter(~pl.all_horizontal(pl.exclude("_at").is_null()))
            # nulls never match: a key partly None is looked up as frictionless's tuple is
            absent = filled.join(known, on=frame.columns[1:], how="anti", nulls_equal=True)
            flags = pl.repeat(False, height, eager=True)
            found.append(flags.scatter(absent["_at"], True) if absent.height else flags)
        return found

    def _frame(self, reference: tuple[str, ...], like: pl.DataFrame) -> pl.DataFrame:
        frame = self.frames.get(reference)
        if frame is None:
            schema = {c: like.schema[c] for c in like.columns[1:]}
            parts = [p.cast(schema, strict=False) for p in self.values[reference]]  # type: ignore[arg-type]
            frame = pl.concat(parts).unique() if parts else pl.DataFrame(schema=schema)
            self.frames[reference] = frame
        return frame


def _names(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())
