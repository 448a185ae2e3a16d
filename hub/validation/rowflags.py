"""Which rows of a checked chunk are blank or invalid, and the cells beyond its header."""

from __future__ import annotations

import json

import polars as pl

from hub.validation.fieldtypes import CastColumn


def read_extras(chunk: pl.DataFrame, width: int) -> dict[int, list[str]]:
    """Cells beyond the header, by row number, from the table's structural errors."""
    if "_error" not in chunk.columns:
        return {}
    flagged = chunk.filter(pl.col("_error").is_not_null()).select("_row", "_error")
    extras: dict[int, list[str]] = {}
    for row, encoded in flagged.iter_rows():
        for error in json.loads(encoded):
            if error["type"] == "extra-cell":
                extras.setdefault(row, []).append(error["cell"])
            elif error["type"] == "blank-row" and len(error["cells"]) > width:
                extras[row] = list(error["cells"][width:])
    return extras


def flag_rows(
    rows: pl.Series, raws: list[pl.Series], casts: list[CastColumn], extra_rows: list[int]
) -> tuple[pl.Series, pl.Series]:
    """Blank rows (every cell missing), and rows with a cell error, extra or missing cells."""
    if not casts:
        blank = pl.repeat(True, len(rows), eager=True)
        return blank, rows.is_in(pl.Series(extra_rows, dtype=pl.Int64).implode())
    columns = {f"m{i}": cast.missing for i, cast in enumerate(casts)}
    columns |= {f"c{i}": cast.codes for i, cast in enumerate(casts)}
    flags = pl.DataFrame({**columns, "row": rows, "last": raws[-1]}).select(
        blank=pl.all_horizontal(pl.col(f"m{i}") for i in range(len(casts))),
        # missing cells are the trailing ones: a row with one lacks its last cell
        invalid=pl.any_horizontal(pl.col(f"c{i}") != 0 for i in range(len(casts)))
        | pl.col("last").is_null()
        | pl.col("row").is_in(pl.Series(extra_rows, dtype=pl.Int64).implode()),
    )
    return flags["blank"], flags["invalid"]
