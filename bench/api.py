"""The service builders' API over HTTP, beside Datasette serving the same SQLite file in the
same run: CKAN's package_search and package_show on a generated catalogue (bench/api_search.py),
and time + bbox pages of a generated observation table through the REST records route with the
table's whole CSV export (bench/api_records.py).

    .venv/bin/python bench/api.py [--datasets 100000] [--requests 200] [--clients 8]
                                  [--load-seconds 5] [--records-rows 10000000]
                                  [--skip-search] [--skip-records] [--skip-export] [--resident]
                                  [--keep | --catalogue bench/out/api]
                                  [--records-catalogue bench/out/api-records]

Each part generates its data into a fresh SQLite catalogue in a temporary folder, then starts
two servers on free localhost ports, each in its own process group, stopped on exit, Ctrl-C or
SIGTERM (and killed by the kernel if the bench is killed outright):

  hub        the hub's app under uvicorn, as `hub serve` runs it;
  datasette  Datasette (from PyPI) on the same file, immutable (`datasette serve -i`).

The search part's servers are stopped before the records part starts. Every figure is printed
beside Datasette's for the same query in the same run, and as a ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from api_common import HERE, Children, load_average
from api_records import run_records
from api_search import run_search


def main() -> None:
    """Parse the flags, run the parts asked for, stop every server whatever happens."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=100_000, help="search: catalogue size")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per kind")
    parser.add_argument("--clients", type=int, default=8, help="concurrent package_show clients")
    parser.add_argument("--load-seconds", type=float, default=5.0)
    parser.add_argument(
        "--records-rows", type=int, default=10_000_000, help="records: observations generated"
    )
    parser.add_argument(
        "--resident",
        action="store_true",
        help="search: hold the catalogue file in memory (mlock) while timing, so that no request "
        "waits on storage",
    )
    parser.add_argument("--skip-search", action="store_true", help="run the records part only")
    parser.add_argument("--skip-records", action="store_true", help="run the search part only")
    parser.add_argument(
        "--skip-export", action="store_true", help="records: time the pages, not the CSV export"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the generated files in bench/out/api/ and bench/out/api-records/",
    )
    parser.add_argument(
        "--catalogue",
        type=Path,
        help="search: measure a catalogue kept by --keep instead of generating one",
    )
    parser.add_argument(
        "--records-catalogue",
        type=Path,
        help="records: measure a table kept by --keep instead of generating one",
    )
    args = parser.parse_args()
    # Ctrl-C even where the shell started the bench with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    print(f"load average at start: {load_average()} ({os.cpu_count()} cores)", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    try:
        if not args.skip_search:
            part(run_search, args, folder / "search")
            if args.keep and not args.catalogue:
                kept = HERE / "out" / "api"
                shutil.rmtree(kept, ignore_errors=True)
                shutil.move(folder / "search", kept)
                print(f"catalogue kept in {kept}")
        if not args.skip_records:
            if not args.skip_search:
                print()
            part(run_records, args, folder / "records")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def part(
    run: Callable[[argparse.Namespace, Path, Children], None],
    args: argparse.Namespace,
    workdir: Path,
) -> None:
    """One part in `workdir`, its servers stopped when it ends, however it ends."""
    workdir.mkdir(parents=True)
    children = Children()
    try:
        run(args, workdir, children)
    finally:
        children.stop_all()


if __name__ == "__main__":
    main()
