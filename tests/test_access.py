"""The reader gate: open records for anyone, closed ones for nobody until tokens exist."""

from __future__ import annotations

import pytest

from hub import access
from hub.models import Dataset


def dataset(level: str) -> Dataset:
    return Dataset(id=f"demo-{level}", title="Demo", organization_id="atmo-demo",
                   theme="air-quality", schema_name="air-quality-observation",
                   charter_id=f"charter-{level}", charter_version="1.0", access=level)


def test_open_records_are_readable_by_anyone():
    open_data = dataset("open")
    assert access.can_read_records(open_data)
    assert access.can_read_records(open_data, access.Actor(id="someone"))
    access.require_records(open_data)
    access.require_quarantine(open_data)


@pytest.mark.parametrize("level", ["restricted", "personal", "crisis"])
def test_closed_records_are_refused_without_a_token(level):
    closed = dataset(level)
    assert not access.can_read_records(closed)
    with pytest.raises(access.AccessDenied) as denied:
        access.require_records(closed)
    assert denied.value.dataset_id == closed.id
    assert closed.id in denied.value.reason and "charter-" + level in denied.value.reason


@pytest.mark.parametrize("level", ["restricted", "personal", "crisis"])
def test_an_actor_without_proof_gains_nothing(level):
    member = access.Actor(id="agency", roles=frozenset({"crisis-cell"}),
                          organization="metropole-civil-protection", subject="st-a")
    assert not access.can_read_records(dataset(level), member)


@pytest.mark.parametrize("level", ["restricted", "personal", "crisis"])
def test_quarantined_rows_follow_the_records_rule(level):
    assert not access.can_read_quarantine(dataset(level))
    with pytest.raises(access.AccessDenied):
        access.require_quarantine(dataset(level))


def test_each_level_says_why_in_its_own_words():
    reasons = {}
    for level in ("restricted", "personal", "crisis"):
        with pytest.raises(access.AccessDenied) as denied:
            access.require_records(dataset(level))
        reasons[level] = denied.value.reason
    assert "member" in reasons["restricted"]
    assert "personal data" in reasons["personal"] and "consent" in reasons["personal"]
    assert "crisis" in reasons["crisis"]


def test_an_unknown_level_is_refused_not_opened():
    odd = dataset("semi-open")
    assert not access.can_read_records(odd)
    with pytest.raises(access.AccessDenied, match="unknown access level"):
        access.require_records(odd)


def test_reports_keep_cell_values_only_where_rows_are_readable():
    error = {"type": "constraint-error", "title": "Constraint Error", "rowNumber": 7,
             "fieldName": "value", "cell": "-5", "cells": ["meter-42", "-5"],
             "note": 'constraint "minimum" is "0"',
             "message": 'The cell "-5" in row at position "7" ... meter-42'}
    unique = {"type": "unique-error", "title": "Unique Error", "rowNumber": 9,
              "cells": ["meter-42"], "note": "meter-42 again"}
    report = {"valid": False, "errors": [], "tasks": [{"errors": [error, unique]}]}
    assert access.redact_report(dataset("open"), report) == report
    redacted = access.redact_report(dataset("personal"), report)
    assert "meter-42" not in str(redacted) and '"-5"' not in str(redacted)
    first, second = redacted["tasks"][0]["errors"]
    assert first["note"] == 'constraint "minimum" is "0"' and first["rowNumber"] == 7
    assert first["message"].startswith("Constraint Error in row 7, field 'value'")
    assert "note" not in second  # it quoted a value
    assert report["tasks"][0]["errors"][0]["cells"] == ["meter-42", "-5"]  # original untouched


def test_reader_notes_and_labels_are_withheld_where_rows_are_not_readable():
    normalisation = {"type": "normalisation-error", "rowNumber": 3, "fieldName": "value",
                     "note": "'LEAKVAL42' is not a number"}
    label = {"type": "incorrect-label", "note": "label 'k1a2b3' is not 'subject_key'",
             "label": "k1a2b3", "labels": ["k1a2b3", "2026-02-01T00:00:00Z"]}
    report = {"valid": False, "errors": [], "tasks": [
        {"labels": ["k1a2b3", "2026-02-01T00:00:00Z"], "errors": [normalisation, label]}]}
    redacted = access.redact_report(dataset("personal"), report)
    assert "LEAKVAL42" not in str(redacted) and "k1a2b3" not in str(redacted)
    assert [e["type"] for e in redacted["tasks"][0]["errors"]] == ["normalisation-error",
                                                                   "incorrect-label"]
