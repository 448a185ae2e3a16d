"""Benchmark: hub.validation vs frictionless-py on a generated air-quality CSV.

Run `.venv/bin/python bench/validate.py [--rows N]`. It writes a CSV with ~1 % invalid rows
(type, enum, minimum, required and duplicate-primary-key errors) into bench/out/, validates it
with both engines, each in its own subprocess (so peak RSS is per engine), and prints rows/s,
the speed ratio, peak memory and whether both error lists are identical.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SCHEMA_PATH = ROOT / "schemas" / "air-quality-observation.schema.json"
POLLUTANTS = ["pm25", "pm10", "no2", "o3", "so2", "co"]
UNITS = {"co": "mg/m³"}
FALLBACK_SCHEMA: dict[str, Any] = {
    "primaryKey": ["station_id", "pollutant", "observed_at"],
    "fields": [
        {"name": "station_id", "type": "string", "constraints": {"required": True}},
        {"name": "station_name", "type": "string"},
        {
            "name": "pollutant",
            "type": "string",
            "constraints": {
                "required": True,
                "enum": ["pm1", "pm25", "pm10", "no2", "no", "nox", "o3", "so2", "co", "c6h6", "nh3"],
            },
        },
        {"name": "value", "type": "number", "constraints": {"required": True, "minimum": 0}},
        {
            "name": "unit",
            "type": "string",
            "constraints": {"required": True, "enum": ["µg/m³", "mg/m³", "ng/m³", "ppb", "ppm"]},
        },
        {
            "name": "averaging_period",
            "type": "string",
            "constraints": {
                "pattern": "P(?=\\d|T\\d)(\\d+Y)?(\\d+M)?(\\d+W)?(\\d+D)?"
                "(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+([.,]\\d+)?S)?)?"
            },
        },
        {"name": "observed_at", "type": "datetime", "constraints": {"required": True}},
        {"name": "longitude", "type": "number", "constraints": {"minimum": -180, "maximum": 180}},
        {"name": "latitude", "type": "number", "constraints": {"minimum": -90, "maximum": 90}},
        {
            "name": "quality_flag",
            "type": "string",
            "constraints": {"enum": ["valid", "unverified", "estimated", "invalid"]},
        },
    ],
}
HEADER = [f["name"] for f in FALLBACK_SCHEMA["fields"]]
logger = logging.getLogger("bench.validate")


def load_schema() -> dict[str, Any]:
    """The repository's air-quality-observation schema, else the built-in copy of its shape."""
    if SCHEMA_PATH.exists():
        return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return FALLBACK_SCHEMA


def generate(path: Path, rows: int, seed: int = 20240601) -> dict[str, int]:
    """Write `rows` observations with ~1 % invalid rows; return the planted error counts."""
    rng = random.Random(seed)
    stations = [
        (f"FR{n:05d}", f"Station {n}" if n % 40 else f'"Station {n}, centre"', rng.uniform(-5, 9), rng.uniform(41, 51))
        for n in range(400)
    ]
    start = datetime(2023, 1, 1, tzinfo=UTC)
    planted = {"type": 0, "enum": 0, "minimum": 0, "required": 0, "primary-key": 0}
    kinds = list(planted)
    recent: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(HEADER) + "\n")
        for i in range(rows):
            station, name, lon, lat = stations[i % len(stations)]
            hour = i // (len(stations) * len(POLLUTANTS))
            pollutant = POLLUTANTS[(i // len(stations)) % len(POLLUTANTS)]
            at = (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
            cells = [station, name, pollutant, f"{rng.uniform(0, 120):.1f}", UNITS.get(pollutant, "µg/m³"),
                     "PT1H", at, f"{lon:.5f}", f"{lat:.5f}", rng.choice(("valid", "unverified"))]
            line = ",".join(cells)
            if rng.random() < 0.01:
                kind = kinds[rng.randrange(len(kinds))]
                line = plant(kind, cells, recent, rng)
                planted[kind] += 1
            elif i % 997 == 0:
                recent = (recent + [line])[-50:]
            out.write(line + "\n")
    return planted


def plant(kind: str, cells: list[str], recent: list[str], rng: random.Random) -> str:
    """The row's line with one planted error of the given kind."""
    if kind == "type":
        column = rng.choice((3, 6, 8))
        cells[column] = {3: "n/a", 6: "2023-02-30T25:00:00Z", 8: "43,5"}[column]
    elif kind == "enum":
        cells[rng.choice((2, 4, 9))] = rng.choice(("pm2.5", "ug/m3", "bad"))
    elif kind == "minimum":
        cells[3] = f"-{rng.uniform(0.1, 5):.1f}"
    elif kind == "required":
        cells[rng.choice((0, 3, 6))] = ""
    elif recent:
        return rng.choice(recent)  # an earlier row again: same primary key
    return ",".join(cells)


def run_ours(path: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Validate with hub.validation (in this process)."""
    from hub.validation import validate_file

    started = time.perf_counter()
    report = validate_file(path, schema, limit_errors=None)
    seconds = time.perf_counter() - started
    return _summary(report, seconds)


def run_frictionless(path: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Validate with frictionless-py (in this process)."""
    import frictionless

    started = time.perf_counter()
    with frictionless.system.use_context(trusted=True):
        resource = frictionless.Resource(path, schema=frictionless.Schema.from_descriptor(schema))
        report = resource.validate(limit_errors=10**9).to_descriptor()
    seconds = time.perf_counter() - started
    return _summary(report, seconds)


def _summary(report: dict[str, Any], seconds: float) -> dict[str, Any]:
    task = report["tasks"][0]
    keys = [
        [e.get("rowNumber"), e.get("fieldNumber"), e.get("fieldName"), e["type"], e.get("note")]
        for e in task["errors"]
    ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"seconds": seconds, "rows": task["stats"].get("rows", 0), "errors": keys, "peak_kib": peak}


def run_in_subprocess(engine: str, path: Path, schema_file: Path) -> dict[str, Any]:
    """Run one engine in a fresh interpreter and read its JSON summary."""
    result_file = path.with_suffix(f".{engine}.json")
    command = [sys.executable, __file__, "--worker", engine, str(path), str(schema_file), str(result_file)]
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads(result_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-frictionless", action="store_true")
    parser.add_argument("--worker", nargs=4, metavar=("ENGINE", "CSV", "SCHEMA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        engine, csv_path, schema_file, out_file = args.worker
        schema = json.loads(Path(schema_file).read_text())
        run = run_ours if engine == "ours" else run_frictionless
        Path(out_file).write_text(json.dumps(run(csv_path, schema)))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"air-quality-{args.rows}.csv"
    schema_file = OUT / "air-quality-observation.schema.json"
    schema_file.write_text(json.dumps(load_schema()))
    started = time.perf_counter()
    planted = generate(path, args.rows)
    logger.info("generated %s (%d rows, %.1f MB) in %.1f s; planted %s", path.name, args.rows,
                path.stat().st_size / 1e6, time.perf_counter() - started, planted)
    ours = run_in_subprocess("ours", path, schema_file)
    theirs = None if args.skip_frictionless else run_in_subprocess("frictionless", path, schema_file)
    print_table(args.rows, ours, theirs)


def print_table(rows: int, ours: dict[str, Any], theirs: dict[str, Any] | None) -> None:
    """Print the comparison."""
    line = "{:<22} {:>12} {:>12} {:>10} {:>12}"
    print(line.format("engine", "seconds", "rows/s", "errors", "peak MiB"))
    engines = [("hub.validation", ours)] + ([("frictionless-py", theirs)] if theirs else [])
    for name, result in engines:
        print(line.format(name, f"{result['seconds']:.2f}", f"{rows / result['seconds']:,.0f}",
                          len(result["errors"]), f"{result['peak_kib'] / 1024:.0f}"))
    if theirs:
        print(f"speed ratio: {theirs['seconds'] / ours['seconds']:.1f}x")
        same = ours["errors"] == theirs["errors"]
        print(f"identical error lists (rowNumber, fieldNumber, fieldName, type, note): {'yes' if same else 'NO'}")
        if not same:
            for a, b in zip(ours["errors"], theirs["errors"], strict=False):
                if a != b:
                    print(f"  first difference: ours {a} vs frictionless {b}")
                    break


if __name__ == "__main__":
    main()
