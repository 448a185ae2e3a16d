"""CKAN's envelope is written by orjson (hub.api.ckan.replies.dumps): what it writes must read
back as what json.dumps(ensure_ascii=False, default=str) wrote before, for every kind of value
an action returns, and past orjson's limits (an integer over 64 bits) it writes it as json does."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

import numpy as np

from hub.api.ckan.replies import dumps


@dataclass
class Point:
    x: float


def as_json_wrote(value: object) -> object:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def test_every_kind_of_value_reads_back_as_json_dumps_wrote_it():
    body = {
        "success": True,
        "result": {
            "title": "Qualité de l'air — Île-de-France ✓ 東京",
            "modified": datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
            "naive": datetime(2026, 3, 29, 1, 30, 0, 250),
            "day": date(2026, 3, 29),
            "at": time(12, 5),
            "point": Point(2.35),
            "amount": Decimal("1.10"),
            "id": uuid.UUID(int=7),
            "counts": {1: "one", 2.5: "two and a half"},
            "numpy": [np.float64(1.5), np.int64(5), np.bool_(True)],  # a number, two strings
            "rows": [(1, 2), [0.1, 1e-07, 1e16, -0.0], None, False],
            "control": "tab\there\x01",
        },
    }
    written = dumps(body)
    assert isinstance(written, bytes)
    assert json.loads(written) == as_json_wrote(body)
    assert "Île-de-France ✓ 東京".encode() in written  # UTF-8, not \\u escapes


def test_an_integer_past_64_bits_is_written_as_json_writes_it():
    body = {"result": {"big": 2**80, "when": datetime(2026, 1, 1, tzinfo=UTC)}}
    assert json.loads(dumps(body)) == as_json_wrote(body)


def test_a_number_that_is_not_finite_is_written_as_null_which_every_client_reads():
    written = dumps({"result": [math.nan, math.inf]})
    assert json.loads(written) == {"result": [None, None]}
