"""A large, realistic air-quality CSV in the air-quality-observation shape, with known bad rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

POLLUTANTS = ["no2", "pm10", "pm25", "o3"]
FIELDS = ["station_id", "station_name", "pollutant", "value", "unit", "averaging_period",
          "observed_at", "longitude", "latitude", "quality_flag"]


def generate(path: Path, rows: int = 1_000_000, invalid_rate: float = 0.01, seed: int = 7) -> int:
    """Write `rows` observations to `path`; returns how many rows were made invalid."""
    rng = np.random.default_rng(seed)
    stations = max(1, rows // (len(POLLUTANTS) * 24 * 365)) + 40
    index = np.arange(rows)
    station = index % stations
    pollutant = (index // stations) % len(POLLUTANTS)
    hour = index // (stations * len(POLLUTANTS))
    base = np.datetime64("2024-01-01T00:00:00")
    moments = (base + hour.astype("timedelta64[h]")).astype(str)
    frame = pl.DataFrame({
        "station_id": [f"FR{n:05d}" for n in station],
        "station_name": [f"Station {n}" for n in station],
        "pollutant": np.array(POLLUTANTS)[pollutant],
        "value": np.round(rng.gamma(2.0, 12.0, rows), 1).astype(str),
        "unit": "µg/m³",
        "averaging_period": "PT1H",
        "observed_at": np.char.add(moments, "Z"),
        "longitude": np.round(3.70 + (station % 20) * 0.02, 5).astype(str),
        "latitude": np.round(43.50 + (station // 20) * 0.02, 5).astype(str),
        "quality_flag": np.array(["valid", "unverified"])[(index % 7 == 0).astype(int)],
    })
    bad = rng.choice(rows, size=int(rows * invalid_rate), replace=False)
    kinds = np.arange(len(bad)) % 5
    frame = _spoil(frame, bad, kinds)
    frame.write_csv(path)
    return len(bad)


def _spoil(frame: pl.DataFrame, bad: np.ndarray, kinds: np.ndarray) -> pl.DataFrame:
    """Break rows five ways: type, enum, minimum, required, duplicate primary key."""
    columns = {name: frame[name].to_numpy().astype(object) for name in frame.columns}
    for row, kind in zip(bad.tolist(), kinds.tolist(), strict=True):
        if kind == 0:
            columns["value"][row] = "n/a"
        elif kind == 1:
            columns["pollutant"][row] = "radon"
        elif kind == 2:
            columns["value"][row] = "-3.5"
        elif kind == 3:
            columns["station_id"][row] = ""
        elif row > 0:  # copy the previous row's key: a duplicate primary key
            for key in ("station_id", "pollutant", "observed_at"):
                columns[key][row] = columns[key][row - 1]
    return pl.DataFrame({name: pl.Series(name, values, dtype=pl.Utf8)
                         for name, values in columns.items()})
