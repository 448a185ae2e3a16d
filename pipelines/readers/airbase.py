"""The `airbase-csv` reader: EEA AirBase statistics, joined with their station list.

The statistics file (AirBase's `statistics` table, or one station's extract of it) has one row
per station, component, measurement series, averaging group, year and statistic:
station_european_code, component_code, component_name, component_caption, measurement_unit,
measurement_european_group_code, statistics_period, statistics_year, statistics_average_group,
statistic_shortname, statistic_name, statistic_value, statistics_percentage_valid,
statistics_number_valid, statistics_calculated. It gives no position: the station list the source
links as `options.linked.stations` does (columns id, name, longitude, latitude, or AirBase's own
station_european_code, station_name, station_longitude_deg, station_latitude_deg; WGS84).

Every statistic becomes one air-quality-statistic row. Not air-quality-observation: percentiles,
maxima and exceedance counts are not concentrations averaged over a period, metals, toluene and
xylenes have no observation code, and the annual means of the daily and of the hourly values of
one year would share one observation key. Not carried over: component_name (the pollutant code
says it) and statistics_calculated (an AirBase processing flag). A row whose station the list
lacks, or whose period is not a calendar year, is kept with a RowProblem (the gate quarantines it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from hub.batches import Chunk, RowProblem
from hub.validation.tables import open_csv
from pipelines.normalise import Target, load_target
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.csv import OPTIONS, Rule, map_chunk, parse_columns
from pipelines.sources import Source

log = logging.getLogger(__name__)

TARGET = "air-quality-statistic"
REQUIRED = (
    "station_european_code", "component_code", "component_caption", "measurement_unit",
    "measurement_european_group_code", "statistics_period", "statistics_year",
    "statistics_average_group", "statistic_shortname", "statistic_value",
)  # fmt: skip
OPTIONAL = ("statistic_name", "statistics_percentage_valid", "statistics_number_valid")
# The station list's columns: KoelnAPI's extract spells them first, AirBase's own table second.
STATION_COLUMNS = {
    "_station": ("id", "station_european_code"),
    "_station_name": ("name", "station_name"),
    "_longitude": ("longitude", "station_longitude_deg"),
    "_latitude": ("latitude", "station_latitude_deg"),
}
# EEA component codes → the schema's pollutant codes; other components fall back to their
# caption (PM10, SO2, O3 …), which normalisation spells as the schema does or the gate reports.
COMPONENTS = {
    "1": "so2", "5": "pm10", "7": "o3", "8": "no2", "9": "nox", "10": "co", "20": "c6h6",
    "21": "c7h8", "38": "no", "464": "mp-xylene", "482": "o-xylene", "5012": "pb-pm10",
    "5014": "cd-pm10", "5015": "ni-pm10", "5018": "as-pm10", "5029": "bap-pm10", "6001": "pm25",
}  # fmt: skip
# AirBase averaging groups (hour, day, 2day, month …) → ISO 8601 duration prefix and suffix.
DURATIONS = {"hour": ("PT", "H"), "day": ("P", "D"), "week": ("P", "W"), "month": ("P", "M")}
RULES = {
    "station_id": Rule(column="station_european_code"),
    "station_name": Rule(column="_station_name"),
    "pollutant": Rule(column="_pollutant"),
    "series": Rule(column="measurement_european_group_code"),
    "averaging_period": Rule(column="_averaging"),
    "statistic": Rule(column="_statistic"),
    "statistic_label": Rule(column="statistic_name"),
    "value": Rule(column="statistic_value"),
    "unit": Rule(column="measurement_unit"),
    "period_start": Rule(column="_start"),
    "period_end": Rule(column="_end"),
    "coverage": Rule(column="statistics_percentage_valid"),
    "valid_count": Rule(column="statistics_number_valid"),
    "longitude": Rule(column="_longitude"),
    "latitude": Rule(column="_latitude"),
}
DEFAULTS = {"delimiter": ",", "encoding": "utf-8", "crs": "EPSG:4326"}


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read AirBase statistics, each row placed by the linked station list."""
    if source.schema != TARGET:
        raise ReaderError(
            f"format airbase-csv reads statistics into schema {TARGET!r}, not "
            f"{source.schema!r}: an annual percentile or exceedance count is no observation"
        )
    options = {**DEFAULTS, **source.options}
    stations = read_stations(fetched.document("stations"), options.get("encoding"))
    target = load_target(source.schema)
    rules = {**RULES, **parse_columns(options.get("columns") or {}, target)}
    table = open_csv(
        fetched.path,
        encoding=options.get("encoding"),
        delimiter=options.get("delimiter"),
        quotechar=options.get("quotechar", '"'),
    )
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ReaderError(
            f"not an AirBase statistics file: no column {', '.join(missing)} "
            f"(its columns: {', '.join(table.columns)})"
        )
    return _chunks(table.chunks, stations, rules, target)


READER = Reader("airbase-csv", "records", read, options=OPTIONS, defaults=DEFAULTS)


def _chunks(
    raw: Iterator[pl.DataFrame], stations: pl.DataFrame, rules: dict[str, Rule], target: Target
) -> Iterator[Chunk]:
    """Derive, map and check the chunks of the statistics file as they are read."""
    for chunk in raw:
        derived = derive(chunk, stations)
        mapped = map_chunk(derived, rules, target)
        problems = mapped.problems + find_problems(derived, stations.height)
        yield Chunk(mapped.frame, problems, unprovided=mapped.unprovided, unmapped=mapped.unmapped)


def read_stations(path: Path, encoding: str | None) -> pl.DataFrame:
    """The linked station list: one row per station id, with its name and position."""
    table = open_csv(path, encoding=encoding)  # its delimiter is sniffed: comma or tab
    chosen: dict[str, str] = {}
    for name, aliases in STATION_COLUMNS.items():
        found = next((c for c in aliases if c in table.columns), None)
        if found is None and name != "_station_name":
            raise ReaderError(
                f"the linked station list has no {' or '.join(aliases)} column "
                f"(its columns: {', '.join(table.columns)})"
            )
        if found is not None:
            chosen[name] = found
    frames = list(table.chunks)
    listed = pl.concat(frames) if frames else pl.DataFrame(schema=dict.fromkeys(table.columns))
    stations = listed.select(
        *(pl.col(column).cast(pl.Utf8).str.strip_chars().alias(n) for n, column in chosen.items())
    ).filter(pl.col("_station").fill_null("") != "")
    twice = stations.filter(pl.col("_station").is_duplicated())["_station"].unique().sort()
    if len(twice):
        raise ReaderError(f"the linked station list names {', '.join(twice)} more than once")
    if "_station_name" not in stations.columns:
        stations = stations.with_columns(_station_name=pl.lit(None, dtype=pl.Utf8))
    return stations.with_columns(_listed=pl.lit(True))


def derive(chunk: pl.DataFrame, stations: pl.DataFrame) -> pl.DataFrame:
    """The raw chunk with its station joined and the schema's codes derived, in source order."""
    absent = [pl.lit(None, dtype=pl.Utf8).alias(c) for c in OPTIONAL if c not in chunk.columns]
    joined = chunk.with_columns(
        *absent, _station=pl.col("station_european_code").str.strip_chars()
    ).join(stations, on="_station", how="left", maintain_order="left")
    component = pl.col("component_code").str.strip_chars()
    return joined.with_columns(
        _pollutant=pl.coalesce(
            component.replace_strict(COMPONENTS, default=None, return_dtype=pl.Utf8),
            pl.col("component_caption"),
        ),
        _statistic=statistic_code(pl.col("statistic_shortname")),
        _averaging=averaging_code(pl.col("statistics_average_group")),
        **calendar_year(pl.col("statistics_period"), pl.col("statistics_year")),
    )


def statistic_code(short: pl.Expr) -> pl.Expr:
    """AirBase's statistic short name as the schema's code (Mean → mean, Days(c > 50) → …).

    A name this reader does not know stays as it is: the schema check reports it.
    """
    lowered = short.str.strip_chars().str.to_lowercase()
    exceedance = r"^(days|hours)\(c\s*>\s*([0-9]+(?:\.[0-9]+)?)\)$"
    return (
        pl.when(lowered.str.contains(r"^(mean|min|max|max[0-9]+|p[0-9]+(\.[0-9]+)?)$"))
        .then(lowered)
        .when(lowered.str.contains(exceedance))
        .then(lowered.str.replace(exceedance, "${1}-above-${2}"))
        .otherwise(short)
    )


def averaging_code(group: pl.Expr) -> pl.Expr:
    """AirBase's averaging group as an ISO 8601 duration (2day → P2D), `var` as `variable`."""
    lowered = group.str.strip_chars().str.to_lowercase()
    count = lowered.str.extract(r"^([0-9]*)[a-z]+$", 1).replace("", "1")
    unit = lowered.str.extract(r"^[0-9]*([a-z]+)$", 1)
    prefix = unit.replace_strict({k: v[0] for k, v in DURATIONS.items()}, default=None)
    suffix = unit.replace_strict({k: v[1] for k, v in DURATIONS.items()}, default=None)
    duration = pl.concat_str(prefix, count, suffix)  # null when the unit is not a known one
    # An unknown group stays as it is: the schema check reports it.
    return (
        pl.when(lowered == "var").then(pl.lit("variable")).otherwise(pl.coalesce(duration, group))
    )


def calendar_year(period: pl.Expr, year: pl.Expr) -> dict[str, pl.Expr]:
    """First and last day of a calendar-year statistic; null for any other period."""
    year = year.str.strip_chars()
    good = (period.str.strip_chars().str.to_lowercase() == "calendar year") & year.str.contains(
        r"^[0-9]{4}$"
    )
    return {
        "_start": pl.when(good).then(year + "-01-01"),
        "_end": pl.when(good).then(year + "-12-31"),
    }


def find_problems(derived: pl.DataFrame, listed: int) -> list[RowProblem]:
    """Rows whose station the list lacks or whose period this reader cannot date."""
    problems: list[RowProblem] = []
    faulty = derived.filter(pl.col("_listed").is_null() | pl.col("_start").is_null())
    for row, station, listed_here, start, period, year in faulty.select(
        "_row", "_station", "_listed", "_start", "statistics_period", "statistics_year"
    ).iter_rows():
        if not listed_here:
            problems.append(
                RowProblem(
                    row,
                    "station_id",
                    f"station {station!r} is not in the linked station list "
                    f"(options.linked.stations, {listed} stations): no name, no position",
                )
            )
        if start is None:
            problems.append(
                RowProblem(
                    row,
                    "period_start",
                    f"statistics_period {period!r} of year {year!r} is not a calendar year "
                    "(YYYY): this reader dates calendar-year statistics only",
                )
            )
    return problems
