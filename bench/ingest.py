"""End-to-end ingest: read → validate → store, beside raw SQLite inserts and frictionless-py.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--repeat 3] [--skip-frictionless]

Each side runs in its own process on the same generated file (so peak memory is its own),
the sides in turn, `--repeat` times; the figures that matter are the ratios, taken run by
run on the same machine, and their medians.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from airdata import generate, header  # noqa: E402


def run_hub(path: Path, workdir: Path, rules: bool = True) -> dict:
    """The hub's gate: open_csv → Validator → typed record table, in one transaction, then the
    derived-alert rules judging what it stored (`rules=False`: no rule applies)."""
    os.environ["HUB_DATA_DIR"] = str(workdir)
    os.environ["HUB_DATABASE_URL"] = f"sqlite:///{workdir / 'hub.db'}"
    from hub.catalogue import Batch, Publisher, publish
    from hub.db import get_engine, upgrade
    from hub.validation.tables import open_csv

    upgrade(get_engine())
    if not rules:
        from hub.alerts import derived

        derived.read_rules = lambda: ([], [])  # type: ignore[assignment]
    started = time.perf_counter()
    table = open_csv(path)
    run = publish(
        Batch(
            dataset_id="bench-aq",
            title="Bench",
            publisher=Publisher("atmo-demo", "Atmo Démo"),
            theme="air-quality",
            schema="air-quality-observation",
            charter="atmo-demo-open",
            chunks=table.chunks,
        )
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": run.rows_read,
        "stored": run.rows_published,
        "quarantined": run.rows_quarantined,
    }


def run_sqlite(path: Path, workdir: Path, indexed: bool = False) -> dict:
    """Baseline: csv.reader + executemany into a plain SQLite table, no validation; `indexed`:
    then the indexes the hub's record table has (key, time, lon/lat), built once loaded."""
    started = time.perf_counter()
    connection = sqlite3.connect(workdir / "raw.db")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    fields = header()
    connection.execute(f"CREATE TABLE obs ({', '.join(fields)})")
    verb = "INSERT"
    if indexed:  # the key index first, for SQLite's own upsert: the later row of a key wins
        connection.execute(
            "CREATE UNIQUE INDEX obs_key ON obs (station_id, pollutant, observed_at)"
        )
        verb = "INSERT OR REPLACE"
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        with connection:
            width = len(fields)  # ragged rows (planted extra cells) are cut or padded to fit
            connection.executemany(
                f"{verb} INTO obs VALUES ({', '.join('?' * width)})",
                (r if len(r) == width else (r + [None] * width)[:width] for r in reader),
            )
            if indexed:  # then the time and lon/lat indexes, built once as the hub builds them
                connection.execute("CREATE INDEX obs_time ON obs (observed_at)")
                connection.execute("CREATE INDEX obs_lonlat ON obs (longitude, latitude)")
    rows = connection.execute("SELECT count(*) FROM obs").fetchone()[0]
    connection.close()
    return {"seconds": time.perf_counter() - started, "rows": rows}


def run_frictionless(path: Path, _workdir: Path) -> dict:
    """Baseline: frictionless-py validating the same file against the same schema."""
    import frictionless

    from hub.schemas import load_schema

    schema = frictionless.Schema.from_descriptor(load_schema("air-quality-observation").descriptor)
    started = time.perf_counter()
    # frictionless refuses absolute paths as "not safe" unless they sit under its basepath
    resource = frictionless.Resource(path=path.name, basepath=str(path.parent), schema=schema)
    report = resource.validate(limit_errors=10**9)
    seconds = time.perf_counter() - started
    task = report.to_descriptor()["tasks"][0]
    if "rows" not in task["stats"]:  # frictionless could not read the file at all
        raise SystemExit(json.dumps(task["errors"][:3]))
    return {"seconds": seconds, "rows": task["stats"]["rows"], "errors": task["stats"]["errors"]}


def run_sqlite_indexed(path: Path, workdir: Path) -> dict:
    return run_sqlite(path, workdir, indexed=True)


def run_hub_without_rules(path: Path, workdir: Path) -> dict:
    return run_hub(path, workdir, rules=False)


SIDES = {
    "hub": run_hub,
    "hub-no-rules": run_hub_without_rules,
    "sqlite": run_sqlite,
    "sqlite-indexed": run_sqlite_indexed,
    "frictionless": run_frictionless,
}


def measure(side: str, path: Path) -> dict:
    """Run one side in a fresh process; add its peak memory."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as workdir:
        out = subprocess.run(
            [sys.executable, __file__, "--side", side, "--file", str(path), "--workdir", workdir],
            capture_output=True,
            text=True,
            check=False,
        )
    if out.returncode:
        raise SystemExit(f"{side} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Generate the file, run the sides in turn `--repeat` times, print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, in turn")
    parser.add_argument("--skip-frictionless", action="store_true")
    parser.add_argument("--side", choices=SIDES)
    parser.add_argument("--file", type=Path)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if args.side:  # child process
        result = SIDES[args.side](args.file, args.workdir)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"air-quality-{args.rows}.csv"  # the same file bench/validate.py uses
    if not path.exists():
        print(f"generating {args.rows:,} rows (1 % invalid) into {path} …", flush=True)
        generate(path, args.rows)
    sides = [side for side in SIDES if not (args.skip_frictionless and side == "frictionless")]
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for _ in range(args.repeat):
        for side in sides:
            runs[side].append(measure(side, path))
    print_figures(args.rows, path, runs)


def print_figures(rows: int, path: Path, runs: dict[str, list[dict]]) -> None:
    """Median figures of each side, and the hub's throughput against raw SQLite's, run by run."""
    hub = runs["hub"]
    print(
        f"\ningest bench, {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB CSV "
        f"(read → validate → store), {len(hub)} runs of each side in turn, medians\n"
    )
    print(f"{'side':<34}{'seconds':>9}{'rows/s':>12}{'peak MB':>10}{'hub ×':>8}")
    labels = {
        "hub": "hub (read+validate+store, SQLite)",
        "hub-no-rules": "hub, no derived-alert rule",
        "sqlite": "raw SQLite executemany",
        "sqlite-indexed": "raw SQLite + the hub's 3 indexes",
        "frictionless": "frictionless-py validate only",
    }
    hub_seconds = median([figures["seconds"] for figures in hub])
    for side, figures in runs.items():
        seconds = median([f["seconds"] for f in figures])
        peak = max(f["peak_mb"] for f in figures)
        print(
            f"{labels[side]:<34}{seconds:>9.2f}{figures[0]['rows'] / seconds:>12,.0f}"
            f"{peak:>10.0f}{seconds / hub_seconds:>8.2f}"
        )
    shares = [s["seconds"] / h["seconds"] for h, s in zip(hub, runs["sqlite"], strict=True)]
    spread = ", ".join(f"{share:.0%}" for share in shares)
    print(f"\nhub throughput / raw SQLite's: {median(shares):.0%} (runs: {spread})")
    bare = [
        s["seconds"] / h["seconds"]
        for h, s in zip(runs["hub-no-rules"], runs["sqlite"], strict=True)
    ]
    spread = ", ".join(f"{share:.0%}" for share in bare)
    print(f"the same without derived-alert rules: {median(bare):.0%} ({spread})")
    indexed = [
        s["seconds"] / h["seconds"] for h, s in zip(hub, runs["sqlite-indexed"], strict=True)
    ]
    spread = ", ".join(f"{share:.0%}" for share in indexed)
    print(f"hub throughput / raw SQLite's with the same indexes: {median(indexed):.0%} ({spread})")
    last = hub[-1]
    print(f"hub stored {last['stored']:,} rows and quarantined {last['quarantined']:,}", end="")
    if "frictionless" in runs:
        print(f"; frictionless found {runs['frictionless'][-1]['errors']:,} errors", end="")
    print(".\n'hub ×' = that side's time / the hub's time (above 1: the hub is faster).")


def median(values: list[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


if __name__ == "__main__":
    main()
