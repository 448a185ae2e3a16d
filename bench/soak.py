"""Soak: minutes of repeated harvests and concurrent API reads against a real `hub serve`.

    .venv/bin/python bench/soak.py [--minutes 10] [--readers 4] [--interval 10] [--rows 30000]

Everything lives in a temporary folder: the data folder with its own SQLite database (or a fresh
PostgreSQL schema, dropped at the end, when HUB_SOAK_DATABASE_URL is set; Redis as the bus when
HUB_SOAK_BUS_URL is), charters, source files and the feeds they read. Nothing touches ./var.
Each process it starts (`hub serve`, the harvester, `hub token create`, `hub audit verify`) has
its own process group, stopped at exit, on SIGTERM, SIGINT or SIGHUP, and killed by the kernel if
the bench is killed outright (PR_SET_PDEATHSIG); only the temporary folder survives a SIGKILL.

Three air-quality feeds (an agency-style export with decimal commas, local times and Lambert-93,
a plain open CSV with a few rows that must be quarantined, and one under a restricted charter)
are rewritten every `--interval` seconds, a new hour appended, the oldest dropped and about 1 %
of the values changed, and harvested by a separate harvester process through
`pipelines.harvesting.harvest_source` (the flow's logic without Prefect). Meanwhile
`--readers` threads read the server over 127.0.0.1 (catalogue, records with time/bbox/cursor,
CSV and GeoJSON, the restricted dataset with a member's agency token, CKAN, the UI). The same
requests measured on the idle server before the soak are the baseline of its latencies, a
harvest on the idle server that of its harvests; at the end every row harvested must be in the
API with its latest value. Exit 1 on any 5xx, connection error, unexpected status, failed
harvest or lost row.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import json
import os
import random
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
from ports import free_port  # bench/ is the script's folder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HUB = ROOT / ".venv" / "bin" / "hub"
MEMBER = "metropole-civil-protection"
RESTRICTED_CHARTER = "atmo-demo-soak-restricted"
SAMPLE_EVERY = 10.0  # seconds between RSS samples and progress lines
WARM_UP = 0.2  # share of the run after which the server's memory counts as warmed up
CHANGED_SHARE = 0.01  # share of a feed's rows whose value changes at each rewrite
MAX_PAGES = 3  # cursor pages a reader follows after the first
MAX_REQUESTS = 1_000_000  # per reader: a bound on the loop besides its deadline
TIMEOUT = 60.0  # seconds for one request


# --- the feeds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """One harvest source: its CSV's style, charter, stations and pollutants."""

    id: str
    title: str
    style: str  # agency: ";", decimal commas, local times, Lambert-93 | plain: the schema's shape
    charter: str
    region: tuple[float, float, float, float]  # where its stations are (lon/lat box)
    stations: int
    pollutants: tuple[str, ...]  # as the CSV writes them
    invalid: int = 0  # rows per rewrite that must be quarantined (negative values)

    @property
    def restricted(self) -> bool:
        return self.charter == RESTRICTED_CHARTER

    def station_list(self) -> list[tuple[str, str, float, float]]:
        """Its stations: code, name, lon, lat (deterministic)."""
        rng = random.Random(self.id)
        west, south, east, north = self.region
        return [
            (
                f"{self.id[5:9].upper()}{n:04d}",
                f"{self.title.split(',')[0]} station {n}",
                round(rng.uniform(west, east), 5),
                round(rng.uniform(south, north), 5),
            )
            for n in range(self.stations)
        ]


FEEDS = (
    Feed(
        "soak-montpellier",
        "Soak agency export, Montpellier",
        "agency",
        "atmo-demo-open",
        (3.75, 43.55, 4.0, 43.68),
        60,
        ("NO2", "PM10", "PM2.5"),
    ),
    Feed(
        "soak-lyon",
        "Soak plain feed, Lyon",
        "plain",
        "atmo-demo-open",
        (4.75, 45.70, 4.95, 45.82),
        40,
        ("no2", "pm25", "o3"),
        invalid=20,
    ),
    Feed(
        "soak-rennes",
        "Soak restricted feed, Rennes",
        "plain",
        RESTRICTED_CHARTER,
        (-1.75, 48.05, -1.6, 48.15),
        40,
        ("no2", "pm10", "pm25"),
    ),
)
CODES = {"NO2": "no2", "PM10": "pm10", "PM2.5": "pm25"}  # what the hub stores the agency's as


def hours_for(rows: int) -> int:
    """Hours in a feed's window, so that the first feed holds about `rows` rows."""
    first = FEEDS[0]
    return max(2, rows // (first.stations * len(first.pollutants)))


def write_sources(folder: Path) -> dict[str, Path]:
    """The source files, beside the feeds they read; their paths by feed id."""
    folder.mkdir(parents=True, exist_ok=True)
    agency = (
        'options:\n  encoding: utf-8\n  delimiter: ";"\n  decimal: ","\n  crs: "EPSG:2154"\n'
        "  columns:\n    station_id: code_station\n    station_name: nom_station\n"
        "    pollutant: polluant\n    value: valeur\n    unit: unite\n"
        "    averaging_period: {value: PT1H}\n    observed_at: date_fin\n"
        "    longitude: x_l93\n    latitude: y_l93\n"
        "    quality_flag: {column: statut,\n"
        '                   map: {"validée": valid, "non validée": unverified}}\n'
    )
    paths = {}
    for feed in FEEDS:
        path = folder / f"{feed.id}.yaml"
        path.write_text(
            f"id: {feed.id}\ntitle: {feed.title}\n"
            "operator: {id: atmo-demo, name: Atmo Demo, kind: public}\n"
            "theme: air-quality\nformat: csv\n"
            f"url: file://{folder / (feed.id + '.csv')}\n"
            f"schema: air-quality-observation\ncharter: {feed.charter}\n"
            f"description: Soak-test feed ({feed.style}), rewritten and harvested repeatedly.\n"
            + (agency if feed.style == "agency" else ""),
            encoding="utf-8",
        )
        paths[feed.id] = path
    return paths


def write_charters(folder: Path) -> None:
    """Atmo Demo's restricted charter, opening its records to the metropole's civil protection."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{RESTRICTED_CHARTER}.yaml").write_text(
        f'id: {RESTRICTED_CHARTER}\nversion: "2.1"\ntitle: Atmo Demo restricted soak charter\n'
        "producer: atmo-demo\nlicence:\n  id: custom\n  label: Agreement for benches\n"
        "  uri: https://example.org/agreement\n"
        f"access: restricted\npurposes: [testing]\nrestricted_to: [{MEMBER}]\n"
        'gdpr_sensitive: false\nmandatory_mention: "Source: Atmo Demo (restricted)"\n'
        'valid_from: "2024-01-01"\nvalid_until: "2030-12-31"\n'
        "themes: [air-quality]\nschemas: [air-quality-observation]\n",
        encoding="utf-8",
    )


# --- the harvester process ---------------------------------------------------------------------

Key = tuple[str, str, int]  # station, pollutant (the hub's code), hour index


class Harvester:
    """Rewrites the feeds and harvests them; knows the value every stored row should have."""

    def __init__(self, sources: dict[str, Path], t0: datetime, window: int, seed: int):
        from pyproj import Transformer

        self.sources, self.t0, self.window = sources, t0, window
        self.rng = random.Random(seed)
        self.stored: dict[str, dict[Key, int]] = {f.id: {} for f in FEEDS}  # tenths
        self.current: dict[str, dict[Key, int]] = {f.id: {} for f in FEEDS}  # in the file
        self.stations = {f.id: f.station_list() for f in FEEDS}
        to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
        self.l93 = {
            code: tuple(
                f"{v:.1f}".replace(".", ",")  # metres, decimal commas
                for v in to_l93.transform(lon, lat)
            )
            for f in FEEDS
            for code, _, lon, lat in self.stations[f.id]
        }

    def cycle(self, number: int) -> dict[str, Any]:
        """Rewrite every feed for this cycle, harvest each, and say what happened."""
        from pipelines.harvesting import harvest_source
        from pipelines.sources import load_source

        first = number  # the window slides one hour a cycle
        started = time.perf_counter()
        expected = {f.id: self.rewrite(f, first, first + self.window) for f in FEEDS}
        written = time.perf_counter() - started
        results = []
        for feed in FEEDS:
            began = time.perf_counter()
            outcome = harvest_source(load_source(self.sources[feed.id]))
            seconds = time.perf_counter() - began
            new, changed = expected[feed.id]
            ok = outcome.status in ("succeeded", "partial")
            if ok:  # a failed batch stores nothing: what is stored stays as it was
                self.stored[feed.id].update(self.current[feed.id])
            results.append(
                {
                    "id": feed.id,
                    "status": outcome.status,
                    "seconds": seconds,
                    "read": outcome.read,
                    "published": outcome.published,
                    "updated": outcome.updated,
                    "quarantined": outcome.quarantined,
                    "skipped": outcome.skipped,
                    "message": outcome.message[:300],
                    "expect_new": new,
                    "expect_changed": changed,
                    "expect_bad": feed.invalid,
                }
            )
        return {
            "cycle": number,
            "write_s": written,
            "sources": results,
            "hours": [0, first + self.window],
        }

    def rewrite(self, feed: Feed, first: int, end: int) -> tuple[int, int]:
        """Write the feed's hours [first, end): new hours get values, ~1 % of the rest change.
        How many rows are new to the store and how many changed."""
        stored, current = self.stored[feed.id], {}
        codes = [(p, CODES.get(p, p)) for p in feed.pollutants]
        for hour in range(first, end):
            for code, _, _, _ in self.stations[feed.id]:
                for _, pollutant in codes:
                    key = (code, pollutant, hour)
                    value = self.current[feed.id].get(key, stored.get(key))
                    if value is None:
                        value = self.rng.randrange(0, 1500)
                    elif self.rng.random() < CHANGED_SHARE:
                        value = (value + self.rng.randrange(1, 500)) % 1500
                    current[key] = value
        self.current[feed.id] = current
        new = sum(1 for k in current if k not in stored)
        changed = sum(1 for k, v in current.items() if k in stored and stored[k] != v)
        path = self.sources[feed.id].with_suffix(".csv")
        partial = path.with_suffix(".csv.part")
        with partial.open("w", encoding="utf-8", newline="") as out:
            write = self.write_agency if feed.style == "agency" else self.write_plain
            write(out, feed, current, end)
        os.replace(partial, path)  # a harvest never reads a half-written feed
        return new, changed

    def write_agency(self, out: TextIO, feed: Feed, rows: dict[Key, int], _end: int) -> None:
        """French-agency style: ";", decimal commas, local times with offsets, Lambert-93."""
        from zoneinfo import ZoneInfo

        paris = ZoneInfo("Europe/Paris")
        names = {code: name for code, name, _, _ in self.stations[feed.id]}
        labels = {CODES.get(p, p): p for p in feed.pollutants}
        out.write(
            "code_station;nom_station;polluant;valeur;unite;date_debut;date_fin;x_l93;"
            "y_l93;statut\n"
        )
        ends: dict[int, tuple[str, str]] = {}
        for (code, pollutant, hour), tenths in rows.items():
            if hour not in ends:
                end = self.t0 + timedelta(hours=hour)
                ends[hour] = (
                    (end - timedelta(hours=1)).astimezone(paris).isoformat(sep=" "),
                    end.astimezone(paris).isoformat(sep=" "),
                )
            x, y = self.l93[code]
            status = "validée" if hour % 2 else "non validée"
            out.write(
                f"{code};{names[code]};{labels[pollutant]};{tenths // 10},{tenths % 10};"
                f"µg/m3;{ends[hour][0]};{ends[hour][1]};{x};{y};{status}\n"
            )

    def write_plain(self, out: TextIO, feed: Feed, rows: dict[Key, int], end: int) -> None:
        """The schema's own shape, UTC and WGS84; `feed.invalid` rows with negative values."""
        places = {code: (name, lon, lat) for code, name, lon, lat in self.stations[feed.id]}
        out.write(
            "station_id,station_name,pollutant,value,unit,averaging_period,observed_at,"
            "longitude,latitude,quality_flag\n"
        )
        stamps: dict[int, str] = {}
        for (code, pollutant, hour), tenths in rows.items():
            if hour not in stamps:
                stamps[hour] = (self.t0 + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
            name, lon, lat = places[code]
            flag = "valid" if hour % 2 else "unverified"
            out.write(
                f"{code},{name},{pollutant},{tenths // 10}.{tenths % 10},µg/m³,PT1H,"
                f"{stamps[hour]},{lon},{lat},{flag}\n"
            )
        stamp = (self.t0 + timedelta(hours=end - 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for n in range(feed.invalid):  # never valid: quarantined at every harvest, never stored
            out.write(
                f"BAD{n:04d},Drifting sensor {n},no2,-{1 + n % 9}.5,µg/m³,PT1H,{stamp},"
                f"{feed.region[0]},{feed.region[1]},unverified\n"
            )

    def dump(self, path: str) -> int:
        """Write the value every stored row should have; how many rows that is."""
        rows = {
            fid: [[*key, value] for key, value in stored.items()]
            for fid, stored in self.stored.items()
        }
        Path(path).write_text(json.dumps(rows), encoding="utf-8")
        return sum(len(r) for r in rows.values())


def serve_harvester(args: argparse.Namespace) -> None:
    """The harvester process: one JSON command a line on stdin, one JSON answer on stdout."""
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever a library prints goes to the log, never into the answers
    sys.path.insert(0, str(ROOT))
    from hub.db import get_engine, upgrade

    upgrade(get_engine())
    sources = {f.id: Path(args.sources) / f"{f.id}.yaml" for f in FEEDS}
    harvester = Harvester(sources, datetime.fromisoformat(args.t0), args.window, args.seed)
    replies.write(json.dumps({"ready": os.getpid()}) + "\n")
    replies.flush()
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "cycle":
            answer = harvester.cycle(command["n"])
        elif command["cmd"] == "dump":
            answer = {"rows": harvester.dump(command["path"])}
        else:
            break
        replies.write(json.dumps(answer) + "\n")
        replies.flush()


# --- child processes -----------------------------------------------------------------------------


def die_with_parent() -> None:
    """In a child before exec: SIGKILL it when the bench dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Children:
    """Every process the bench starts, each in its own process group, stopped whatever happens."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []

    def start(self, command: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen:
        process = subprocess.Popen(
            command, env=env, start_new_session=True, preexec_fn=die_with_parent, **kwargs
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen, grace: float = 10.0) -> None:
        """SIGTERM its whole group, then SIGKILL what is left after `grace` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; anything left in its group goes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            return

    def stop_all(self) -> None:
        while self.processes:
            self.stop(self.processes.pop())


CHILDREN = Children()


def on_signal(signum: int, _frame: Any) -> None:
    """Stop every child, then leave through the `finally` blocks (the temporary folder goes)."""
    CHILDREN.stop_all()
    print(f"\nstopped by signal {signum}", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (from /proc)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(fields[1])].append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += parents.get(current, [])
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class Worker:
    """The harvester process, spoken to line by line."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.busy_since: float | None = None

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        self.busy_since = time.perf_counter()

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """Its answer, or None when none came within `timeout` seconds."""
        assert self.process.stdout
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            if self.process.poll() is not None:
                raise SystemExit(f"the harvester exited with {self.process.returncode}")
            return None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the harvester exited with {self.process.wait()}")
        self.busy_since = None
        return json.loads(line)

    def ask(self, command: dict[str, Any], timeout: float = 900.0) -> dict[str, Any]:
        self.send(command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.receive(1.0)
            if answer is not None:
                return answer
        raise SystemExit(f"the harvester did not answer {command} within {timeout:.0f} s")


# --- readers -------------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    seconds: float
    status: str
    error: bool


@dataclass
class Shared:
    """What readers need to know: the token, and the hours that hold rows so far."""

    token: str
    hours: list[int]
    t0: datetime
    stop: threading.Event = field(default_factory=threading.Event)
    error_notes: list[str] = field(default_factory=list)


class Reader:
    """A client that keeps reading the hub, recording latency and status per request."""

    def __init__(self, base: str, shared: Shared, seed: int):
        self.shared = shared
        self.rng = random.Random(seed)
        self.client = httpx.Client(base_url=base, timeout=TIMEOUT, trust_env=False)
        self.samples: list[Sample] = []
        self.errors = 0
        self.kinds: list[tuple[Callable[[], None], int]] = [
            (self.list_datasets, 8),
            (self.show_dataset, 8),
            (self.read_records, 24),
            (self.read_restricted, 10),
            (self.refuse_restricted, 3),
            (self.export_csv, 4),
            (self.export_restricted, 2),
            (self.read_geojson, 3),
            (self.ckan_search, 8),
            (self.ckan_show, 8),
            (self.ui_home, 5),
            (self.ui_dataset, 5),
            (self.list_runs, 3),
        ]

    def run(self, deadline: float) -> None:
        """Read until told to stop, past the deadline, or after MAX_REQUESTS."""
        actions, weights = zip(*self.kinds, strict=True)
        while (
            not self.shared.stop.is_set()
            and time.monotonic() < deadline
            and len(self.samples) < MAX_REQUESTS
        ):
            self.rng.choices(actions, weights)[0]()
        self.client.close()

    def every_kind(self, rounds: int) -> None:
        """The baseline: each kind `rounds` times, in turn, on an idle server."""
        for _ in range(rounds):
            for action, _weight in self.kinds:
                action()

    def get(
        self,
        kind: str,
        path: str,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        expect: int = 200,
    ) -> httpx.Response | None:
        """One GET, timed; any 5xx, connection error or other status than `expect` is an error."""
        started = time.perf_counter()
        try:
            response = self.client.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            self.note(
                kind,
                time.perf_counter() - started,
                type(exc).__name__,
                True,
                f"{kind} {path} {params}: {type(exc).__name__}: {exc}",
            )
            return None
        seconds = time.perf_counter() - started
        bad = response.status_code >= 500 or response.status_code != expect
        self.note(
            kind,
            seconds,
            str(response.status_code),
            bad,
            f"{kind} {response.url}: {response.status_code} {response.text[:300]!r}",
        )
        return None if bad else response

    def note(self, kind: str, seconds: float, status: str, error: bool, detail: str) -> None:
        self.samples.append(Sample(kind, seconds, status, error))
        if error:
            self.errors += 1
            if len(self.shared.error_notes) < 20:
                self.shared.error_notes.append(detail)

    # what a window of hours, a box and a page size look like to a client
    def criteria(self, feed: Feed, limit: bool = True) -> dict[str, str]:
        lo, hi = self.shared.hours
        params: dict[str, str] = {}
        if self.rng.random() < 0.85:
            start = self.rng.randrange(lo, max(lo + 1, hi - 1))
            end = min(hi, start + self.rng.choice((1, 3, 6, 24)))
            params["from"] = self.moment(start)
            params["to"] = self.moment(end)
        if self.rng.random() < 0.7:
            west, south, east, north = feed.region
            if self.rng.random() < 0.5:  # a quarter of the region, somewhere in it
                x = self.rng.uniform(west, (west + east) / 2)
                y = self.rng.uniform(south, (south + north) / 2)
                west, south, east, north = x, y, x + (east - west) / 2, y + (north - south) / 2
            params["bbox"] = f"{west:.4f},{south:.4f},{east:.4f},{north:.4f}"
        if limit:
            params["limit"] = str(self.rng.choice((10, 100, 500, 1000)))
        return params

    def moment(self, hour: int) -> str:
        return (self.shared.t0 + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def open_feed(self) -> Feed:
        return self.rng.choice([f for f in FEEDS if not f.restricted])

    def any_feed(self) -> Feed:
        return self.rng.choice(FEEDS)

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.shared.token}"}

    def pages(self, kind: str, feed: Feed, headers: dict[str, str] | None) -> None:
        """A records query, then up to MAX_PAGES of its cursor."""
        path = f"/api/v1/datasets/{feed.id}/records"
        params = self.criteria(feed)
        response = self.get(kind, path, params, headers)
        for _ in range(self.rng.randrange(MAX_PAGES + 1)):
            following = response.json().get("next") if response is not None else None
            if not following:
                return
            # Only the cursor is taken from `next`: requests stay on this loopback address.
            params = {**params, "cursor": httpx.URL(following).params["cursor"]}
            response = self.get(f"{kind}, next page", path, params, headers)

    def list_datasets(self) -> None:
        params = self.rng.choice(({}, {"q": "soak"}, {"theme": "air-quality", "limit": "2"}))
        self.get("datasets list", "/api/v1/datasets", params)

    def show_dataset(self) -> None:
        self.get("dataset detail", f"/api/v1/datasets/{self.any_feed().id}")

    def read_records(self) -> None:
        self.pages("records", self.open_feed(), None)

    def read_restricted(self) -> None:
        self.pages("records restricted, token", FEEDS[2], self.bearer())

    def refuse_restricted(self) -> None:
        self.get(
            "records restricted, no token",
            f"/api/v1/datasets/{FEEDS[2].id}/records",
            {"limit": "10"},
            expect=401,
        )

    def export_csv(self) -> None:
        self.export("records csv", self.open_feed(), None)

    def export_restricted(self) -> None:
        self.export("records restricted, token, csv", FEEDS[2], self.bearer())

    def export(self, kind: str, feed: Feed, headers: dict[str, str] | None) -> None:
        """Every row of a window of a day at most, as CSV."""
        params = {**self.criteria(feed, limit=False), "format": "csv"}
        lo, hi = self.shared.hours
        params.setdefault("from", self.moment(max(lo, hi - 24)))
        params.setdefault("to", self.moment(hi))
        self.get(kind, f"/api/v1/datasets/{feed.id}/records", params, headers)

    def read_geojson(self) -> None:
        feed = self.open_feed()
        self.get(
            "records geojson",
            f"/api/v1/datasets/{feed.id}/records",
            {**self.criteria(feed), "format": "geojson"},
        )

    def ckan_search(self) -> None:
        params = self.rng.choice(
            (
                {"q": "soak", "rows": "10"},
                {"q": "air", "rows": "2", "start": "1"},
                {"fq": "organization:atmo-demo"},
            )
        )
        self.get("ckan package_search", "/api/3/action/package_search", params)

    def ckan_show(self) -> None:
        self.get("ckan package_show", "/api/3/action/package_show", {"id": self.open_feed().id})

    def ui_home(self) -> None:
        self.get("ui home", "/", self.rng.choice(({}, {"q": "soak"})))

    def ui_dataset(self) -> None:
        self.get("ui dataset", f"/datasets/{self.any_feed().id}")

    def list_runs(self) -> None:
        self.get("dataset runs", f"/api/v1/datasets/{self.open_feed().id}/runs", {"limit": "20"})


# --- the check at the end ------------------------------------------------------------------------


def stored_rows(
    client: httpx.Client, feed: Feed, headers: dict[str, str], t0: datetime
) -> dict[Key, int]:
    """Every record of a dataset as the API gives it, 10 000 a page."""
    found: dict[Key, int] = {}
    path, params = f"/api/v1/datasets/{feed.id}/records", {"limit": "10000"}
    for _ in range(10_000):  # bounded: far more pages than any soak stores
        response = client.get(path, params=params, headers=headers)
        response.raise_for_status()
        page = response.json()
        for record in page["records"]:
            moment = datetime.fromisoformat(str(record["observed_at"]).replace("Z", "+00:00"))
            hour = round((moment - t0).total_seconds() / 3600)
            found[(record["station_id"], record["pollutant"], hour)] = round(record["value"] * 10)
        if not page.get("next"):
            return found
        params = {**params, "cursor": httpx.URL(page["next"]).params["cursor"]}
    raise SystemExit(f"{feed.id}: too many pages")


@dataclass
class Check:
    expected: int = 0
    present: int = 0
    lost: int = 0
    stale: int = 0
    unexpected: int = 0
    counted: dict[str, tuple[int | None, int]] = field(default_factory=dict)  # detail vs expected


def check_rows(base: str, token: str, expected_file: Path, t0: datetime) -> Check:
    """Rows expected (the harvester's record) against rows present in the API."""
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    check = Check()
    with httpx.Client(base_url=base, timeout=300, trust_env=False) as client:
        for feed in FEEDS:
            headers = {"Authorization": f"Bearer {token}"} if feed.restricted else {}
            want = {(s, p, h): v for s, p, h, v in expected[feed.id]}
            have = stored_rows(client, feed, headers, t0)
            check.expected += len(want)
            check.present += len(have)
            check.lost += sum(1 for k in want if k not in have)
            check.stale += sum(1 for k, v in want.items() if k in have and have[k] != v)
            check.unexpected += sum(1 for k in have if k not in want)
            detail = client.get(f"/api/v1/datasets/{feed.id}", headers=headers).json()
            check.counted[feed.id] = (detail.get("record_count"), len(want))
    return check


# --- report --------------------------------------------------------------------------------------


def cuts(values: list[float]) -> tuple[float, float]:
    """p50 and p99."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    points = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), points[98]


def report_latency(baseline: list[Sample], soak: list[Sample]) -> None:
    idle: dict[str, list[float]] = defaultdict(list)
    busy: dict[str, list[float]] = defaultdict(list)
    for sample in baseline:
        if not sample.error:
            idle[sample.kind].append(sample.seconds)
    for sample in soak:
        if not sample.error:
            busy[sample.kind].append(sample.seconds)
    print(
        f"{'route kind':<36}{'n':>7}{'idle p50':>10}{'idle p99':>10}{'soak p50':>10}"
        f"{'soak p99':>10}{'p50 ×':>8}{'p99 ×':>8}   (ms)"
    )
    for kind in sorted(busy, key=lambda k: -len(busy[k])):
        s50, s99 = cuts(busy[kind])
        if kind not in idle:  # a small --baseline may never have followed a cursor, say
            print(
                f"{kind:<36}{len(busy[kind]):>7,}{'—':>10}{'—':>10}{s50 * 1e3:>10.1f}"
                f"{s99 * 1e3:>10.1f}{'—':>8}{'—':>8}"
            )
            continue
        i50, i99 = cuts(idle[kind])
        print(
            f"{kind:<36}{len(busy[kind]):>7,}{i50 * 1e3:>10.1f}{i99 * 1e3:>10.1f}"
            f"{s50 * 1e3:>10.1f}{s99 * 1e3:>10.1f}{s50 / i50:>8.2f}{s99 / i99:>8.2f}"
        )
    print(
        "'×' = soak / idle: the same requests on the same server before the soak, one client, "
        "no harvest."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--readers", type=int, default=4, help="concurrent reader threads")
    parser.add_argument(
        "--interval", type=float, default=10.0, help="seconds from one harvest's start to the next"
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=30_000,
        help="rows in the first feed (the others hold 2/3 as many)",
    )
    parser.add_argument(
        "--baseline", type=int, default=20, help="idle requests of each kind before the soak"
    )
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--harvester", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sources", help=argparse.SUPPRESS)
    parser.add_argument("--t0", help=argparse.SUPPRESS)
    parser.add_argument("--window", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.harvester:
        serve_harvester(args)
        return
    atexit.register(CHILDREN.stop_all)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as folder:
        workdir = Path(folder)
        url, drop = database(workdir)
        try:
            failed = soak(args, workdir, url)
        finally:
            CHILDREN.stop_all()
            drop()
    raise SystemExit(1 if failed else 0)


def database(workdir: Path) -> tuple[str, Callable[[], None]]:
    """HUB_DATABASE_URL for this run (a SQLite file, or a fresh PostgreSQL schema) and its
    clean-up."""
    base = os.environ.get("HUB_SOAK_DATABASE_URL", "")
    if not base:
        return f"sqlite:///{workdir / 'data' / 'hub.db'}", lambda: None
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa

    from hub.db import normalise_url

    schema = f"soak_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(base))
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(sa.text("SET LOCAL lock_timeout = '30s'"))
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}", drop


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def soak(args: argparse.Namespace, workdir: Path, url: str) -> bool:
    """The whole soak; True when it failed."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "PREFECT_"))}
    env.update(
        {
            "HUB_DATA_DIR": str(workdir / "data"),
            "HUB_DATABASE_URL": url,
            "HUB_CHARTERS_PATH": str(workdir / "charters"),
            "HUB_SOURCES_PATH": str(workdir / "sources"),
            "HUB_FILE_ROOTS": str(workdir / "sources"),
            "HUB_PUBLIC_URL": f"{base}/",
            "PREFECT_HOME": str(workdir / "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    if os.environ.get("HUB_SOAK_BUS_URL"):
        env["HUB_BUS_URL"] = os.environ["HUB_SOAK_BUS_URL"]
    write_charters(workdir / "charters")
    write_sources(workdir / "sources")
    window = hours_for(args.rows)
    t0 = (datetime.now(UTC) - timedelta(days=120)).replace(minute=0, second=0, microsecond=0)
    store = "postgresql" if url.startswith("postgresql") else "sqlite"

    harvester_log = (workdir / "harvester.log").open("w")
    worker = Worker(
        CHILDREN.start(
            [
                sys.executable,
                __file__,
                "--harvester",
                "--sources",
                str(workdir / "sources"),
                "--t0",
                t0.isoformat(),
                "--window",
                str(window),
                "--seed",
                str(args.seed),
            ],
            env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=harvester_log,
            text=True,
        )
    )
    ready = worker.receive(300.0)
    if ready is None:
        raise SystemExit(f"the harvester did not start:\n{tail(workdir / 'harvester.log')}")
    created = subprocess.run(
        [
            str(HUB),
            "token",
            "create",
            "--role",
            "agency",
            "--org",
            MEMBER,
            "--name",
            "soak reader",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
        preexec_fn=die_with_parent,
        check=False,
    )
    if created.returncode:
        raise SystemExit(f"hub token create failed:\n{created.stderr}")
    token = json.loads(created.stdout.strip().splitlines()[-1])["token"]

    rows = [window * f.stations * len(f.pollutants) for f in FEEDS]
    print(
        f"soak on {store}: {args.minutes:g} min, {args.readers} readers, a harvest every "
        f"{args.interval:g} s of {len(FEEDS)} feeds ({' + '.join(f'{n:,}' for n in rows)} rows, "
        f"{window} h windows sliding an hour a harvest, ~{CHANGED_SHARE:.0%} of values "
        f"changed)",
        flush=True,
    )
    first = worker.ask({"cmd": "cycle", "n": 0})
    harvest_failures = check_cycle(first)
    print(
        f"initial harvest: {sum(s['seconds'] for s in first['sources']):.1f} s "
        f"({sum(s['published'] for s in first['sources']):,} rows published)",
        flush=True,
    )

    server_log = (workdir / "server.log").open("w")
    server = CHILDREN.start(
        [str(HUB), "serve", "--port", str(port)], env, stdout=server_log, stderr=subprocess.STDOUT
    )
    wait_until_up(base, server, workdir / "server.log")
    idle_harvest = worker.ask({"cmd": "cycle", "n": 1})
    harvest_failures += check_cycle(idle_harvest)
    shared = Shared(token=token, hours=idle_harvest["hours"], t0=t0)
    probe = Reader(base, shared, args.seed)
    probe.every_kind(args.baseline)
    baseline = probe.samples
    if probe.errors:
        print(f"{probe.errors} errors on the idle server:", *shared.error_notes, sep="\n  ")
    print(f"baseline: {len(baseline):,} requests on the idle server, then the soak", flush=True)

    readers = [Reader(base, shared, args.seed + n + 1) for n in range(args.readers)]
    started = time.monotonic()
    deadline = started + args.minutes * 60
    threads = [threading.Thread(target=r.run, args=(deadline,), daemon=True) for r in readers]
    for thread in threads:
        thread.start()
    cycles: list[dict[str, Any]] = []
    memory: list[tuple[float, float, float]] = []  # elapsed, server MB, harvester MB
    next_cycle, next_sample, number = started, started + SAMPLE_EVERY, 2
    server_exit = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if worker.busy_since is None and now >= next_cycle:
            worker.send({"cmd": "cycle", "n": number})
            number += 1
            next_cycle = now + args.interval
        answer = worker.receive(min(0.5, max(0.0, deadline - now)))
        if answer is not None:
            cycles.append(answer)
            harvest_failures += check_cycle(answer)
            shared.hours = answer["hours"]
        if time.monotonic() >= next_sample:
            next_sample += SAMPLE_EVERY
            elapsed = time.monotonic() - started
            memory.append((elapsed, rss_mb(server.pid), rss_mb(worker.process.pid)))
            print(
                f"{elapsed:6.0f} s  server RSS {memory[-1][1]:7.1f} MB  harvester RSS "
                f"{memory[-1][2]:7.1f} MB  requests {sum(len(r.samples) for r in readers):>8,}"
                f"  errors {sum(r.errors for r in readers):>4}  harvests {len(cycles):>4}",
                flush=True,
            )
        if server.poll() is not None:
            server_exit = server.returncode
            print(f"hub serve exited with {server_exit}:\n{tail(workdir / 'server.log')}")
            break
    shared.stop.set()
    for thread in threads:
        thread.join(timeout=TIMEOUT + 10)
    elapsed = time.monotonic() - started
    memory.append((elapsed, rss_mb(server.pid), rss_mb(worker.process.pid)))
    if worker.busy_since is not None:  # let the harvest under way finish: its rows count
        answer = worker.receive(900.0)
        if answer is None:
            raise SystemExit("the last harvest did not finish within 15 minutes")
        cycles.append(answer)
        harvest_failures += check_cycle(answer)
    worker.ask({"cmd": "dump", "path": str(workdir / "expected.json")})
    check = (
        check_rows(base, token, workdir / "expected.json", t0) if server_exit is None else Check()
    )
    samples = [s for r in readers for s in r.samples]
    errors = sum(r.errors for r in readers)
    logged = [
        s for s in baseline + samples if s.kind.startswith("records restricted") and not s.error
    ]
    audit = subprocess.run(
        [str(HUB), "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
        preexec_fn=die_with_parent,
        check=False,
    )
    verdict = (audit.stdout.strip() or audit.stderr.strip()).splitlines()[:1] or ["no output"]
    entries = int(verdict[0].split(": ")[1].split()[0]) if audit.returncode == 0 else 0

    print(
        f"\nsoak on {store}, {elapsed / 60:.1f} min, {args.readers} readers, "
        f"{len(cycles)} harvests of {len(FEEDS)} feeds\n"
    )
    report_latency(baseline, samples)
    print(f"\nrequests {len(samples):,} ({len(samples) / elapsed:.1f}/s), errors {errors} (goal 0)")
    if errors:
        statuses = Counter((s.kind, s.status) for s in samples if s.error)
        for (kind, status), count in statuses.most_common():
            print(f"  {count:>6} × {kind}: {status}")
        print("  first errors:", *shared.error_notes[:10], sep="\n    ")
    print(
        f"rows expected {check.expected:,}, present {check.present:,}: lost {check.lost} "
        f"(goal 0), stale values {check.stale}, unexpected {check.unexpected}"
    )
    for feed_id, (counted, wanted) in check.counted.items():
        if counted != wanted:
            print(f"  {feed_id}: record_count {counted} but {wanted:,} rows expected")
    print(
        f"{verdict[0]} (hub audit verify) for {len(logged):,} restricted record reads and "
        f"refusals{'' if entries >= len(logged) else ': SOME READS WENT UNLOGGED'}"
    )
    report_memory(memory, elapsed)
    report_harvests(idle_harvest, cycles, harvest_failures)
    problems = server_problems(workdir / "server.log")
    if problems:
        print(f"server log: {problems}")
    failed = bool(
        errors
        or check.lost
        or check.stale
        or check.unexpected
        or harvest_failures
        or server_exit is not None
        or audit.returncode
        or entries < len(logged)
    )
    print("\nFAILED" if failed else "\nOK: no errors, no rows lost")
    return failed


def check_cycle(answer: dict[str, Any]) -> int:
    """Failed harvests in a cycle's answer (and counts that disagree with the rewrite), printed."""
    failures = 0
    for source in answer["sources"]:
        if source["status"] not in ("succeeded", "partial"):
            failures += 1
            print(
                f"harvest {answer['cycle']} of {source['id']}: {source['status']}: "
                f"{source['message']}",
                flush=True,
            )
        elif (source["published"], source["updated"], source["quarantined"]) != (
            source["expect_new"],
            source["expect_changed"],
            source["expect_bad"],
        ):
            failures += 1
            print(
                f"harvest {answer['cycle']} of {source['id']}: published "
                f"{source['published']}, updated {source['updated']}, quarantined "
                f"{source['quarantined']}; expected {source['expect_new']}, "
                f"{source['expect_changed']}, {source['expect_bad']}",
                flush=True,
            )
    return failures


def wait_until_up(base: str, server: subprocess.Popen, log: Path) -> None:
    """Poll /healthz until the server answers (two minutes at most)."""
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=base, timeout=5, trust_env=False) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"hub serve exited with {server.returncode}:\n{tail(log)}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
    raise SystemExit(f"hub serve did not answer within 2 minutes:\n{tail(log)}")


def report_memory(memory: list[tuple[float, float, float]], elapsed: float) -> None:
    """RSS after warm-up against RSS at the end, server and harvester."""
    warm = next((m for m in memory if m[0] >= WARM_UP * elapsed), memory[-1])
    end = memory[-1]
    for index, name, goal in ((1, "server RSS", " (goal ≤ 1.10×)"), (2, "harvester RSS", "")):
        peak = max(m[index] for m in memory)
        print(
            f"{name:<14} after warm-up ({warm[0]:.0f} s) {warm[index]:.1f} MB, at the end "
            f"{end[index]:.1f} MB: {end[index] / warm[index]:.2f}×{goal}, peak {peak:.1f} MB"
        )


def report_harvests(idle: dict[str, Any], cycles: list[dict[str, Any]], failures: int) -> None:
    """Harvest durations during the soak against one on the idle server."""
    durations = [sum(s["seconds"] for s in c["sources"]) for c in cycles]
    if not durations:
        print("no harvest finished during the soak")
        return
    idle_s = sum(s["seconds"] for s in idle["sources"])
    quarter = max(1, len(durations) // 4)
    early, late = statistics.median(durations[:quarter]), statistics.median(durations[-quarter:])
    print(
        f"harvests {len(durations)} (each: {len(FEEDS)} feeds rewritten and harvested), "
        f"failed or miscounted {failures} (goal 0): duration p50 "
        f"{statistics.median(durations):.2f} s, max {max(durations):.2f} s; idle harvest "
        f"{idle_s:.2f} s: p50 {statistics.median(durations) / idle_s:.2f}×; last quarter / "
        f"first quarter p50 {late / early:.2f}×"
    )


def server_problems(log: Path) -> str:
    """Tracebacks and warnings in the server's log, counted."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    tracebacks = text.count("Traceback (most recent call last)")
    warnings = sum(
        1
        for line in text.splitlines()
        if " WARNING " in line or " ERROR " in line or line.startswith(("WARNING", "ERROR"))
    )
    return (
        f"{tracebacks} tracebacks, {warnings} warning/error lines"
        if (tracebacks or warnings)
        else ""
    )


if __name__ == "__main__":
    main()
