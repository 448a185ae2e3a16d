"""The demo's live feed: Atmo Demo's micro-sensors, read every minute while `hub demo` serves.

Five low-cost particle sensors around Montpellier report one-minute PM10 and PM2.5 means. Like a
sensor platform's "latest readings" export, `write_live()` writes the last `WINDOW` of them up to
the current minute (comma-separated, UTC, WGS84), and the bundled source
`demo-atmo-montpellier-live` reads that file. While `hub demo` serves, a `Ticker` thread plays
the operator and the hub at once: each minute it rewrites the file and harvests the source
through the ordinary path (`pipelines.orchestration.harvest_ref` → `hub.catalogue.publish`), so
the minute's new readings are published (the earlier ones are unchanged: the gate skips them)
and reach the event log and the feeds. A reading depends only on the seed, the sensor and its
minute, never on when it is written, so rewriting the window never changes a published value.
Every fifth tick it also rewrites and harvests Telecom Demo's outages up to the minute: crews
restore the flood's outages one by one, and the crisis cell sees them change live.
The source has no `schedule:`: outside `hub demo` nobody writes the file, and a Prefect schedule
would only find it unchanged.
"""

from __future__ import annotations

import csv
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.demo import telecom
from pipelines.demo.air import LOCAL, particulate_level, traffic_shape
from pipelines.harvesting import Outcome

log = logging.getLogger(__name__)

SOURCE_ID = "demo-atmo-montpellier-live"
LIVE_FEED = "atmo-demo-montpellier-live.csv"
WINDOW = timedelta(minutes=30)  # what the platform's "latest readings" export holds
EVERY = 60.0  # seconds between two ticks: the sensors' reporting period
STOP_WAIT = 30.0  # seconds `stop` waits for a harvest in flight to finish
OUTAGES_EVERY = 5  # ticks between two refreshes of Telecom Demo's outages
HEADER = (
    "id_capteur", "nom_capteur", "polluant", "valeur", "unite", "horodatage_fin", "longitude",
    "latitude",
)  # fmt: skip


@dataclass(frozen=True)
class Sensor:
    """A micro-sensor of the demo network and its site's usual PM10 level."""

    code: str
    name: str
    lon: float
    lat: float
    pm10_base: float  # µg/m³


# Real places of the Montpellier area, three of them by the Lez (inside the demo crisis area).
SENSORS = tuple(Sensor(*row) for row in (
    ("DEMO-MCS-01", "Micro-capteur Pont Juvénal", 3.8965, 43.6075, 18.0),
    ("DEMO-MCS-02", "Micro-capteur Port Ariane", 3.9070, 43.5740, 15.0),
    ("DEMO-MCS-03", "Micro-capteur Castelnau Sablassou", 3.9030, 43.6350, 16.0),
    ("DEMO-MCS-04", "Micro-capteur Comédie", 3.8770, 43.6085, 20.0),
    ("DEMO-MCS-05", "Micro-capteur Juvignac", 3.8120, 43.6140, 13.0),
))  # fmt: skip


def minute_readings(
    sensor: Sensor, end: datetime, anchor: datetime, seed: int
) -> tuple[float, float]:
    """PM10 and PM2.5 of one sensor over the minute ending at `end` (the episode placed by
    `anchor`, the demo's generation time)."""
    minute = int(end.timestamp()) // 60
    phases = random.Random(f"{seed}:{sensor.code}")
    first, second = phases.uniform(0, math.tau), phases.uniform(0, math.tau)
    jitter = random.Random(f"{seed}:{sensor.code}:{minute}")
    # Slow drift (plumes, wind) plus the jitter of an optical counter.
    noise = math.exp(
        0.12 * math.sin(minute / 47 + first)
        + 0.08 * math.sin(minute / 13 + second)
        + jitter.gauss(0.0, 0.06)
    )
    local = end.astimezone(LOCAL)
    heating = 0.25 * math.exp(-(((local.hour - 8) / 2) ** 2)) + 0.25 * math.exp(
        -(((local.hour - 20) / 2.5) ** 2)
    )
    level = particulate_level(1.0, end, anchor)
    pm10 = sensor.pm10_base * level * (0.85 + heating + 0.2 * traffic_shape(local)) * noise
    return round(pm10, 1), round(pm10 * (0.6 + 0.08 * jitter.random()), 1)


def write_live(path: Path, now: datetime, anchor: datetime, seed: int) -> Path:
    """The latest readings: every sensor's minutes of the last WINDOW up to `now`'s minute."""
    last = now.astimezone(UTC).replace(second=0, microsecond=0)
    ends = [last - timedelta(minutes=m) for m in range(WINDOW // timedelta(minutes=1) - 1, -1, -1)]
    draft = path.with_name(f".{path.name}.draft")
    with draft.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for end in ends:
            for sensor in SENSORS:
                pm10, pm25 = minute_readings(sensor, end, anchor, seed)
                stamp = end.strftime("%Y-%m-%dT%H:%M:%SZ")
                for pollutant, value in (("PM10", pm10), ("PM2.5", pm25)):
                    writer.writerow((
                        sensor.code, sensor.name, pollutant, f"{value:.1f}", "µg/m3", stamp,
                        f"{sensor.lon:.4f}", f"{sensor.lat:.4f}",
                    ))  # fmt: skip
    draft.replace(path)  # a harvest reading the file never sees half of it
    return path


class Ticker:
    """Each minute, the micro-sensors' new readings written and harvested, until stopped."""

    def __init__(
        self, folder: Path, seed: int, anchor: datetime, every: float = EVERY, days: int = 7
    ):
        self.folder, self.path = folder, folder / LIVE_FEED
        self.seed, self.anchor, self.every, self.days = seed, anchor, every, days
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def tick(self, now: datetime | None = None) -> Outcome:
        """Write the readings up to `now` (default: the clock) and harvest them."""
        from pipelines.orchestration import harvest_ref  # the CLI imports this module lazily

        write_live(self.path, now or datetime.now(UTC), self.anchor, self.seed)
        outcome = harvest_ref(SOURCE_ID)
        log.info("live tick: %s %s, %d new", SOURCE_ID, outcome.status, outcome.published)
        return outcome

    def refresh_outages(self, now: datetime | None = None) -> Outcome:
        """Rewrite Telecom Demo's outages up to `now` (restorations, new incidents), harvest."""
        from pipelines.orchestration import harvest_ref

        moment = now or datetime.now(UTC)
        path = self.folder / telecom.OUTAGES_FEED
        telecom.write_outages(path, moment, self.days, self.seed, flood_at=self.anchor)
        outcome = harvest_ref(telecom.OUTAGES_SOURCE)
        log.info("outages refreshed: %s, %d changed", outcome.status, outcome.updated)
        return outcome

    def start(self) -> None:
        """Tick in a thread of this process, each minute, until `stop` (never after it)."""
        with self._lock:
            if self._stopped.is_set() or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="demo-live", daemon=True)
            self._thread.start()

    def stop(self, wait: float = STOP_WAIT) -> None:
        """Stop ticking; wait for a harvest in flight to close its run."""
        with self._lock:
            self._stopped.set()
            thread = self._thread
        if thread is not None:
            thread.join(wait)

    @property
    def running(self) -> bool:
        """Whether the ticking thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        # Just after each minute ends (a second into the next), when the sensors have sent it.
        ticks = 0
        while not self._stopped.wait(self.every - time.time() % self.every + self.every / 60):
            ticks += 1
            try:
                self.tick()
                if ticks % OUTAGES_EVERY == 0:
                    self.refresh_outages()
            except Exception:  # noqa: BLE001 — a bad minute must not end the live feed
                log.exception("live tick failed")
