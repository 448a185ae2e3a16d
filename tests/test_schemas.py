"""The schema registry and the bundled Table Schemas: valid, documented, found in order."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import frictionless
import pytest

from hub.config import PROJECT_ROOT, get_settings
from hub.schemas import (
    SchemaFileError,
    UnknownSchemaError,
    all_category_labels,
    category_labels,
    known_schemas,
    load_schema,
    locate_line,
)

BUNDLED = PROJECT_ROOT / "schemas"
BUNDLED_FILES = sorted(BUNDLED.glob("*.schema.json"))
EXPECTED = [
    "air-quality-observation",
    "air-quality-station",
    "air-quality-statistic",
    "biodiversity-occurrence",
    "earthquake-event",
    "emergency-shelter",
    "energy-consumption",
    "energy-mix",
    "flood-section",
    "hydrometry-observation",
    "hydrometry-station",
    "network-outage",
    "risk-alert",
    "vulnerable-site",
    "wildfire-detection",
]


def descriptor_of(name: str) -> dict[str, Any]:
    """A fresh copy of a bundled descriptor."""
    return json.loads((BUNDLED / f"{name}.schema.json").read_text(encoding="utf-8"))


def use_schema_folders(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """Point HUB_SCHEMAS_PATH at territory folders, searched before the bundled one."""
    monkeypatch.setenv("HUB_SCHEMAS_PATH", ":".join(str(f) for f in folders))
    get_settings.cache_clear()


def write(folder: Path, descriptor: dict[str, Any], name: str | None = None) -> Path:
    """Write a descriptor as NAME.schema.json, pretty-printed as the bundled ones are."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or descriptor['name']}.schema.json"
    path.write_text(json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """The 1-based line where `needle` occurs for the n-th time in a file."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def test_every_bundled_schema_is_expected():
    assert [p.name.removesuffix(".schema.json") for p in BUNDLED_FILES] == EXPECTED
    assert known_schemas() == EXPECTED


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.name)
def test_every_bundled_schema_is_a_table_schema_frictionless_accepts(path: Path):
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    report = frictionless.Schema.validate_descriptor(descriptor)
    assert report.valid, [error.note for error in report.errors]
    # The hub's own properties survive a round trip through frictionless.
    written = frictionless.Schema.from_descriptor(descriptor).to_descriptor()
    for key in ("version", "theme", "hub"):
        assert written[key] == descriptor[key]


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.name)
def test_every_bundled_schema_loads_with_its_hub_columns(path: Path):
    schema = load_schema(path.name.removesuffix(".schema.json"))
    assert schema.path == path and re.fullmatch(r"\d+\.\d+\.\d+", schema.version)
    assert schema.theme in ("air-quality", "energy", "biodiversity", "risk")
    types = {f["name"]: f["type"] for f in schema.descriptor["fields"]}
    assert schema.fields == list(types)
    assert set(schema.primary_key) <= set(types)
    if schema.time_field:
        assert types[schema.time_field] in ("datetime", "date")
    assert (schema.lon_field is None) == (schema.lat_field is None)
    if schema.lon_field:
        assert types[schema.lon_field] == types[schema.lat_field] == "number"
    for field in schema.descriptor["fields"]:
        assert field["title"].strip() and field["description"].strip(), field["name"]


def readme_sections() -> dict[str, str]:
    """schemas/README.md cut into its `## NAME` sections."""
    text = (BUNDLED / "README.md").read_text(encoding="utf-8")
    parts = re.split(r"^## (\S+)\s*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("name", EXPECTED)
def test_every_field_is_documented_in_the_readme(name: str):
    section = readme_sections().get(name, "")
    schema = load_schema(name)
    assert schema.version in section
    undocumented = [
        f
        for f in schema.fields
        if not re.search(rf"^\| `{re.escape(f)}` \|", section, flags=re.MULTILINE)
    ]
    assert undocumented == []


def test_the_readme_keeps_a_version_history_line_per_schema():
    history = (BUNDLED / "README.md").read_text(encoding="utf-8").split("## Version history")[1]
    for name in EXPECTED:
        assert f"| {name} | {load_schema(name).version} |" in history


def test_air_quality_observation_keeps_the_shape_readers_code_against():
    schema = load_schema("air-quality-observation")
    assert schema.fields == [
        "station_id",
        "station_name",
        "pollutant",
        "value",
        "unit",
        "averaging_period",
        "observed_at",
        "longitude",
        "latitude",
        "quality_flag",
    ]
    assert schema.primary_key == ["station_id", "pollutant", "observed_at"]
    assert (schema.time_field, schema.lon_field, schema.lat_field) == (
        "observed_at",
        "longitude",
        "latitude",
    )
    assert schema.field_descriptor("pollutant")["constraints"]["enum"] == [
        "pm1",
        "pm25",
        "pm10",
        "no2",
        "no",
        "nox",
        "o3",
        "so2",
        "co",
        "c6h6",
        "nh3",
    ]
    assert schema.field_descriptor("unit")["constraints"]["enum"] == [
        "µg/m³",
        "mg/m³",
        "ng/m³",
        "ppb",
        "ppm",
    ]
    assert schema.field_descriptor("quality_flag")["constraints"]["enum"] == [
        "valid",
        "unverified",
        "estimated",
        "invalid",
    ]
    required = [
        f
        for f in schema.fields
        if schema.field_descriptor(f).get("constraints", {}).get("required")
    ]
    assert required == ["station_id", "pollutant", "value", "unit", "observed_at"]


def test_personal_energy_data_names_its_subject_key():
    schema = load_schema("energy-consumption")
    assert schema.subject_field == "subject_key"
    assert schema.field_descriptor("subject_key")["constraints"]["required"] is True
    others = [load_schema(name).subject_field for name in EXPECTED if name != "energy-consumption"]
    assert others == [None] * (len(EXPECTED) - 1)


def test_the_observation_schema_accepts_good_rows_and_flags_bad_ones():
    schema = load_schema("air-quality-observation")
    good = {
        "station_id": "DENW212",
        "station_name": "Köln Turiner Straße",
        "pollutant": "pm25",
        "value": "12.5",
        "unit": "µg/m³",
        "averaging_period": "PT1H",
        "observed_at": "2025-09-01T00:00:00Z",
        "longitude": "6.96",
        "latitude": "50.95",
        "quality_flag": "valid",
    }
    bad = [
        {"pollutant": "pm2.5"},
        {"value": "-1"},
        {"averaging_period": "1 hour"},
        {"averaging_period": "PT"},
        {"unit": "ug/m3"},
        {"latitude": "91"},
        {"observed_at": "yesterday"},
    ]
    rows = [schema.fields]
    for hour, change in enumerate([{}, *bad]):
        row = good | {"observed_at": f"2025-09-01T{hour:02d}:00:00Z"} | change
        rows.append([row[name] for name in schema.fields])
    report = frictionless.Resource(data=rows, schema=schema.to_frictionless()).validate()
    failed = sorted({error.row_number for error in report.tasks[0].errors})
    assert failed == list(range(3, 3 + len(bad)))


def test_a_territory_schema_shadows_the_bundled_one(tmp_path, monkeypatch):
    territory = descriptor_of("air-quality-observation") | {"version": "9.0.0"}
    path = write(tmp_path / "territory", territory)
    use_schema_folders(monkeypatch, tmp_path / "territory")
    schema = load_schema("air-quality-observation")
    assert (schema.version, schema.path) == ("9.0.0", path)


def test_territory_folders_are_searched_in_order_before_the_bundled_one(tmp_path, monkeypatch):
    first = write(tmp_path / "a", descriptor_of("energy-mix") | {"version": "2.0.0"})
    write(tmp_path / "b", descriptor_of("energy-mix") | {"version": "3.0.0"})
    local = descriptor_of("energy-mix") | {"name": "local-mix", "title": "Local mix"}
    write(tmp_path / "b", local)
    use_schema_folders(monkeypatch, tmp_path / "a", tmp_path / "b")
    assert load_schema("energy-mix").path == first
    assert load_schema("local-mix").path.parent == tmp_path / "b"
    assert known_schemas() == sorted([*EXPECTED, "local-mix"])
    assert load_schema("air-quality-station").path.parent == BUNDLED


def test_an_unknown_schema_names_the_known_ones():
    with pytest.raises(UnknownSchemaError) as caught:
        load_schema("air-quality-forecast")
    assert "air-quality-forecast" in str(caught.value)
    for name in EXPECTED:
        assert name in str(caught.value)
    assert caught.value.known == EXPECTED


def test_a_schema_loads_from_a_path_too(tmp_path):
    path = write(tmp_path, descriptor_of("wildfire-detection"))
    assert load_schema(str(path)).name == "wildfire-detection"
    with pytest.raises(SchemaFileError, match="no such schema file"):
        load_schema(tmp_path / "missing.schema.json")


def test_an_edited_schema_file_is_read_again(tmp_path):
    bundled = descriptor_of("wildfire-detection")
    path = write(tmp_path, bundled)
    assert load_schema(path).version == bundled["version"]
    write(tmp_path, bundled | {"version": "1.10.0"})
    assert load_schema(path).version == "1.10.0"


def test_invalid_json_reports_file_and_line(tmp_path):
    path = tmp_path / "broken.schema.json"
    path.write_text('{\n  "name": "broken",\n  "title": "Broken",\n  "fields": [,]\n}\n')
    with pytest.raises(SchemaFileError) as caught:
        load_schema(path)
    assert caught.value.line == 4 and f"{path}:4:" in str(caught.value)


def _unknown_type(d):
    d["fields"][3]["type"] = "numbr"


def _no_title(d):
    del d["fields"][4]["title"]


def _hub_ghost(d):
    d["hub"]["time"] = "measured_at"


def _hub_wrong_type(d):
    d["hub"]["lon"] = "station_name"


def _bad_key(d):
    d["primaryKey"] = ["station_id", "pollutant", "measured_at"]


def _bad_constraint(d):
    d["fields"][3]["constraints"]["required"] = "yes"


def _bad_minimum(d):
    d["fields"][3]["constraints"]["minimum"] = "zero"


def _bad_regex(d):
    d["fields"][5]["constraints"]["pattern"] = "P(("


def _bad_version(d):
    d["version"] = "1.0"


def _bad_theme(d):
    d["theme"] = "water"


def _bad_example(d):
    d["fields"][3]["example"] = "twelve"


def _category_outside_enum(d):
    d["fields"][2]["categories"].append({"value": "pm2.5", "label": "fine particles"})


def _enum_value_unlabelled(d):
    d["fields"][2]["categories"].pop()  # nh3


def _categories_without_enum(d):
    d["fields"][1]["categories"] = [{"value": "Comédie", "label": "Comédie"}]


def _category_without_label(d):
    del d["fields"][2]["categories"][0]["label"]


def _category_unknown_key(d):
    d["fields"][2]["categories"][0]["definition"] = "particles smaller than 1 µm"


@pytest.mark.parametrize(
    ("mutate", "needle", "words"),
    [
        (_unknown_type, '"type": "numbr"', "numbr"),
        (_no_title, '"name": "unit"', "title"),
        (_hub_ghost, '"time": "measured_at"', "measured_at"),
        (_hub_wrong_type, '"lon": "station_name"', "must be of type"),
        (_bad_key, '"primaryKey"', "primary key"),
        (_bad_constraint, '"required": "yes"', "boolean"),
        (_bad_minimum, '"minimum": "zero"', "zero"),
        (_bad_regex, '"pattern": "P(("', "regular expression"),
        (_bad_version, '"version": "1.0"', "version"),
        (_bad_theme, '"theme": "water"', "water"),
        (_bad_example, '"example": "twelve"', "example"),
        (_category_outside_enum, '"value": "pm2.5"', "'pm2.5' is not in the enum"),
        (_enum_value_unlabelled, '"categories"', "no category for 'nh3'"),
        (_categories_without_enum, '"categories"', "the field has none"),
        (_category_without_label, '"value": "pm1"', "'label' is a required property"),
        (_category_unknown_key, '"value": "pm1"', "'definition' was unexpected"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_a_bad_property_reports_file_and_line(tmp_path, mutate, needle, words):
    descriptor = descriptor_of("air-quality-observation")
    mutate(descriptor)
    path = write(tmp_path, descriptor)
    with pytest.raises(SchemaFileError) as caught:
        load_schema(path)
    expected = line_of(path, needle)
    assert caught.value.line == expected
    assert f"{path}:{expected}:" in str(caught.value)
    assert words in str(caught.value)


def test_a_missing_hub_property_is_refused(tmp_path):
    descriptor = descriptor_of("energy-mix")
    del descriptor["hub"]
    path = write(tmp_path, descriptor)
    with pytest.raises(SchemaFileError, match="'hub' is a required property"):
        load_schema(path)


def test_a_subject_key_that_may_be_missing_is_refused(tmp_path):
    descriptor = descriptor_of("energy-consumption")
    descriptor["fields"][0]["constraints"].pop("required")
    descriptor["primaryKey"].remove("subject_key")
    path = write(tmp_path, descriptor)
    with pytest.raises(SchemaFileError, match="must be required") as caught:
        load_schema(path)
    assert caught.value.line == line_of(path, '"subject": "subject_key"')


def test_a_registry_file_must_hold_the_schema_it_is_named_after(tmp_path, monkeypatch):
    write(tmp_path, descriptor_of("energy-mix"), name="power-mix")
    use_schema_folders(monkeypatch, tmp_path)
    with pytest.raises(SchemaFileError, match="does not match the file name"):
        load_schema("power-mix")


def test_locate_line_follows_keys_and_indexes():
    text = '{\n  "a": 1,\n  "b": [\n    {"c": 2},\n    {\n      "c": 3\n    }\n  ]\n}\n'
    assert locate_line(text, ["b", 1, "c"]) == 6
    assert locate_line(text, ["b", 0]) == 4
    assert locate_line(text, ["b", 7, "c"]) == 3  # as deep as it exists


# --- categories: the labels of enum values ---------------------------------------------------


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.name)
def test_every_enum_field_of_a_bundled_schema_labels_each_value(path: Path):
    for field in json.loads(path.read_text(encoding="utf-8"))["fields"]:
        enum = field.get("constraints", {}).get("enum")
        categories = field.get("categories")
        assert (enum is None) == (categories is None), field["name"]
        if enum is None:
            continue
        assert [category["value"] for category in categories] == enum, field["name"]
        for category in categories:
            alternatives = [label.casefold() for label in category.get("altLabels", [])]
            assert category["label"].strip(), category
            assert len(set(alternatives)) == len(alternatives), category
            assert category["value"].casefold() not in alternatives, category
            assert category["label"].casefold() not in alternatives, category


def test_a_value_labelled_twice_is_refused_at_its_second_category(tmp_path):
    descriptor = descriptor_of("air-quality-observation")
    pollutant = descriptor["fields"][2]
    pollutant["categories"].append({"value": "no2", "label": "nitrogen dioxide"})
    path = write(tmp_path, descriptor)
    with pytest.raises(SchemaFileError) as caught:
        load_schema(path)
    second = line_of(path, '"value": "no2"', 2)
    assert caught.value.problems == [
        "field 'pollutant' categories.11: 'no2' is labelled twice",
    ]
    assert f"{path}:{second}:" in str(caught.value)


def test_an_empty_alternative_label_is_refused(tmp_path):
    descriptor = descriptor_of("air-quality-observation")
    descriptor["fields"][2]["categories"][3]["altLabels"].append("")
    path = write(tmp_path, descriptor)
    with pytest.raises(SchemaFileError) as caught:
        load_schema(path)
    assert caught.value.line == line_of(path, '""', 2)  # the first "" is missingValues'
    assert "categories.3.altLabels.2" in str(caught.value)


def test_category_labels_gives_each_fields_values_their_labels():
    labels = category_labels(load_schema("air-quality-observation").descriptor)
    assert list(labels) == ["pollutant", "unit", "quality_flag"]
    assert labels["pollutant"]["no2"] == ["nitrogen dioxide", "NO₂", "dioxyde d'azote"]
    assert "microgrammes par mètre cube" in labels["unit"]["µg/m³"]
    assert list(labels["quality_flag"]) == ["valid", "unverified", "estimated", "invalid"]
    fires = category_labels(load_schema("wildfire-detection").descriptor)
    assert [values[0] for values in fires["satellite"].values()] == [
        "Terra",
        "Aqua",
        "Suomi NPP",
        "NOAA-20",
        "NOAA-21",
    ]


def test_all_category_labels_merges_the_labels_of_every_schema():
    labels = all_category_labels()
    assert labels["no2"] == ["nitrogen dioxide", "NO₂", "dioxyde d'azote"]  # one list, no repeats
    assert "plomb" in labels["pb-pm10"]  # only in air-quality-statistic
    assert "hauteur d'eau" in labels["water-level"] and "débit" in labels["discharge"]
    assert {"extrême", "sévère"} <= set(labels["Extreme"]) | set(labels["Severe"])
    # CAP's Unknown is a value of three fields: their labels are merged, each once.
    unknown = labels["Unknown"]
    assert {"urgence inconnue", "sévérité inconnue", "certitude inconnue"} <= set(unknown)
    assert len(unknown) == len(set(unknown))


def test_all_category_labels_reads_territory_schemas_and_skips_broken_ones(
    tmp_path, monkeypatch, caplog
):
    local = descriptor_of("energy-mix") | {"name": "local-mix", "title": "Local mix"}
    local["fields"][1]["categories"][0]["altLabels"].append("temps quasi réel")
    write(tmp_path, local)
    broken = descriptor_of("flood-section")
    broken["fields"][1]["categories"].pop()
    write(tmp_path, broken)
    use_schema_folders(monkeypatch, tmp_path)
    labels = all_category_labels()
    assert "temps quasi réel" in labels["real-time"]
    assert "section" not in labels  # the broken flood-section shadows the bundled one
    assert "dioxyde d'azote" in labels["no2"]
    assert "flood-section left out of the category labels" in caplog.text


def test_a_dataset_stored_before_the_labels_takes_batches_of_the_labelled_schema(
    engine, tmp_path, monkeypatch
):
    """Labels are documentation: a PATCH version, under which stored rows stay as they are."""
    import polars as pl
    from sqlmodel import Session

    from hub.catalogue import Batch, Publisher, publish
    from hub.models import Dataset

    bundled = descriptor_of("air-quality-observation")
    unlabelled = json.loads(json.dumps(bundled)) | {"version": "1.0.0"}
    for field in unlabelled["fields"]:
        field.pop("categories", None)
    write(tmp_path / "before", unlabelled)

    def hour(i: int) -> dict[str, str]:
        row = dict.fromkeys((f["name"] for f in bundled["fields"]), "")
        return row | {
            "station_id": "FR-DEMO-01",
            "pollutant": "no2",
            "value": "21.5",
            "unit": "µg/m³",
            "observed_at": f"2025-09-01T{i:02d}:00:00Z",
        }

    def publish_hours(n: int):
        rows = pl.DataFrame([hour(i) for i in range(n)]).with_columns(
            pl.Series("_row", range(2, 2 + n), dtype=pl.Int64)
        )
        return publish(
            Batch(
                dataset_id="demo-no2",
                title="NO2, demo station",
                publisher=Publisher("atmo-demo", "Atmo Démo", "public"),
                theme="air-quality",
                schema="air-quality-observation",
                charter="atmo-demo-open",
                chunks=[rows],
                source_url="file:///demo.csv",
            )
        )

    use_schema_folders(monkeypatch, tmp_path / "before")
    assert publish_hours(2).status == "succeeded"
    monkeypatch.delenv("HUB_SCHEMAS_PATH")
    get_settings.cache_clear()
    run = publish_hours(3)
    assert (run.status, run.rows_published, run.rows_skipped) == ("succeeded", 1, 2), run.error
    with Session(engine) as session:
        dataset = session.get(Dataset, "demo-no2")
        assert dataset is not None and dataset.schema_version == bundled["version"] != "1.0.0"
