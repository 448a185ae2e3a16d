"""pipelines.demo: the offline demo's feeds, read through the bundled demo source files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import frictionless
import polars as pl
import pytest

from hub.geo import bbox_mask, parse_bbox
from hub.schemas import load_schema
from hub.validation import Validator
from pipelines.demo import generate
from pipelines.fetch import fetch
from pipelines.readers import Fetched, read_records
from pipelines.sources import resolve_source

NOW = datetime(2024, 5, 15, 10, 37, tzinfo=UTC)  # a Wednesday; the week covers a weekend
MONTPELLIER = parse_bbox("3.70,43.50,4.05,43.72")


def harvest(source_id: str, dest: Path) -> pl.DataFrame:
    """Fetch and read one bundled demo source as the harvest flow does."""
    source = resolve_source(source_id)
    data = fetch(source.url, dest / source.id, base=source.base_dir)
    chunks = list(read_records(source, Fetched(data)))
    # `_error` names the rows the reader or normalisation found a problem in (null: none)
    noted = {problem.row: problem.note for chunk in chunks for problem in chunk.problems}
    frame = pl.concat([chunk.frame for chunk in chunks])
    notes = pl.Series([noted.get(row) for row in frame["_row"]], dtype=pl.Utf8)
    return frame.with_columns(notes.alias("_error"))


@pytest.fixture
def observations(hub_env: Path, tmp_path: Path) -> pl.DataFrame:
    generate(hub_env / "demo", now=NOW)
    frames = [harvest(f"demo-atmo-montpellier-{p}", tmp_path) for p in ("no2", "pm")]
    frame = pl.concat(frames)
    local = (
        pl.col("observed_at").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
        - pl.duration(minutes=30)  # the middle of the hour the mean covers
    ).dt.convert_time_zone("Europe/Paris")
    return frame.with_columns(
        pl.col("value").cast(pl.Float64),
        local.dt.hour().alias("hour"),
        (local.dt.weekday() >= 6).alias("weekend"),
    )


def test_generate_writes_the_feeds_deterministically(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", now=NOW, seed=7)
    again = generate(tmp_path / "b", now=NOW, seed=7)
    other = generate(tmp_path / "c", now=NOW, seed=8)
    assert [p.name for p in first] == [
        "atmo-demo-montpellier-no2.csv",
        "atmo-demo-montpellier-pm.csv",
        "atmo-demo-montpellier-stations.csv",
        "atmo-demo-montpellier-live.csv",
        "telecom-demo-outages.csv",
        "telecom-demo-vulnerable-sites.csv",
    ]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    assert first[0].read_bytes() != other[0].read_bytes()


def test_generate_defaults_to_the_data_dir_and_now(hub_env: Path) -> None:
    written = generate()
    assert all(p.parent == hub_env / "demo" for p in written)
    with pytest.raises(ValueError, match="days must be at least 1"):
        generate(days=0)


def test_demo_sources_read_cleanly_and_validate(observations: pl.DataFrame, tmp_path: Path) -> None:
    assert observations["_error"].null_count() == observations.height
    fields = load_schema("air-quality-observation").fields
    chunk = observations.select(*fields, "_row", "_error").with_columns(pl.col("value").cast(str))
    gate = Validator(load_schema("air-quality-observation").descriptor).validate_chunk(chunk)
    assert gate.errors == [] and gate.valid.height == chunk.height
    clean = observations.select(load_schema("air-quality-observation").fields)
    clean.with_columns(pl.col("value").cast(pl.Utf8)).write_csv(tmp_path / "obs.csv")
    schema = load_schema("air-quality-observation").to_frictionless()
    report = frictionless.Resource(path="obs.csv", basepath=str(tmp_path), schema=schema).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "message"])[:5]


def test_seven_days_of_hourly_means_up_to_now(observations: pl.DataFrame) -> None:
    stations = observations["station_id"].unique()
    assert stations.len() >= 6
    per_series = observations.group_by("station_id", "pollutant").len()
    assert set(per_series["pollutant"]) == {"no2", "pm10", "pm25"}
    assert set(per_series["len"]) == {7 * 24}
    times = observations["observed_at"].unique().sort()
    assert times[-1] == "2024-05-15T10:00:00Z" and times[0] == "2024-05-08T11:00:00Z"
    assert set(observations["averaging_period"]) == {"PT1H"}


def test_stations_are_around_montpellier_with_three_typologies(
    hub_env: Path, tmp_path: Path
) -> None:
    generate(hub_env / "demo", now=NOW)
    stations = harvest("demo-atmo-montpellier-stations", tmp_path)
    assert stations["_error"].null_count() == stations.height >= 6
    gate = Validator(load_schema("air-quality-station").descriptor).validate_chunk(stations)
    assert gate.errors == [] and gate.valid.height == stations.height
    assert set(stations["station_type"]) == {"traffic", "background"}
    assert set(stations["area_type"]) == {"urban", "suburban"}
    lons, lats = stations["longitude"].cast(pl.Float64), stations["latitude"].cast(pl.Float64)
    assert bbox_mask(MONTPELLIER, lons, lats).all()


def test_no2_peaks_at_weekday_rush_hours(observations: pl.DataFrame) -> None:
    no2 = observations.filter(pl.col("pollutant") == "no2", ~pl.col("weekend"))

    def mean(hours: range) -> float:
        return no2.filter(pl.col("hour").is_in(list(hours)))["value"].mean()  # type: ignore[return-value]

    night, morning, evening = mean(range(2, 5)), mean(range(7, 10)), mean(range(17, 20))
    assert morning > 1.8 * night and evening > 1.6 * night


def test_weekday_mornings_are_worse_than_weekend_mornings(observations: pl.DataFrame) -> None:
    mornings = observations.filter(pl.col("pollutant") == "no2", pl.col("hour").is_in([7, 8, 9]))
    weekday = mornings.filter(~pl.col("weekend"))["value"].mean()
    weekend = mornings.filter(pl.col("weekend"))["value"].mean()
    assert weekday > 1.4 * weekend  # type: ignore[operator]


def test_traffic_stations_see_more_no2_than_suburban_ones(
    observations: pl.DataFrame, hub_env: Path, tmp_path: Path
) -> None:
    stations = harvest("demo-atmo-montpellier-stations", tmp_path)
    kinds = dict(zip(stations["station_id"], stations["typology"], strict=True))
    no2 = observations.filter(pl.col("pollutant") == "no2").with_columns(
        pl.col("station_id").replace_strict(kinds).alias("typology")
    )
    means = dict(no2.group_by("typology").agg(pl.col("value").mean()).iter_rows())
    assert means["trafic"] > means["urbain"] > means["périurbain"]


def test_particulates_are_plausible(observations: pl.DataFrame) -> None:
    pm = observations.filter(pl.col("pollutant").is_in(["pm10", "pm25"]))
    assert pm["value"].min() >= 0 and pm["value"].max() < 150  # type: ignore[operator]
    wide = pm.pivot("pollutant", index=["station_id", "observed_at"], values="value")
    assert (wide["pm25"] < wide["pm10"]).all()
    assert 0.5 < (wide["pm25"] / wide["pm10"]).mean() < 0.8  # type: ignore[operator]
    # Noise and weather: the series is not flat.
    assert pm.filter(pl.col("pollutant") == "pm10")["value"].std() > 2  # type: ignore[operator]


def test_recent_hours_are_unverified_older_ones_valid(observations: pl.DataFrame) -> None:
    cutoff = (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = observations.filter(pl.col("observed_at") > cutoff)
    older = observations.filter(pl.col("observed_at") <= cutoff)
    assert set(recent["quality_flag"]) == {"unverified"}
    assert set(older["quality_flag"]) == {"valid"}


def test_a_week_across_the_autumn_clock_change_stays_clean(hub_env: Path, tmp_path: Path) -> None:
    generate(hub_env / "demo", now=datetime(2024, 10, 29, 12, 0, tzinfo=UTC))
    frame = harvest("demo-atmo-montpellier-no2", tmp_path)
    assert frame["_error"].null_count() == frame.height
    assert frame.select("station_id", "observed_at").is_unique().all()
