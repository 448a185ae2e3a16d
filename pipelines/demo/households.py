"""Half-hourly load curves of the demo grid operator's households (`grid-demo`, self data).

`generate()` writes what a distribution operator would publish to the hub: one `;`-separated
CSV row per household and half hour, energy in Wh, times in French local time with their UTC
offset, and each home's raw 14-digit delivery point number (PDL) in a column, which the hub's
publish gate replaces by a keyed pseudonym. Beside it, the operator's own matching register
(PDL → postcode), which only the demo matching service (`pipelines.demo.matching`) reads.

The curves are seeded and deterministic: a base load, morning and evening peaks that move on
weekends, electric heating in winter for a share of the homes (driven by a Montpellier-like
seasonal temperature), holidays away from home, and a per-household scale.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

log = logging.getLogger(__name__)

HOUSEHOLDS = 300  # a year: 5.3 M rows, harvested in about 40 s on 2 cores (SQLite)
DAYS = 365
SEED = 20261201
FEED = "grid-demo-load-curves.csv"
REGISTER = "grid-demo-matching-register.csv"
HEADER = ("identifiant_pdl", "horodate_debut", "horodate_fin", "energie_active_wh")
STEP = timedelta(minutes=30)
LOCAL = "Europe/Paris"
ELECTRIC_HEATING_SHARE = 0.35
# Postcodes of Montpellier and the communes around it.
POSTCODES = (
    "34000", "34070", "34080", "34090", "34170", "34920", "34970", "34430", "34990",
    "34830", "34790", "34980", "34130", "34160", "34740",
)  # fmt: skip


@dataclass(frozen=True)
class Household:
    """A home of the demo operator: its delivery point number and postcode."""

    meter: str
    postcode: str


def households(count: int = HOUSEHOLDS, seed: int = SEED) -> list[Household]:
    """The operator's `count` households, the same for the same seed."""
    rng = np.random.default_rng([seed, 1])
    meters: set[str] = set()
    homes: list[Household] = []
    while len(homes) < count:
        # Enedis PDLs are 14 digits; these start with 2 to 3 and are fictitious.
        meter = f"{int(rng.integers(20_000_000_000_000, 40_000_000_000_000)):014d}"
        if meter in meters:
            continue
        meters.add(meter)
        homes.append(Household(meter, POSTCODES[int(rng.integers(len(POSTCODES)))]))
    return homes


def slots(now: datetime, days: int) -> pl.DataFrame:
    """The half hours of the last `days` days ending at or before `now` (UTC): start, end."""
    end = now.astimezone(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 30)
    count = days * 48
    start = end - count * STEP
    starts = pl.datetime_range(
        start, end - STEP, interval="30m", time_zone="UTC", eager=True
    ).alias("start")
    return pl.DataFrame({"start": starts}).with_columns(
        end=pl.col("start") + pl.duration(minutes=30)
    )


def curves(homes: list[Household], frame: pl.DataFrame, seed: int = SEED) -> np.ndarray:
    """Energy (Wh) of each home (rows) in each half hour of `frame` (columns)."""
    rng = np.random.default_rng([seed, 2])
    local = frame["start"].dt.convert_time_zone(LOCAL)
    hour = (local.dt.hour() + local.dt.minute() / 60 + 0.25).to_numpy()  # mid-slot
    weekend = (local.dt.weekday() >= 6).to_numpy()  # Saturday 6, Sunday 7
    doy = local.dt.ordinal_day().to_numpy().astype(float)
    day_index = ((frame["start"] - frame["start"][0]).dt.total_days()).to_numpy()
    n, t = len(homes), len(frame)

    # Outdoor temperature (°C): Montpellier's seasons, a day-to-day wobble, cool nights.
    daily = np.interp(
        day_index, np.arange(day_index.max() + 2), rng.normal(0, 2.0, day_index.max() + 2)
    )
    temperature = 15.5 - 8.5 * np.cos(2 * np.pi * (doy - 20) / 365) + daily
    temperature += 3.5 * np.cos(2 * np.pi * (hour - 15) / 24)

    def bump(center: np.ndarray | float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((hour[None, :] - np.asarray(center)[..., None]) / width) ** 2)

    scale = rng.lognormal(0.0, 0.35, n)[:, None]  # bigger and smaller homes
    base = rng.uniform(120, 320, n)[:, None]  # W: fridge, standby, ventilation
    wake = rng.normal(7.0, 0.6, n)  # each home's own rhythm
    dinner = rng.normal(19.5, 0.7, n)
    morning = np.where(weekend[None, :], bump(wake + 2.0, 1.3), bump(wake, 0.8))
    evening = bump(dinner, 1.6)
    midday = np.where(
        weekend[None, :], bump(np.full(n, 12.5), 1.5), 0.3 * bump(np.full(n, 12.5), 1.2)
    )
    power = base + scale * (
        rng.uniform(600, 1200, n)[:, None] * morning
        + rng.uniform(900, 1800, n)[:, None] * evening
        + rng.uniform(300, 700, n)[:, None] * midday
    )
    # Electric heating for a share of homes: W per degree under 16 °C, set back at night.
    heated = rng.random(n) < ELECTRIC_HEATING_SHARE
    per_degree = np.where(heated, rng.uniform(120, 260, n), 0.0)[:, None] * scale
    setback = np.where((hour >= 23) | (hour < 5.5), 0.55, 1.0)[None, :]
    power = power + per_degree * np.clip(16.0 - temperature, 0, None)[None, :] * setback
    # Summer air conditioning in a few homes.
    cooled = rng.random(n) < 0.15
    power = (
        power + np.where(cooled, 90.0, 0.0)[:, None] * np.clip(temperature - 26, 0, None)[None, :]
    )

    # Holidays: one or two absences per home, mostly in summer or around Christmas.
    days_total = int(day_index.max()) + 1
    away = np.zeros((n, t), dtype=bool)
    first_doy = doy[0]
    for i in range(n):
        for _ in range(int(rng.integers(1, 3))):
            center = rng.choice([210.0, 225.0, 358.0, 50.0, 300.0])
            length = int(rng.integers(5, 16))
            offset = int((center - first_doy) % 365 + rng.integers(-10, 10))
            if 0 <= offset < days_total:
                away[i] |= (day_index >= offset) & (day_index < offset + length)
    power = np.where(
        away, base * 0.6 + 0.12 * per_degree * np.clip(16.0 - temperature, 0, None), power
    )

    noise = rng.lognormal(0.0, 0.18, (n, t))
    spikes = rng.random((n, t)) < 0.03  # oven, washing machine, kettle
    power = power * noise + spikes * ~away * rng.uniform(500, 2500, (n, t))
    return np.round(power * 0.5).astype(np.int64)  # W over half an hour → Wh


def generate(
    out_dir: Path,
    now: datetime | None = None,
    count: int = HOUSEHOLDS,
    days: int = DAYS,
    seed: int = SEED,
) -> list[Path]:
    """Write the operator's feed and its matching register into `out_dir`; return both paths."""
    if count < 1 or days < 1:
        raise ValueError(f"need at least one household and one day, got {count} and {days}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    out_dir.mkdir(parents=True, exist_ok=True)
    homes = households(count, seed)
    frame = slots(now, days)
    energy = curves(homes, frame, seed)
    stamp = "%Y-%m-%d %H:%M:%S%:z"  # local time with its offset, unambiguous in autumn
    local = frame.select(
        pl.col("start").dt.convert_time_zone(LOCAL).dt.strftime(stamp).alias("start"),
        pl.col("end").dt.convert_time_zone(LOCAL).dt.strftime(stamp).alias("end"),
    )
    t = len(frame)
    slot = np.tile(np.arange(t), count)
    feed = pl.DataFrame(
        {
            HEADER[0]: pl.Series([h.meter for h in homes]).gather(np.repeat(np.arange(count), t)),
            HEADER[1]: local["start"].gather(slot),
            HEADER[2]: local["end"].gather(slot),
            HEADER[3]: energy.reshape(-1),
        }
    )
    path = out_dir / FEED
    feed.write_csv(path, separator=";")
    register = out_dir / REGISTER
    write_register(register, homes)
    log.info("wrote %d households × %d half hours to %s", count, t, path)
    return [path, register]


def write_register(path: Path, homes: list[Household]) -> None:
    """The operator's own register, never published: meter number → postcode."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter=";", lineterminator="\n")
        writer.writerow(("identifiant_pdl", "code_postal"))
        writer.writerows((h.meter, h.postcode) for h in homes)


def read_register(path: Path) -> dict[str, str]:
    """Meter number → postcode, as `write_register` wrote it."""
    with path.open(encoding="utf-8", newline="") as file:
        rows = csv.reader(file, delimiter=";")
        next(rows, None)
        return {meter: postcode for meter, postcode in rows}
