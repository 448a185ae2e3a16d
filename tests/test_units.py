"""pipelines.units: declared conversions, checked against numbers worked out by hand."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from hub.batches import Chunk, RowProblem
from pipelines import normalise, units
from pipelines.readers import ReaderError

# IUPAC standard atomic weights (g/mol) and the formulas of the gases the hub converts.
ATOMIC = {"H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "S": 32.06}
FORMULAS = {
    "no2": {"N": 1, "O": 2}, "no": {"N": 1, "O": 1}, "nox": {"N": 1, "O": 2},
    "o3": {"O": 3}, "so2": {"S": 1, "O": 2}, "co": {"C": 1, "O": 1},
    "nh3": {"N": 1, "H": 3}, "c6h6": {"C": 6, "H": 6},
}  # fmt: skip
GAS = {"value": {"from": "ppb", "to": "µg/m³", "pollutant_field": "pollutant"}}
ENERGY = {
    "value": {"from": "W", "to": "kWh", "period_from": "period_start", "period_to": "period_end",
              "quantity_field": "quantity"}
}  # fmt: skip


def convert(spec: dict[str, Any], rows: list[dict[str, str | None]]) -> tuple[list[dict], list]:
    """The rows converted as normalisation would, and their problems by row."""
    frame = pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]}).with_row_index("_row", 2)
    found: list[normalise.Problem] = []
    out = units.convert(frame, units.parse_units(spec), found)
    return out.drop("_row").to_dicts(), normalise.row_problems(out, found)


def test_molar_volume_is_that_of_an_ideal_gas_at_20_c_and_101_325_kpa() -> None:
    r, t, p = 8.314462618, 293.15, 101.325  # J/(mol·K), K, kPa → R·T/p in litres
    assert pytest.approx(r * t / p, abs=5e-4) == units.MOLAR_VOLUME


def test_molar_masses_add_up_the_atomic_weights() -> None:
    for gas, atoms in FORMULAS.items():
        mass = sum(ATOMIC[a] * n for a, n in atoms.items())
        assert units.MOLAR_MASSES[gas] == pytest.approx(mass, abs=1e-9), gas
    assert set(units.MOLAR_MASSES) == set(FORMULAS)


@pytest.mark.parametrize(
    ("pollutant", "value", "source", "target", "expected"),
    [
        ("no2", "1", "ppb", "µg/m³", 1.9125),  # 46.005 / 24.055
        ("o3", "10", "ppb", "µg/m³", 19.953),  # 10 × 47.997 / 24.055
        ("so2", "1", "ppm", "µg/m³", 2663.0),  # 1000 × 64.058 / 24.055
        ("co", "1", "ppm", "mg/m³", 1.1644),  # 28.010 / 24.055
        ("no", "20", "ppb", "µg/m³", 24.948),  # 20 × 30.006 / 24.055
        ("nh3", "1", "ppb", "µg/m³", 0.70800),  # 17.031 / 24.055
        ("c6h6", "1", "ppb", "ng/m³", 3247.3),  # 78.114 / 24.055 µg/m³ in ng/m³
        ("o3", "100", "µg/m³", "ppb", 50.118),  # 100 × 24.055 / 47.997
        (
            "no2",
            "40",
            "µg/m³",
            "ppm",
            0.020915,
        ),  # the EU annual NO2 limit, 40 × 24.055 / 46.005 ppb
    ],
)
def test_gas_concentrations_at_the_directives_reference_conditions(
    pollutant: str, value: str, source: str, target: str, expected: float
) -> None:
    spec = {"value": {"from": source, "to": target, "pollutant_field": "pollutant"}}
    rows, problems = convert(spec, [{"pollutant": pollutant, "value": value, "unit": None}])
    assert problems == []
    assert float(rows[0]["value"]) == pytest.approx(expected, rel=2e-4)
    assert rows[0]["unit"] == target


def test_each_row_is_converted_from_the_unit_it_names() -> None:
    rows, problems = convert(GAS, [
        {"pollutant": "no2", "value": "2", "unit": None},  # the declared ppb
        {"pollutant": "no2", "value": "0.002", "unit": "ppm"},
        {"pollutant": "no2", "value": "3.83", "unit": "ug/m3"},  # already µg/m³: kept as written
        {"pollutant": "pm25", "value": "12", "unit": "µg/m³"},  # no molar mass needed
    ])  # fmt: skip
    assert problems == []
    assert [(r["value"], r["unit"]) for r in rows] == [
        ("3.82498441073", "µg/m³"), ("3.82498441073", "µg/m³"), ("3.83", "µg/m³"), ("12", "µg/m³")
    ]  # fmt: skip


def test_a_value_that_cannot_be_converted_stays_and_has_a_problem() -> None:
    rows, problems = convert(GAS, [
        {"pollutant": "pm25", "value": "7", "unit": "ppb"},  # particles have no molar mass
        {"pollutant": "no2", "value": "7", "unit": "furlongs"},
        {"pollutant": "no2", "value": "7", "unit": "kW"},
        {"pollutant": "no2", "value": None, "unit": "ppb"},  # nothing to convert, nothing to say
    ])  # fmt: skip
    assert [(r["value"], r["unit"]) for r in rows] == [
        ("7", "ppb"), ("7", "furlongs"), ("7", "kW"), (None, "ppb")
    ]  # fmt: skip
    assert sorted(problems, key=lambda p: p.row) == [
        RowProblem(
            2, "pollutant", "no molar mass for pollutant 'pm25': cannot convert it to µg/m³"
        ),
        RowProblem(3, "unit", "unknown unit 'furlongs': cannot convert it to µg/m³"),
        RowProblem(4, "unit", "kW cannot be converted to µg/m³"),
    ]


def test_mean_power_over_a_period_becomes_energy() -> None:
    quarter = {"period_start": "2013-01-01T00:00:00Z", "period_end": "2013-01-01T00:15:00Z"}
    rows, problems = convert(ENERGY, [
        {**quarter, "value": "1500", "unit": None, "quantity": "power"},  # 1.5 kW × ¼ h
        {**quarter, "value": "2", "unit": "kW", "quantity": "power"},
        {**quarter, "value": "15768", "unit": "MW", "quantity": "power"},  # Amprion, 00:00
        {**quarter, "value": "120", "unit": "Wh", "quantity": "energy"},
        {**quarter, "period_end": "2013-01-01T00:00:00Z", "value": "5", "unit": "W",
         "quantity": "power"},  # a period of no length
    ])  # fmt: skip
    assert [(r["value"], r["unit"], r["quantity"]) for r in rows] == [
        ("0.375", "kWh", "energy"),
        ("0.5", "kWh", "energy"),
        ("3942000", "kWh", "energy"),  # 15768 MW × 0.25 h = 3942 MWh
        ("0.12", "kWh", "energy"),
        ("5", "W", "power"),
    ]
    assert problems == [
        RowProblem(6, "period_start", "the period has no positive length: cannot convert W to kWh")
    ]


def test_energy_over_a_period_becomes_mean_power() -> None:
    spec = {"value": {"from": "kWh", "to": "W", "period_from": "start", "period_to": "end"}}
    rows, problems = convert(spec, [
        {"start": "2007-02-01T00:00:00Z", "end": "2007-02-01T00:01:00Z", "value": "0.017",
         "unit": None},  # 17 Wh in one minute: 1020 W
    ])  # fmt: skip
    assert problems == [] and (rows[0]["value"], rows[0]["unit"]) == ("1020", "W")


@pytest.mark.parametrize(
    ("spelled", "unit"),
    [("ug/m3", "µg/m³"), ("μg/m³", "µg/m³"), ("µg/m^3", "µg/m³"), ("mcg/m3", "µg/m³"),
     ("ppbv", "ppb"), ("PPM", "ppm"), ("MW", "MW"), ("mW", None), ("kwh", None), ("%", None)],
)  # fmt: skip
def test_units_are_recognised_in_their_usual_spellings(spelled: str, unit: str | None) -> None:
    assert units.canonical_unit(spelled) == unit


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"value": {"from": "furlong", "to": "µg/m³"}}, "unknown unit 'furlong'"),
        ({"value": {"from": "ppb", "to": "kWh"}}, "cannot convert ppb"),
        ({"value": {"from": "ppb", "to": "µg/m³"}}, "needs pollutant_field"),
        ({"value": {"from": "kW", "to": "kWh"}}, "needs period_from and period_to"),
        ({"value": {"from": "W", "to": "kW", "factor": 2}}, "unknown key"),
        ({"value": "ppb"}, "must give from and to"),
        (["ppb"], "must map a field"),
    ],
)
def test_a_declaration_that_cannot_work_is_refused_before_reading(spec: Any, message: str) -> None:
    with pytest.raises(ReaderError, match=message):
        normalise.settings_for({"units": spec})


def test_normalisation_converts_after_reading_numbers_and_times() -> None:
    target = normalise.load_target("energy-consumption")
    settings = normalise.settings_for(
        {
            "decimal": ",",
            "timezone": "Europe/Paris",
            "units": {**ENERGY, "value": {**ENERGY["value"], "from": "kW"}},
        }
    )
    frame = pl.DataFrame(
        {
            "subject_key": ["pdl-5c1e0a9b7f3d4e21"] * 2,
            "period_start": ["2007-02-01T00:00:00", "2007-02-01 00:01"],  # Paris winter time
            "period_end": ["2007-02-01T00:01:00", "2007-02-01 00:02"],
            "circuit": ["main"] * 2,
            "quantity": ["power"] * 2,
            "value": ["3,68", "0,326"],  # a decimal comma: a number only once normalised
            "unit": ["kW", "kVA"],  # apparent power: not the active power the curve holds
            "quality": ["measured"] * 2,
            "_row": [2, 3],
        }
    )
    chunk = next(normalise.normalise_chunks([Chunk(frame)], target, settings))
    assert chunk.frame.select("period_start", "value", "unit", "quantity").rows() == [
        ("2007-01-31T23:00:00Z", "0.0613333333333", "kWh", "energy"),
        ("2007-01-31T23:01:00Z", "0.326", "kVA", "power"),
    ]
    assert chunk.problems == [RowProblem(3, "unit", "unknown unit 'kVA': cannot convert it to kWh")]


@pytest.mark.parametrize(
    ("given", "allowed", "read"),
    [
        ("ug.m-3", ["µg/m³", "mg/m³"], "µg/m³"),  # Opendatasoft exports' spelling
        ("µg m-3", ["µg/m³", "mg/m³"], "µg/m³"),
        ("mg.m-3", ["µg/m³", "mg/m³"], "mg/m³"),
        ("Particules PM2,5", ["pm10", "pm25", "no2"], "pm25"),  # French networks' labels
        ("Dioxyde d'azote", ["pm10", "pm25", "no2"], "no2"),
        ("Dioxyde d’azote", ["pm10", "pm25", "no2"], "no2"),
        (
            "Particules PM1",
            ["pm10", "pm25", "no2"],
            "Particules PM1",
        ),  # no code: left for the check
    ],
)
def test_codes_are_read_whatever_their_spelling(given: str, allowed: list[str], read: str) -> None:
    frame = normalise._normalise_code(pl.DataFrame({"code": [given]}), "code", allowed)
    assert frame["code"].to_list() == [read]


@pytest.mark.parametrize(
    ("field", "given", "read"),
    [
        ("occurrenceStatus", "présent", "present"),
        ("occurrenceStatus", "Présence", "present"),
        ("occurrenceStatus", "absence", "absent"),
        ("geodeticDatum", "World Geodetic System 1984", "WGS84"),  # WGS84's label first
        ("geodeticDatum", "EPSG 4326", "EPSG:4326"),
        ("geodeticDatum", "WGS 84", "WGS84"),  # a code's own spelling first
        ("geodeticDatum", "ED50", "ED50"),  # no label of any code: left for the check
    ],
)
def test_the_labels_a_schema_declares_are_read_as_their_codes(
    field: str, given: str, read: str
) -> None:
    target = normalise.load_target("biodiversity-occurrence")
    frame = pl.DataFrame({field: [given]})
    read_as = normalise._normalise_code(frame, field, target.enums[field], target.labels[field])
    assert read_as[field].to_list() == [read]


def test_a_label_two_codes_share_alike_means_neither() -> None:
    labels = {"a": ["Shared"], "b": ["Shared"], "c": ["C", "Shared"]}
    frame = pl.DataFrame({"code": ["shared"]})
    read = normalise._normalise_code(frame, "code", ["a", "b", "c"], labels)
    assert read["code"].to_list() == ["shared"]  # the check will say it is no code


def test_a_feed_writing_a_label_publishes_its_code() -> None:
    target = normalise.load_target("biodiversity-occurrence")
    row = {name: None for name in target.fields} | {
        "occurrenceStatus": "présent",
        "geodeticDatum": "World Geodetic System 1984",
    }
    frame = pl.DataFrame([row], schema={name: pl.Utf8 for name in row}).with_row_index("_row")
    read, _ = normalise.normalise(frame, target, normalise.settings_for({}))
    assert read.select("occurrenceStatus", "geodeticDatum").row(0) == ("present", "WGS84")
