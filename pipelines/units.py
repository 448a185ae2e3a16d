"""Unit conversion that a source file declares (`options.units`), never guesses; vectorised.

    options:
      units:
        value: {from: ppb, to: "µg/m³", pollutant_field: pollutant}
        value: {from: W, to: kWh, period_from: period_start, period_to: period_end}

Each key is a number field to convert. `from` is the unit of rows that do not say theirs: a row
whose unit field (`unit_field`, default the schema's `unit`) names a unit is converted from
that one. Units and what a conversion between two kinds needs:

- ppb, ppm (volume mixing ratio) ↔ ng/m³, µg/m³, mg/m³ (mass concentration): the pollutant's
  molar mass M, read from `pollutant_field`; 1 ppb = M / Vm µg/m³, with Vm = 24.055 L/mol, the
  molar volume of an ideal gas at 20 °C and 101.325 kPa, the reference conditions of EU
  directive 2008/50/EC (Annex VI) for gases. So 1 ppb NO2 = 46.005 / 24.055 = 1.9125 µg/m³.
- W, kW, MW (mean power over the period) ↔ Wh, kWh, MWh (energy used in it): the period's
  length in hours, from `period_from` to `period_to` (UTC timestamps once normalised).

The unit field is rewritten to the target unit (and `quantity_field`, when given, to energy or
power). A row that cannot be converted — unknown unit, a pollutant without a molar mass, a
period without a length — keeps its value and unit and gets a problem: never a wrong number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from pipelines.readers.base import ReaderError

if TYPE_CHECKING:
    from pipelines.normalise import Problem

MOLAR_VOLUME = 24.055  # L/mol = R·T/p at T = 293.15 K, p = 101.325 kPa (2008/50/EC)
# g/mol, from IUPAC standard atomic weights: H 1.008, C 12.011, N 14.007, O 15.999, S 32.06.
MOLAR_MASSES = {
    "no2": 46.005,
    "no": 30.006,
    "nox": 46.005,  # 2008/50/EC: NOx is NO + NO2 in ppb "expressed as nitrogen dioxide"
    "o3": 47.997,
    "so2": 64.058,
    "co": 28.010,
    "nh3": 17.031,
    "c6h6": 78.114,
}
# unit → (kind, size in the kind's base unit: ppb, µg/m³, W, Wh)
UNITS = {
    "ppb": ("mixing ratio", 1.0),
    "ppm": ("mixing ratio", 1e3),
    "ng/m³": ("mass concentration", 1e-3),
    "µg/m³": ("mass concentration", 1.0),
    "mg/m³": ("mass concentration", 1e3),
    "W": ("power", 1.0),
    "kW": ("power", 1e3),
    "MW": ("power", 1e6),
    "Wh": ("energy", 1.0),
    "kWh": ("energy", 1e3),
    "MWh": ("energy", 1e6),
}
NEEDS = {  # a pair of kinds → what converting between them takes: a molar mass, or hours
    frozenset({"mixing ratio", "mass concentration"}): "mass",
    frozenset({"power", "energy"}): "hours",
}
KEYS = ("from", "to", "unit_field", "pollutant_field", "period_from", "period_to", "quantity_field")
SIGNIFICANT_DIGITS = 12  # enough for any meter; drops float noise such as 0.30000000000000004


@dataclass(frozen=True)
class Conversion:
    """One field's declared conversion."""

    field: str
    source: str  # the unit of rows that do not name theirs
    target: str
    unit_field: str | None = None  # None: the field `unit`, if the rows have one
    pollutant_field: str | None = None
    period: tuple[str, str] | None = None  # (from, to) fields
    quantity_field: str | None = None


def parse_units(spec: Any) -> tuple[Conversion, ...]:
    """`options.units` checked: known units, and what each conversion needs is named."""
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        raise ReaderError("options.units must map a field to {from: UNIT, to: UNIT, …}")
    return tuple(_parse_one(str(name), entry) for name, entry in spec.items())


def _parse_one(name: str, entry: Any) -> Conversion:
    """One entry of `options.units`."""
    where = f"options.units.{name}"
    if not isinstance(entry, Mapping) or "from" not in entry or "to" not in entry:
        raise ReaderError(f"{where} must give from and to units, e.g. {{from: ppb, to: µg/m³}}")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise ReaderError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(KEYS)})"
        )
    source, target = (_known(str(entry[k]), where) for k in ("from", "to"))
    need = NEEDS.get(frozenset({UNITS[source][0], UNITS[target][0]}))
    if UNITS[source][0] != UNITS[target][0] and need is None:
        raise ReaderError(f"{where}: cannot convert {source} ({UNITS[source][0]}) to {target}")
    if need == "mass" and not entry.get("pollutant_field"):
        raise ReaderError(f"{where}: converting {source} to {target} needs pollutant_field")
    if need == "hours" and not (entry.get("period_from") and entry.get("period_to")):
        raise ReaderError(
            f"{where}: converting {source} to {target} needs period_from and period_to"
        )
    return Conversion(
        field=name,
        source=source,
        target=target,
        unit_field=entry.get("unit_field"),
        pollutant_field=entry.get("pollutant_field"),
        period=(entry["period_from"], entry["period_to"]) if entry.get("period_from") else None,
        quantity_field=entry.get("quantity_field"),
    )


def _known(text: str, where: str) -> str:
    """A declared unit in its canonical spelling, or ReaderError."""
    unit = canonical_unit(text)
    if unit is None:
        raise ReaderError(f"{where}: unknown unit {text!r} (known: {', '.join(UNITS)})")
    return unit


def canonical_unit(text: str) -> str | None:
    """A unit as UNITS spells it (`ug/m3` → `µg/m³`, `ppbv` → `ppb`), or None if unknown."""
    plain = re.sub(r"\s+", "", text).replace("μ", "µ")  # GREEK SMALL LETTER MU → MICRO SIGN
    plain = re.sub(r"m(\^?3|³)$", "m³", plain)
    plain = re.sub(r"^(ug|mcg)/", "µg/", plain)
    plain = re.sub(r"^(pp[mb])v$", r"\1", plain, flags=re.IGNORECASE)
    if plain.lower() in ("ppb", "ppm"):
        plain = plain.lower()
    return plain if plain in UNITS else None  # case kept: mW would be milliwatt, not MW


def convert(
    frame: pl.DataFrame, conversions: tuple[Conversion, ...], problems: list[Problem]
) -> pl.DataFrame:
    """Apply the conversions to a normalised chunk, adding a problem per row that cannot be."""
    for conversion in conversions:
        frame = _convert_one(frame, conversion, problems)
    return frame


def _convert_one(
    frame: pl.DataFrame, conversion: Conversion, problems: list[Problem]
) -> pl.DataFrame:
    """One field converted where it can be; problems for the rows where it cannot."""
    from pipelines.normalise import Problem  # here: pipelines.normalise imports this module

    unit_field = _unit_field(frame, conversion)
    rows = _factors(frame, conversion, unit_field)
    for mask, name, note, values in _failures(rows, conversion, unit_field):
        problems.append(Problem(mask, name, note, values))
    done = rows["factor"].is_not_null()
    # A value already in the target unit keeps the text the operator wrote.
    changed = done & (rows["unit"] != conversion.target)
    converted = rows.select(
        (pl.col("value") * pl.col("factor"))
        .round_sig_figs(SIGNIFICANT_DIGITS)
        .cast(pl.Utf8)
        .str.replace(r"\.0$", "")
    ).to_series()
    rewritten = [converted.zip_with(changed, frame[conversion.field]).alias(conversion.field)]
    if unit_field is not None:
        rewritten.append(_set(frame[unit_field], done, conversion.target))
    kind = UNITS[conversion.target][0]
    if conversion.quantity_field is not None and kind in ("power", "energy"):
        rewritten.append(_set(frame[conversion.quantity_field], done, kind))
    return frame.with_columns(rewritten)


def _set(values: pl.Series, where: pl.Series, text: str) -> pl.Series:
    """`values` with `text` in the rows of `where`."""
    return _constant(text, values.len()).zip_with(where, values).alias(values.name)


def _constant(value: str | float | None, height: int, dtype: Any = pl.Utf8) -> pl.Series:
    return pl.Series([value] * height, dtype=dtype)


def _unit_field(frame: pl.DataFrame, conversion: Conversion) -> str | None:
    """The field giving each row's unit; a ReaderError if a field named is not a column."""
    named = [conversion.field, conversion.unit_field, conversion.pollutant_field,
             conversion.quantity_field, *(conversion.period or ())]  # fmt: skip
    for name in named:
        if name is not None and name not in frame.columns:
            raise ReaderError(f"options.units.{conversion.field}: no field {name!r} in the rows")
    if conversion.unit_field is not None:
        return conversion.unit_field
    return "unit" if "unit" in frame.columns and conversion.field != "unit" else None


def _factors(frame: pl.DataFrame, conversion: Conversion, unit_field: str | None) -> pl.DataFrame:
    """Per row: its unit, value, what converting it needs, and the factor (null: it cannot)."""
    height = frame.height
    given = frame[unit_field] if unit_field else _constant(None, height)
    spelled = {text: canonical_unit(text) for text in given.drop_nulls().unique().to_list()}
    unit = given.replace_strict(spelled, default=None, return_dtype=pl.Utf8)
    # A row that does not say its unit is in the one the source declares.
    unit = unit.zip_with(given.is_not_null(), _constant(conversion.source, height))
    target_kind, target_size = UNITS[conversion.target]
    rows = pl.DataFrame({"given": given, "unit": unit}).with_columns(
        kind=pl.col("unit").replace_strict({u: k for u, (k, _) in UNITS.items()}, default=None),
        size=pl.col("unit").replace_strict({u: s for u, (_, s) in UNITS.items()}, default=None),
        value=frame[conversion.field].cast(pl.Float64, strict=False),
        pollutant=frame[conversion.pollutant_field]
        if conversion.pollutant_field
        else _constant(None, height),
        hours=_hours(frame, conversion.period),
    )
    rows = rows.with_columns(
        mass=pl.col("pollutant").replace_strict(
            MOLAR_MASSES, default=None, return_dtype=pl.Float64
        ),
        needs=pl.col("kind").replace_strict(
            _needs(target_kind), default=None, return_dtype=pl.Utf8
        ),
    )
    kind, needs = pl.col("kind"), pl.col("needs")
    ratio = (
        pl.when(needs == "same").then(1.0)
        .when((needs == "mass") & (kind == "mixing ratio")).then(pl.col("mass") / MOLAR_VOLUME)
        .when(needs == "mass").then(MOLAR_VOLUME / pl.col("mass"))
        .when((needs == "hours") & (kind == "power")).then(pl.col("hours"))
        .when(needs == "hours").then(1.0 / pl.col("hours"))
    )  # fmt: skip
    factor = pl.when(pl.col("value").is_not_null()).then(pl.col("size") * ratio / target_size)
    return rows.with_columns(factor=factor)


def _needs(target_kind: str) -> dict[str, str]:
    """For each kind of unit, what converting it to `target_kind` takes."""
    table = {target_kind: "same"}
    for kinds, need in NEEDS.items():
        if target_kind in kinds:
            (other,) = kinds - {target_kind}
            table[other] = need
    return table


def _hours(frame: pl.DataFrame, period: tuple[str, str] | None) -> pl.Series:
    """Each row's period length in hours (from UTC timestamps), null unless it is positive."""
    if period is None:
        return _constant(None, frame.height, pl.Float64)
    start, end = (
        frame[name].str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%SZ", strict=False)
        for name in period
    )
    hours = (end - start).dt.total_microseconds() / 3_600_000_000
    return hours.zip_with(hours > 0, _constant(None, frame.height, pl.Float64))


Failure = tuple[pl.Series, str | None, str, pl.Series]


def _failures(rows: pl.DataFrame, conversion: Conversion, unit_field: str | None) -> list[Failure]:
    """(mask, field, note, values) of the rows with a value that cannot be converted."""
    valued, stuck = pl.col("value").is_not_null(), pl.col("factor").is_null()
    masks = rows.select(
        unknown=valued & pl.col("kind").is_null(),
        other=valued & pl.col("kind").is_not_null() & pl.col("needs").is_null(),
        mass=valued & stuck & (pl.col("needs") == "mass"),
        hours=valued & stuck & (pl.col("needs") == "hours"),
    ).with_columns(pl.all().fill_null(False))
    target, name = conversion.target, f"options.units.{conversion.field}"
    pollutant = conversion.pollutant_field
    period = conversion.period[0] if conversion.period else None
    return [
        (
            masks["unknown"],
            unit_field,
            f"unknown unit {{value!r}}: cannot convert it to {target}",
            rows["given"],
        ),
        (masks["other"], unit_field, f"{{value}} cannot be converted to {target}", rows["unit"]),
        (
            masks["mass"],
            pollutant or unit_field,
            f"no molar mass for pollutant {{value!r}}: cannot convert it to {target}"
            if pollutant
            else f"converting {{value}} to {target} needs {name}.pollutant_field",
            rows["pollutant"] if pollutant else rows["unit"],
        ),
        (
            masks["hours"],
            period or unit_field,
            f"the period has no positive length: cannot convert {{value}} to {target}"
            if period
            else f"converting {{value}} to {target} needs {name}.period_from and period_to",
            rows["unit"],
        ),
    ]
