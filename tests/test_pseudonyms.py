"""Pseudonyms: keyed per producer under the hub's secret key; a chunk's keys replaced in place."""

from __future__ import annotations

import json

import polars as pl
import pytest

from hub.batches import Chunk, RowProblem
from hub.config import get_settings
from hub.pseudonyms import (
    empty_subject,
    is_pseudonym,
    keyed_filters,
    keyed_values,
    pseudonym,
    pseudonymise,
)

METER = "30002512345678"


def test_a_pseudonym_is_stable_per_producer_and_of_a_fixed_shape():
    first = pseudonym("grid-demo", METER)
    assert first == pseudonym("grid-demo", METER) == pseudonym("grid-demo", f" {METER}\n")
    assert is_pseudonym(first) and len(first) == 35 and METER not in first
    assert pseudonym("other-grid", METER) != first
    assert pseudonym("grid-demo", "30002512345679") != first
    assert not is_pseudonym(METER) and not is_pseudonym(first.upper())


def test_a_pseudonym_depends_on_the_hub_secret_key(monkeypatch):
    generated = pseudonym("grid-demo", METER)
    monkeypatch.setenv("HUB_SECRET_KEY", "k" * 48)
    get_settings.cache_clear()
    configured = pseudonym("grid-demo", METER)
    monkeypatch.setenv("HUB_SECRET_KEY", "j" * 48)
    get_settings.cache_clear()
    assert len({generated, configured, pseudonym("grid-demo", METER)}) == 3


def test_a_pseudonym_needs_a_producer_and_a_key():
    for producer, key in (("", METER), ("grid-demo", ""), ("grid-demo", "   ")):
        with pytest.raises(ValueError, match="non-empty subject key"):
            pseudonym(producer, key)


def chunk(keys: list[str | None], **columns: list[str | None]) -> Chunk:
    frame = pl.DataFrame(
        {"subject_key": keys, "value": ["1"] * len(keys), **columns},
        schema_overrides={"subject_key": pl.String},
    )
    return Chunk(frame.with_columns(pl.Series("_row", range(2, 2 + len(keys)), dtype=pl.Int64)))


def test_a_chunk_gets_pseudonyms_and_its_rows_of_nobody_a_problem():
    given = chunk([METER, f" {METER} ", "", "  ", None, "42"])
    result = pseudonymise(given, "grid-demo", "subject_key")
    assert result.frame["subject_key"].to_list() == [
        pseudonym("grid-demo", METER),
        pseudonym("grid-demo", METER),
        "",
        "",
        None,
        pseudonym("grid-demo", "42"),
    ]
    assert [(p.row, p.field, p.note) for p in result.problems] == [
        (row, "subject_key", empty_subject("subject_key")) for row in (4, 5, 6)
    ]
    assert result.frame.columns == given.frame.columns
    assert given.frame["subject_key"][0] == METER  # the caller's frame is left as it was


def test_a_reader_s_problem_and_a_structural_error_quote_the_pseudonym():
    errors = [json.dumps([{"type": "extra-cell", "cells": [METER, "1", "x"], "cell": "x"}]), None]
    given = chunk([METER, "30002598765432"], _error=errors)
    given.problems = [
        RowProblem(2, "value", f"meter {METER}: reading sent twice"),
        RowProblem(3, "value", "no reading"),
    ]
    result = pseudonymise(given, "grid-demo", "subject_key")
    hidden = pseudonym("grid-demo", METER)
    assert [p.note for p in result.problems] == [
        f"meter {hidden}: reading sent twice",
        "no reading",
    ]
    assert json.loads(result.frame["_error"][0]) == [
        {"type": "extra-cell", "cells": [hidden, "1", "x"], "cell": "x"}
    ]
    assert METER not in str(result.frame.to_dicts()) + str(result.problems)


def test_a_chunk_without_the_subject_column_is_left_to_the_header_check():
    given = Chunk(pl.DataFrame({"value": ["1"], "_row": [2]}))
    assert pseudonymise(given, "grid-demo", "subject_key") is given


def test_the_key_is_kept_per_data_folder(tmp_path, monkeypatch):
    first = pseudonym("grid-demo", METER)
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    assert pseudonym("grid-demo", METER) != first  # another hub, another generated key


def test_filter_keys_split_as_every_filter_does():
    """`\\,` is a comma inside a key, as for any filter value; a pseudonym given stays."""
    known = pseudonym("grid", "B-2")
    assert keyed_values("grid", "A\\,1," + known) == f"{pseudonym('grid', 'A,1')},{known}"
    assert keyed_filters((("meter", "A\\,1"), ("day", "a,b")), "grid", "meter") == (
        ("meter", pseudonym("grid", "A,1")),
        ("day", "a,b"),
    )
