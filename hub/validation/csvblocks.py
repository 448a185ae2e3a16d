"""Blocks of CSV lines split into numbered Utf8 frames, exactly as Python's `csv` splits them.

frictionless splits rows with Python's `csv`. polars is used only where it provably agrees:
lines with the header's cell count and whole-cell quoting (checked by a regex over the
lines). Lines that break the pattern but hold no quote (extra or missing cells, blank lines)
are re-split in Python; a block where a quote is out of pattern (a multi-line cell, a quote
inside a cell) or with a lone CR is split entirely by Python's `csv`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from itertools import chain
from typing import Any

import polars as pl

from hub.validation.tableerrors import describe_cell_error, describe_row_error
from hub.validation.textblocks import BlockReader

_SENTINEL = "hub\x1fcsvblocks\x1fsentinel"
_LINE_SEPARATORS = ("\x1f", "\x1e", "\x1d", "\x01", "\x02", "\x03")
_POLARS_ERRORS = (pl.exceptions.PolarsError, OSError, ValueError)


class BlockParser:
    """Splits blocks of whole lines into frames: one Utf8 column per label, `_row`, `_error`."""

    def __init__(self, columns: list[str], dialect: csv.Dialect, header_row: int):
        self.columns, self.dialect, self.header_row = columns, dialect, header_row
        self.width = len(columns)
        self.next_row = 1
        self.offset = 0  # UTF-8 bytes parsed so far, for error offsets
        self.schema = {name: pl.String for name in columns}
        quoting = dialect.quoting != csv.QUOTE_NONE
        self.delimiter = dialect.delimiter
        self.quote = (dialect.quotechar or "") if quoting else ""
        self.fast = (
            self.width >= 2
            and not dialect.skipinitialspace
            and len(self.delimiter.encode()) == 1
            and len(self.quote.encode()) <= 1
        )
        self.pattern = _line_pattern(self.delimiter, self.quote, self.width) if self.fast else ""

    def parse(self, block: bytes, *, final: bool, reader: BlockReader) -> pl.DataFrame | None:
        """The block's rows after the header, or None when its last row runs past the block."""
        frame = self._parse_fast(block) if self.fast and block else None
        if frame is None:
            text = reader.decode_checked(block, self.offset)
            records = self._split_records(text, final)
            if records is None:
                return None
            rows = range(self.next_row, self.next_row + len(records))
            frame = self._records_frame(records, list(rows))
        self.offset += len(block)
        self.next_row += frame.height
        if frame.height and frame["_row"][0] <= self.header_row:
            frame = frame.filter(pl.col("_row") > self.header_row)
        return frame

    def _parse_fast(self, block: bytes) -> pl.DataFrame | None:
        """Rows split by polars (irregular quote-free lines by Python), or None."""
        if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
            return None  # a lone CR ends a row for Python's csv, not for polars
        count = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        quoted = bool(self.quote) and self.quote.encode() in block
        simple = not quoted and block.count(self.delimiter.encode()) == (self.width - 1) * count
        irregular: list[int] = []
        lines: pl.Series | None = None
        if not simple:
            lines = self._read_lines(block, count)
            if lines is None:
                return None
            irregular = self._irregular_lines(lines, quoted)
        # In the simple case no line may have more cells than the header (polars raises), so
        # the delimiter total proves every line has exactly the header's count
        frame = self._read_polars(block, quoted, count, ragged=not simple)
        if frame is None:
            return None
        if irregular:
            records = self._split_lines(lines.gather(irregular).to_list())  # type: ignore[union-attr]
            if records is None:
                return None
            rows = [self.next_row + i for i in irregular]
            patch = self._records_frame(records, rows)
            # polars usually read the right cells (extra ones cut, missing ones null): only the
            # columns it read otherwise are rewritten, as scattering rebuilds a whole column
            differing = [
                name
                for name in self.columns
                if not frame[name].gather(irregular).equals(patch[name], null_equal=True)
            ]
            frame = frame.with_columns(
                frame[name].scatter(irregular, patch[name]) for name in [*differing, "_error"]
            )
        return frame

    def _irregular_lines(self, lines: pl.Series, quoted: bool) -> list[int]:
        """Indexes of the lines that are not `width` plainly delimited or whole-quoted cells."""
        regular = lines.str.count_matches(self.delimiter, literal=True) == self.width - 1
        if quoted:
            has_quote = lines.str.contains(self.quote, literal=True)
            regular = regular & ~has_quote
            where = has_quote.arg_true()
            if len(where):
                regular = regular.scatter(where, lines.gather(where).str.contains(self.pattern))
        return (~regular).arg_true().to_list()

    def _read_lines(self, block: bytes, count: int) -> pl.Series | None:
        """The block's lines (without line ends) as a Utf8 series."""
        separator = next((s for s in _LINE_SEPARATORS if s.encode() not in block), None)
        if separator is None:
            return None
        try:
            lines = pl.read_csv(
                block,
                has_header=False,
                separator=separator,
                quote_char=None,
                schema={"line": pl.String},
                empty_string_is_null=False,
                raise_if_empty=False,
            )["line"]
        except _POLARS_ERRORS:
            return None
        return lines if len(lines) == count else None

    def _read_polars(
        self, block: bytes, quoted: bool, count: int, *, ragged: bool
    ) -> pl.DataFrame | None:
        try:
            frame = pl.read_csv(
                block,
                has_header=False,
                separator=self.delimiter,
                quote_char=self.quote if quoted else None,
                schema=self.schema,
                empty_string_is_null=False,
                truncate_ragged_lines=ragged,
                raise_if_empty=False,
            )
        except _POLARS_ERRORS:
            return None
        if frame.height != count:
            return None
        frame = frame.with_columns(
            pl.int_range(self.next_row, self.next_row + count, dtype=pl.Int64).alias("_row"),
            pl.lit(None, dtype=pl.String).alias("_error"),
        )
        blank = frame.select(pl.all_horizontal([pl.col(c) == "" for c in self.columns])).to_series()
        if blank.any():  # rows of empty cells: flag them as the Python path does
            where = blank.arg_true()
            rows = frame["_row"].gather(where).to_list()
            errors = [self._describe([""] * self.width, row) for row in rows]
            frame = frame.with_columns(
                frame["_error"].scatter(where, pl.Series(errors, dtype=pl.String))
            )
        return frame

    def _split_lines(self, texts: list[str]) -> list[list[str]] | None:
        """Each line split alone by Python's csv, or None if one of them does not end its row."""
        if not self.quote or not any(self.quote in text for text in texts):
            return [text.split(self.delimiter) if text else [] for text in texts]
        records = self._split_records("".join(text + "\n" for text in texts), final=False)
        # one row per line means no line left a quoted cell open (see _split_records)
        return records if records is not None and len(records) == len(texts) else None

    def _split_records(self, text: str, final: bool) -> list[list[str]] | None:
        """Records split by Python's csv, or None when the last one runs past the text."""
        lines: Iterator[str] = iter(io.StringIO(text, newline=""))
        if not final:
            lines = chain(lines, [_SENTINEL + "\n"])
        records = list(csv.reader(lines, self.dialect))
        if not final:
            if not records or records[-1] != [_SENTINEL]:
                return None
            records.pop()
        return records

    def _records_frame(self, records: list[list[Any]], rows: list[int]) -> pl.DataFrame:
        """A frame from Python-split records, with their structural errors in `_error`."""
        width = self.width
        originals: dict[int, list[str]] = {}
        for index, cells in enumerate(records):
            if len(cells) != width:
                originals[index] = cells
                records[index] = [*cells[:width], *([None] * (width - len(cells)))]
        columns = list(zip(*records, strict=True)) if records else [()] * width
        frame = pl.DataFrame(
            {
                name: pl.Series(name, values, dtype=pl.String)
                for name, values in zip(self.columns, columns, strict=True)
            }
            | {"_row": pl.Series("_row", rows, dtype=pl.Int64)}
        )
        blank = frame.select(
            pl.all_horizontal([pl.col(c).fill_null("") == "" for c in self.columns])
            if width
            else pl.lit(True)
        ).to_series()
        flagged = sorted(set(originals) | set(blank.arg_true().to_list()))
        errors = [self._describe(originals.get(i, records[i]), rows[i]) for i in flagged]
        column = pl.repeat(None, len(records), dtype=pl.String, eager=True)
        if flagged:
            column = column.scatter(flagged, pl.Series(errors, dtype=pl.String))
        return frame.with_columns(column.alias("_error"))

    def _describe(self, cells: list[Any], row: int) -> str | None:
        """JSON list of the row's blank-row / extra-cell / missing-cell errors, or None."""
        width = self.width
        if not any(cells[:width]):
            return json.dumps([describe_row_error("blank-row", "", cells, row)], ensure_ascii=False)
        found = [
            describe_cell_error("extra-cell", "", cells, row, cell, "", number)
            for number, cell in enumerate(cells[width:], start=width + 1)
        ]
        found += [
            describe_cell_error("missing-cell", "", cells, row, "", self.columns[n - 1], n)
            for n in range(len(cells) + 1, width + 1)
        ]
        return json.dumps(found, ensure_ascii=False) if found else None


def _line_pattern(delimiter: str, quote: str, width: int) -> str:
    """A regex for a line of `width` cells, each unquoted or quoted as a whole."""
    d = f"\\x{{{ord(delimiter):x}}}"
    if not quote:
        cell = f"[^{d}\\r\\n]*"
    else:
        q = f"\\x{{{ord(quote):x}}}"
        cell = f"(?:{q}(?:[^{q}]|{q}{q})*{q}|[^{q}{d}\\r\\n]*)"
    return f"^{cell}(?:{d}{cell}){{{width - 1}}}$"
