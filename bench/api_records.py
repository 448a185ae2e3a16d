"""The API bench's records part: time + bbox pages of a generated observation table through the
hub's REST route, and its whole CSV export, beside Datasette on the same SQLite file (see
bench/api.py).

The table: `--records-rows` hourly air-quality observations (schema air-quality-observation,
200 stations around 44 French cities, 5 pollutants: 1,000 rows an hour, 10,000 hours for 10
million rows) in the typed record table of one open dataset, as the publish gate leaves it. The
first hour goes through the gate itself (`hub.catalogue.publish`: charter, validation, the run,
the dataset, its resource and its table); the rest is appended with the gate's own staging and
insert (`hub.records.stage_chunk` / `store_staged`, 100,000 rows a chunk, sorted by key as the
gate sorts them) into the table with its three indexes dropped, which are then rebuilt, and the
dataset's extent refreshed as the gate refreshes it. The bench first checks that the gate stored
the first hour exactly as the bulk staging stages it, so the appended rows are the gate's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import sqlalchemy as sa
from api_common import (
    CITIES,
    HERE,
    WARMUP,
    Children,
    get,
    load_average,
    memory,
    percentiles,
    reset_peak,
    start_datasette,
    start_hub,
    use_database,
)
from sqlmodel import Session

from hub import catalogue, records
from hub.catalogue import Batch, Publisher
from hub.db import get_engine, reset_engines, upgrade

SEED = 20261204
DATASET_ID = "bench-air-observations"
PUBLISHER = Publisher("atmo-demo", "Atmo Démo")
CHARTER = "atmo-demo-open"  # bundled: open, Etalab 2.0, air-quality-observation
SCHEMA = "air-quality-observation"
STATIONS = 200
POLLUTANTS = ("no2", "pm10", "pm25", "o3", "so2")
PER_HOUR = STATIONS * len(POLLUTANTS)
START = datetime(2024, 1, 1, tzinfo=UTC)
CHUNK_ROWS = 100_000
SPREAD = 0.08  # degrees between a station and its city's centre, at most
LIMIT = 100
GOAL_P95_MS = 50.0
KEPT = HERE / "out" / "api-records"


# --- the observations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stations:
    """Station ids, names, longitudes and latitudes, one per row of each hour's block."""

    ids: pl.Series
    names: pl.Series
    lons: pl.Series
    lats: pl.Series


def stations() -> Stations:
    """200 stations, the n-th near the (n mod 44)-th city: 4 or 5 per city."""
    rng = random.Random(SEED)
    ids, names, lons, lats = [], [], [], []
    for n in range(STATIONS):
        city = CITIES[n % len(CITIES)]
        ids.append(f"FR{n:05d}")
        names.append(f"{city[0]} {n // len(CITIES) + 1}")
        lons.append(round(city[3] + rng.uniform(-SPREAD, SPREAD), 5))
        lats.append(round(city[4] + rng.uniform(-SPREAD, SPREAD), 5))
    return Stations(pl.Series(ids), pl.Series(names), pl.Series(lons), pl.Series(lats))


def observations(first: int, last: int, where: Stations) -> pl.DataFrame:
    """Rows `first` to `last` (excluded), typed as the validator leaves them: each hour, every
    station's five pollutants."""
    index = pl.int_range(first, last, eager=True, dtype=pl.Int64)
    size = len(index)
    within = index % PER_HOUR
    station = within // len(POLLUTANTS)
    hour = index // PER_HOUR
    start = int(START.timestamp()) * 1_000_000
    return pl.DataFrame(
        {
            "station_id": where.ids.gather(station),
            "station_name": where.names.gather(station),
            "pollutant": pl.Series(POLLUTANTS).gather(within % len(POLLUTANTS)),
            "value": ((index * 7919) % 1201) / 10,
            "unit": pl.repeat("µg/m³", size, eager=True),
            "averaging_period": pl.repeat("PT1H", size, eager=True),
            "observed_at": (hour * 3_600_000_000 + start)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC"),
            "longitude": where.lons.gather(station),
            "latitude": where.lats.gather(station),
            # the operator validates its data some weeks after the fact
            "quality_flag": pl.Series(["valid", "unverified"]).gather(
                (hour % (24 * 30) >= 24 * 26).cast(pl.Int64)
            ),
        }
    )


def as_cells(frame: pl.DataFrame, first_row: int) -> pl.DataFrame:
    """Typed rows as a reader hands them to the gate: text cells, then `_row`."""
    return frame.select(
        *(
            pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            if dtype == pl.Datetime("us", "UTC")
            else pl.col(name).cast(pl.Utf8)
            for name, dtype in frame.schema.items()
        ),
        pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64).alias("_row"),
    )


def build(rows: int) -> dict[str, float]:
    """The dataset and its `rows` observations in the configured database; seconds per step."""
    engine = get_engine()
    upgrade(engine)
    where = stations()
    spent: dict[str, float] = {}
    started = time.perf_counter()
    first_hour = observations(0, min(PER_HOUR, rows), where)
    run = catalogue.publish(
        Batch(
            dataset_id=DATASET_ID,
            title="Hourly air-quality observations (bench)",
            publisher=PUBLISHER,
            theme="air-quality",
            charter=CHARTER,
            description="Generated by bench/api.py: 200 stations, 5 pollutants, hourly.",
            source_url="https://data.example.org/atmo-demo/observations.csv",
            keywords=["no2", "pm10", "pm25", "o3", "so2"],
            schema=SCHEMA,
            chunks=[as_cells(first_hour, 2)],
        ),
        engine=engine,
    )
    if run.rows_published != first_hour.height:
        raise SystemExit(f"the gate published {run.rows_published} of {first_hour.height} rows")
    spent["gate"] = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as connection:
        layout = catalogue.layout_of_dataset(connection, DATASET_ID)
        same_as_gate(connection, layout, first_hour)
        connection.exec_driver_sql(f"PRAGMA cache_size=-{records.SQLITE_CACHE_KIB}")
        indexes = sorted(layout.table.indexes, key=lambda index: not index.unique)  # key first
        for index in indexes:
            index.drop(connection)
        load = records.Load(upserts=False)  # plain inserts: the key index comes afterwards
        chunks = (
            observations(first, min(first + CHUNK_ROWS, rows), where)
            for first in range(PER_HOUR, rows, CHUNK_ROWS)
        )
        for _, staged in records.staged_ahead(layout, "sqlite", chunks, lambda frame: frame):
            records.store_staged(connection, layout, staged, run.id or 0, load)
        spent["insert"] = time.perf_counter() - started
        started = time.perf_counter()
        for index in indexes:
            index.create(connection)
        spent["indexes"] = time.perf_counter() - started
        started = time.perf_counter()
        with Session(bind=connection) as session:
            resource = catalogue.resource_of(session, DATASET_ID)
        # the gate's own bookkeeping after a load: row count, time range, bbox, publication
        catalogue.refresh_extent(connection, DATASET_ID, resource, layout, True)
        spent["extent"] = time.perf_counter() - started
    started = time.perf_counter()
    with engine.connect() as connection:
        # Datasette opens the file immutable: it reads no WAL, so everything goes in the file.
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    spent["checkpoint"] = time.perf_counter() - started
    reset_engines()
    return spent


def same_as_gate(connection: sa.Connection, layout: records.Layout, typed: pl.DataFrame) -> None:
    """Check that the gate stored `typed` (validated from its text cells) exactly as the bulk
    staging stages the typed rows, in the same order."""
    staged = records.stage_chunk(layout, typed, "sqlite")
    columns = ", ".join(f'"{c}"' for c in staged.columns)
    stored = connection.exec_driver_sql(
        f'SELECT {columns} FROM "{layout.table.name}" ORDER BY _id'
    ).all()
    assert isinstance(staged.values, list)
    if [tuple(r) for r in stored] != list(zip(*staged.values, strict=True)):
        raise SystemExit("the gate stored the first hour otherwise than the bulk staging would")


# --- queries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of records query: a window of `hours` somewhere in the data, and a box."""

    name: str
    hours: int
    bbox: tuple[float, float, float, float]


def kinds(where: Stations) -> list[Kind]:
    """A city over 6 hours and over a week, one station over a day, a region over a day."""
    rennes = next(c for c in CITIES if c[0] == "Rennes")
    city = (rennes[3] - 0.1, rennes[4] - 0.1, rennes[3] + 0.1, rennes[4] + 0.1)
    lon, lat = where.lons[1], where.lats[1]
    return [
        Kind("city (Rennes), 6 h", 6, city),
        Kind("city (Rennes), 7 days", 24 * 7, city),
        Kind(
            f"one station ({where.names[1]}), 1 day",
            24,
            (lon - 1e-3, lat - 1e-3, lon + 1e-3, lat + 1e-3),
        ),
        Kind("region (Brittany), 1 day", 24, (-5.2, 47.5, -1.0, 48.9)),
    ]


def windows(kind: Kind, hours: int, count: int, seed: int) -> list[tuple[datetime, datetime]]:
    """`count` windows of the kind's length at random hours inside the data."""
    rng = random.Random(f"{seed}-{kind.name}")
    out = []
    for _ in range(count):
        start = START + timedelta(hours=rng.randrange(max(1, hours - kind.hours + 1)))
        out.append((start, start + timedelta(hours=kind.hours)))
    return out


def stored(moment: datetime) -> str:
    """A UTC instant as the record table holds it (SQLAlchemy's DateTime on SQLite)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def hub_params(kind: Kind, window: tuple[datetime, datetime]) -> dict[str, str]:
    """The hub's records query: from, to, bbox, a page of LIMIT."""
    start, end = window
    return {
        "from": start.isoformat().replace("+00:00", "Z"),
        "to": end.isoformat().replace("+00:00", "Z"),
        "bbox": ",".join(repr(v) for v in kind.bbox),
        "limit": str(LIMIT),
    }


def datasette_params(
    kind: Kind, window: tuple[datetime, datetime], count: bool = False
) -> list[tuple[str, str]]:
    """The same query as Datasette's table filters, in the hub's order (time, then row id),
    without the count Datasette makes by default (the hub counts only when asked)."""
    start, end = window
    min_lon, min_lat, max_lon, max_lat = kind.bbox
    params = [
        ("observed_at__gte", stored(start)),
        ("observed_at__lt", stored(end)),
        ("longitude__gte", repr(min_lon)),
        ("longitude__lte", repr(max_lon)),
        ("latitude__gte", repr(min_lat)),
        ("latitude__lte", repr(max_lat)),
        ("_sort", "observed_at"),
        ("_size", str(LIMIT)),
        ("_shape", "objects"),
    ]
    return params if count else [*params, ("_nocount", "1")]


FIELDS = ("station_id", "pollutant", "observed_at", "value", "longitude", "latitude")


def same_rows(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> bool:
    """Whether the hub's records and Datasette's rows are the same rows, in the same order."""

    def instant(text: str) -> datetime:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(instant(row[f]) if f == "observed_at" else row[f] for f in FIELDS)

    return [key(r) for r in ours] == [key(r) for r in theirs]


@dataclass
class Check:
    """What the agreement check found for one kind."""

    matched: list[int]  # rows matching each checked window (hub's count; Datasette's the same)
    pages: int  # pages compared


def agreement(
    hub: httpx.Client, datasette: httpx.Client, path: str, table: str, kind: Kind, hours: int
) -> Check:
    """Both sides' first pages (and second, where there is one) of a few windows, and their
    counts of matching rows, compared; any difference ends the bench."""
    found = Check([], 0)
    for window in windows(kind, hours, 5, seed=1):
        _, ours = get(hub, path, {**hub_params(kind, window), "total": "true"})
        _, theirs = get(datasette, table, datasette_params(kind, window, count=True))
        body, them = ours.json(), theirs.json()
        total, counted = int(ours.headers["X-Total-Count"]), them["filtered_table_rows_count"]
        if total != counted:
            raise SystemExit(f"{kind.name} {window}: the hub counts {total}, Datasette {counted}")
        for _ in range(2):
            if not same_rows(body["records"], them["rows"]):
                raise SystemExit(f"{kind.name} {window}: the pages differ")
            found.pages += 1
            if bool(body["next"]) != bool(them["next_url"]):
                raise SystemExit(f"{kind.name} {window}: one side has a next page, not the other")
            if not body["next"]:
                break
            body, them = hub.get(body["next"]).json(), datasette.get(them["next_url"]).json()
        found.matched.append(total)
    return found


def latencies(
    hub: httpx.Client,
    datasette: httpx.Client,
    path: str,
    table: str,
    all_kinds: list[Kind],
    hours: int,
    requests: int,
) -> dict[str, dict[str, list[float]]]:
    """Every kind on both sides, the same windows, interleaved, each side first in turn."""
    samples: dict[str, dict[str, list[float]]] = {
        k.name: {"hub": [], "datasette": []} for k in all_kinds
    }
    chosen = {k.name: windows(k, hours, WARMUP + requests, seed=2) for k in all_kinds}
    for step in range(WARMUP + requests):
        for number, kind in enumerate(all_kinds):
            window = chosen[kind.name][step]
            sides: list[tuple[str, httpx.Client, str, Any]] = [
                ("hub", hub, path, hub_params(kind, window)),
                ("datasette", datasette, table, datasette_params(kind, window)),
            ]
            if (step + number) % 2:
                sides.reverse()
            for side, client, url, params in sides:
                spent, _ = get(client, url, params)
                if step >= WARMUP:
                    samples[kind.name][side].append(spent)
    return samples


def plans(database: Path, datasette: httpx.Client, table: str, kind: Kind, hours: int) -> list[str]:
    """The query plans of the hub's query (captured as records.query sends it) and of the one
    Datasette reports running, for one window of `kind`."""
    window = windows(kind, hours, 1, seed=3)[0]
    engine = sa.create_engine(f"sqlite:///{database}")
    sent: list[tuple[str, Any]] = []
    sa.event.listen(
        engine, "before_cursor_execute", lambda *a: sent.append((a[2], a[3])), named=False
    )
    found = []
    with engine.connect() as connection:
        layout = catalogue.layout_of_dataset(connection, DATASET_ID)
        records.query(
            connection, layout, start=window[0], end=window[1], bbox=kind.bbox, limit=LIMIT
        )
        sql, params = sent[-1]
        found.append(("hub", sql, params))
        _, theirs = get(datasette, table, datasette_params(kind, window))
        query = theirs.json()["query"]
        found.append(("datasette", query["sql"], query["params"]))
        lines = []
        for side, text, bound in found:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {text}", bound).all()
            lines.append(f"{side}: " + "; ".join(str(step[-1]) for step in plan))
    engine.dispose()
    return lines


# --- the export ----------------------------------------------------------------------------------


@dataclass
class Export:
    """One whole export: how long, how much, and the memory of the process that wrote it."""

    side: str
    seconds: float = 0.0
    first_byte: float = 0.0
    rows: int = 0  # lines after the header
    size: int = 0  # bytes
    rss_before: int = 0  # KiB
    rss_peak: int = 0  # KiB
    first_line: bytes = b""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def mb_per_second(self) -> float:
        return self.size / 1e6 / self.seconds


class Counting:
    """Counts the lines and bytes of a CSV as its blocks arrive, keeping its first data line."""

    def __init__(self, into: Export) -> None:
        self.into, self.head = into, b""
        self.lines = 0

    def take(self, block: bytes) -> None:
        if not self.into.first_line and len(self.head) < 4096:
            self.head += block[:4096]
            parts = self.head.split(b"\n")
            if len(parts) > 2:
                self.into.first_line = parts[1].rstrip(b"\r")
        self.lines += block.count(b"\n")
        self.into.size += len(block)

    def done(self) -> None:
        self.into.rows = self.lines - 1  # the header


class Sampler:
    """A process's peak resident memory while it exports: its VmHWM, reset before where the
    kernel allows it (a server's), else sampled every 0.1 s (a command that exits: its
    ru_maxrss would count the bench's own memory, inherited before exec)."""

    def __init__(self, pid: int, server: bool) -> None:
        self.pid, self.peak = pid, 0
        self.reset = server and reset_peak(pid)
        self.before = memory(pid)["VmRSS"] if server else 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError, KeyError):
                now = memory(self.pid)
                self.peak = max(self.peak, now["VmHWM"] if not self.reset else now["VmRSS"])
            if self._stop.wait(0.1):
                return

    def stop(self) -> int:
        """The peak RSS during the export, in KiB."""
        self._stop.set()
        self._thread.join()
        if self.reset:
            return memory(self.pid)["VmHWM"]
        return self.peak


def export_over_http(side: str, base: str, path: str, params: Any, pid: int) -> Export:
    """GET a whole CSV export, streamed, counting its rows as they come."""
    found = Export(side)
    sampler = Sampler(pid, server=True)
    found.rss_before = sampler.before
    counting = Counting(found)
    started = time.perf_counter()
    with (
        httpx.Client(base_url=base, timeout=600, trust_env=False) as client,
        client.stream("GET", path, params=params) as response,
    ):
        if response.status_code != 200:
            raise SystemExit(
                f"GET {response.url}: {response.status_code} {response.read()[:500]!r}"
            )
        for block in response.iter_raw():
            if not found.first_byte:
                found.first_byte = time.perf_counter() - started
            counting.take(block)
    found.seconds = time.perf_counter() - started
    found.rss_peak = sampler.stop()
    counting.done()
    return found


def export_with_sqlite3(children: Children, database: Path, sql: str) -> Export:
    """The same rows through the sqlite3 command line, `-csv`: the floor, no HTTP, no Python."""
    found = Export("sqlite3 -csv (floor: C, no HTTP)")
    counting = Counting(found)
    started = time.perf_counter()
    process = children.pipe(
        ["sqlite3", "-readonly", "-csv", "-header", str(database), sql], dict(os.environ)
    )
    sampler = Sampler(process.pid, server=False)
    assert process.stdout is not None
    while block := os.read(process.stdout.fileno(), 1 << 20):
        if not found.first_byte:
            found.first_byte = time.perf_counter() - started
        counting.take(block)
    children.reap(process)
    found.rss_peak = sampler.stop()
    found.seconds = time.perf_counter() - started
    counting.done()
    return found


def exports(
    children: Children,
    database: Path,
    hub: tuple[str, int],
    datasette: tuple[str, int],
    table: str,
) -> list[Export]:
    """The whole dataset as CSV in time order: the hub's records route (no limit), Datasette's
    streamed CSV of the same table in the same order, and the sqlite3 command line."""
    with sa.create_engine(f"sqlite:///{database}").connect() as connection:
        layout = catalogue.layout_of_dataset(connection, DATASET_ID)
    columns = ", ".join(f'"{c}"' for c in layout.columns.values())
    sql = f'SELECT {columns} FROM "{table}" ORDER BY observed_at, _id'
    return [
        export_over_http(
            "hub GET /records?format=csv",
            hub[0],
            f"/api/v1/datasets/{DATASET_ID}/records",
            {"format": "csv"},
            hub[1],
        ),
        export_over_http(
            "Datasette .csv?_stream=on",
            datasette[0],
            f"/{database.stem}/{table}.csv",
            {"_stream": "on", "_sort": "observed_at", "_size": "max"},
            datasette[1],
        ),
        export_with_sqlite3(children, database, sql),
    ]


# --- report --------------------------------------------------------------------------------------


def report(
    all_kinds: list[Kind], samples: dict[str, dict[str, list[float]]], checks: dict[str, Check]
) -> None:
    header = f"{'query kind':<36}{'matched':>9}"
    header += f"{'hub p50':>9}{'p95':>8}{'ds p50':>9}{'p95':>8}{'hub/ds p95':>12}  goal"
    print(header)
    everything: dict[str, list[float]] = {"hub": [], "datasette": []}
    for kind in all_kinds:
        ours, theirs = samples[kind.name]["hub"], samples[kind.name]["datasette"]
        everything["hub"] += ours
        everything["datasette"] += theirs
        matched = sorted(checks[kind.name].matched)[len(checks[kind.name].matched) // 2]
        row(kind.name, str(matched), ours, theirs)
    row("overall", "", everything["hub"], everything["datasette"])


def row(name: str, matched: str, ours: list[float], theirs: list[float]) -> None:
    h50, h95 = percentiles(ours)
    d50, d95 = percentiles(theirs)
    met = "met" if h95 <= GOAL_P95_MS and h95 <= d95 else "NOT met"
    print(
        f"{name[:35]:<36}{matched:>9}{h50:>9.1f}{h95:>8.1f}{d50:>9.1f}{d95:>8.1f}"
        f"{h95 / d95:>11.2f}×  {met}"
    )


def report_exports(found: list[Export], rows: int) -> None:
    print(
        f"{'side':<36}{'seconds':>9}{'rows/s':>10}{'MB/s':>7}{'1st byte':>9}"
        f"{'RSS before':>12}{'peak RSS':>10}  rows"
    )
    for export in found:
        before = f"{export.rss_before / 1024:.0f} MiB" if export.rss_before else ""
        verified = "all" if export.rows == rows else f"{export.rows:,} of {rows:,}: WRONG"
        print(
            f"{export.side[:35]:<36}{export.seconds:>9.1f}{export.rows_per_second:>10,.0f}"
            f"{export.mb_per_second:>7.1f}{export.first_byte:>8.2f}s{before:>12}"
            f"{export.rss_peak / 1024:>6.0f} MiB  {verified}"
        )
    hub, datasette, floor = found
    print(
        f"hub / Datasette rows/s {hub.rows_per_second / datasette.rows_per_second:.2f}×; "
        f"hub / sqlite3 {hub.rows_per_second / floor.rows_per_second:.2f}×; "
        f"hub peak RSS − before: {(hub.rss_peak - hub.rss_before) / 1024:+.0f} MiB"
    )
    print(
        f"first data lines: hub {hub.first_line.decode(errors='replace')!r}, Datasette "
        f"{datasette.first_line.decode(errors='replace')!r}, "
        f"sqlite3 {floor.first_line.decode(errors='replace')!r}"
    )


# --- the part ------------------------------------------------------------------------------------


def run_records(args: argparse.Namespace, workdir: Path, children: Children) -> None:
    """The records part, its servers' logs in `workdir`; the table generated there (in
    bench/out/api-records with --keep) unless `--records-catalogue` names one kept before."""
    if args.records_catalogue:
        home = args.records_catalogue
    elif args.keep:
        shutil.rmtree(KEPT, ignore_errors=True)
        home = KEPT
    else:
        home = workdir
    home.mkdir(parents=True, exist_ok=True)
    database = use_database(home)
    if args.records_catalogue:
        with sa.create_engine(f"sqlite:///{database}").connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT record_count FROM dataset WHERE id = ?", (DATASET_ID,)
            ).scalar_one()
        print(f"measuring the records kept in {home}: {rows:,} rows", flush=True)
    else:
        rows = args.records_rows
        print(f"generating {rows:,} observations …", flush=True)
        spent = build(rows)
        print(
            f"generated in {sum(spent.values()):.1f} s: the first hour through the gate "
            f"{spent['gate']:.1f} s, inserts {spent['insert']:.1f} s "
            f"({rows / spent['insert']:,.0f} rows/s), indexes {spent['indexes']:.1f} s, extent "
            f"{spent['extent']:.1f} s, checkpoint {spent['checkpoint']:.1f} s; file "
            f"{database.stat().st_size / 1e6:,.0f} MB",
            flush=True,
        )
    hours = -(-rows // PER_HOUR)
    with sa.create_engine(f"sqlite:///{database}").connect() as connection:
        table = catalogue.layout_of_dataset(connection, DATASET_ID).table.name
    env = {**os.environ, "HUB_MAX_EXPORT_ROWS": str(max(rows, 1))}
    hub = start_hub(children, workdir, env)
    datasette = start_datasette(
        children,
        workdir,
        env,
        database,
        {},
        {"suggest_facets": "off", "max_csv_mb": "0", "allow_csv_stream": "on"},
    )
    path = f"/api/v1/datasets/{DATASET_ID}/records"
    table_path = f"/{database.stem}/{table}.json"
    where = stations()
    all_kinds = kinds(where)
    with (
        httpx.Client(base_url=hub[0], timeout=120, trust_env=False) as ours,
        httpx.Client(base_url=datasette[0], timeout=120, trust_env=False) as theirs,
    ):
        checks = {k.name: agreement(ours, theirs, path, table_path, k, hours) for k in all_kinds}
        print(f"timing {args.requests} requests per kind and side after {WARMUP} warm-up …")
        samples = latencies(ours, theirs, path, table_path, all_kinds, hours, args.requests)
        plan_lines = {k.name: plans(database, theirs, table_path, k, hours) for k in all_kinds}
    during = load_average()
    found = []
    if not args.skip_export:
        print(f"exporting the {rows:,} rows as CSV, three ways …", flush=True)
        found = exports(children, database, hub, datasette, table)
    print(
        f"\nrecords: time + bbox queries on {rows:,} observations over HTTP (one keep-alive "
        f"client per side, interleaved, {args.requests} requests per kind, each at a random "
        "window, the same on both sides; ms)\n"
        f"hub: {path}?from=…&to=…&bbox=…&limit={LIMIT}\n"
        f"Datasette: {table_path}?observed_at__gte=…&observed_at__lt=…&longitude__gte=…"
        f"&longitude__lte=…&latitude__gte=…&latitude__lte=…&_sort=observed_at&_size={LIMIT}"
        "&_nocount=1\n"
        f"goal: p95 ≤ {GOAL_P95_MS:.0f} ms and ≤ Datasette's\n"
    )
    report(all_kinds, samples, checks)
    print()
    for kind in all_kinds:
        check = checks[kind.name]
        print(
            f"  {kind.name}: same rows and counts on {check.pages} pages of "
            f"{len(check.matched)} windows; plans: {' | '.join(plan_lines[kind.name])}"
        )
    if found:
        print(f"\nthe whole dataset as CSV, in time order ({rows:,} rows):")
        report_exports(found, rows)
    print(f"\nrecords: load average after the latencies {during}, at the end {load_average()}")
    short = [export.side for export in found if export.rows != rows]
    if short:
        raise SystemExit(f"exports without every row: {', '.join(short)}")
