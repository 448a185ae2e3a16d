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
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airdata import OUT, ROOT, generate, load_schema  # noqa: E402

logger = logging.getLogger("bench.validate")


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
    return {
        "seconds": seconds,
        "rows": task["stats"].get("rows", 0),
        "errors": keys,
        "peak_kib": peak,
    }


def run_in_subprocess(engine: str, path: Path, schema_file: Path) -> dict[str, Any]:
    """Run one engine in a fresh interpreter and read its JSON summary."""
    result_file = path.with_suffix(f".{engine}.json")
    command = [
        sys.executable,
        __file__,
        "--worker",
        engine,
        str(path),
        str(schema_file),
        str(result_file),
    ]
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads(result_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-frictionless", action="store_true")
    parser.add_argument(
        "--worker", nargs=4, metavar=("ENGINE", "CSV", "SCHEMA", "OUT"), help=argparse.SUPPRESS
    )
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
    logger.info(
        "generated %s (%d rows, %.1f MB) in %.1f s; planted %s",
        path.name,
        args.rows,
        path.stat().st_size / 1e6,
        time.perf_counter() - started,
        planted,
    )
    ours = run_in_subprocess("ours", path, schema_file)
    theirs = (
        None if args.skip_frictionless else run_in_subprocess("frictionless", path, schema_file)
    )
    print_table(args.rows, ours, theirs)


def print_table(rows: int, ours: dict[str, Any], theirs: dict[str, Any] | None) -> None:
    """Print the comparison."""
    line = "{:<22} {:>12} {:>12} {:>10} {:>12}"
    print(line.format("engine", "seconds", "rows/s", "errors", "peak MiB"))
    engines = [("hub.validation", ours)] + ([("frictionless-py", theirs)] if theirs else [])
    for name, result in engines:
        print(
            line.format(
                name,
                f"{result['seconds']:.2f}",
                f"{rows / result['seconds']:,.0f}",
                len(result["errors"]),
                f"{result['peak_kib'] / 1024:.0f}",
            )
        )
    if theirs:
        print(f"speed ratio: {theirs['seconds'] / ours['seconds']:.1f}x")
        same = ours["errors"] == theirs["errors"]
        answer = "yes" if same else "NO"
        print(f"identical error lists (rowNumber, fieldNumber, fieldName, type, note): {answer}")
        if not same:
            for a, b in zip(ours["errors"], theirs["errors"], strict=False):
                if a != b:
                    print(f"  first difference: ours {a} vs frictionless {b}")
                    break


if __name__ == "__main__":
    main()
