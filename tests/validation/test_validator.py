"""hub.validation.Validator: chunk typing, invalid rows, cross-chunk unique/primary-key state."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from hub.validation import SchemaError, Validator, format_report, keymemory, validate_file
from hub.validation.keyarrays import KeyArrays
from hub.validation.keymemory import KeyMemory

TYPED_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "i", "type": "integer"},
        {"name": "y", "type": "year"},
        {"name": "n", "type": "number"},
        {"name": "b", "type": "boolean"},
        {"name": "t", "type": "datetime"},
        {"name": "d", "type": "date"},
        {"name": "h", "type": "time"},
        {"name": "s", "type": "string"},
        {"name": "g", "type": "geopoint"},
    ]
}


def chunk(rows: list[dict[str, str | None]], first_row: int = 2) -> pl.DataFrame:
    """A chunk as open_csv yields it: Utf8 columns and `_row`."""
    frame = pl.DataFrame(rows, schema={name: pl.String for name in rows[0]})
    return frame.with_columns(_row=pl.int_range(first_row, first_row + len(rows), dtype=pl.Int64))


def test_valid_rows_are_typed() -> None:
    validator = Validator(TYPED_SCHEMA)
    result = validator.validate_chunk(
        chunk(
            [
                {
                    "i": "7",
                    "y": "2024",
                    "n": "1.5",
                    "b": "true",
                    "t": "2024-01-05T10:00:00+01:00",
                    "d": "2024-01-05",
                    "h": "10:30:00",
                    "s": "x",
                    "g": "3.8,43.6",
                },
                {
                    "i": " 8 ",
                    "y": "1999",
                    "n": "-2",
                    "b": "0",
                    "t": "2024-01-05T10:00:00",
                    "d": "2024-1-5",
                    "h": "23:59:59",
                    "s": "",
                    "g": "0,0",
                },
            ]
        )
    )
    assert result.errors == [] and result.invalid.height == 0
    valid = result.valid
    assert valid.schema == pl.Schema(
        {
            "i": pl.Int64,
            "y": pl.Int64,
            "n": pl.Float64,
            "b": pl.Boolean,
            "t": pl.Datetime("us", "UTC"),
            "d": pl.Date,
            "h": pl.Time,
            "s": pl.String,
            "g": pl.String,
            "_row": pl.Int64,
        }
    )
    assert valid["i"].to_list() == [7, 8]
    assert valid["n"].to_list() == [1.5, -2.0]
    assert valid["b"].to_list() == [True, False]
    utc = dt.UTC
    assert valid["t"].to_list() == [
        dt.datetime(2024, 1, 5, 9, tzinfo=utc),
        dt.datetime(2024, 1, 5, 10, tzinfo=utc),
    ]
    assert valid["d"].to_list() == [dt.date(2024, 1, 5)] * 2
    assert valid["s"].to_list() == ["x", None]  # a missing value is null
    assert valid["g"].to_list() == ["3.8,43.6", "0,0"]  # other types keep their text
    assert valid["_row"].to_list() == [2, 3]


def test_invalid_rows_keep_raw_text_and_their_errors() -> None:
    schema = {
        "fields": [
            {"name": "a", "type": "integer", "constraints": {"minimum": 0}},
            {"name": "b", "type": "string"},
        ]
    }
    result = Validator(schema).validate_chunk(
        chunk([{"a": "1", "b": "x"}, {"a": "-1", "b": "y"}, {"a": "z", "b": None}])
    )
    assert result.valid["a"].to_list() == [1]
    assert result.invalid.columns == ["a", "b", "_row", "_error"]
    assert result.invalid["a"].to_list() == ["-1", "z"]
    row_errors = [json.loads(text) for text in result.invalid["_error"]]
    assert [[e["type"] for e in errors] for errors in row_errors] == [
        ["constraint-error"],
        ["type-error", "missing-cell"],
    ]
    assert [e["rowNumber"] for e in result.errors] == [3, 4, 4]
    first = result.errors[0]
    assert first["note"] == 'constraint "minimum" is "0"'
    assert first["message"] == (
        'The cell "-1" in row at position "3" and field "a" at position "1" does not conform to a '
        'constraint: constraint "minimum" is "0"'
    )
    assert first["cells"] == ["-1", "y"] and first["fieldNumber"] == 1


def test_unique_state_spans_chunks() -> None:
    validator = Validator(
        {"fields": [{"name": "code", "type": "integer", "constraints": {"unique": True}}]}
    )
    assert validator.validate_chunk(chunk([{"code": "1"}, {"code": "2"}], first_row=2)).errors == []
    errors = validator.validate_chunk(
        chunk([{"code": "3"}, {"code": "01"}, {"code": "1"}], first_row=4)
    ).errors
    assert [(e["type"], e["rowNumber"], e["note"], e["cell"]) for e in errors] == [
        ("unique-error", 5, "the same as in the row at position 2", "1"),
        ("unique-error", 6, "the same as in the row at position 5", "1"),
    ]


def test_primary_key_state_spans_chunks_and_treats_missing_cells_as_none() -> None:
    schema = {
        "fields": [{"name": "k", "type": "string"}, {"name": "t", "type": "datetime"}],
        "primaryKey": ["k", "t"],
    }
    validator = Validator(schema)
    first = validator.validate_chunk(
        chunk([{"k": "a", "t": "2024-01-01T00:00:00Z"}, {"k": "a", "t": ""}])
    )
    assert first.errors == []
    second = validator.validate_chunk(
        chunk(
            [
                {"k": "a", "t": "2024-01-01T01:00:00+01:00"},
                {"k": "a", "t": ""},
                {"k": None, "t": None},
            ],
            first_row=4,
        )
    )
    assert [(e["type"], e["rowNumber"], e["note"]) for e in second.errors] == [
        ("primary-key", 4, "the same as in the row at position 2"),  # same instant
        ("primary-key", 5, "the same as in the row at position 3"),  # (a, None) again
        ("blank-row", 6, ""),
        ("primary-key", 6, 'cells composing the primary keys are all "None"'),
    ]


def test_missing_field_column_is_all_null() -> None:
    schema = {
        "fields": [
            {"name": "a", "type": "string"},
            {"name": "b", "type": "string", "constraints": {"required": True}},
        ]
    }
    errors = Validator(schema).validate_chunk(chunk([{"a": "x"}])).errors
    assert [(e["type"], e["fieldName"]) for e in errors] == [
        ("constraint-error", "b"),
        ("missing-cell", "b"),
    ]


def test_header_check_reports_frictionless_label_errors() -> None:
    validator = Validator({"fields": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    errors = validator.check_header(["a", "B", "a", "x"], row_number=1)
    assert [(e["type"], e["fieldNumber"]) for e in errors] == [
        ("extra-label", 4),
        ("incorrect-label", 2),
        ("duplicate-label", 3),
    ]
    assert validator.field_names == ["a", "b", "c", "x"]


def test_invalid_schema_is_a_schema_error() -> None:
    with pytest.raises(SchemaError) as caught:
        Validator({"fields": [{"name": "a", "type": "integer", "constraints": {"pattern": "x"}}]})
    error = caught.value.errors[0]
    assert error["type"] == "field-error"
    assert error["note"] == 'constraint "pattern" is not supported by type "integer"'


def test_validate_file_report_and_text(tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    path.write_text("id,value\n1,2.5\n2,abc\n2,-1\n", encoding="utf-8")
    schema = {
        "fields": [
            {"name": "id", "type": "integer", "constraints": {"unique": True}},
            {"name": "value", "type": "number", "constraints": {"minimum": 0}},
        ]
    }
    report = validate_file(path, schema)
    task = report["tasks"][0]
    assert not report["valid"] and task["name"] == "obs" and task["labels"] == ["id", "value"]
    assert task["stats"]["rows"] == 3 and task["stats"]["errors"] == 3
    text = format_report(report)
    assert "INVALID - 3 rows, 3 errors" in text
    assert "unique-error" in text and "type-error" in text


def test_validate_file_stops_at_the_error_limit(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("n\n" + "x\n" * 50, encoding="utf-8")
    report = validate_file(
        path, {"fields": [{"name": "n", "type": "integer"}]}, limit_errors=5, chunk_rows=7
    )
    task = report["tasks"][0]
    assert len(task["errors"]) == 5 and task["warnings"] == ["reached error limit: 5"]
    assert task["stats"]["rows"] == 5


def test_validate_file_reports_unreadable_files_as_errors(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("name\nJosé\n".encode("cp1252"))
    report = validate_file(path, {"fields": [{"name": "name"}]})
    assert report["tasks"][0]["errors"][0]["type"] == "encoding-error"
    assert validate_file(path, {"fields": [{"name": "name"}]}, encoding="cp1252")["valid"]


def test_key_memory_finds_previous_rows_and_forgets_nothing() -> None:
    memory = KeyMemory()
    first = memory.check(pl.DataFrame({"k": ["a", "b", "a"]}), pl.Series([2, 3, 4]))
    second = memory.check(pl.DataFrame({"k": ["b", "c", "a"]}), pl.Series([5, 6, 7]))
    assert first.to_list() == [None, None, 2]
    assert second.to_list() == [3, None, 4]
    assert memory.size == 3


def test_key_memory_moves_to_arrays_and_answers_as_a_dict_would(monkeypatch) -> None:
    monkeypatch.setattr(keymemory, "DICT_KEYS", 40)
    rng = random.Random(3)
    memory, reference, row = KeyMemory(), {}, 2
    for size in (10, 25, 7, 60, 1, 33):  # the third batch passes 40 keys: arrays from then on
        keys = [(rng.choice("abcdefgh"), rng.randint(0, 12)) for _ in range(size)]
        numbers = list(range(row, row + size))
        frame = pl.DataFrame({"s": [k[0] for k in keys], "n": [k[1] for k in keys]})
        found = memory.check(frame, pl.Series(numbers)).to_list()
        expected = []
        for key, number in zip(keys, numbers, strict=True):
            expected.append(reference.get(key))
            reference[key] = number
        assert found == expected
        row += size
    assert memory.many is not None and memory.size == len(reference)


def test_key_arrays_tell_apart_keys_whose_first_hashes_collide() -> None:
    arrays = KeyArrays([7, 7], [1, 2], [2, 3])  # two keys sharing their first 64 bits
    found = arrays.check(
        pl.Series([7, 7, 7, 9], dtype=pl.UInt64),
        pl.Series([2, 3, 3, 1], dtype=pl.UInt64),
        pl.Series([4, 5, 6, 7]),
    )
    assert found.to_list() == [3, None, 5, None]
    assert arrays.size == 4
    hashes, others = pl.Series([7, 9], dtype=pl.UInt64), pl.Series([1, 1], dtype=pl.UInt64)
    assert arrays.check(hashes, others, pl.Series([8, 9])).to_list() == [2, 7]


def test_validate_parts_splits_the_invalid_rows_and_keeps_every_error() -> None:
    schema = {
        "fields": [{"name": "a", "type": "integer"}, {"name": "b", "type": "string"}],
        "primaryKey": ["a"],
    }
    rows = [{"a": str(n if n % 3 else -n), "b": "x"} for n in range(1, 31)]
    rows += [{"a": "oops", "b": "y"}, {"a": "4", "b": "again"}]
    whole = Validator(schema).validate_chunk(chunk(rows))
    parts = list(Validator(schema).validate_parts(chunk(rows), part_rows=1))
    assert len(parts) == whole.invalid.height == 2
    assert parts[0].valid.equals(whole.valid) and parts[1].valid.height == 0
    assert [e for part in parts for e in part.errors] == whole.errors
    assert [part.invalid["_row"].to_list() for part in parts] == [[32], [33]]
    assert parts[1].errors[0]["note"] == "the same as in the row at position 5"
