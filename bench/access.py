"""What access control costs a read: a restricted dataset's records through the one read path,
beside the same query without token, grant or access log.

    .venv/bin/python bench/access.py [--rows 1000000] [--iterations 1000] [--http]

It publishes `--rows` air-quality observations through the gate under a restricted charter
(into a temporary data folder and database: nothing touches ./var), then times, interleaved
in the same loop on the same time + bbox windows:

  A. the request's path: tokens.check for a member's agency token, then hub.reading.read_records
     (the grant, applied in SQL, and an access-log entry appended and committed);
  B. the same query alone: hub.records.query on a pooled connection, layout known;

and, alone, the token check, the grant, the layout lookup (and B with it) and the access-log
append. The figure
that matters is A / B, measured in the same run on the same machine. `--http` also publishes an
open copy and compares GET …/records with the Bearer header against the open copy without one.
On PostgreSQL when HUB_BENCH_DATABASE_URL is set (a fresh schema, dropped at the end); there the
record table is ANALYZEd after publishing (as autovacuum would do soon after; the publish leaves
it without statistics and the planner then scans the whole bbox), and the one-query time before
and after is printed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from sqlmodel import Session  # noqa: E402

from hub import access, catalogue, reading, records, tokens  # noqa: E402
from hub.catalogue import Batch, Publisher  # noqa: E402
from hub.config import get_settings  # noqa: E402
from hub.db import get_engine, normalise_url, reset_engines, upgrade  # noqa: E402
from hub.models import Dataset  # noqa: E402

FIELDS = [
    "station_id",
    "station_name",
    "pollutant",
    "value",
    "unit",
    "averaging_period",
    "observed_at",
    "longitude",
    "latitude",
    "quality_flag",
]
ATMO = Publisher("atmo-demo", "Atmo Démo")
MEMBER = "metropole-civil-protection"
RESTRICTED_ID, OPEN_ID = "bench-restricted-air", "bench-open-air"
ROUTE = "GET /api/v1/datasets/x/records"
START = datetime(2024, 1, 1, tzinfo=UTC)
STATIONS, IN_CITY, POLLUTANTS = 50, 12, ("no2", "pm25")
CITY_BOX = (-1.75, 48.0, -1.55, 48.2)  # Rennes, as in the API tests
REGION = (-4.8, 47.3, -1.0, 48.9)  # Brittany, roughly
WINDOW_HOURS, LIMIT, CHUNK_ROWS = 6, 100, 100_000
WARMUP = 50


# --- data ----------------------------------------------------------------------------------------


def stations(seed: int = 20240601) -> tuple[pl.Series, pl.Series, pl.Series, pl.Series]:
    """50 stations over the region, 12 of them inside the city box: ids, names, lons, lats."""
    rng = random.Random(seed)
    ids, names, lons, lats = [], [], [], []
    for n in range(STATIONS):
        if n < IN_CITY:
            lon, lat = rng.uniform(-1.74, -1.56), rng.uniform(48.01, 48.19)
        else:
            while True:
                lon, lat = rng.uniform(REGION[0], REGION[2]), rng.uniform(REGION[1], REGION[3])
                if not (
                    CITY_BOX[0] - 0.05 <= lon <= CITY_BOX[2] + 0.05
                    and CITY_BOX[1] - 0.05 <= lat <= CITY_BOX[3] + 0.05
                ):
                    break
        ids.append(f"FR{n:05d}")
        names.append(f"{'Rennes' if n < IN_CITY else 'Bretagne'} station {n}")
        lons.append(f"{lon:.5f}")
        lats.append(f"{lat:.5f}")
    return (pl.Series(ids), pl.Series(names), pl.Series(lons), pl.Series(lats))


def chunks(rows: int) -> Iterator[pl.DataFrame]:
    """Hourly NO2 and PM2.5 at every station, as the gate takes them (Utf8 cells, `_row`)."""
    ids, names, lons, lats = stations()
    per_hour = STATIONS * len(POLLUTANTS)
    for first in range(0, rows, CHUNK_ROWS):
        index = pl.int_range(first, min(first + CHUNK_ROWS, rows), eager=True, dtype=pl.Int64)
        station = index % STATIONS
        frame = pl.DataFrame(
            {
                "station_id": ids.gather(station),
                "station_name": names.gather(station),
                "pollutant": pl.Series(POLLUTANTS).gather((index // STATIONS) % len(POLLUTANTS)),
                "hour": index // per_hour,
                "i": index,
            }
        )
        yield frame.select(
            "station_id",
            "station_name",
            "pollutant",
            ((pl.col("i") * 7919 % 1201) / 10).round(1).cast(pl.Utf8).alias("value"),
            pl.lit("µg/m³").alias("unit"),
            pl.lit("PT1H").alias("averaging_period"),
            (pl.lit(START) + pl.duration(hours=pl.col("hour")))
            .dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            .alias("observed_at"),
            pl.Series("longitude", lons.gather(station)),
            pl.Series("latitude", lats.gather(station)),
            pl.lit("unverified").alias("quality_flag"),
            (pl.col("i") + 2).alias("_row"),
        )


def write_charters(folder: Path) -> None:
    """Atmo Démo's restricted charter, opening its records to the metropole's civil protection."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "atmo-demo-restricted.yaml").write_text(
        'id: atmo-demo-restricted\nversion: "2.1"\ntitle: Atmo Démo restricted bench charter\n'
        "producer: atmo-demo\nlicence:\n  id: custom\n  label: Agreement for benches\n"
        "  uri: https://example.org/agreement\n"
        f"access: restricted\npurposes: [testing]\nrestricted_to: [{MEMBER}]\n"
        'gdpr_sensitive: false\nmandatory_mention: "Source: Atmo Démo (restricted)"\n'
        'valid_from: "2024-01-01"\nvalid_until: "2030-12-31"\n'
        "themes: [air-quality]\nschemas: [air-quality-observation]\n",
        encoding="utf-8",
    )


def publish(dataset_id: str, charter: str, rows: int) -> float:
    """Publish `rows` observations through the gate; the seconds it took."""
    started = time.perf_counter()
    run = catalogue.publish(
        Batch(
            dataset_id=dataset_id,
            title=f"Bench {dataset_id}",
            publisher=ATMO,
            theme="air-quality",
            schema="air-quality-observation",
            charter=charter,
            chunks=chunks(rows),
        )
    )
    if run.rows_published != rows:
        raise SystemExit(
            f"published {run.rows_published:,} of {rows:,} rows ({run.status}: {run.error})"
        )
    return time.perf_counter() - started


# --- database ------------------------------------------------------------------------------------


def settle(engine: sa.Engine, dataset_id: str, rows: int) -> str:
    """On PostgreSQL, ANALYZE a freshly published record table, as autovacuum would soon after
    (the publish leaves it without statistics); say what one query took before and after."""
    if engine.dialect.name != "postgresql":
        return ""
    with Session(engine) as session:
        shape = catalogue.layout_of(catalogue.resource_of(session, dataset_id))
    window = windows(rows, 1, seed=3)[0]

    def best() -> float:
        spent: list[float] = []
        for _ in range(3):
            with engine.connect() as connection:
                timed(
                    partial(
                        records.query,
                        connection,
                        shape,
                        start=window.start,
                        end=window.end,
                        bbox=window.bbox,
                        limit=LIMIT,
                    ),
                    spent,
                )
        return min(spent)

    before = best()
    with engine.begin() as connection:
        connection.exec_driver_sql(f'ANALYZE "{shape.table.name}"')
    after = best()
    return (
        f"{dataset_id}: one query {before * 1e3:.1f} ms before ANALYZE, {after * 1e3:.1f} ms after"
    )


def database(workdir: Path) -> tuple[str, Callable[[], None]]:
    """HUB_DATABASE_URL for this run (a SQLite file, or a fresh PostgreSQL schema) and its
    clean-up."""
    base = os.environ.get("HUB_BENCH_DATABASE_URL", "")
    if not base:
        return f"sqlite:///{workdir / 'hub.db'}", lambda: None
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(base))
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        reset_engines()
        with admin.begin() as connection:
            connection.execute(sa.text("SET LOCAL lock_timeout = '30s'"))
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}", drop


# --- timing --------------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 of `samples`."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94]


def timed(action: Callable[[], Any], into: list[float] | None) -> Any:
    """Run `action`; append its seconds to `into` (None: a warm-up, not kept)."""
    started = time.perf_counter()
    result = action()
    if into is not None:
        into.append(time.perf_counter() - started)
    return result


def windows(rows: int, count: int, seed: int = 7) -> list[reading.Criteria]:
    """`count` random 6-hour windows inside the data, each with the city box."""
    hours = max(1, rows // (STATIONS * len(POLLUTANTS)))
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        start = START + timedelta(hours=rng.randrange(max(1, hours - WINDOW_HOURS)))
        out.append(reading.Criteria(start, start + timedelta(hours=WINDOW_HOURS), CITY_BOX))
    return out


def bench_functions(
    engine: sa.Engine, dataset: Dataset, token: str, iterations: int, rows: int
) -> dict[str, Any]:
    """A (token + read path) and B (the query alone), interleaved, and the parts of A alone."""
    with Session(engine) as session:
        shape = reading.layout(session, dataset)
    sides: dict[str, list[float]] = {
        k: [] for k in ("A", "B", "token", "token_in", "grant", "layout", "relaid", "log")
    }
    returned: list[int] = []
    criteria = windows(rows, WARMUP + iterations)

    def side_a(window: reading.Criteria) -> records.Page:
        with Session(engine) as session:
            actor = tokens.check(session, token)
            return reading.read_records(
                session, dataset, reading.Caller(actor=actor, route=ROUTE), window, LIMIT
            )

    def side_b(window: reading.Criteria) -> records.Page:
        with engine.connect() as connection:
            return records.query(
                connection, shape, start=window.start, end=window.end, bbox=window.bbox, limit=LIMIT
            )

    def check_token() -> access.Actor:
        with Session(engine) as session:  # a fresh session, as each request has
            return tokens.check(session, token)

    def lookup_layout() -> records.Layout:
        with Session(engine) as session:
            return reading.layout(session, dataset)

    def side_b_relaid(window: reading.Criteria) -> records.Page:
        """B with the layout looked up as read_records does: a new sa.Table each time."""
        with Session(engine) as session:
            return records.query(
                session.connection(),
                reading.layout(session, dataset),
                start=window.start,
                end=window.end,
                bbox=window.bbox,
                limit=LIMIT,
            )

    with Session(engine) as session:
        actor = tokens.check(session, token)
    caller = reading.Caller(actor=actor, route=ROUTE)
    given = access.grant(dataset, actor)
    assert given.scope == "all", given
    for step, window in enumerate(criteria):
        keep = step >= WARMUP
        # Alternate which side runs first, so neither always finds the other's pages cached.
        order = ("A", "B") if step % 2 else ("B", "A")
        pages = {}
        for side in order:
            action = side_a if side == "A" else side_b
            pages[side] = timed(partial(action, window), sides[side] if keep else None)
        if pages["A"].records != pages["B"].records:
            raise SystemExit(f"A and B disagree on window {window}")
        returned.append(len(pages["B"].records))
        timed(check_token, sides["token"] if keep else None)
        with Session(engine) as session:
            session.connection()  # the request's connection, already checked out
            timed(partial(tokens.check, session, token), sides["token_in"] if keep else None)
        timed(lambda: access.grant(dataset, actor), sides["grant"] if keep else None)
        timed(lookup_layout, sides["layout"] if keep else None)
        timed(partial(side_b_relaid, window), sides["relaid"] if keep else None)
        timed(
            lambda: reading.record(engine, dataset, caller, given, rows=LIMIT),
            sides["log"] if keep else None,
        )
    with engine.connect() as connection:
        window = criteria[-1]
        matched = connection.execute(
            sa.select(sa.func.count())
            .select_from(shape.table)
            .where(
                shape.table.c[shape.time] >= window.start,
                shape.table.c[shape.time] < window.end,
                records.inside(shape, CITY_BOX),
            )
        ).scalar_one()
    return {"samples": sides, "returned": statistics.median(returned), "matched": matched}


def bench_http(engine: sa.Engine, token: str, iterations: int, rows: int) -> dict[str, Any]:
    """GET …/records with the Bearer header on the restricted dataset vs. the open copy."""
    from fastapi.testclient import TestClient

    from hub.app import create_app

    sides: dict[str, list[float]] = {"restricted": [], "open": []}
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app()) as client:
        for step, window in enumerate(windows(rows, WARMUP + iterations, seed=11)):
            assert window.start and window.end
            params = {
                "from": window.start.isoformat(),
                "to": window.end.isoformat(),
                "bbox": ",".join(str(v) for v in CITY_BOX),
                "limit": str(LIMIT),
            }
            order = ("restricted", "open") if step % 2 else ("open", "restricted")
            for side in order:
                dataset_id, sent = (
                    (RESTRICTED_ID, headers) if side == "restricted" else (OPEN_ID, {})
                )
                url = f"/api/v1/datasets/{dataset_id}/records"
                response = timed(
                    partial(client.get, url, params=params, headers=sent),
                    sides[side] if step >= WARMUP else None,
                )
                if response.status_code != 200:
                    raise SystemExit(f"{side}: {response.status_code} {response.text[:300]}")
    return sides


# --- report --------------------------------------------------------------------------------------


def show(label: str, samples: list[float], scale: float, unit: str) -> tuple[float, float]:
    p50, p95 = percentiles(samples)
    print(f"{label:<52}{p50 * scale:>10.3f}{p95 * scale:>10.3f}  {unit}")
    return p50, p95


def main() -> None:
    """Publish, measure, print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument(
        "--http",
        action="store_true",
        help="also compare over HTTP (publishes an open copy of the rows)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-access-") as folder:
        workdir = Path(folder)
        url, drop = database(workdir)
        try:
            run(args, workdir, url)
        finally:
            drop()


def run(args: argparse.Namespace, workdir: Path, url: str) -> None:
    """The whole bench, on the database at `url`."""
    for name in ("HUB_BUS_URL", "HUB_SCHEMAS_PATH", "HUB_SOURCES_PATH", "HUB_SECRET_KEY"):
        os.environ.pop(name, None)
    write_charters(workdir / "charters")
    os.environ.update(
        {
            "HUB_DATA_DIR": str(workdir / "var"),
            "HUB_DATABASE_URL": url,
            "HUB_CHARTERS_PATH": str(workdir / "charters"),
        }
    )
    get_settings.cache_clear()
    reset_engines()
    engine = get_engine()
    upgrade(engine)
    store = engine.dialect.name
    print(f"publishing {args.rows:,} restricted rows on {store} …", flush=True)
    seconds = publish(RESTRICTED_ID, "atmo-demo-restricted", args.rows)
    print(f"published in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s)", flush=True)
    settled = [settle(engine, RESTRICTED_ID, args.rows)]
    with Session(engine) as session:
        token = tokens.issue(session, "agency", [MEMBER], "bench agency").token
    with Session(engine) as session:  # loaded once, as a request's find_dataset would
        dataset = catalogue.get(session, RESTRICTED_ID)
    assert dataset.access == "restricted"
    result = bench_functions(engine, dataset, token, args.iterations, args.rows)
    http = None
    if args.http:
        print("publishing the open copy for the HTTP comparison …", flush=True)
        publish(OPEN_ID, "atmo-demo-open", args.rows)
        settled.append(settle(engine, OPEN_ID, args.rows))
        http = bench_http(engine, token, args.iterations, args.rows)
    samples = result["samples"]
    print(
        f"\naccess bench on {store}: {args.rows:,} rows in the restricted dataset, "
        f"{WINDOW_HOURS} h × city bbox windows matching {result['matched']} rows, "
        f"{result['returned']:.0f} returned per query (limit {LIMIT}), "
        f"{args.iterations:,} iterations after {WARMUP} warm-up, A and B interleaved\n"
    )
    for line in filter(None, settled):
        print(f"PostgreSQL statistics: {line}")
    print(f"{'':<52}{'p50':>10}{'p95':>10}")
    a50, a95 = show("A token check + read_records (grant, SQL, log)", samples["A"], 1e3, "ms")
    b50, b95 = show("B records.query alone", samples["B"], 1e3, "ms")
    print(f"{'A / B':<52}{a50 / b50:>9.2f}×{a95 / b95:>9.2f}×  (goal ≤ 1.2×)")
    print(f"{'A - B':<52}{(a50 - b50) * 1e3:>10.3f}{(a95 - b95) * 1e3:>10.3f}  ms")
    print("\nparts of A, alone:")
    show(
        "token check, fresh session (pool checkout, select)",
        samples["token"],
        1e6,
        "µs (goal < 1000)",
    )
    show(
        "token check, in a session already connected", samples["token_in"], 1e6, "µs (goal < 1000)"
    )
    show("grant (access.grant: charter membership)", samples["grant"], 1e6, "µs")
    show("layout lookup (select resource, build table)", samples["layout"], 1e6, "µs")
    show("B + that layout lookup (new table: SQL compiled)", samples["relaid"], 1e3, "ms")
    show("access-log append (head, hash, insert, commit)", samples["log"], 1e3, "ms")
    if http:
        print("\nover HTTP (TestClient, JSON), same windows for both:")
        r50, r95 = show("GET restricted, Bearer token", http["restricted"], 1e3, "ms")
        o50, o95 = show("GET open copy, no token", http["open"], 1e3, "ms")
        print(f"{'restricted / open':<52}{r50 / o50:>9.2f}×{r95 / o95:>9.2f}×")


if __name__ == "__main__":
    main()
