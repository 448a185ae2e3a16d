"""Sample operators that generate realistic feeds for the offline demo.

`generate()` writes what the fictitious "Atmo Démo" network around Montpellier would publish:
semicolon-separated CSV with decimal commas, local times with their UTC offset and Lambert-93
coordinates, as French air-quality agencies do. The bundled `pipelines/sources/demo-*.yaml`
read them with the `csv` reader, as `demo-grid-load-curves.yaml` reads the demo grid
operator's household load curves (personal data, `households.py`). Beside them: the network
outages and vulnerable sites of the private operator "Telecom Demo" (crisis data,
`telecom.py`) and the latest one-minute readings of Atmo Démo's micro-sensors, which `hub demo`
refreshes and harvests every minute while it serves (`live.py`). Run `python -m
pipelines.demo` to write them by hand.
"""

from __future__ import annotations

import csv
import logging
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from pyproj import Transformer

from hub.config import get_settings
from pipelines.demo import households as load_curves
from pipelines.demo import live, telecom
from pipelines.demo.air import LOCAL, Reading, readings
from pipelines.demo.stations import STATIONS

log = logging.getLogger(__name__)

DEFAULT_SEED = 20240501
FEEDS = {  # file name → pollutants it holds
    "atmo-demo-montpellier-no2.csv": ("NO2",),
    "atmo-demo-montpellier-pm.csv": ("PM10", "PM2.5"),
}
STATIONS_FEED = "atmo-demo-montpellier-stations.csv"
STATION_HEADER = (
    "code_station", "nom_station", "typologie", "commune", "x_l93", "y_l93", "polluants",
    "mise_en_service",
)  # fmt: skip
HEADER = (
    "code_station", "nom_station", "typologie", "polluant", "valeur", "unite",
    "date_debut", "date_fin", "x_l93", "y_l93", "statut",
)  # fmt: skip
VALIDATION_DELAY = timedelta(days=2)
_LAMBERT93 = Transformer.from_crs(
    "EPSG:4326", "EPSG:2154", always_xy=True
)  # agencies validate hourly data after a day or two


def generate(
    out_dir: Path | None = None,
    now: datetime | None = None,
    days: int = 7,
    seed: int = DEFAULT_SEED,
    households: int = 0,
    household_days: int = load_curves.DAYS,
) -> list[Path]:
    """Write the demo feeds (hourly, last `days` days up to `now`, UTC) and return their paths;
    with `households` > 0 (`hub demo`: load_curves.HOUSEHOLDS), also the demo grid operator's
    half-hourly load curves of that many homes over the last `household_days` days and its
    matching register (pipelines.demo.households)."""
    out_dir = out_dir or get_settings().data_dir / "demo"
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    out_dir.mkdir(parents=True, exist_ok=True)
    every = readings(now, days, seed)
    written = []
    for name, pollutants in FEEDS.items():
        path = out_dir / name
        _write(path, [r for r in every if r.pollutant in pollutants], now)
        written.append(path)
    written.append(_write_stations(out_dir / STATIONS_FEED))
    written.append(live.write_live(out_dir / live.LIVE_FEED, now, now, seed))
    written.append(telecom.write_outages(out_dir / telecom.OUTAGES_FEED, now, days, seed))
    written.append(telecom.write_sites(out_dir / telecom.SITES_FEED))
    if households:
        written += load_curves.generate(out_dir, now, households, household_days)
    log.info("wrote %d demo feeds to %s", len(written), out_dir)
    return written


def _write(path: Path, rows: list[Reading], now: datetime) -> None:
    """One feed file, the way the operator's export writes it."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter=";")
        writer.writerow(HEADER)
        for r in rows:
            x, y = _to_l93(r.station.lon, r.station.lat)
            validated = now - r.end >= VALIDATION_DELAY
            writer.writerow((
                r.station.code, r.station.name, r.station.typology, r.pollutant,
                _comma(f"{r.value:.1f}"), "µg/m3",
                _local(r.end - timedelta(hours=1)), _local(r.end),
                _comma(f"{x:.1f}"), _comma(f"{y:.1f}"),
                "validée" if validated else "non validée",
            ))  # fmt: skip


def _write_stations(path: Path) -> Path:
    """The network's station list, in the same export style as its measurements."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter=";")
        writer.writerow(STATION_HEADER)
        for station in STATIONS:
            x, y = _to_l93(station.lon, station.lat)
            writer.writerow((
                station.code, station.name, station.typology, station.commune,
                _comma(f"{x:.1f}"), _comma(f"{y:.1f}"), "no2 pm10 pm25", station.since,
            ))  # fmt: skip
    return path


@lru_cache(maxsize=64)
def _to_l93(lon: float, lat: float) -> tuple[float, float]:
    """Lambert-93 metres of a station, as French agencies publish positions."""
    return _LAMBERT93.transform(lon, lat)


def _local(moment: datetime) -> str:
    # With its offset: a bare local time is ambiguous in the autumn DST hour.
    return moment.astimezone(LOCAL).isoformat(sep=" ")


def _comma(number: str) -> str:
    return number.replace(".", ",")
