"""Personal charters: matching data in RUDI's shape, the operator's matching service, retention
and the aggregates' smallest group, read through `hub.charters.personal_terms`."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.charters import (
    CharterError,
    MatchingField,
    load_charter,
    personal_terms,
    read_charter,
    terms_of,
)
from hub.config import get_settings

TODAY = date(2026, 11, 22)
METER = {
    "code": "meter_number",
    "label": {"fr": "Numéro de PDL", "en": "Delivery point number"},
    "type": "string",
    "pattern": "^[0-9]{14}$",
    "required": True,
}
POSTCODE = {
    "code": "postcode",
    "label": {"fr": "Code postal", "en": "Postcode"},
    "type": "string",
    "pattern": "^[0-9]{5}$",
    "required": True,
}
PERSONAL: dict[str, Any] = {
    "id": "test-personal",
    "version": "1.0",
    "title": "A personal test charter",
    "producer": "test-grid",
    "licence": {"id": "custom", "label": "Self-data terms", "uri": "https://example.org/terms"},
    "access": "personal",
    "purposes": ["self-data"],
    "gdpr_sensitive": True,
    "personal_data": {
        "subject_field": "subject_key",
        "legal_basis": "consent",
        "matching_data": [METER, POSTCODE],
        "matching_url": "https://grid.example.org/matching",
        "retention_days": 365,
        "min_group_size": 5,
    },
    "valid_from": "2026-01-01",
    "valid_until": "2027-12-31",
    "themes": ["energy"],
    "schemas": ["energy-consumption"],
}


def write(folder: Path, data: dict[str, Any], name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{data['id']}.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def with_personal(**change: Any) -> dict[str, Any]:
    """PERSONAL with some personal_data parts changed (None removes one)."""
    data = copy.deepcopy(PERSONAL)
    for key, value in change.items():
        if value is None:
            data["personal_data"].pop(key, None)
        else:
            data["personal_data"][key] = value
    return data


def use_folder(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    get_settings.cache_clear()


# --- the bundled demo charter ---------------------------------------------------------------


def test_the_demo_charter_2_0_asks_for_the_meter_number_and_postcode():
    charter = load_charter("grid-demo-load-curves", TODAY)
    assert charter.version == "2.0"
    terms = personal_terms("grid-demo-load-curves", "2.0")
    assert terms is not None and terms == terms_of(charter)
    assert (terms.producer, terms.subject_field, terms.legal_basis) == (
        "grid-demo",
        "subject_key",
        "consent",
    )
    meter, postcode = terms.matching_data
    assert (meter.code, meter.type, meter.pattern, meter.required) == (
        "meter_number",
        "string",
        "^[0-9]{14}$",
        True,
    )
    assert set(meter.label) == {"fr", "en"} and meter.help and set(meter.help) == {"fr", "en"}
    assert (postcode.code, postcode.pattern) == ("postcode", "^[0-9]{5}$")
    assert terms.matching_url == "http://127.0.0.1:8765/matching"
    assert (terms.retention_days, terms.min_group_size) == (730, 10)
    assert terms.purposes == ("self-data", "energy-saving-advice")


def test_the_demo_charter_1_0_stays_readable_with_its_bare_codes():
    terms = personal_terms("grid-demo-load-curves", "1.0")
    assert terms is not None and terms.version == "1.0"
    assert terms.matching_data == (
        MatchingField("meter_number", {"fr": "meter_number", "en": "meter_number"}),
        MatchingField("postcode", {"fr": "postcode", "en": "postcode"}),
    )
    assert terms.matching_url is None and terms.min_group_size == 10
    assert load_charter("grid-demo-load-curves", date(2026, 6, 1)).version == "1.0"


def test_terms_exist_only_for_personal_charters_that_can_be_read():
    assert personal_terms("atmo-demo-open", "1.0") is None
    assert personal_terms("no-such-charter", "1.0") is None
    # a version gone from the folder: the latest version's terms, as for restricted_to
    assert personal_terms("grid-demo-load-curves", "9.9").version == "2.0"


def test_a_territory_charter_gives_its_own_terms(tmp_path, monkeypatch):
    write(tmp_path, PERSONAL)
    use_folder(monkeypatch, tmp_path)
    terms = personal_terms("test-personal", "1.0")
    assert terms is not None
    assert [f.code for f in terms.matching_data] == ["meter_number", "postcode"]
    assert (terms.retention_days, terms.min_group_size) == (365, 5)
    assert terms.matching_url == "https://grid.example.org/matching"


# --- matching values ------------------------------------------------------------------------


def test_matching_values_are_checked_without_being_quoted():
    terms = personal_terms("grid-demo-load-curves", "2.0")
    assert terms is not None
    assert terms.matching_problems({"meter_number": "30002512345678", "postcode": "92330"}) == []
    assert terms.matching_problems({"meter_number": " 30002512345678 ", "postcode": "92330"}) == []
    problems = terms.matching_problems({"meter_number": "3000251234567X", "pin": "0000"})
    assert problems == [
        "pin: not asked by this charter",
        "meter_number: not in the expected form",
        "postcode: required",
    ]
    assert "3000251234567X" not in str(problems)
    assert terms.matching_problems({"meter_number": True, "postcode": ""}) == [
        "meter_number: not a string",
        "postcode: required",
    ]


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("integer", ["42", 42, "-7"], ["4.2", "x", True]),
        ("number", ["4.2", 4.2, "1e3"], ["nan", "four", False]),
        ("boolean", [True, "false"], ["yes", 1]),
        ("date", ["2026-02-28"], ["2026-02-30", "20260228", "28/02/2026"]),
    ],
)
def test_each_matching_type_reads_its_values(kind, good, bad):
    entry = MatchingField("value", {"fr": "Valeur", "en": "Value"}, type=kind)
    assert [entry.problem(value) for value in good] == [None] * len(good)
    assert [entry.problem(value) for value in bad] == [f"value: not a {kind}"] * len(bad)
    optional = MatchingField("value", {"fr": "Valeur", "en": "Value"}, kind, required=False)
    assert optional.problem(None) is None and optional.problem("  ") is None


# --- shapes refused at load -----------------------------------------------------------------


def refusal(path: Path) -> CharterError:
    with pytest.raises(CharterError) as caught:
        read_charter(path)
    assert str(path) in str(caught.value)
    return caught.value


def line_with(path: Path, text: str) -> int:
    """The line of the last occurrence of `text` in the file's personal_data block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines, 1) if line.startswith("personal_data:"))
    found = [n for n, line in enumerate(lines, 1) if text in line and n >= start]
    return found[-1]


@pytest.mark.parametrize(
    ("change", "needle", "words"),
    [
        (
            {"matching_data": [METER | {"pattern": "^([0-9]{14}$"}, POSTCODE]},
            "pattern: ^([0-9]{14}$",
            "the pattern of matching data 'meter_number' is not a regular expression",
        ),
        (
            {"matching_data": [METER, POSTCODE | {"code": "meter_number"}]},
            "- code: meter_number",
            "matching data code 'meter_number' is listed twice",
        ),
        (
            {"matching_data": [METER | {"required": False}, POSTCODE | {"required": False}]},
            "matching_data:",
            "at least one matching data entry must be required",
        ),
        (
            {"matching_url": None},
            "personal_data:",
            "personal_data.matching_url is missing",
        ),
        ({"matching_data": None}, "personal_data:", "'matching_data' is a required property"),
        ({"matching_data": []}, "matching_data:", "should be non-empty"),
        (
            {"matching_data": [METER | {"label": {"fr": "PDL"}}]},
            "label:",
            "'en' is a required property",
        ),
        ({"matching_data": [METER | {"type": "pdl"}]}, "type: pdl", "'pdl' is not one of"),
        (
            {"matching_data": [{k: v for k, v in METER.items() if k != "required"}]},
            "- code: meter_number",
            "'required' is a required property",
        ),
        ({"matching_data": [METER | {"code": "Meter Number"}]}, "code: Meter Number", "match"),
        ({"matching_url": "ftp://grid.example.org/m"}, "matching_url:", "does not match"),
        (
            {"matching_url": "https://user:secret@grid.example.org/m"},
            "matching_url:",
            "does not match",
        ),
        ({"min_group_size": 1}, "min_group_size: 1", "less than the minimum of 2"),
        ({"retention_days": 0}, "retention_days: 0", "less than the minimum of 1"),
    ],
    ids=[
        "pattern-not-compiling",
        "code-repeated",
        "nothing-required",
        "no-matching-url",
        "no-matching-data",
        "empty-matching-data",
        "label-without-english",
        "unknown-type",
        "required-not-said",
        "code-shape",
        "url-scheme",
        "url-with-credentials",
        "group-of-one",
        "no-retention",
    ],
)
def test_a_bad_personal_shape_is_refused_at_its_line(tmp_path, change, needle, words):
    path = write(tmp_path, with_personal(**change))
    error = refusal(path)
    assert words in str(error)
    assert error.line == line_with(path, needle), str(error)


def test_a_personal_charter_without_personal_data_is_refused(tmp_path):
    data = {k: v for k, v in PERSONAL.items() if k != "personal_data"}
    assert "must name personal_data.subject_field" in str(refusal(write(tmp_path, data)))


def test_bare_codes_still_load_and_need_no_matching_url(tmp_path):
    data = with_personal(matching_data=["meter_number", "postcode"], matching_url=None)
    terms = terms_of(read_charter(write(tmp_path, data)))
    assert terms is not None and [f.code for f in terms.matching_data] == [
        "meter_number",
        "postcode",
    ]
    assert all(f.required and f.type == "string" for f in terms.matching_data)
