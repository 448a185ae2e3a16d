"""CSV files read as chunks of Utf8 polars frames, split and numbered exactly as frictionless does.

Rows are the records of Python's `csv` module with the dialect frictionless sniffs (row 1 is
the first record, a multi-line quoted cell is one row), found by `csvblocks`; bytes are
decoded by `textblocks`. The header is the first of the first 100 rows whose cell count
is near their average (frictionless's rule), its labels stripped of spaces.

Column names are the labels made unique: a blank label becomes `field{position}`, a repeated
name gets the first free suffix 2, 3 ... (`id`, `id2`), and `_row` / `_error` are reserved
for the row number and the row's structural errors (a JSON list of frictionless blank-row,
extra-cell and missing-cell descriptors, null when the row is well formed).
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from hub.validation.csvblocks import BlockParser
from hub.validation.textblocks import MIN_FIRST_BLOCK, BlockReader, TableReadError

logger = logging.getLogger(__name__)

SAMPLE_LINES = 100  # frictionless sniffs the dialect on the first 100 text lines
SAMPLE_ROWS = 100  # and looks for the header among the first 100 rows
SNIFF_DELIMITERS = ",\t;|"
MIN_BLOCK = 1 << 16
MAX_BLOCK = 64 << 20  # bytes read at once at most: memory stays bounded whatever the lines

csv.field_size_limit(2**31 - 1)  # frictionless lifts the limit too: huge cells are data

__all__ = ["Table", "TableReadError", "make_column_names", "open_csv"]


@dataclass
class Table:
    """A CSV file opened for chunked reading."""

    header: list[str]
    chunks: Iterator[pl.DataFrame]
    columns: list[str] = field(default_factory=list)
    header_row: int = 1
    encoding: str = "utf-8"
    delimiter: str = ","
    stats: dict[str, Any] = field(default_factory=dict)  # bytes (+ md5, sha256) once read


def open_csv(
    source: Path | str | bytes,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    quotechar: str = '"',
    chunk_rows: int = 100_000,
    digests: bool = False,
) -> Table:
    """Open a CSV file (path or bytes): its header, and chunks of at most `chunk_rows` rows."""
    raw, name = _open_binary(source)
    try:
        head = raw.read(MIN_FIRST_BLOCK)
        codec = _resolve_encoding(encoding, head, name)
        reader = BlockReader(raw, head, codec, name, digests)
        sample_text = reader.read_sample(min_lines=3 * SAMPLE_ROWS)
        dialect = _sniff_dialect(sample_text, delimiter, quotechar)
        sample = _read_sample_rows(sample_text, dialect, name)
    except BaseException:
        raw.close()
        raise
    header_row = _detect_header_row(sample)
    labels = [("" if c is None else str(c)).strip() for c in sample[header_row - 1]]
    columns = make_column_names(labels)
    # A few huge lines in the sample must not size every read after them.
    reader.block_bytes = min(MAX_BLOCK, max(MIN_BLOCK, reader.average_line_bytes() * chunk_rows))
    parser = BlockParser(columns, dialect, header_row)
    table = Table(
        header=labels,
        chunks=iter(()),
        columns=columns,
        header_row=header_row,
        encoding=codec,
        delimiter=dialect.delimiter,
    )
    table.chunks = _generate_chunks(reader, parser, chunk_rows, table.stats, raw)
    return table


def make_column_names(labels: list[str]) -> list[str]:
    """Unique column names for labels: blanks become `field{n}`, repeats get a 2, 3 ... suffix."""
    used = {"_row", "_error"}
    names: list[str] = []
    for position, label in enumerate(labels, start=1):
        base = label or f"field{position}"
        name, suffix = base, 2
        while name in used:
            name, suffix = f"{base}{suffix}", suffix + 1
        used.add(name)
        names.append(name)
    return names


def _open_binary(source: Path | str | bytes) -> tuple[BinaryIO, str]:
    """The source as a binary stream and a name for messages."""
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(bytes(source)), "<bytes>"
    path = Path(source)
    try:
        return path.open("rb"), str(path)
    except OSError as exc:
        raise TableReadError(f"{path}: cannot read the file ({exc.strerror})") from exc


def _resolve_encoding(encoding: str | None, head: bytes, name: str) -> str:
    """The codec name, with frictionless's BOM rules (utf-8 + BOM -> utf-8-sig ...)."""
    try:
        codec = codecs.lookup(encoding or "utf-8").name
    except LookupError as exc:
        raise TableReadError(f"{name}: unknown encoding {encoding!r}") from exc
    if codec == "utf-8" and head.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    elif head.startswith(codecs.BOM_UTF8) and codec != "utf-8-sig":
        # The mark says UTF-8; read as another codec it becomes text (`ï»¿` in cp1252) glued
        # to the first header, and every row then misses that field.
        raise TableReadError(
            f"{name}: the file starts with a UTF-8 byte-order mark, so it is UTF-8 text, "
            f"not {encoding}: declare encoding utf-8"
        )
    elif (
        codec == "utf-16-be"
        and head.startswith(codecs.BOM_UTF16_BE)
        or codec == "utf-16-le"
        and head.startswith(codecs.BOM_UTF16_LE)
    ):
        codec = "utf-16"
    if not head or (head == codecs.BOM_UTF8 and codec == "utf-8-sig"):
        raise TableReadError(f"{name}: empty file")
    if b"\x00" in head and not codec.startswith(("utf-16", "utf-32")):
        offset = head.index(b"\x00")
        raise TableReadError(
            f"{name}: not a CSV text file (NUL byte at offset {offset}); "
            f"a binary file, or UTF-16/32 text read as {codec}?"
        )
    return codec


def _sniff_dialect(text: str, delimiter: str | None, quotechar: str) -> csv.Dialect:
    """The csv dialect frictionless uses: sniffed on the first 100 lines, quote forced to '"'."""
    sample = "".join(io.StringIO(text, newline="").readlines()[:SAMPLE_LINES])
    try:
        sniffed: Any = csv.Sniffer().sniff(sample, delimiter or SNIFF_DELIMITERS)
    except csv.Error:
        sniffed = csv.excel()
    dialect: Any = csv.excel()
    dialect.delimiter = delimiter or sniffed.delimiter
    dialect.quotechar = quotechar or '"'
    dialect.quoting = csv.QUOTE_NONE if quotechar == "" else csv.QUOTE_MINIMAL
    dialect.doublequote = True
    dialect.escapechar = None
    dialect.skipinitialspace = sniffed.skipinitialspace
    return dialect


def _read_sample_rows(text: str, dialect: csv.Dialect, name: str) -> list[list[str]]:
    """The first rows of the file (frictionless's detection sample)."""
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows = [row for _, row in zip(range(SAMPLE_ROWS), reader, strict=False)]
    if not rows:
        raise TableReadError(f"{name}: empty file (no rows)")
    return rows


def _detect_header_row(sample: list[list[str]]) -> int:
    """The header row: the first sample row whose width is near the average width."""
    widths = [len(row) for row in sample]
    width = round(sum(widths) / len(widths))
    drift = max(round(width * 0.1), 1)
    for number, row_width in enumerate(widths, start=1):
        if width - drift <= row_width <= width + drift:
            return number
    return 1


def _generate_chunks(
    reader: BlockReader,
    parser: BlockParser,
    chunk_rows: int,
    stats: dict[str, Any],
    raw: BinaryIO,
) -> Iterator[pl.DataFrame]:
    """Parse the file block by block and yield frames of at most `chunk_rows` rows."""
    try:
        carried = b""
        while True:
            block = reader.next_block()
            if block is None and not carried:
                break
            block = carried + (block or b"")
            frame = parser.parse(block, final=reader.eof or block is None, reader=reader)
            if frame is None:  # a quoted cell runs past the block: read on
                carried = block
                continue
            carried = b""
            for start in range(0, frame.height, chunk_rows):
                yield frame.slice(start, chunk_rows)
        stats.update(reader.stats())
    finally:
        reader.finish()
        raw.close()
