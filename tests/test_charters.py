"""Charters: the bundled ones pass the profile, load rules refuse bad ones, the gate says why."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hub.charters import (
    Charter,
    CharterError,
    CharterRefused,
    UnknownCharterError,
    charter_versions,
    check_publication,
    known_charters,
    load_charter,
    read_charter,
)
from hub.config import PROJECT_ROOT, get_settings
from hub.schemas import known_schemas, load_schema

BUNDLED = PROJECT_ROOT / "charters"
BUNDLED_FILES = sorted(BUNDLED.glob("*.yaml"))
PROFILE = json.loads((BUNDLED / "charter.profile.json").read_text(encoding="utf-8"))
TODAY = date(2026, 11, 22)

OPEN = {
    "id": "test-open",
    "version": "1.0",
    "title": "A test charter",
    "producer": "test-producer",
    "licence": {
        "id": "etalab-2.0",
        "label": "Licence Ouverte 2.0",
        "uri": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
    },
    "access": "open",
    "purposes": ["public-information"],
    "gdpr_sensitive": False,
    "valid_from": "2026-01-01",
    "valid_until": "2026-12-31",
    "themes": ["air-quality"],
    "schemas": ["air-quality-observation"],
}
PERSONAL = OPEN | {
    "id": "test-personal",
    "access": "personal",
    "gdpr_sensitive": True,
    "themes": ["energy"],
    "schemas": ["energy-consumption"],
    "licence": {"id": "custom", "label": "Self-data terms", "uri": "https://example.org/terms"},
    "personal_data": {
        "subject_field": "subject_key",
        "legal_basis": "consent",
        "matching_data": ["meter_number", "postcode"],
        "retention_days": 365,
    },
}


def use_charter_folders(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """Point HUB_CHARTERS_PATH at territory folders, searched before the bundled one."""
    monkeypatch.setenv("HUB_CHARTERS_PATH", ":".join(str(f) for f in folders))
    get_settings.cache_clear()


def write(folder: Path, data: dict[str, Any], name: str | None = None) -> Path:
    """Write a charter as YAML, one field per line, named ID.yaml unless told otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{data['id']}.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def line_of(path: Path, key: str) -> int:
    """The 1-based line where a top-level key is written."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(f"{key}:"))


# --- the bundled charters ---------------------------------------------------------------------


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.name)
def test_every_bundled_charter_passes_the_profile(path: Path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    as_written = json.loads(json.dumps(data, default=str))  # dates as the text the author typed
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    jsonschema.Draft202012Validator(PROFILE, format_checker=checker).validate(as_written)
    charter = read_charter(path)
    assert charter.path == path
    assert path.stem in (charter.id, f"{charter.id}@{charter.version}")


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.name)
def test_every_bundled_charter_is_in_force_and_covers_known_schemas_of_its_themes(path: Path):
    charter = read_charter(path)
    assert charter.in_force(TODAY) and charter.valid_until and charter.valid_until > TODAY
    for name in charter.schemas or []:
        assert name in known_schemas()
        assert load_schema(name).theme in charter.themes


def test_the_charters_other_helpers_rely_on_are_bundled_as_agreed():
    expected = {
        "atmo-demo-open": ("atmo-demo", "open", "etalab-2.0"),
        "openaq-cc-by": ("openaq", "open", "CC-BY-4.0"),
        "sensor-community-odbl": ("sensor-community", "open", "ODbL-1.0"),
    }
    for charter_id, (producer, access, licence) in expected.items():
        charter = load_charter(charter_id, TODAY)
        assert (charter.producer, charter.access, charter.licence["id"]) == (
            producer,
            access,
            licence,
        )
        assert charter.themes == ["air-quality"]
    assert load_charter("openaq-cc-by", TODAY).mandatory_mention
    assert load_charter("sensor-community-odbl", TODAY).mandatory_mention


def test_every_access_level_has_a_bundled_example():
    charters = [load_charter(charter_id, TODAY) for charter_id in known_charters()]
    assert {c.access for c in charters} == {"open", "restricted", "personal", "crisis"}
    personal = next(c for c in charters if c.access == "personal")
    assert personal.personal_data["subject_field"] == "subject_key"
    assert personal.personal_data["matching_data"] and personal.personal_data["retention_days"]
    assert load_schema("energy-consumption").subject_field == "subject_key"
    restricted = next(c for c in charters if c.access == "restricted")
    assert len(restricted.restricted_to) >= 2


def profile_fields(node: dict[str, Any], prefix: str = "") -> list[str]:
    """Every property of the profile, nested ones dotted (licence.id, signed.date …)."""
    names = []
    for name, sub in node.get("properties", {}).items():
        names.append(prefix + name)
        names += profile_fields(sub, f"{prefix}{name}.")
    return names


def test_the_readme_explains_every_profile_field():
    readme = (BUNDLED / "README.md").read_text(encoding="utf-8")
    fields = profile_fields(PROFILE)
    assert "personal_data.subject_field" in fields and "signed.document_hash" in fields
    undocumented = [
        f for f in fields if not re.search(rf"^\| `{re.escape(f)}` \|", readme, flags=re.MULTILINE)
    ]
    assert undocumented == []


# --- load rules ---------------------------------------------------------------------------------


def test_a_valid_test_charter_loads(tmp_path):
    charter = read_charter(write(tmp_path, PERSONAL))
    assert isinstance(charter, Charter)
    assert (charter.valid_from, charter.valid_until) == (date(2026, 1, 1), date(2026, 12, 31))
    assert charter.personal_data["subject_field"] == "subject_key"


def refusal(path: Path) -> CharterError:
    """The CharterError reading a file raises."""
    with pytest.raises(CharterError) as caught:
        read_charter(path)
    assert str(path) in str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({k: v for k, v in PERSONAL.items() if k != "personal_data"}, "access", "subject_field"),
        (PERSONAL | {"access": "open"}, "access", "personal"),
        (OPEN | {"gdpr_sensitive": True}, "access", "personal"),
        (
            PERSONAL | {"access": "restricted", "restricted_to": ["city-health"]},
            "access",
            "personal",
        ),
        (PERSONAL | {"gdpr_sensitive": False}, "gdpr_sensitive", "gdpr_sensitive: true"),
        (OPEN | {"access": "restricted"}, "access", "restricted_to"),
        (OPEN | {"restricted_to": ["city-health"]}, "restricted_to", "means nothing"),
        (OPEN | {"valid_until": "2025-12-31"}, "valid_until", "after valid_from"),
        (OPEN | {"valid_until": "2026-01-01"}, "valid_until", "after valid_from"),
    ],
    ids=[
        "personal-without-subject",
        "personal-data-opened",
        "gdpr-sensitive-opened",
        "personal-data-restricted",
        "personal-not-sensitive",
        "restricted-to-nobody",
        "open-with-restricted-to",
        "ends-before-start",
        "ends-on-start",
    ],
)
def test_a_load_rule_refuses_the_charter_at_the_line_concerned(tmp_path, data, key, words):
    path = write(tmp_path, data)
    error = refusal(path)
    assert error.line == line_of(path, key) and f"{path}:{error.line}:" in str(error)
    assert words in str(error)


@pytest.mark.parametrize(
    ("change", "needle", "words"),
    [
        ({"licence": OPEN["licence"] | {"id": "MIT"}}, "  id: MIT", "licence.id"),
        ({"access": "public"}, "access: public", "'public' is not one of"),
        ({"version": 1.0}, "version: 1.0", "quotes"),
        ({"valid_from": "2026-02-30"}, "valid_from: '2026-02-30'", "is not a 'date'"),
        ({"themes": ["water"]}, "- water", "'water' is not one of"),
        (
            {"signed": {"date": "2026-01-01", "document_hash": "md5:abc"}},
            "  document_hash: md5:abc",
            "signed.document_hash",
        ),
        ({"valid_untill": "2027-01-01"}, "valid_untill:", "'valid_untill' was unexpected"),
    ],
    ids=["licence", "access", "version-number", "impossible-date", "theme", "hash", "typo"],
)
def test_a_field_the_profile_refuses_is_reported_with_file_and_line(
    tmp_path, change, needle, words
):
    path = write(tmp_path, OPEN | change)
    error = refusal(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    expected = next(i for i, line in enumerate(lines, 1) if line.startswith(needle))
    assert error.line == expected and f"{path}:{expected}:" in str(error)
    assert words in str(error)


def test_a_required_field_missing_is_reported(tmp_path):
    error = refusal(write(tmp_path, {k: v for k, v in OPEN.items() if k != "producer"}))
    assert "'producer' is a required property" in str(error)


def test_broken_yaml_reports_its_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text('id: broken\nversion: "1"\ntitle: [unclosed\nproducer: x\n')
    error = refusal(path)
    assert error.line is not None and error.line >= 3
    assert "not valid YAML" in str(error)


def test_a_file_named_after_another_charter_is_refused(tmp_path):
    path = write(tmp_path, OPEN, name="other-charter.yaml")
    assert "test-open.yaml or test-open@1.0.yaml" in str(refusal(path))


def test_unquoted_yaml_dates_are_read_as_dates(tmp_path):
    path = tmp_path / "test-open.yaml"
    text = yaml.safe_dump(OPEN, sort_keys=False).replace("'2026-01-01'", "2026-01-01")
    path.write_text(text)
    assert read_charter(path).valid_from == date(2026, 1, 1)


# --- versions, folders, unknown ids --------------------------------------------------------------


def versioned(folder: Path) -> None:
    """Three versions of one charter: 2025, 2026 and from 2027 on with no end."""
    write(
        folder,
        OPEN | {"version": "1.0", "valid_from": "2025-01-01", "valid_until": "2025-12-31"},
        "test-open@1.0.yaml",
    )
    write(folder, OPEN | {"version": "2.0"}, "test-open@2.0.yaml")
    later = {k: v for k, v in OPEN.items() if k != "valid_until"}
    write(folder, later | {"version": "10.0", "valid_from": "2027-01-01"}, "test-open@10.0.yaml")


def test_all_versions_are_listed_in_version_order(tmp_path, monkeypatch):
    versioned(tmp_path)
    use_charter_folders(monkeypatch, tmp_path)
    assert [c.version for c in charter_versions("test-open")] == ["1.0", "2.0", "10.0"]


@pytest.mark.parametrize(
    ("on", "version"),
    [
        (date(2025, 6, 1), "1.0"),
        (date(2025, 12, 31), "1.0"),
        (date(2026, 1, 1), "2.0"),
        (date(2026, 11, 22), "2.0"),
        (date(2031, 1, 1), "10.0"),
        (date(2020, 1, 1), "10.0"),  # none in force: the latest, which the gate then refuses
    ],
)
def test_the_version_in_force_on_a_date_is_chosen(tmp_path, monkeypatch, on, version):
    versioned(tmp_path)
    use_charter_folders(monkeypatch, tmp_path)
    assert load_charter("test-open", on).version == version


def test_overlapping_versions_resolve_to_the_newest(tmp_path, monkeypatch):
    write(tmp_path, OPEN | {"version": "1.0"}, "test-open@1.0.yaml")
    write(tmp_path, OPEN | {"version": "1.1", "valid_from": "2026-06-01"}, "test-open@1.1.yaml")
    use_charter_folders(monkeypatch, tmp_path)
    assert load_charter("test-open", date(2026, 5, 31)).version == "1.0"
    assert load_charter("test-open", date(2026, 6, 1)).version == "1.1"


def test_two_files_for_one_version_are_refused(tmp_path, monkeypatch):
    write(tmp_path, OPEN)
    write(tmp_path, OPEN, "test-open@1.0.yaml")
    use_charter_folders(monkeypatch, tmp_path)
    with pytest.raises(CharterError, match="also defined"):
        charter_versions("test-open")


def test_a_territory_charter_shadows_every_bundled_version(tmp_path, monkeypatch):
    ours = OPEN | {"id": "openaq-cc-by", "producer": "openaq", "version": "9.0"}
    path = write(tmp_path, ours)
    use_charter_folders(monkeypatch, tmp_path)
    assert [(c.version, c.path) for c in charter_versions("openaq-cc-by")] == [("9.0", path)]
    assert load_charter("atmo-demo-open", TODAY).path.parent == BUNDLED


def test_territory_folders_come_first_and_add_their_ids(tmp_path, monkeypatch):
    first = write(tmp_path / "a", OPEN | {"version": "1.0"})
    write(tmp_path / "b", OPEN | {"version": "7.0"})
    use_charter_folders(monkeypatch, tmp_path / "a", tmp_path / "b")
    assert [c.path for c in charter_versions("test-open")] == [first]
    assert "test-open" in known_charters() and "atmo-demo-open" in known_charters()


def test_an_unknown_charter_lists_the_known_ones():
    with pytest.raises(UnknownCharterError) as caught:
        load_charter("open-etalab-2.0")
    message = str(caught.value)
    assert "open-etalab-2.0" in message
    assert all(charter_id in message for charter_id in known_charters())
    assert isinstance(caught.value, CharterError)


def test_in_force_bounds_are_inclusive_and_accept_datetimes(tmp_path):
    charter = read_charter(write(tmp_path, OPEN))
    assert charter.in_force(date(2026, 1, 1)) and charter.in_force(date(2026, 12, 31))
    assert not charter.in_force(date(2025, 12, 31)) and not charter.in_force(date(2027, 1, 1))
    # an instant counts as its day in the territory (Europe/Paris, UTC+1 in winter)
    assert charter.in_force(datetime(2026, 12, 31, 22, 59, tzinfo=UTC))
    assert not charter.in_force(datetime(2026, 12, 31, 23, 0, tzinfo=UTC))


def test_covers_reads_themes_and_the_optional_schema_list(tmp_path):
    charter = read_charter(write(tmp_path, OPEN))
    assert charter.covers("air-quality", "air-quality-observation")
    assert not charter.covers("air-quality", "air-quality-station")
    assert not charter.covers("energy", "air-quality-observation")
    any_schema = read_charter(
        write(tmp_path / "b", {k: v for k, v in OPEN.items() if k != "schemas"})
    )
    assert any_schema.schemas is None and any_schema.covers("air-quality", "air-quality-station")


# --- the publication gate -----------------------------------------------------------------------


@pytest.fixture
def charter(tmp_path) -> Charter:
    return read_charter(write(tmp_path, OPEN))


def publish(charter: Charter | None, **change: Any) -> None:
    """Ask the gate about a publication, varying one argument at a time."""
    arguments = {
        "producer": "test-producer",
        "theme": "air-quality",
        "schema": "air-quality-observation",
        "on": date(2026, 6, 1),
    } | change
    check_publication(charter, **arguments)


def test_a_publication_the_charter_permits_passes(charter):
    publish(charter)
    publish(charter, on=date(2026, 1, 1))
    publish(charter, on=date(2026, 12, 31))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"charter": None}, "no charter"),
        ({"on": date(2025, 12, 31)}, "not yet in force"),
        ({"on": date(2027, 1, 1)}, "expired"),
        ({"producer": "someone-else"}, "belongs to producer 'test-producer'"),
        (
            {"theme": "energy", "schema": "energy-mix"},
            "covers the themes air-quality, not 'energy'",
        ),
        ({"schema": "air-quality-station"}, "not 'air-quality-station'"),
    ],
    ids=["no-charter", "not-yet-valid", "expired", "other-producer", "theme", "schema"],
)
def test_each_refusal_says_why(charter, change, words):
    target = change.pop("charter", charter)
    with pytest.raises(CharterRefused) as caught:
        publish(target, **change)
    assert words in caught.value.reason and caught.value.reason == str(caught.value)


def test_a_test_only_expired_charter_is_refused_on_its_own_terms(tmp_path, monkeypatch):
    expired = OPEN | {"id": "test-expired", "valid_from": "2024-01-01", "valid_until": "2025-06-30"}
    write(tmp_path, expired)
    use_charter_folders(monkeypatch, tmp_path)
    found = load_charter("test-expired", TODAY)
    with pytest.raises(CharterRefused, match="2025-06-30"):
        publish(found, on=TODAY)


def test_bundled_charters_let_their_producers_publish_today():
    publish(load_charter("atmo-demo-open", TODAY), producer="atmo-demo", on=TODAY)
    publish(
        load_charter("grid-demo-load-curves", TODAY),
        producer="grid-demo",
        theme="energy",
        schema="energy-consumption",
        on=TODAY,
    )
    with pytest.raises(CharterRefused):
        publish(load_charter("openaq-cc-by", TODAY), producer="atmo-demo", on=TODAY)
