"""hub.validation reports exactly frictionless-py's errors, on real files and on generated ones.

Every comparison runs frictionless itself on the same file and schema and compares whole
error descriptors (type, rowNumber, fieldNumber, fieldName, cell, cells, note, message ...),
the labels, the validity and the row/field/byte/hash stats.
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

import frictionless
import pytest

from hub.config import PROJECT_ROOT, get_settings
from hub.validation import validate_file

SAMPLES = get_settings().samples_dir
SCHEMAS = sorted((PROJECT_ROOT / "schemas").glob("*.schema.json"))
CP1252 = {  # files the shared SOURCES.md documents as Windows-1252
    "AirLR_LR_StationAir.csv",
    "TelaBotanica_MTP_InventBota.csv",
    "VilleMTP_MTP_Signalisation_L93.csv",
    "VilleMtp_MTP_SitesHebUrg.csv",
}
THEME_FOLDERS = {
    "air-quality": ["air"],
    "energy": ["energy"],
    "biodiversity": ["biodiversity"],
    "risk": ["risk", "geo"],
}
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"no sample files at {SAMPLES}")


def frictionless_report(path: Path, schema: dict[str, Any], encoding: str | None) -> dict[str, Any]:
    """frictionless-py's own report for the file (all errors)."""
    with frictionless.system.use_context(trusted=True):
        descriptor = frictionless.Schema.from_descriptor(schema)
        resource = frictionless.Resource(str(path), schema=descriptor, encoding=encoding or "utf-8")
        return resource.validate(limit_errors=10**9).to_descriptor()


def assert_same_report(
    path: Path, schema: dict[str, Any], encoding: str | None = None, **options: Any
) -> dict[str, Any]:
    """Validate with both engines and require identical errors, labels, validity and stats."""
    theirs = frictionless_report(path, schema, encoding)
    ours = validate_file(path, schema, encoding=encoding, **options)
    their_task, our_task = theirs["tasks"][0], ours["tasks"][0]
    for index, (mine, reference) in enumerate(
        zip(our_task["errors"], their_task["errors"], strict=False)
    ):
        assert mine == reference, f"error #{index} differs"
    assert len(our_task["errors"]) == len(their_task["errors"])
    assert our_task["labels"] == their_task["labels"]
    assert ours["valid"] == theirs["valid"]
    for key in ("errors", "rows", "fields", "bytes", "md5", "sha256"):
        assert our_task["stats"].get(key) == their_task["stats"].get(key), key
    assert (our_task["name"], our_task["place"]) == (their_task["name"], their_task["place"])
    return ours


# Real files with the schemas published next to them


@needs_samples
@pytest.mark.parametrize("kind", ["statique", "dynamique"])
def test_irve_examples_match_frictionless(kind: str) -> None:
    folder = SAMPLES / "schemas" / "etalab_schema-irve" / kind
    schema = json.loads((folder / f"schema-{kind}.json").read_text(encoding="utf-8"))
    report = assert_same_report(folder / f"exemple-valide-{kind}.csv", schema)
    assert report["tasks"][0]["stats"]["rows"] > 0


def co2_resources() -> list[tuple[str, Path, dict[str, Any]]]:
    """The co2-ppm data package's resources with their inline schemas."""
    package = SAMPLES / "schemas" / "frictionless_co2-ppm" / "datapackage.json"
    if not package.exists():
        return []
    descriptor = json.loads(package.read_text(encoding="utf-8"))
    return [(r["name"], package.parent / r["path"], r["schema"]) for r in descriptor["resources"]]


@needs_samples
@pytest.mark.parametrize(
    ("name", "path", "schema"), co2_resources(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_co2_package_resources_match_frictionless(
    name: str, path: Path, schema: dict[str, Any]
) -> None:
    assert_same_report(path, schema)


@needs_samples
def test_pei_schema_on_generated_file_matches_frictionless(tmp_path: Path) -> None:
    schema = json.loads(
        (SAMPLES / "schemas" / "datakode_schema-pei_1.0.0_schema.json").read_text(encoding="utf-8")
    )
    path = write_generated(tmp_path / "pei.csv", schema, rows=400, seed=7)
    report = assert_same_report(path, schema)
    assert not report["valid"]


# The hub's own schemas, against the real files of their theme and against generated files


def theme_files(schema_path: Path) -> list[tuple[Path, Path]]:
    theme = json.loads(schema_path.read_text(encoding="utf-8")).get("theme", "")
    pairs = []
    for folder in THEME_FOLDERS.get(theme, []):
        pairs += [(schema_path, f) for f in sorted((SAMPLES / folder).glob("*.csv"))]
    return pairs


HUB_PAIRS = [pair for path in SCHEMAS for pair in theme_files(path)] if SAMPLES.is_dir() else []


@needs_samples
@pytest.mark.parametrize(
    ("schema_path", "data_path"), HUB_PAIRS, ids=lambda p: p.name.split(".")[0]
)
def test_hub_schema_on_real_theme_file_matches_frictionless(
    schema_path: Path, data_path: Path
) -> None:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    encoding = "cp1252" if data_path.name in CP1252 else None
    assert_same_report(data_path, schema, encoding)


@pytest.mark.parametrize("schema_path", SCHEMAS, ids=lambda p: p.name)
@pytest.mark.parametrize("seed", [1, 2])
def test_hub_schema_on_generated_file_matches_frictionless(
    schema_path: Path, seed: int, tmp_path: Path
) -> None:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    path = write_generated(tmp_path / "generated.csv", schema, rows=300, seed=seed)
    assert_same_report(path, schema, chunk_rows=64)


# Generated files breaking every constraint type

CASES: dict[str, tuple[dict[str, Any], str]] = {
    "required": (
        {
            "fields": [
                {"name": "a", "type": "string", "constraints": {"required": True}},
                {"name": "b", "type": "integer", "constraints": {"required": True}},
            ]
        },
        "a,b\nx,1\n,2\ny,\n,\nz\n",
    ),
    "integer-type": (
        {"fields": [{"name": "n", "type": "integer"}]},
        "n\n1\n-1\n+2\n 3 \n1.0\n1e3\nx\n007\n1_000\n99999999999999999999\n",
    ),
    "integer-bare-number": (
        {"fields": [{"name": "n", "type": "integer", "bareNumber": False}]},
        "n\n$1\n1%\nabc12def\n1.5\n-3 EUR\n",
    ),
    "number-type": (
        {"fields": [{"name": "x", "type": "number"}]},
        "x\n1\n1.5\n-0.0\n.5\n5.\n1e3\n1E-2\nNaN\ninf\n-Infinity\n1,5\n 2 \n1_0\nabc\n",
    ),
    "number-decimal-group": (
        {"fields": [{"name": "x", "type": "number", "decimalChar": ",", "groupChar": " "}]},
        'x\n1,5\n"1 000,25"\n1.5\n-3\nabc\n',
    ),
    "boolean-values": (
        {
            "fields": [
                {"name": "b", "type": "boolean"},
                {"name": "c", "type": "boolean", "trueValues": ["oui"], "falseValues": ["non"]},
            ]
        },
        "b,c\ntrue,oui\nTrue,non\n1,true\nyes,Oui\nFALSE,\n",
    ),
    "date-formats": (
        {
            "fields": [
                {"name": "d", "type": "date"},
                {"name": "e", "type": "date", "format": "%d/%m/%Y"},
                {"name": "f", "type": "date", "format": "any"},
            ]
        },
        "d,e,f\n2024-01-05,05/01/2024,5 Jan 2024\n2024-1-5,2024-01-05,2024-01-05\n"
        "2024-02-30,31/02/2024,x\n0000-01-01,1/1/2024,\n",
    ),
    "datetime-formats": (
        {
            "fields": [
                {"name": "t", "type": "datetime"},
                {"name": "u", "type": "datetime", "format": "%Y-%m-%d %H:%M"},
                {"name": "v", "type": "datetime", "format": "any"},
            ]
        },
        "t,u,v\n2024-01-05T10:00:00Z,2024-01-05 10:00,Jan 5 2024 10am\n"
        "2024-01-05T10:00:00,2024-01-05T10:00,x\n2024-01-05T10:00:00+01:00,bad,2024-01-05\n"
        "2024-01-05 10:00:00,,\n2024-01-05T24:00:00,,\n2024-01-05T10:00:00.123Z,,\n",
    ),
    "datetime-fractions-in-a-key": (
        {
            "fields": [{"name": "t", "type": "datetime"}, {"name": "n", "type": "integer"}],
            "primaryKey": ["t"],
        },
        "t,n\n2024-01-05T10:00:00.5Z,1\n2024-01-05T10:00:00.500000Z,2\n"
        "2024-01-05T11:00:00.5+01:00,3\n2024-01-05T10:00:00.5,4\n2024-01-05T10:00:00.1234567Z,5\n"
        "2024-01-05T10:00:00.123456Z,6\n2024-01-05T10:00:00,5Z,7\n2024-01-05T10:00:00.Z,8\n"
        "1969-12-31T23:59:59.999999Z,9\n1969-12-31T23:59:59.999999,10\n",
    ),
    "boolean-values-in-a-key": (
        {
            "fields": [
                {"name": "b", "type": "boolean"},
                {
                    "name": "c",
                    "type": "boolean",
                    "trueValues": ["oui", "1"],
                    "falseValues": ["non", "1"],
                    "constraints": {"enum": [False]},
                },
            ],
            "primaryKey": ["b", "c"],
        },
        "b,c\ntrue,non\nTrue,1\n1,oui\ntrue,non\nyes,non\nFALSE,\n0,1\n",
    ),
    "time-year-yearmonth-duration": (
        {
            "fields": [
                {"name": "t", "type": "time"},
                {"name": "y", "type": "year"},
                {"name": "m", "type": "yearmonth"},
                {"name": "p", "type": "duration"},
            ]
        },
        "t,y,m,p\n10:00:00,2024,2024-01,PT1H\n10:00,24,2024-13,P1Y2M\n25:00:00,abcd,x,1H\n"
        "10:00:00+01:00,0000,2024-1,P1DT2H\n",
    ),
    "string-formats": (
        {
            "fields": [
                {"name": "e", "type": "string", "format": "email"},
                {"name": "u", "type": "string", "format": "uri"},
                {"name": "i", "type": "string", "format": "uuid"},
                {"name": "b", "type": "string", "format": "binary"},
            ]
        },
        "e,u,i,b\na@b.fr,https://x.org,9b8f6a4e-1f8e-4c49-b1b8-0c2f4b9b3a2d,aGVsbG8=\nnot-mail,x,123,???\n",
    ),
    "geo-object-array-any": (
        {
            "fields": [
                {"name": "p", "type": "geopoint"},
                {"name": "q", "type": "geopoint", "format": "array"},
                {"name": "g", "type": "geojson"},
                {"name": "o", "type": "object"},
                {"name": "a", "type": "array"},
                {"name": "z", "type": "any"},
            ]
        },
        'p,q,g,o,a,z\n"3.8,43.6","[3.8, 43.6]",'
        '"{""type"": ""Point"", ""coordinates"": [1, 2]}","{""k"": 1}","[1]",x\n'
        '"200,1",[1],{},[],{},\n',
    ),
    "enum": (
        {
            "fields": [
                {"name": "s", "type": "string", "constraints": {"enum": ["a", "b"]}},
                {"name": "n", "type": "number", "constraints": {"enum": [1, 2.5]}},
                {"name": "i", "type": "integer", "constraints": {"enum": [1, 2]}},
            ]
        },
        "s,n,i\na,1.0,1\nc,2.50,01\nA,3,3\n",
    ),
    "minimum-maximum": (
        {
            "fields": [
                {"name": "n", "type": "number", "constraints": {"minimum": 0, "maximum": 1.5}},
                {"name": "d", "type": "date", "constraints": {"minimum": "2024-01-01"}},
                {
                    "name": "t",
                    "type": "datetime",
                    "constraints": {"maximum": "2024-06-01T00:00:00Z"},
                },
            ]
        },
        "n,d,t\n0,2024-01-01,2024-06-01T00:00:00Z\n-0.1,2023-12-31,2024-06-01T00:00:01Z\n1.5000000000000000001,2024-02-01,2024-06-01T02:00:00+03:00\nNaN,,\n",
    ),
    "pattern": (
        {
            "fields": [
                {
                    "name": "p",
                    "type": "string",
                    "constraints": {"pattern": "P(?=\\d|T\\d)(\\d+D)?(T(\\d+H)?)?"},
                }
            ]
        },
        "p\nP1D\nPT1H\nP\nPT\nP1DT2H\nx\n",
    ),
    "min-max-length": (
        {
            "fields": [
                {"name": "s", "type": "string", "constraints": {"minLength": 2, "maxLength": 3}},
                {"name": "a", "type": "array", "constraints": {"maxLength": 1}},
            ]
        },
        's,a\nab,[1]\na,"[1,2]"\nabcd,[]\néé,\n',
    ),
    "unique": (
        {
            "fields": [
                {"name": "i", "type": "integer", "constraints": {"unique": True}},
                {"name": "s", "type": "string", "constraints": {"unique": True}},
                {"name": "n", "type": "number"},
            ]
        },
        "i,s,n\n1,a,x\n01,b,1\n2,a,y\n,c,1\n,c,2\n1,d,z\n",
    ),
    "primary-key": (
        {
            "fields": [
                {"name": "k", "type": "string"},
                {"name": "t", "type": "datetime"},
                {"name": "v", "type": "number"},
            ],
            "primaryKey": ["k", "t"],
        },
        "k,t,v\na,2024-01-01T00:00:00Z,1\na,2024-01-01T01:00:00+01:00,x\n,,3\na,,4\na,,5\nb,2024-01-01T00:00:00Z,6\n,,\n",
    ),
    "missing-values": (
        {
            "missingValues": ["", "NA", "-"],
            "fields": [
                {"name": "a", "type": "integer", "constraints": {"required": True}},
                {"name": "b", "type": "integer", "missingValues": ["?"]},
            ],
        },
        "a,b\nNA,?\n-,NA\n,1\n1,\n",
    ),
    "extra-and-missing-columns": (
        {
            "fields": [
                {"name": "a", "type": "string"},
                {"name": "b", "type": "string"},
                {"name": "c", "type": "string", "constraints": {"required": True}},
            ]
        },
        "a,b,x,y\n1,2,3,4\n",
    ),
    "missing-columns": (
        {
            "fields": [
                {"name": "a", "type": "string"},
                {"name": "b", "type": "integer", "constraints": {"required": True}},
            ],
            "primaryKey": ["b"],
        },
        "a\n1\n2\n",
    ),
    "extra-missing-cells-blank-rows": (
        {
            "fields": [
                {"name": "a", "type": "string"},
                {"name": "b", "type": "string", "constraints": {"required": True}},
                {"name": "c", "type": "string"},
            ]
        },
        "a,b,c\n1,2,3,4,5\n1\n\n,,\n,,,x\n1,2\n",
    ),
    "header-mismatch": (
        {
            "fields": [
                {"name": "a", "type": "string"},
                {"name": "b", "type": "string"},
                {"name": "c", "type": "string"},
                {"name": "d", "type": "string"},
            ]
        },
        "a,B,a, \n1,2,3,4\n",
    ),
    "multi-line-quoted-cells": (
        {"fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "integer"}]},
        'a,b\n"line one\nline two",1\n"quoted ""x""",y\n"a\r\nb",2\nplain,3\n',
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_constraint_case_matches_frictionless(name: str, tmp_path: Path) -> None:
    schema, text = CASES[name]
    path = tmp_path / f"{name}.csv"
    path.write_bytes(text.encode("utf-8"))
    report = assert_same_report(path, schema, chunk_rows=2)
    assert not report["valid"]


@pytest.mark.parametrize("seed", range(40))
def test_random_schema_and_file_match_frictionless(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    schema = random_schema(rng)
    path = tmp_path / "random.csv"
    path.write_text(random_table(rng, schema), encoding="utf-8", newline="")
    assert_same_report(path, schema, chunk_rows=rng.choice([3, 17, 1000]))


# Generators

POOLS: dict[str, list[str]] = {
    "string": ["a", "abc", "", "x y", "é", "ABC", "a@b.co", "http://x.org", "PT1H", "zz", " a"],
    "integer": ["1", "-1", "0", "007", "+5", " 3 ", "1_000", "1.0", "x", "", "-0"],
    "number": [
        "1",
        "1.5",
        "-0.0",
        "1e3",
        "NaN",
        "inf",
        " 2.5 ",
        "1,5",
        "x",
        "",
        "0.1",
        "1.50",
        "-5",
        ".5",
    ],
    "boolean": ["true", "false", "True", "1", "0", "yes", "", "t"],
    "date": ["2024-01-05", "2024-1-5", "2024-02-30", "0000-01-01", "", "05/01/2024", " 2024-01-05"],
    "datetime": [
        "2024-01-05T10:00:00Z",
        "2024-01-05T10:00:00",
        "2024-01-05T11:00:00+01:00",
        "2024-01-05 10:00:00",
        "2024-01-05T24:00:00",
        "2024-02-30T00:00:00Z",
        "2024-01-05T10:00:00.5Z",
        "x",
        "",
    ],
    "time": ["10:00:00", "10:00", "25:00:00", "10:00:00Z", "x", ""],
    "year": ["2024", "24", "0000", "abcd", ""],
    "yearmonth": ["2024-01", "2024-13", "x", ""],
    "duration": ["PT1H", "P1D", "x", ""],
    "geopoint": ["1,2", "200,1", "x", ""],
    "object": ['{"a":1}', "[]", "x", ""],
    "array": ["[1,2]", "{}", "x", ""],
    "any": ["a", "", "1"],
}
CONSTRAINTS: dict[str, list[tuple[str, Any]]] = {
    "string": [
        ("minLength", 2),
        ("maxLength", 3),
        ("pattern", "[a-z]+"),
        ("enum", ["a", "abc"]),
        ("unique", True),
        ("required", True),
    ],
    "integer": [
        ("minimum", 0),
        ("maximum", 10),
        ("enum", [1, 7]),
        ("unique", True),
        ("required", True),
    ],
    "number": [
        ("minimum", 0),
        ("maximum", 1.5),
        ("enum", [1, 1.5]),
        ("unique", True),
        ("required", True),
    ],
    "boolean": [("enum", [True]), ("required", True), ("unique", True)],
    "date": [("minimum", "2024-01-01"), ("maximum", "2024-06-01"), ("unique", True)],
    "datetime": [("unique", True), ("required", True)],
    "time": [("required", True)],
    "year": [("minimum", 2000), ("unique", True)],
    "yearmonth": [("required", True)],
    "duration": [("required", True)],
    "geopoint": [("required", True)],
    "object": [("minLength", 1)],
    "array": [("maxLength", 1)],
    "any": [("required", True), ("enum", ["a", "1"])],
}


def random_schema(rng: random.Random) -> dict[str, Any]:
    """A small schema with random types, constraints, missing values and primary key."""
    fields = []
    for index in range(rng.randint(1, 5)):
        kind = rng.choice(sorted(POOLS))
        field: dict[str, Any] = {"name": f"f{index}", "type": kind}
        constraints = dict(rng.choice(CONSTRAINTS[kind]) for _ in range(rng.randint(0, 2)))
        if constraints:
            field["constraints"] = constraints
        if kind == "number" and rng.random() < 0.2:
            field["decimalChar"] = ","
        fields.append(field)
    schema: dict[str, Any] = {"fields": fields}
    if rng.random() < 0.3:
        schema["missingValues"] = rng.choice([["", "NA"], ["-"], []])
    keyable = [f["name"] for f in fields if f["type"] not in ("object", "array")]
    if keyable and rng.random() < 0.4:
        schema["primaryKey"] = rng.sample(keyable, min(len(keyable), rng.randint(1, 2)))
    return schema


def random_table(rng: random.Random, schema: dict[str, Any]) -> str:
    """A CSV for the schema: random pool cells, some extra/short/blank rows, odd headers."""
    fields = schema["fields"]
    names = [f["name"] for f in fields]
    if rng.random() < 0.15:
        names = names + ["extra"] if rng.random() < 0.5 else names[:-1] or names
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=rng.choice(["\n", "\r\n"]))
    writer.writerow(names)
    for _ in range(rng.randint(0, 80)):
        row = [rng.choice(POOLS[f["type"]]) for f in fields]
        roll = rng.random()
        if roll < 0.04:
            row.append("z")
        elif roll < 0.08:
            row = row[:-1]
        elif roll < 0.1:
            row = []
        writer.writerow(row)
    return out.getvalue()


def write_generated(path: Path, schema: dict[str, Any], *, rows: int, seed: int) -> Path:
    """A file for a real schema: mostly valid cells (examples, enum members), some broken."""
    rng = random.Random(seed)
    fields = schema["fields"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f["name"] for f in fields])
    for number in range(rows):
        writer.writerow([generated_cell(f, rng, number) for f in fields])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def generated_cell(field: dict[str, Any], rng: random.Random, number: int) -> str:
    constraints = field.get("constraints", {})
    if rng.random() < 0.05:
        return rng.choice(POOLS.get(field["type"], POOLS["string"]))
    if constraints.get("enum"):
        return (
            str(rng.choice(constraints["enum"])).replace("True", "true").replace("False", "false")
        )
    if field.get("example") is not None and rng.random() < 0.5:
        return str(field["example"])
    kind = field["type"]
    if kind == "integer":
        return str(rng.randint(0, 50))
    if kind == "number":
        return f"{rng.uniform(-10, 90):.3f}"
    if kind == "boolean":
        return rng.choice(field.get("trueValues", ["true"]) + field.get("falseValues", ["false"]))
    if kind == "date":
        return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "datetime":
        return f"2024-03-{rng.randint(1, 28):02d}T{number % 24:02d}:{rng.randint(0, 59):02d}:00Z"
    if kind == "year":
        return str(rng.randint(1990, 2030))
    return rng.choice(["a", f"id-{number}", "PT1H", "x"])


# The outside check's kind of schema (bench/validate.py): patterns, enums, bounds, maxLength and
# a three-field primary key, on a generated file breaking each of them

OUTSIDE_SCHEMA: dict[str, Any] = {
    "fields": [
        {
            "name": "site",
            "type": "string",
            "constraints": {"required": True, "pattern": "[A-Z]{2}[0-9]{4}"},
        },
        {"name": "day", "type": "date", "constraints": {"required": True}},
        {
            "name": "hour",
            "type": "integer",
            "constraints": {"required": True, "minimum": 0, "maximum": 23},
        },
        {"name": "sensor", "type": "string", "constraints": {"enum": ["pm10", "pm25", "no2"]}},
        {"name": "value", "type": "number", "constraints": {"minimum": 0, "maximum": 500}},
        {"name": "reference", "type": "string", "constraints": {"pattern": "R-[0-9]{5}|N/A"}},
        {"name": "note", "type": "string", "constraints": {"maxLength": 12}},
    ],
    "primaryKey": ["site", "day", "hour"],
}
OUTSIDE_BREAKS: dict[int, tuple[int, str]] = {  # column, bad cell
    0: (0, "ab1234"),  # pattern
    1: (0, "ÉT1234"),  # pattern, non-ASCII: Python's re decides
    2: (3, "pm2.5"),  # enum
    3: (4, "500.5"),  # maximum
    4: (4, "-0.01"),  # minimum
    5: (2, "24"),  # maximum on an integer
    6: (6, "far too long a note"),  # maxLength
    7: (5, "R-123"),  # pattern on a field unique to each row
    8: (5, "R-12345\nx"),  # a line feed inside a quoted cell: Python's re decides
}


def write_outside(path: Path, rows: int) -> Path:
    """Rows of 12 sites by hour, each break of OUTSIDE_BREAKS planted in turn, and duplicates."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([field["name"] for field in OUTSIDE_SCHEMA["fields"]])
    written: list[list[str]] = []
    for number in range(rows):
        cells = [
            f"FR{1000 + number % 12}",
            f"2024-03-{1 + number // 288:02d}",
            str(number // 12 % 24),
            ["pm10", "pm25", "no2"][number % 3],
            f"{number % 500}.{number % 7}",
            f"R-{number:05d}",
            ["", "ok", "calibrated"][number % 3],
        ]
        if number % 23 == 5:
            column, cell = OUTSIDE_BREAKS[number // 23 % len(OUTSIDE_BREAKS)]
            cells[column] = cell
        if number % 31 == 30:
            cells = list(written[number - 17])  # a row seen before: same primary key
        written.append(cells)
        writer.writerow(cells)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@pytest.mark.parametrize("chunk_rows", [50, 100_000])
def test_outside_check_schema_matches_frictionless(chunk_rows: int, tmp_path: Path) -> None:
    path = write_outside(tmp_path / "outside.csv", rows=600)
    report = assert_same_report(path, OUTSIDE_SCHEMA, chunk_rows=chunk_rows)
    task = report["tasks"][0]
    notes = {error["note"].split(" is ")[0] for error in task["errors"]}
    assert {
        'constraint "pattern"',
        'constraint "enum"',
        'constraint "minimum"',
        'constraint "maximum"',
        'constraint "maxLength"',
    } <= notes
    duplicates = [error for error in task["errors"] if error["type"] == "primary-key"]
    assert len(duplicates) == 600 // 31
    assert duplicates[0]["note"] == "the same as in the row at position 15"
    assert task["stats"]["rows"] == 600


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_error_limit_matches_frictionless(limit: int, tmp_path: Path) -> None:
    path = tmp_path / "limited.csv"
    path.write_text("a,b,x\n1,2\nz,3\n4,y\n5,6\nq,w\n", encoding="utf-8")
    schema = {"fields": [{"name": "a", "type": "integer"}, {"name": "b", "type": "integer"}]}
    with frictionless.system.use_context(trusted=True):
        resource = frictionless.Resource(
            str(path), schema=frictionless.Schema.from_descriptor(schema)
        )
        theirs = resource.validate(limit_errors=limit).to_descriptor()["tasks"][0]
    ours = validate_file(path, schema, limit_errors=limit, chunk_rows=2)["tasks"][0]
    assert ours["errors"] == theirs["errors"]
    assert ours["warnings"] == theirs["warnings"]
    assert ours["stats"]["rows"] == theirs["stats"]["rows"]


# Foreign keys into the table itself: a lookup over every row first, as frictionless builds it

FOREIGN_KEY_SCHEMA = {
    "fields": [
        {"name": "site", "type": "string"},
        {"name": "zone", "type": "integer"},
        {"name": "parent_site", "type": "string"},
        {"name": "parent_zone", "type": "integer"},
        {"name": "name", "type": "string", "constraints": {"required": True}},
    ],
    "primaryKey": ["site", "zone"],
    "foreignKeys": [
        {
            "fields": ["parent_site", "parent_zone"],
            "reference": {"resource": "", "fields": ["site", "zone"]},
        },
        {"fields": "parent_site", "reference": {"resource": "", "fields": "site"}},
    ],
}  # fmt: skip
FOREIGN_KEY_ROWS = [
    "site,zone,parent_site,parent_zone,name",
    "a,1,,,root",
    "b,1,a,1,child",
    "c,2,z,9,orphan",  # neither key found
    "d,1,a,7,half",  # the site is found, the pair is not
    "e,x,g,3,",  # a type error and a missing name; refers to a later row
    "f,3,e,,partly",  # a key partly None is looked up as it is: not found
    "g,3,f,3,later",
    "h,4,,5,",  # the second key's cells all None: only the pair is looked up
]


@pytest.mark.parametrize("chunk_rows", [2, 100_000])
def test_self_referencing_foreign_keys_match_frictionless(chunk_rows: int, tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("\n".join(FOREIGN_KEY_ROWS) + "\n", encoding="utf-8")
    report = assert_same_report(path, FOREIGN_KEY_SCHEMA, chunk_rows=chunk_rows)
    broken = [e["rowNumber"] for e in report["tasks"][0]["errors"] if e["type"] == "foreign-key"]
    assert broken  # frictionless finds some, and so does the hub
