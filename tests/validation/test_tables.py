"""open_csv: encodings, dialect sniffing, row numbering and chunking as frictionless."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import frictionless
import polars as pl
import pytest

import hub.validation.tables as tables
import hub.validation.textblocks as textblocks
from hub.config import get_settings
from hub.validation.tables import TableReadError, make_column_names, open_csv

SAMPLES = get_settings().samples_dir
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"no sample files at {SAMPLES}")
CP1252 = {
    "AirLR_LR_StationAir.csv",
    "TelaBotanica_MTP_InventBota.csv",
    "VilleMTP_MTP_Signalisation_L93.csv",
    "VilleMtp_MTP_SitesHebUrg.csv",
}


def read_all(source: Path | bytes, **options: Any) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (row number, cells) of every row, cells rebuilt as frictionless lists them."""
    table = open_csv(source, **options)
    rows = []
    for chunk in table.chunks:
        for record in chunk.iter_rows(named=True):
            cells = [record[name] for name in table.columns]
            while cells and cells[-1] is None:
                cells.pop()
            for error in json.loads(record["_error"] or "[]"):
                if error["type"] == "extra-cell":
                    cells.append(error["cell"])
                if error["type"] == "blank-row":
                    cells = error["cells"]
            rows.append((record["_row"], cells))
    return table.header, rows


def frictionless_rows(
    source: Path | bytes, encoding: str = "utf-8"
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """frictionless's labels and its (row number, cells) content stream."""
    with frictionless.system.use_context(trusted=True):
        options: dict[str, Any] = {"format": "csv"} if isinstance(source, bytes) else {}
        with frictionless.Resource(
            source if isinstance(source, bytes) else str(source), encoding=encoding, **options
        ) as resource:
            stream = resource.dialect.read_enumerated_content_stream(resource.cell_stream)
            return resource.labels, [(number, cells) for number, cells in stream]


@needs_samples
@pytest.mark.parametrize(
    "path", sorted(SAMPLES.glob("*/*.csv")) if SAMPLES.is_dir() else [], ids=lambda p: p.name
)
def test_shared_csv_files_read_like_frictionless(path: Path) -> None:
    encoding = "cp1252" if path.name in CP1252 else "utf-8"
    header, rows = read_all(path, encoding=encoding, chunk_rows=500)
    assert (header, rows) == frictionless_rows(path, encoding)
    assert rows, "the file has rows"


@needs_samples
def test_cp1252_file_decodes_with_its_encoding() -> None:
    table = open_csv(SAMPLES / "air" / "AirLR_LR_StationAir.csv", encoding="cp1252")
    frame = pl.concat(list(table.chunks))
    assert table.encoding == "cp1252"
    assert frame.height == 20
    assert any("é" in value for value in frame["Station_Typologie"].drop_nulls())


@needs_samples
def test_cp1252_file_read_as_utf8_is_an_error_naming_encoding_and_offset() -> None:
    with pytest.raises(TableReadError) as caught:
        open_csv(SAMPLES / "air" / "AirLR_LR_StationAir.csv")
    message = str(caught.value)
    assert "utf-8" in message and "byte offset 191" in message and "e8" in message


@pytest.mark.parametrize("declared", ["cp1252", "latin-1", "iso-8859-15"])
def test_a_utf8_bom_under_another_declared_encoding_is_an_error_naming_both(declared) -> None:
    text = "Code station;Nom\nFR01;Montpellier – Près d'Arènes\n".encode()
    with pytest.raises(TableReadError, match=f"UTF-8 byte-order mark.*not {declared}"):
        open_csv(codecs.BOM_UTF8 + text, encoding=declared)
    table = open_csv(codecs.BOM_UTF8 + text, encoding="utf-8")  # as declared: the mark is dropped
    assert pl.concat(list(table.chunks)).columns[:2] == ["Code station", "Nom"]


@pytest.mark.parametrize("declared", ["cp1252", "latin-1", "iso-8859-15"])
def test_utf8_text_under_a_declared_single_byte_encoding_is_an_error(declared) -> None:
    """An export switched to UTF-8, its source still saying cp1252: never `Centre-HÃ´tel`."""
    text = "Code;Nom;Unité\nS1;Centre-Hôtel;ppb\n".encode()
    codec = codecs.lookup(declared).name
    with pytest.raises(TableReadError, match=f"UTF-8 text, not {codec}.*'é'.*encoding: utf-8"):
        list(open_csv(text, encoding=declared).chunks)
    read = pl.concat(list(open_csv(text, encoding="utf-8").chunks))
    assert read["Nom"].to_list() == ["Centre-Hôtel"]
    # Real single-byte text is read as declared: its accents are not UTF-8 sequences.
    single = pl.concat(list(open_csv(text.decode().encode(declared), encoding=declared).chunks))
    assert single["Nom"].to_list() == ["Centre-Hôtel"]


def test_utf8_text_past_the_first_block_under_cp1252_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(textblocks, "MIN_FIRST_BLOCK", 64)
    monkeypatch.setattr(tables, "MIN_FIRST_BLOCK", 64)
    monkeypatch.setattr(tables, "MIN_BLOCK", 64)
    ascii_rows = b"a,b\n" + b"1,2\n" * 400
    table = open_csv(ascii_rows + "3,Près\n".encode(), encoding="cp1252")
    with pytest.raises(TableReadError, match=f"c3 a8 at byte offset {len(ascii_rows) + 4}"):
        list(table.chunks)


def test_bad_byte_after_the_first_block_is_reported_with_its_absolute_offset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(textblocks, "MIN_FIRST_BLOCK", 64)
    monkeypatch.setattr(tables, "MIN_FIRST_BLOCK", 64)
    monkeypatch.setattr(tables, "MIN_BLOCK", 64)
    good = b"a,b\n" + b"1,2\n" * 400
    table = open_csv(good + b"3,\xff\n")
    with pytest.raises(TableReadError, match=f"byte offset {len(good) + 2}"):
        list(table.chunks)


@needs_samples
def test_bom_is_stripped_and_semicolons_sniffed() -> None:
    table = open_csv(SAMPLES / "geo" / "bal_validateur_sample_L93.csv")
    assert table.encoding == "utf-8-sig"
    assert table.delimiter == ";"
    assert not table.header[0].startswith("\ufeff")


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [("a;b\n1;2\n", ";"), ("a\tb\n1\t2\n", "\t"), ("a|b\n1|2\n", "|"), ("a,b\n1,2\n", ",")],
)
def test_delimiter_is_sniffed(text: str, delimiter: str) -> None:
    table = open_csv(text.encode())
    assert table.delimiter == delimiter
    assert pl.concat(list(table.chunks))["b"].to_list() == ["2"]


def test_explicit_delimiter_wins_over_sniffing() -> None:
    table = open_csv(b"a;b,c\n1;2,3\n", delimiter=",")
    assert table.header == ["a;b", "c"]


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf"])
def test_empty_file_is_an_error(content: bytes) -> None:
    with pytest.raises(TableReadError, match="empty"):
        open_csv(content)


def test_binary_file_is_not_a_csv() -> None:
    with pytest.raises(TableReadError, match="NUL byte"):
        open_csv(b"PK\x03\x04\x00\x00binary")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TableReadError, match="cannot read"):
        open_csv(tmp_path / "absent.csv")


def test_rows_are_numbered_like_frictionless_across_chunks_and_multiline_cells() -> None:
    text = b'id,note\n1,"two\nlines"\n2,plain\n\n3,"a ""quoted"" word"\n4,x,extra\n5\n'
    header, rows = read_all(text, chunk_rows=2)
    assert (header, rows) == frictionless_rows(text)
    assert [number for number, _ in rows] == [2, 3, 4, 5, 6, 7]  # a multi-line cell is one row


def test_chunks_hold_at_most_chunk_rows_and_keep_row_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(textblocks, "MIN_FIRST_BLOCK", 100)
    monkeypatch.setattr(tables, "MIN_FIRST_BLOCK", 100)
    monkeypatch.setattr(tables, "MIN_BLOCK", 50)
    lines = [b"n,text"] + [
        b'%d,"row %d' % (i, i) + (b'\nsecond line"' if i % 7 == 0 else b'"') for i in range(1000)
    ]
    data = b"\r\n".join(lines) + b"\r\n"
    table = open_csv(data, chunk_rows=37)
    chunks = list(table.chunks)
    assert all(chunk.height <= 37 for chunk in chunks)
    numbers = pl.concat(chunks)["_row"].to_list()
    assert numbers == [number for number, _ in frictionless_rows(data)[1]]
    assert pl.concat(chunks)["n"].to_list() == [str(i) for i in range(1000)]


def test_structural_errors_are_described_per_row() -> None:
    table = open_csv(b"a,b\n1,2,3\n4\n\n,\n5,6\n")
    frame = pl.concat(list(table.chunks))
    errors = {
        row: json.loads(text) if text else None
        for row, text in frame.select("_row", "_error").iter_rows()
    }
    assert [e["type"] for e in errors[2]] == ["extra-cell"] and errors[2][0]["cell"] == "3"
    assert [(e["type"], e["fieldName"]) for e in errors[3]] == [("missing-cell", "b")]
    assert [e["type"] for e in errors[4]] == ["blank-row"]
    assert [e["type"] for e in errors[5]] == ["blank-row"]
    assert errors[6] is None
    assert frame.filter(pl.col("_row") == 3)["b"].to_list() == [None]  # missing cell: null
    assert frame.filter(pl.col("_row") == 5)["a"].to_list() == [""]  # empty cell: ""


def test_columns_are_utf8_plus_row_and_error() -> None:
    frame = pl.concat(list(open_csv(b"x,y\n1,2\n").chunks))
    assert frame.schema == pl.Schema(
        {"x": pl.String, "y": pl.String, "_row": pl.Int64, "_error": pl.String}
    )


def test_duplicate_and_blank_labels_get_unique_column_names() -> None:
    assert make_column_names(["id", "", "id", "id", "_row", "field2"]) == [
        "id",
        "field2",
        "id2",
        "id3",
        "_row2",
        "field22",
    ]
    table = open_csv(b"id, id ,\n1,2,3\n")
    assert table.header == ["id", "id", ""]
    assert table.columns == ["id", "id2", "field3"]


def test_title_line_before_the_header_is_skipped_like_frictionless() -> None:
    text = b"Report of 2024\na,b,c\n1,2,3\n4,5,6\n7,8,9\n"
    table = open_csv(text)
    assert table.header_row == 2 and table.header == ["a", "b", "c"]
    assert read_all(text) == frictionless_rows(text)


def test_digests_and_bytes_match_frictionless_stats(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\n3,4\n")
    table = open_csv(path, digests=True)
    list(table.chunks)
    with frictionless.system.use_context(trusted=True):
        resource = frictionless.Resource(str(path))
        resource.infer(stats=True)
    assert table.stats == {"md5": resource.stats.md5, "sha256": resource.stats.sha256, "bytes": 12}


def test_utf16_with_bom_is_decoded() -> None:
    data = "a,b\nµ,2\n".encode("utf-16")
    frame = pl.concat(list(open_csv(data, encoding="utf-16").chunks))
    assert frame["a"].to_list() == ["µ"]
