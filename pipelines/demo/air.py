"""Hourly NO2 and particulate readings with realistic daily rhythms, deterministic per seed.

NO2 follows traffic: two rush-hour peaks on weekdays (08:00 and 18:30 local time), a flatter
late-morning bump at weekends, highest at traffic stations. PM10 adds a slow regional swing
(weather moves particles for days at a time) to morning and evening heating/traffic peaks;
PM2.5 is most of PM10. Every series carries autocorrelated noise, as real monitors do.

The last day and a half or so is a regional particulate episode (a winter anticyclone: still air,
wood heating, a low inversion): particles climb over a few hours to about 2.8 times their usual
level and stay there up to `now`, so the daily mean PM10 passes the 50 µg/m³ information
threshold at the traffic and city-centre stations, not everywhere.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pipelines.demo.stations import STATIONS, Station

LOCAL = ZoneInfo("Europe/Paris")
EPISODE_START = timedelta(hours=40)  # before `now`: when the particulate episode sets in
EPISODE_RISE = timedelta(hours=6)  # how long particles take to build up
EPISODE_LEVEL = 2.8  # regional particulate level during the episode (1: usual)


@dataclass(frozen=True)
class Reading:
    """One hourly mean, stamped with the end of its hour."""

    station: Station
    pollutant: str  # NO2 | PM10 | PM2.5, as the operator writes them
    end: datetime  # UTC
    value: float


def hours(now: datetime, days: int) -> list[datetime]:
    """The UTC ends of the hourly periods of the last `days` days up to `now`."""
    last = now.replace(minute=0, second=0, microsecond=0)
    return [last - timedelta(hours=h) for h in range(days * 24 - 1, -1, -1)]


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


def episode_share(moment: datetime, now: datetime) -> float:
    """How far the particulate episode has set in at `moment`, 0 (not yet) to 1 (full)."""
    risen = (moment - (now - EPISODE_START)) / EPISODE_RISE
    clipped = min(max(risen, 0.0), 1.0)
    return clipped * clipped * (3 - 2 * clipped)  # smoothstep: particles build up gradually


def particulate_level(usual: float, moment: datetime, now: datetime) -> float:
    """The regional particulate level at `moment`: the usual one, or the episode's."""
    share = episode_share(moment, now)
    return usual * (1 - share) + EPISODE_LEVEL * share


def traffic_shape(local: datetime) -> float:
    """Relative traffic intensity, 0–1, at a local time."""
    hour = local.hour + local.minute / 60
    if local.weekday() < 5:
        return (
            0.05 + _bump(hour, 8.0, 1.4) + 0.85 * _bump(hour, 18.5, 1.8) + 0.3 * _bump(hour, 13, 2)
        )
    return 0.05 + 0.45 * _bump(hour, 12.5, 3.5) + 0.2 * _bump(hour, 20, 2)


def _noise(rng: random.Random, count: int, spread: float) -> Iterator[float]:
    """Autocorrelated multiplicative noise (an AR(1) in log space)."""
    level = 0.0
    for _ in range(count):
        level = 0.8 * level + rng.gauss(0.0, spread)
        yield math.exp(level)


def readings(now: datetime, days: int, seed: int) -> list[Reading]:
    """Every station's NO2, PM10 and PM2.5 hourly means over the period."""
    rng = random.Random(seed)
    ends = hours(now, days)
    # Regional particulate level: a slow swing shared by the whole city.
    regional = [1.0 + 0.35 * math.sin(i / 40 + rng.uniform(0, math.tau)) for i in range(len(ends))]
    found: list[Reading] = []
    for station in STATIONS:
        no2_noise = _noise(rng, len(ends), 0.12)
        pm_noise = _noise(rng, len(ends), 0.10)
        for i, (end, n1, n2) in enumerate(zip(ends, no2_noise, pm_noise, strict=False)):
            middle = (end - timedelta(minutes=30)).astimezone(LOCAL)
            traffic = traffic_shape(middle)
            no2 = (station.no2_base + station.no2_traffic * traffic) * n1
            heating = 0.25 * (_bump(middle.hour, 8, 2) + _bump(middle.hour, 20, 2.5))
            level = particulate_level(regional[i], end, now)
            pm10 = station.pm10_base * level * (0.85 + heating + 0.2 * traffic) * n2
            pm25 = pm10 * (0.62 + 0.05 * rng.random())
            found += [
                Reading(station, "NO2", end, round(no2, 1)),
                Reading(station, "PM10", end, round(pm10, 1)),
                Reading(station, "PM2.5", end, round(pm25, 1)),
            ]
    return found
