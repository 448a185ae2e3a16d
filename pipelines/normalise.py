"""Normalise mapped chunks into the hub's canonical strings, reporting what cannot be.

The flow's step between a reader and the gate. Canonical forms: timestamps
`YYYY-MM-DDTHH:MM:SSZ` (UTC), WGS84 lon/lat decimal strings, numbers with a decimal point,
codes spelled as in the schema's enum. A value that cannot be normalised stays as it came and
its row gets a `RowProblem` (the gate quarantines it with a `normalisation-error`).

Options (the source's, over its reader's defaults): `crs` (EPSG code of the lon/lat columns,
default EPSG:4326), `timezone` (IANA zone of naive timestamps), `timestamp_format` (strftime,
default ISO 8601), `date_format` (strftime of `date` fields and of days in a `hub.period`
field, default ISO 8601), `decimal`
("," for decimal commas), `units` (conversions, `pipelines.units`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from hub.batches import Chunk, RowProblem
from hub.geo import GeoError, parse_crs, to_wgs84
from hub.schemas import SchemaError, category_labels, load_schema
from pipelines import units
from pipelines.readers.base import ReaderError

OPTIONS = ("crs", "timezone", "timestamp_format", "date_format", "decimal", "units")

CANONICAL_TIME = "%Y-%m-%dT%H:%M:%SZ"
COORDINATE_DECIMALS = 7  # 1e-7 degree is about 1 cm: finer digits are transform noise
ISO_TIMESTAMP = (  # date, clock (seconds and fraction optional), zone (optional)
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)"
    r"\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$"
)
# Names some operators use instead of the schema's codes (compared after `_code_key`).
CODE_ALIASES = {
    "benzene": "c6h6", "ozone": "o3", "pm2p5": "pm25", "nitrogendioxide": "no2",
    "nitrogenmonoxide": "no", "nitricoxide": "no", "nitrogenoxides": "nox",
    "sulphurdioxide": "so2", "sulfurdioxide": "so2", "carbonmonoxide": "co", "ammonia": "nh3",
    # French networks' labels (Atmo, Opendatasoft exports)
    "particulespm10": "pm10", "particulespm25": "pm25", "particulesfinespm25": "pm25",
    "dioxydedazote": "no2", "monoxydedazote": "no", "oxydesdazote": "nox",
    "dioxydedesoufre": "so2", "monoxydedecarbone": "co", "ammoniac": "nh3",
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """The parts of a Table Schema that normalisation needs."""

    name: str
    fields: list[str]
    types: dict[str, str]
    enums: dict[str, list[str]]
    lon: str | None = None  # the fields the schema's `hub` block names as coordinates
    lat: str | None = None
    required: frozenset[str] = frozenset()  # fields every row must have (required or key)
    period: str | None = None  # the field of ISO 8601 dates or intervals (`hub.period`)
    # An enum field's values with the labels its schema declares for them ({value: [label,
    # *altLabels]}): a feed that writes a label means its value (README: "Dioxyde d'azote").
    labels: dict[str, dict[str, list[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """How a source writes its values: the reader options normalisation uses."""

    timezone: str | None = None
    timestamp_format: str | None = None
    date_format: str | None = None
    crs: str = "EPSG:4326"
    decimal: str = "."
    units: tuple[units.Conversion, ...] = ()  # options.units, checked (pipelines.units)


@dataclass
class Problem:
    """Rows of a chunk (a mask) whose `field` cannot be normalised, and why."""

    mask: pl.Series
    field: str | None
    note: str
    values: pl.Series | None = None  # shown in the note as {value}


def load_target(name: str) -> Target:
    """The target schema `name` from the hub's schema registry."""
    try:
        schema = load_schema(name)
    except SchemaError as exc:
        raise ReaderError(f"target schema: {exc}") from exc
    fields = schema.descriptor["fields"]
    return Target(
        name=schema.name,
        fields=list(schema.fields),
        types={f["name"]: f.get("type", "string") for f in fields},
        enums={
            f["name"]: list(f["constraints"]["enum"])
            for f in fields
            if isinstance(f.get("constraints"), dict) and f["constraints"].get("enum")
        },
        lon=schema.lon_field,
        lat=schema.lat_field,
        required=frozenset(
            [f["name"] for f in fields if (f.get("constraints") or {}).get("required")]
            + list(schema.primary_key)
        ),
        period=schema.period_field,
        labels=category_labels(schema.descriptor),
    )


def settings_for(options: Mapping[str, Any]) -> Settings:
    """The normalisation settings a source's options give, checked."""
    settings = Settings(
        timezone=options.get("timezone"),
        timestamp_format=options.get("timestamp_format"),
        date_format=options.get("date_format"),
        crs=str(options.get("crs") or "EPSG:4326"),
        decimal=str(options.get("decimal") or "."),
        units=units.parse_units(options.get("units")),
    )
    check_settings(settings)
    return settings


def normalise_chunks(
    chunks: Iterable[Chunk], target: Target, settings: Settings
) -> Iterator[Chunk]:
    """Normalise a reader's chunks, adding what cannot be normalised to their problems."""
    for chunk in chunks:
        frame, found = normalise(chunk.frame, target, settings)
        problems = chunk.problems + row_problems(frame, found)
        yield Chunk(
            finish(frame, target), problems, chunk.left_out, chunk.unprovided, chunk.unmapped
        )


def finish(frame: pl.DataFrame, target: Target) -> pl.DataFrame:
    """The chunk in the gate's shape: every target field as Utf8, then `_row` (and `_error`).

    No value is an empty cell `""`, never null: in the hub's tables (and frictionless) a null
    cell is one the row does not have, which hub.validation reports as a missing cell.
    """
    meta = [pl.col("_error").cast(pl.Utf8)] if "_error" in frame.columns else []
    return frame.select(
        *(
            pl.col(n).cast(pl.Utf8).fill_null("") if n in frame.columns else pl.lit("").alias(n)
            for n in target.fields
        ),
        pl.col("_row").cast(pl.Int64),
        *meta,
    )


def row_problems(frame: pl.DataFrame, problems: list[Problem]) -> list[RowProblem]:
    """Masked problems as one RowProblem per row, their notes showing each row's value."""
    rows = frame["_row"]
    found: list[RowProblem] = []
    for problem in problems:
        indexes = problem.mask.fill_null(False).arg_true()
        if not len(indexes):
            continue
        values = problem.values.gather(indexes).to_list() if problem.values is not None else None
        for position, row in enumerate(rows.gather(indexes).to_list()):
            value = values[position] if values is not None else None
            # Plain replacement, not str.format: notes quote headers that may hold braces.
            note = problem.note.replace("{value!r}", repr(value)).replace("{value}", str(value))
            found.append(RowProblem(row, problem.field, note))
    return found


def check_settings(settings: Settings) -> None:
    """Refuse a time zone or CRS that no row could ever be normalised with."""
    if settings.timezone:
        try:
            ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ReaderError(
                f"unknown time zone {settings.timezone!r} in options.timezone "
                "(use an IANA name such as 'Europe/Paris' or 'UTC')"
            ) from exc
    try:
        parse_crs(settings.crs)
    except GeoError as exc:
        raise ReaderError(f"options.crs: {exc}") from exc
    if settings.decimal not in (".", ","):
        raise ReaderError(f"options.decimal must be '.' or ',', got {settings.decimal!r}")


def normalise(
    frame: pl.DataFrame, target: Target, settings: Settings
) -> tuple[pl.DataFrame, list[Problem]]:
    """Normalise the target fields of a mapped chunk; return it with the problems found."""
    problems: list[Problem] = []
    frame = frame.with_columns(
        pl.col(name).str.strip_chars().replace("", None) for name in target.fields
    )
    for name in target.fields:
        kind = target.types.get(name)
        if kind in ("number", "integer"):
            frame = _normalise_number(frame, name, settings.decimal, problems)
        elif kind == "datetime":
            frame = _normalise_timestamp(frame, name, settings, problems)
        elif kind == "date" and settings.date_format:
            frame = _normalise_date(frame, name, settings.date_format, problems)
        elif name == target.period and settings.date_format:
            # Days in the source's format become ISO; intervals and ISO dates pass as given
            # (the gate reports a period that is neither, `hub.intervals`).
            days = frame[name].str.strptime(pl.Date, settings.date_format, strict=False)
            frame = frame.with_columns(
                pl.coalesce(days.dt.strftime("%Y-%m-%d"), pl.col(name)).alias(name)
            )
        if name in target.enums:
            frame = _normalise_code(frame, name, target.enums[name], target.labels.get(name))
    if settings.units:  # after numbers, times and codes: conversions read them canonical
        frame = units.convert(frame, settings.units, problems)
    if target.lon and target.lat:
        frame = _normalise_coordinates(frame, target.lon, target.lat, settings.crs, problems)
    return frame, problems


def _normalise_number(
    frame: pl.DataFrame, name: str, decimal: str, problems: list[Problem]
) -> pl.DataFrame:
    """Write numbers with a decimal point; flag values that are not numbers."""
    raw = pl.col(name)
    text = (
        raw.str.replace_all(r"[\s\u00a0\u202f]", "").str.replace(",", ".")
        if decimal == ","
        else raw
    )
    checked = frame.select(
        text=text, bad=raw.is_not_null() & text.cast(pl.Float64, strict=False).is_null()
    )
    problems.append(Problem(checked["bad"], name, "{value!r} is not a number", frame[name]))
    return frame.with_columns(
        pl.when(checked["bad"]).then(raw).otherwise(checked["text"]).alias(name)
    )


def _normalise_timestamp(
    frame: pl.DataFrame, name: str, settings: Settings, problems: list[Problem]
) -> pl.DataFrame:
    """Turn timestamps into UTC `YYYY-MM-DDTHH:MM:SSZ`, using the source's zone if naive."""
    raw = frame[name]
    if settings.timestamp_format:
        utc, naive = _parse_with_format(raw, settings.timestamp_format)
    else:
        utc, naive = _parse_iso(raw)
    if settings.timezone:
        # A local time skipped or repeated by a DST change has no single UTC instant: null.
        local = naive.dt.replace_time_zone(
            settings.timezone, ambiguous="null", non_existent="null"
        ).dt.convert_time_zone("UTC")
        utc = utc.fill_null(local)
        unresolved = (
            f"{{value!r}} does not exist or is ambiguous in {settings.timezone} (DST change)"
        )
    else:
        unresolved = "timestamp {value!r} has no time zone and the source sets no options.timezone"
    expected = settings.timestamp_format or "ISO 8601 such as 2024-05-01T13:00:00Z"
    problems.append(Problem(naive.is_not_null() & utc.is_null(), name, unresolved, raw))
    problems.append(
        Problem(
            raw.is_not_null() & utc.is_null() & naive.is_null(),
            name,
            f"unparseable timestamp {{value!r}} (expected {expected})",
            raw,
        )
    )
    text = utc.dt.strftime(CANONICAL_TIME)
    return frame.with_columns(pl.when(utc.is_null()).then(raw).otherwise(text).alias(name))


def _normalise_date(
    frame: pl.DataFrame, name: str, fmt: str, problems: list[Problem]
) -> pl.DataFrame:
    """Write days given in `fmt` (`2007/04/18`) as ISO dates: a day has no time zone."""
    raw = frame[name]
    days = raw.str.strptime(pl.Date, fmt, strict=False)
    problems.append(
        Problem(
            raw.is_not_null() & days.is_null(),
            name,
            f"unparseable date {{value!r}} (expected {fmt})",
            raw,
        )
    )
    text = days.dt.strftime("%Y-%m-%d")
    return frame.with_columns(pl.when(days.is_null()).then(raw).otherwise(text).alias(name))


def _parse_iso(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    """ISO 8601 timestamps: (UTC instants of those with a zone, naive times of the others)."""
    parts = raw.str.extract_groups(ISO_TIMESTAMP).struct.unnest()
    date, clock, zone = (pl.col(c) for c in parts.columns)
    stamp = (date + "T" + clock.str.replace(",", ".")).str.replace(r"T(\d{2}:\d{2})$", "T${1}:00")
    local = stamp.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S%.f", strict=False)
    offset = _offset_minutes(zone)
    result = parts.select(
        utc=pl.when(zone.is_not_null()).then(
            (local - pl.duration(minutes=offset)).dt.replace_time_zone("UTC")
        ),
        naive=pl.when(zone.is_null()).then(local),
    )
    return result["utc"], result["naive"]


def _offset_minutes(zone: pl.Expr) -> pl.Expr:
    """Minutes east of UTC for `Z`, `UTC`, `+HH`, `+HHMM`, `+HH:MM`."""
    digits = zone.str.replace(":", "")
    sign = pl.when(digits.str.starts_with("-")).then(-1).otherwise(1)
    hours = digits.str.slice(1, 2).cast(pl.Int64, strict=False)
    minutes = digits.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
    utc = zone.str.to_uppercase().is_in(["Z", "UTC"])
    return pl.when(utc).then(0).otherwise(sign * (hours * 60 + minutes))


def _parse_with_format(raw: pl.Series, fmt: str) -> tuple[pl.Series, pl.Series]:
    """Timestamps in a strftime format: (UTC instants if it has %z, naive times otherwise)."""
    nothing = pl.Series(raw.name, [None] * raw.len(), dtype=pl.Datetime("us"))
    if "%z" in fmt:
        return raw.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False), nothing
    naive = raw.str.strptime(pl.Datetime("us"), fmt, strict=False)
    return nothing.dt.replace_time_zone("UTC"), naive


def _normalise_code(
    frame: pl.DataFrame,
    name: str,
    allowed: list[str],
    labels: dict[str, list[str]] | None = None,
) -> pl.DataFrame:
    """Spell codes as the schema's enum does (`PM2.5` → `pm25`, `ug/m3` → `µg/m³`), and read
    the labels the schema declares for a code as that code (`présent` → `present`, `World
    Geodetic System 1984` → `WGS84`). A code's own spelling wins over another code's label, a
    label over an alternative label; a label two codes share alike means neither.

    A value that matches no code is left as it is: the schema check reports it.
    """
    keys = pl.DataFrame({"code": allowed}).select(_code_key(pl.col("code")))["code"]
    canonical = dict(zip(keys.to_list(), allowed, strict=True))
    canonical |= {alias: canonical[key] for alias, key in CODE_ALIASES.items() if key in canonical}
    named = [
        (label, rank, value)
        for value, words in (labels or {}).items()
        for rank, label in enumerate(words)
    ]
    if named:
        spelt = pl.DataFrame({"label": [label for label, _, _ in named]})
        label_keys = spelt.select(_code_key(pl.col("label")))["label"].to_list()
        meaning: dict[str, tuple[int, set[str]]] = {}
        for key, (_, rank, value) in zip(label_keys, named, strict=True):
            rank = min(rank, 1)  # 0: the label, 1: an alternative label
            best, values = meaning.get(key, (rank, set()))
            if rank < best:
                best, values = rank, set()
            if rank == best:
                values.add(value)
            meaning[key] = (best, values)
        canonical = {
            **{key: values.pop() for key, (_, values) in meaning.items() if len(values) == 1},
            **canonical,
        }
    mapped = _code_key(pl.col(name)).replace_strict(canonical, default=None, return_dtype=pl.Utf8)
    return frame.with_columns(pl.coalesce(mapped, pl.col(name)).alias(name))


def _code_key(expr: pl.Expr) -> pl.Expr:
    """The spelling-insensitive form of a code: lower case, no punctuation, µ as u, ³ as 3,
    `m-3` as `/m3` (`ug.m-3`, Opendatasoft's spelling)."""
    return (
        expr.str.to_lowercase()
        .str.replace_all("[µμ]", "u")  # MICRO SIGN and GREEK SMALL LETTER MU both occur
        .str.replace_all("mcg", "ug")
        .str.replace_all(r"[\s.·]?m(?:\^?-3|⁻³)", "/m3")
        .str.replace_all(r"\^?3|³", "3")
        .str.replace_all(r"[\s._,\-'’]", "")
    )


def _normalise_coordinates(
    frame: pl.DataFrame, lon: str, lat: str, crs: str, problems: list[Problem]
) -> pl.DataFrame:
    """Project the lon/lat fields (x/y in `crs`) to WGS84 decimal degrees, vectorised."""
    xs = frame[lon].cast(pl.Float64, strict=False)
    ys = frame[lat].cast(pl.Float64, strict=False)
    lons, lats = to_wgs84(xs, ys, crs, strict=False)
    where = frame.select(pl.format("x={}, y={}", lon, lat))[:, 0]
    outside = xs.is_not_null() & ys.is_not_null() & lons.is_null()
    lonely = frame[lon].is_null() != frame[lat].is_null()
    note = f"coordinates {{value}} lie outside the area of use of {crs}"
    problems.append(Problem(outside, lon, note, where))
    problems.append(Problem(lonely, lon, f"only one of {lon} and {lat} is given"))
    text = pl.DataFrame({"lon": lons, "lat": lats}).select(
        lon=_decimal_text(pl.col("lon")), lat=_decimal_text(pl.col("lat"))
    )
    return frame.with_columns(
        pl.when(lons.is_null()).then(pl.col(lon)).otherwise(text["lon"]).alias(lon),
        pl.when(lats.is_null()).then(pl.col(lat)).otherwise(text["lat"]).alias(lat),
    )


def _decimal_text(values: pl.Expr) -> pl.Expr:
    """Degrees as plain decimal text with at most COORDINATE_DECIMALS digits (never 1e-07)."""
    unit = 10**COORDINATE_DECIMALS
    scaled = (values * unit).round(0).cast(pl.Int64)
    sign = pl.when(scaled < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    whole = (scaled.abs() // unit).cast(pl.Utf8)
    fraction = (scaled.abs() % unit).cast(pl.Utf8).str.zfill(COORDINATE_DECIMALS)
    fraction = fraction.str.strip_chars_end("0")
    return pl.when(fraction == "").then(sign + whole).otherwise(sign + whole + "." + fraction)
