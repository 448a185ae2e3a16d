"""Harvest orchestration: what a Prefect server costs beside calling the harvest directly.

    .venv/bin/python bench/harvest.py [--sources 50] [--concurrency 4] [--rounds 2] [--runs 5]

(a) `--sources` source files (mixed formats: every bundled source that reads a shared sample
    file, cycled, each copy under an id of its own) harvested in one run through the `harvest`
    flow on a Prefect server the bench starts (HUB_HARVEST_CONCURRENCY at a time), beside
    `pipelines.harvesting.harvest_source` called for the same sources in plain threads, as
    many at a time, in the same order. Each side runs in a fresh process on a fresh copy of
    one migrated database; the sides alternate `--rounds` times and the medians are compared.
(b) one small source (the 1,000-row OpenAQ sample) through `hub harvest` as a command, with
    the Prefect server running and without one, beside a command that calls `harvest_source`
    directly: whole processes (start-up and imports included), alternating, `--runs` times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]
OUT = HERE / "out" / "harvest"
HUB = Path(sys.executable).with_name("hub")
SMALL = "openaq_location_3145071_measurements.csv"
SMALL_SOURCE = f"""
id: small-openaq
title: PM2.5 Toronto (OpenAQ), the bench's small source
operator: {{id: openaq, name: OpenAQ, kind: public}}
theme: air-quality
format: openaq-csv
url: file://{{samples}}/air/{SMALL}
schema: air-quality-observation
charter: openaq-cc-by
"""
# Like `hub harvest`, it leaves without the interpreter's teardown (see hub.cli._leave), so the
# ratio is the orchestration's cost, not that of an exit.
DIRECT_ONE = """
import atexit, os, sys
from pipelines.harvesting import harvest_source
from pipelines.orchestration import prepare_store
from pipelines.sources import load_source
prepare_store()
outcome = harvest_source(load_source(sys.argv[1]))
sys.stdout.flush(); sys.stderr.flush(); atexit._run_exitfuncs()
os._exit(0 if outcome.status in ("succeeded", "partial") else 1)
"""


def write_sources(folder: Path, count: int) -> tuple[list[Path], list[str]]:
    """`count` source files cycling through the bundled sample-based sources, ids made unique;
    their paths and formats."""
    import yaml

    from pipelines.sources import find_sources

    templates = [s for s in find_sources() if s.enabled and "{samples}" in s.url and s.path]
    folder.mkdir(parents=True)
    paths = []
    for n in range(count):
        template = templates[n % len(templates)]
        data = yaml.safe_load(template.path.read_text(encoding="utf-8"))  # type: ignore[union-attr]
        data["id"] = f"b{n:02d}-{template.id}"[:60]
        path = folder / f"{data['id']}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        paths.append(path)
    return paths, sorted({t.format for t in templates[:count]})


def migrated_database(folder: Path) -> Path:
    """A migrated, empty catalogue that each run starts from a copy of."""
    folder.mkdir(parents=True)
    env = {**os.environ, "HUB_DATA_DIR": str(folder), "HUB_DATABASE_URL": ""}
    subprocess.run([str(HUB), "db", "upgrade"], env=env, check=True, capture_output=True)
    return folder / "hub.db"


def fresh_data_dir(template: Path, name: str) -> Path:
    """A data folder holding a copy of the migrated catalogue (and the same secret key)."""
    folder = OUT / "runs" / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(template.parent, folder)
    return folder


def child(side: str, paths: list[Path], data_dir: Path, env: dict[str, str]) -> dict:
    """Run one side of (a) in a fresh process; its figures."""
    listing = data_dir / "sources.txt"
    listing.write_text("\n".join(map(str, paths)), encoding="utf-8")
    env = {**env, "HUB_DATA_DIR": str(data_dir), "HUB_DATABASE_URL": ""}
    out = subprocess.run(
        [sys.executable, __file__, "--side", side, "--listing", str(listing)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"{side} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_side(side: str, listing: Path) -> dict:
    """In the child: harvest the listed sources one way; time from before the hub's imports."""
    started = time.perf_counter()
    from pipelines import orchestration

    refs = listing.read_text(encoding="utf-8").split("\n")
    concurrency = orchestration.harvest_concurrency()
    if side == "prefect":
        api = os.environ["PREFECT_API_URL"]
        chosen = orchestration.Orchestration(api, "bench")
        outcomes = orchestration.run_harvests(refs, chosen)
    else:
        outcomes = direct(refs, concurrency)
    seconds = time.perf_counter() - started
    statuses = [o["status"] for o in outcomes]
    return {
        "seconds": seconds,
        "stored": sum(1 for s in statuses if s in ("succeeded", "partial")),
        "failed": [o["source"] for o in outcomes if o["status"] not in ("succeeded", "partial")],
        "published": sum(o["published"] for o in outcomes),
    }


def direct(refs: list[str], concurrency: int) -> list[dict]:
    """The baseline: `harvest_source` in plain threads, in the flow's order (new operators'
    first sources before the rest, as two first harvests of one operator would collide)."""
    from concurrent.futures import ThreadPoolExecutor

    from pipelines.orchestration import harvest_waves, prepare_store

    prepare_store()
    outcomes: dict[int, dict] = {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for wave in harvest_waves(refs):
            done = pool.map(lambda i: one_direct(refs[i]), wave)
            outcomes.update(zip(wave, done, strict=True))
    return [outcomes[i] for i in range(len(refs))]


def one_direct(ref: str) -> dict:
    """One `harvest_source` call; what its run recorded if something broke after the gate."""
    from hub.models import utcnow
    from pipelines.harvesting import Outcome, harvest_source
    from pipelines.orchestration import closed_run_of
    from pipelines.sources import load_source

    source, started = load_source(ref), utcnow()
    try:
        return harvest_source(source).as_dict()
    except Exception as exc:  # noqa: BLE001 — as the hub's harvests do: this source fails alone
        recorded = closed_run_of(source.id, started) or Outcome(
            source.id, "failed", message=str(exc)
        )
        return recorded.as_dict()


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one whole command, which must succeed."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def bench_sources(args: argparse.Namespace, api: str, template: Path, env: dict) -> None:
    """Part (a): the sources through the Prefect server beside direct calls."""
    paths, formats = write_sources(OUT / "sources", args.sources)
    print(f"\n(a) {len(paths)} sources, {len(formats)} formats ({', '.join(formats)}),")
    print(f"    {args.concurrency} at a time, {args.rounds} round(s) of each side alternating\n")
    sides: dict[str, list[dict]] = {"direct": [], "prefect": []}
    for n in range(args.rounds):
        for side in sides:
            run_env = {**env, "PREFECT_API_URL": api if side == "prefect" else ""}
            sides[side].append(child(side, paths, fresh_data_dir(template, f"{side}-{n}"), run_env))
    print(f"{'side':<44}{'seconds':>9}{'stored':>8}{'rows':>10}")
    labels = {
        "direct": "harvest_source, plain threads (baseline)",
        "prefect": "harvest flow on the Prefect server",
    }
    medians = {}
    for side, runs in sides.items():
        medians[side] = statistics.median(r["seconds"] for r in runs)
        last = runs[-1]
        print(f"{labels[side]:<44}{medians[side]:>9.2f}{last['stored']:>8}{last['published']:>10,}")
        if last["failed"]:
            print(f"    did not publish: {', '.join(last['failed'])}")
    ratio = medians["prefect"] / medians["direct"]
    print(f"\norchestration / direct: {ratio:.2f} ({(ratio - 1) * 100:+.0f} %; goal < +25 %)")


def bench_one(args: argparse.Namespace, api: str, template: Path, env: dict) -> None:
    """Part (b): one small source through `hub harvest`, beside a direct call, as commands."""
    small = OUT / "small-openaq.yaml"
    small.write_text(SMALL_SOURCE, encoding="utf-8")
    sides = {
        "hub harvest, Prefect server running": ([str(HUB), "harvest", str(small)], api),
        "hub harvest, no server (in-process)": ([str(HUB), "harvest", str(small)], ""),
        "direct harvest_source (baseline)": ([sys.executable, "-c", DIRECT_ONE, str(small)], ""),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for n in range(args.runs + 1):  # the first round warms caches and is not counted
        for name, (command, url) in sides.items():
            folder = fresh_data_dir(template, f"one-{len(times[name])}")
            run_env = {**env, "HUB_DATA_DIR": str(folder), "PREFECT_API_URL": url}
            seconds = timed(command, run_env)
            if n:
                times[name].append(seconds)
    baseline = statistics.median(times["direct harvest_source (baseline)"])
    print(f"\n(b) one source ({SMALL}, 1,000 rows) as a whole command, median of {args.runs}\n")
    print(f"{'command':<40}{'median s':>10}{'min':>8}{'max':>8}{'× direct':>10}")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:<40}{median:>10.2f}{min(values):>8.2f}{max(values):>8.2f}"
            f"{median / baseline:>10.2f}"
        )
    print("\ngoal: hub harvest with the server running ≤ 2× the direct call")


def main() -> None:
    """Start a Prefect server, run (a) and (b), print the figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--side", choices=("direct", "prefect"))
    parser.add_argument("--listing", type=Path)
    args = parser.parse_args()
    if args.side:  # child process
        print(json.dumps(run_side(args.side, args.listing)))
        return
    from pipelines.orchestrator import Orchestrator

    shutil.rmtree(OUT, ignore_errors=True)
    env = {**os.environ, "HUB_HARVEST_CONCURRENCY": str(args.concurrency)}
    env.pop("HUB_DATABASE_URL", None)  # each run on a copy of one migrated SQLite catalogue
    template = migrated_database(OUT / "template")
    started = time.perf_counter()
    server = Orchestrator(OUT / "prefect", schedules=False)
    server.start()
    try:
        if not server.ready.wait(600):
            raise SystemExit(f"the Prefect server did not start: see {OUT / 'prefect'}")
        print(f"Prefect server up in {time.perf_counter() - started:.1f} s (fresh database)")
        bench_sources(args, server.url, template, env)
        bench_one(args, server.url, template, env)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
