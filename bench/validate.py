"""Benchmark: hub.validation vs frictionless-py, in-process and through both command lines.

Run `.venv/bin/python bench/validate.py [--rows N] [--repeat R]`.

1. Air quality: a CSV with ~1 % invalid rows (type, enum, minimum, required and
   duplicate-primary-key errors) in bench/out/, validated by both engines, each in its own
   subprocess (so peak RSS is per engine): rows/s, the speed ratio, peak memory and whether
   both error lists are identical.
2. Outside check: a schema the hub has never seen (a `pattern` on two fields, enums,
   minimum/maximum, `maxLength`, a three-field primary key) and files of N and 1,000 rows
   generated into a temporary folder, timed as whole commands, `hub validate FILE --schema
   SCHEMA --json` against `frictionless validate FILE --schema SCHEMA --json`, in turn, R
   times. The figure is the margin t(N rows) - t(1,000 rows) of each command (start-up and
   imports cancel out), and the ratio of the margins, as medians.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airdata import OUT, ROOT, generate, load_schema  # noqa: E402
from outside import SCHEMA as OUTSIDE_SCHEMA  # noqa: E402
from outside import generate as generate_outside  # noqa: E402

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
    parser.add_argument("--repeat", type=int, default=3, help="runs of each engine, in turn")
    parser.add_argument("--only", choices=("air-quality", "outside"))
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
    if args.only != "outside":
        compare_air_quality(args.rows, args.repeat, args.skip_frictionless)
    if args.only != "air-quality":
        compare_outside(args.rows, args.repeat, args.skip_frictionless)


def compare_air_quality(rows: int, repeat: int, skip_frictionless: bool) -> None:
    """Both engines in turn on the air-quality file, `repeat` times; medians and ratio."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"air-quality-{rows}.csv"
    schema_file = OUT / "air-quality-observation.schema.json"
    schema_file.write_text(json.dumps(load_schema()))
    started = time.perf_counter()
    planted = generate(path, rows)
    logger.info(
        "generated %s (%d rows, %.1f MB) in %.1f s; planted %s",
        path.name,
        rows,
        path.stat().st_size / 1e6,
        time.perf_counter() - started,
        planted,
    )
    runs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for _ in range(repeat):
        ours = run_in_subprocess("ours", path, schema_file)
        theirs = None if skip_frictionless else run_in_subprocess("frictionless", path, schema_file)
        runs.append((ours, theirs))
    print_table(rows, runs)


def compare_outside(rows: int, repeat: int, skip_frictionless: bool) -> None:
    """Both command lines on the outside check's files: margins N rows - 1,000 rows, in turn."""
    with tempfile.TemporaryDirectory(prefix="bench-outside-") as folder:
        schema_file = Path(folder) / "outside.schema.json"
        schema_file.write_text(json.dumps(OUTSIDE_SCHEMA))
        small, large = Path(folder) / "outside-1000.csv", Path(folder) / f"outside-{rows}.csv"
        generate_outside(small, 1000)
        planted = generate_outside(large, rows)
        logger.info("outside check: %s (%d rows), planted %s", large.name, rows, planted)
        bin_dir = Path(sys.executable).parent
        commands = {"hub": [str(bin_dir / "hub"), "validate"]}
        if not skip_frictionless:
            commands["frictionless"] = [str(bin_dir / "frictionless"), "validate"]
        times: dict[tuple[str, Path], list[float]] = {}
        reports: dict[str, Path] = {}
        for _ in range(repeat):
            for path in (small, large):
                for engine, command in commands.items():
                    out = Path(folder) / f"{engine}-{path.stem}.json"
                    # relative names: frictionless refuses a path outside its working folder
                    argv = [*command, path.name, "--schema", schema_file.name, "--json"]
                    times.setdefault((engine, path), []).append(time_command(argv, out, folder))
                    reports[engine] = out
        print_margins(rows, repeat, times, small, large)
        if "frictionless" in reports:
            print_agreement(reports["hub"], reports["frictionless"])


def time_command(argv: list[str], out: Path, folder: str) -> float:
    """Wall seconds of one run of a command in `folder`, its standard output kept in `out`."""
    with out.open("w") as handle:
        started = time.perf_counter()
        subprocess.run(argv, stdout=handle, stderr=subprocess.DEVNULL, check=False, cwd=folder)
        return time.perf_counter() - started


def print_margins(
    rows: int,
    repeat: int,
    times: dict[tuple[str, Path], list[float]],
    small: Path,
    large: Path,
) -> None:
    """Per engine: median wall seconds on both files and the margin; then the margins' ratio."""
    print(f"\noutside check, {rows:,} rows against 1,000 rows, {repeat} runs each, in turn")
    line = "{:<24} {:>12} {:>12} {:>12} {:>12}"
    print(line.format("command", "1,000 rows s", f"{rows:,} s", "margin s", "rows/s"))
    margins: dict[str, list[float]] = {}
    for engine in sorted({engine for engine, _ in times}, key=lambda e: e != "hub"):
        pairs = zip(times[(engine, small)], times[(engine, large)], strict=True)
        margins[engine] = [big - little for little, big in pairs]
        margin = median(margins[engine])
        print(
            line.format(
                f"{engine} validate --json",
                f"{median(times[(engine, small)]):.2f}",
                f"{median(times[(engine, large)]):.2f}",
                f"{margin:.2f}",
                f"{(rows - 1000) / margin:,.0f}",
            )
        )
    if "frictionless" in margins:
        ratios = [f / h for h, f in zip(margins["hub"], margins["frictionless"], strict=True)]
        spread = ", ".join(f"{r:.1f}" for r in ratios)
        print(f"margin ratio frictionless / hub: {median(ratios):.1f}x (runs: {spread})")


def print_agreement(ours: Path, theirs: Path) -> None:
    """Whether both command lines listed exactly the same error descriptors."""
    mine, reference = (json.loads(path.read_text())["tasks"][0] for path in (ours, theirs))
    same = mine["errors"] == reference["errors"] and not reference["warnings"]
    print(
        f"identical error descriptors ({len(mine['errors'])} errors, "
        f"{mine['stats'].get('rows')} rows): {'yes' if same else 'NO'}"
    )


def median(values: list[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def print_table(rows: int, runs: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> None:
    """Print the comparison: median seconds of each engine, and the median of the run ratios."""
    print(f"\nair quality, {rows:,} rows, {len(runs)} runs each, in turn")
    line = "{:<22} {:>12} {:>12} {:>10} {:>12}"
    print(line.format("engine", "seconds", "rows/s", "errors", "peak MiB"))
    ours, theirs = runs[-1]
    engines = [("hub.validation", [r[0] for r in runs])]
    if theirs:
        engines.append(("frictionless-py", [r[1] for r in runs if r[1]]))
    for name, results in engines:
        seconds = median([result["seconds"] for result in results])
        print(
            line.format(
                name,
                f"{seconds:.2f}",
                f"{rows / seconds:,.0f}",
                len(results[-1]["errors"]),
                f"{max(result['peak_kib'] for result in results) / 1024:.0f}",
            )
        )
    if theirs:
        ratios = [t["seconds"] / o["seconds"] for o, t in runs if t]
        spread = ", ".join(f"{r:.1f}" for r in ratios)
        print(f"speed ratio: {median(ratios):.1f}x (runs: {spread})")
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
