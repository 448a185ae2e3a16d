"""The real-time feed under load (issue 11, Performance): subscribers with mixed filters on
`GET /api/v1/feeds/stream`, events published through the event log at a steady rate, beside a
bare asyncio broadcast of the same events to as many in-process queues in the same run.

    .venv/bin/python -m bench.feeds [--subscribers 1000] [--rate 1000] [--seconds 60]
                                    [--idle 2000] [--clients 4] [--skip-replicas]
                                    [--loop auto|asyncio|uvloop]

Everything runs on this machine: a PostgreSQL schema of its own (HUB_BENCH_DATABASE_URL, default
postgresql://127.0.0.1:5432/test; dropped at the end), a private `redis-server` on a free port,
and `hub serve` processes on free ports, each in its own process group, stopped on exit,
Ctrl-C or SIGTERM (and killed by the kernel if the bench is killed outright).

1. bare: one asyncio loop publishes each batch to `--subscribers` queues; one task per queue
   applies its subscriber's filter and notes each matching event's delay since its stamp.
2. one process: one `hub serve`; `--clients` client processes (bench/feeds_load.py, bare
   asyncio sockets) stream the subscribers' filters from it. This process appends the events
   to the log with `hub.events.append` in batches (every 50 ms, one transaction each, as the
   gate does), each payload stamped with its publish time, then wakes the feeds over Redis.
3. two replicas: the same with a second `hub serve`; subscribers alternate between the two.
4. idle: `--idle` streams that no event matches, opened on one `hub serve`: its resident memory
   before and after.

`--loop` is the event loop uvicorn runs the servers on: `auto` (`hub serve` as it is: uvloop when
installed), or `asyncio` / `uvloop` forced, to compare the two in alternate runs. The bare side and
the client processes always run on asyncio's own loop, whatever the servers use.

Each client knows from the event numbers which events its filters match: lost events are
those it should have received and had not once deliveries stopped (no event for 20 s after the
last batch, or 5 minutes at most); a stream that ends is opened again with its
`Last-Event-ID`, as EventSource does. Latency is publish stamp → receipt (one clock). A side
that cannot keep up shows it as latency that grows over the run (p50 in seconds), and as
published/s below `--rate` when the publisher itself is starved (the bare side shares its loop
with the consumers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import sqlalchemy as sa  # noqa: E402
from api_common import Children, die_with_parent, free_port, load_average, memory, wait_until_up  # noqa: E402

from bench.feeds_load import DATASETS, IDLE_DATASET, event_at, payload, subscriber  # noqa: E402
from hub import events  # noqa: E402
from hub.bus import reset_bus  # noqa: E402
from hub.config import get_settings  # noqa: E402
from hub.db import get_engine, make_engine, normalise_url, reset_engines, upgrade  # noqa: E402

log = logging.getLogger("bench.feeds")
HUB = Path(sys.executable).with_name("hub")
BATCH_SECONDS = 0.05  # the publisher commits a batch this often
# `hub serve` with uvicorn's event loop forced to the one named first (sys.argv[1]).
SERVE_ON_LOOP = (
    "import functools, sys, uvicorn; "
    "uvicorn.run = functools.partial(uvicorn.run, loop=sys.argv.pop(1)); "
    "from hub.cli import app; app()"
)
STALL_SECONDS = 20.0  # after the last batch: counting starts once no event arrived for this long
DRAIN_LIMIT_SECONDS = 300.0  # ... or after this, whatever still flows


@dataclass
class Figures:
    """One side's outcome."""

    name: str
    latencies: list[float]
    expected: int
    received: int
    missing: int
    duplicates: int
    unexpected: int
    reconnections: int
    published: int
    publish_seconds: float
    cpu: float  # CPU seconds of the server processes (bare: of its loop) from start to count
    starved: float = 0.0  # seconds the server's threads were runnable but waited for a CPU
    loop: str = "asyncio"  # the event loop it ran on

    def cut(self, share: float) -> float:
        """The latency below which `share` of the deliveries fall, in ms."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1e3


# --- the baseline --------------------------------------------------------------------------


async def broadcast(subscribers: int, rate: int, seconds: float) -> Figures:
    """The same events, batched the same way, to `subscribers` asyncio queues in one loop."""
    chosen = [subscriber(n) for n in range(subscribers)]
    queues: list[asyncio.Queue[list[tuple[Any, float]] | None]] = [asyncio.Queue() for _ in chosen]
    latencies: list[float] = []
    counts = [0] * subscribers

    async def consume(index: int) -> None:
        who, queue = chosen[index], queues[index]
        while (batch := await queue.get()) is not None:
            now = time.time()
            for event, stamp in batch:
                if who.matches(event):
                    counts[index] += 1
                    latencies.append(now - stamp)

    consumers = [asyncio.create_task(consume(i)) for i in range(subscribers)]
    cpu, starved = time.process_time(), waited_seconds(os.getpid())
    started = time.monotonic()
    published = await pace(rate, seconds, lambda batch: [q.put_nowait(batch) for q in queues])
    spent = time.monotonic() - started
    for queue in queues:
        queue.put_nowait(None)
    await asyncio.gather(*consumers)
    cpu, starved = time.process_time() - cpu, waited_seconds(os.getpid()) - starved
    everything = [event_at(seq) for seq in range(published)]
    expected = sum(1 for who in chosen for e in everything if who.matches(e))
    received = sum(counts)
    return Figures(
        "bare asyncio broadcast",
        latencies,
        expected,
        received,
        expected - received,
        0,
        0,
        0,
        published,
        spent,
        cpu,
        starved,
    )


def batching(rate: int, seconds: float) -> tuple[int, float, int]:
    """Events per batch, seconds between batches (about BATCH_SECONDS, so that the rate is
    exact), and how many batches fill `seconds`."""
    per_batch = max(1, round(rate * BATCH_SECONDS))
    every = per_batch / rate
    return per_batch, every, max(1, round(seconds / every))


async def pace(rate: int, seconds: float, send: Any) -> int:
    """Hand `send` a batch of stamped events about every BATCH_SECONDS for `seconds`; how many."""
    per_batch, every, batches = batching(rate, seconds)
    start = time.monotonic()
    for number in range(batches):
        await asyncio.sleep(max(0.0, start + number * every - time.monotonic()))
        stamp = time.time()
        first = number * per_batch
        send([(event_at(seq), stamp) for seq in range(first, first + per_batch)])
    return batches * per_batch


# --- the hub -------------------------------------------------------------------------------


def publish(rate: int, seconds: float) -> tuple[int, float]:
    """Append the events to the log in batches, as the gate does, then wake the feeds."""
    engine = get_engine()
    per_batch, every, batches = batching(rate, seconds)
    start = time.monotonic()
    for number in range(batches):
        time.sleep(max(0.0, start + number * every - time.monotonic()))
        first = number * per_batch
        stamp = time.time()
        entries = [entry(event_at(seq), stamp) for seq in range(first, first + per_batch)]
        with engine.begin() as connection:
            events.append(connection, entries)
        events.announce()
    return batches * per_batch, time.monotonic() - start


def entry(event: Any, stamp: float) -> dict[str, Any]:
    """A log entry of the gate's shape."""
    return {
        "kind": event.kind,
        "dataset_id": event.dataset,
        "theme": event.theme,
        "access": "open",
        "subject": "",
        "payload": payload(event, stamp),
    }


class Bench:
    """The services a run starts and stops: a schema, a Redis, `hub serve` processes."""

    def __init__(self, work: Path, database: str, loop: str = "auto") -> None:
        self.work = work
        self.loop = loop  # uvicorn's event loop in the servers (auto: as `hub serve` has it)
        self.children = Children()
        self.key = secrets.token_urlsafe(48)
        self.schema = f"bench_feeds_{uuid.uuid4().hex[:10]}"
        self.admin = sa.create_engine(normalise_url(database))
        separator = "&" if "?" in database else "?"
        self.database = f"{database}{separator}options=-csearch_path%3D{self.schema}"
        self.redis = ""

    def start(self) -> None:
        """Create and migrate the schema, start Redis, point this process at both."""
        with self.admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
        migrated = make_engine(self.database)
        upgrade(migrated)
        register_datasets(migrated)
        migrated.dispose()
        port = free_port()
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.work)]
        self.children.start(command, dict(os.environ), self.work / "redis.log")
        self.redis = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 30
        while not _answers_ping(port):
            if time.monotonic() > deadline:
                raise SystemExit("the private redis-server did not start")
            time.sleep(0.1)
        os.environ.update(HUB_DATABASE_URL=self.database, HUB_BUS_URL=self.redis)
        os.environ["HUB_DATA_DIR"] = str(self.work / "bench-var")
        get_settings.cache_clear()
        reset_engines()
        reset_bus()

    def serve(self, name: str) -> tuple[str, int]:
        """A `hub serve` on the shared database and Redis: its URL and process id."""
        port = free_port()
        env = {
            **os.environ,
            "HUB_DATA_DIR": str(self.work / name),
            "HUB_SECRET_KEY": self.key,
            "PREFECT_HOME": str(self.work / name / "prefect-home"),
            # The deployment's Prefect server: no replica starts one of its own.
            "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
        }
        log_file = self.work / f"serve-{name}.log"
        command = [str(HUB)]
        if self.loop != "auto":
            command = [sys.executable, "-c", SERVE_ON_LOOP, self.loop]
        process = self.children.start([*command, "serve", "--port", str(port)], env, log_file)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, "/healthz", process, log_file)
        return url, process.pid

    def stop(self) -> None:
        """Stop every process, drop the schema."""
        self.children.stop_all()
        reset_engines()
        with self.admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.admin.dispose()


def register_datasets(engine: sa.Engine) -> None:
    """The datasets the events are of, in the catalogue: a stream may name only datasets that
    exist (a misspelt one is a 400)."""
    from sqlmodel import Session

    from hub.models import Dataset, Organization

    with Session(engine) as session:
        session.add(Organization(id="feeds-bench", name="Feeds bench"))
        session.flush()
        for dataset_id in (*DATASETS, IDLE_DATASET):
            theme = dataset_id.removeprefix("bench-").rsplit("-", 1)[0]
            session.add(
                Dataset(
                    id=dataset_id,
                    title=dataset_id,
                    organization_id="feeds-bench",
                    theme=theme if dataset_id != IDLE_DATASET else "risk",
                    schema_name="air-quality-observation",
                    charter_id="feeds-bench-open",
                )
            )
        session.commit()


def _answers_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def open_clients(
    bench: Bench, urls: list[str], subscribers: int, processes: int, idle: bool, name: str
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """Client processes with their share of the subscribers, once every stream answered; each
    stream starts after the newest event logged now."""
    with get_engine().connect() as connection:
        after = events.newest_id(connection)
    started = []
    for index in range(processes):
        out = bench.work / f"{name}-{index}.json"
        config = bench.work / f"{name}-{index}-config.json"
        mine = list(range(index, subscribers, processes))
        config.write_text(
            json.dumps(
                {"urls": urls, "subscribers": mine, "idle": idle, "out": str(out), "after": after}
            )
        )
        command = [sys.executable, "-m", "bench.feeds_load", str(config)]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        bench.children.processes.append(process)
        started.append((process, out))
    for process, _ in started:
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise SystemExit(f"a client process ended before its streams opened ({process.args})")
    return started


def drain(clients: list[tuple[subprocess.Popen[bytes], Path]], published: int) -> None:
    """Wait while events are still arriving: until every expected one has, or none arrived for
    STALL_SECONDS (or DRAIN_LIMIT_SECONDS passed); what has not arrived by then is lost."""
    last, still_since, started = -1, time.monotonic(), time.monotonic()
    while time.monotonic() - started < DRAIN_LIMIT_SECONDS:
        received = expected = 0
        for process, _ in clients:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(f"count {published}\n".encode())
            process.stdin.flush()
            got, wanted = map(int, process.stdout.readline().split())
            received, expected = received + got, expected + wanted
        if received >= expected:
            return
        if received != last:
            last, still_since = received, time.monotonic()
        elif time.monotonic() - still_since >= STALL_SECONDS:
            return
        time.sleep(0.5)
    log.warning("clients still receiving after %.0f s: counting now", DRAIN_LIMIT_SECONDS)


def close_clients(
    bench: Bench, clients: list[tuple[subprocess.Popen[bytes], Path]], published: int
) -> list[dict[str, Any]]:
    """Tell the client processes how many events went out; their subscribers' counts."""
    for process, _ in clients:
        assert process.stdin is not None
        process.stdin.write(f"stop {published}\n".encode())
        process.stdin.flush()
    counts = []
    for process, out in clients:
        process.wait(timeout=600)
        bench.children.processes.remove(process)
        counts.extend(json.loads(out.read_text()))
    return counts


def through_hub(
    bench: Bench, name: str, servers: list[tuple[str, int]], args: argparse.Namespace
) -> Figures:
    """Subscribers on `servers` (URL, pid), events through the log: the figures."""
    slug = "replicas" if len(servers) > 1 else "one"
    urls, pids = [url for url, _ in servers], [pid for _, pid in servers]
    clients = open_clients(bench, urls, args.subscribers, args.clients, False, slug)
    cpu = sum(cpu_seconds(pid) for pid in pids)
    starved = sum(waited_seconds(pid) for pid in pids)
    published, spent = publish(args.rate, args.seconds)
    drain(clients, published)
    counts = close_clients(bench, clients, published)
    return Figures(
        name,
        [x for c in counts for x in c["latencies"]],
        *(
            sum(c[k] for c in counts)
            for k in (
                "expected",
                "received",
                "missing",
                "duplicates",
                "unexpected",
                "reconnections",
            )
        ),
        published,
        spent,
        sum(cpu_seconds(pid) for pid in pids) - cpu,
        sum(waited_seconds(pid) for pid in pids) - starved,
        event_loop(pids[0]),
    )


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def waited_seconds(pid: int) -> float:
    """Time a process's threads have spent runnable but waiting for a CPU (the scheduler's run
    queue, /proc/PID/task/*/schedstat): on a shared machine, the CPU it asked for and did not
    get. Threads that ended meanwhile are not counted."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def event_loop(pid: int) -> str:
    """The event loop a server runs on: uvloop if it loaded uvloop's library, else asyncio's."""
    return "uvloop" if "/uvloop/" in Path(f"/proc/{pid}/maps").read_text() else "asyncio"


def idle_memory(bench: Bench, url: str, pid: int, args: argparse.Namespace) -> tuple[int, int]:
    """The server's RSS (KiB) before and after `--idle` streams that nothing matches."""
    time.sleep(1.0)
    before = memory(pid)["VmRSS"]
    clients = open_clients(bench, [url], args.idle, args.clients, True, "idle")
    time.sleep(3.0)  # let the server settle with every stream open
    after = memory(pid)["VmRSS"]
    close_clients(bench, clients, 0)
    return before, after


# --- the report ----------------------------------------------------------------------------


def report(rows: list[Figures], args: argparse.Namespace, idle: tuple[int, int] | None) -> None:
    bare = rows[0]
    print(
        f"\n{args.subscribers} subscribers, {args.rate} events/s for {args.seconds:g} s, "
        f"servers on {rows[-1].loop} (load average {load_average()})"
    )
    print(
        "| side | p50 ms | p99 ms | p99 / bare | delivered | expected | lost | dup "
        "| reconn. | published/s | server CPU s | CPU / bare | waited for a CPU s |"
    )
    print("|" + "---|" * 13)
    for row in rows:
        ratio = row.cut(0.99) / bare.cut(0.99) if bare.cut(0.99) > 0 else float("nan")
        print(
            f"| {row.name} | {row.cut(0.5):.1f} | {row.cut(0.99):.1f} | {ratio:.2f}× "
            f"| {row.received} | {row.expected} | {row.missing} | {row.duplicates} "
            f"| {row.reconnections} | {row.published / row.publish_seconds:.0f} "
            f"| {row.cpu:.1f} | {row.cpu / bare.cpu if bare.cpu > 0 else float('nan'):.1f}× "
            f"| {row.starved:.1f} |"
        )
    if idle is not None:
        before, after = idle
        each = (after - before) / max(args.idle, 1)
        print(
            f"\n{args.idle} idle streams on one `hub serve`: RSS {before / 1024:.1f} MiB → "
            f"{after / 1024:.1f} MiB (+{each:.1f} KiB each)"
        )
    if args.json:
        summary: dict[str, Any] = {
            row.name: {
                "loop": row.loop,
                "p50_ms": row.cut(0.5),
                "p99_ms": row.cut(0.99),
                "received": row.received,
                "expected": row.expected,
                "lost": row.missing,
                "duplicates": row.duplicates,
                "unexpected": row.unexpected,
                "reconnections": row.reconnections,
                "published": row.published,
                "cpu_seconds": row.cpu,
                "cpu_wait_seconds": row.starved,
            }
            for row in rows
        }
        if idle is not None:
            summary["idle"] = {
                "connections": args.idle,
                "rss_before_kib": idle[0],
                "rss_after_kib": idle[1],
            }
        Path(args.json).write_text(json.dumps(summary, indent=2))


def main() -> None:
    """Parse the flags, run the sides, stop every process whatever happens."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=1000, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--idle", type=int, default=2000, help="idle streams (0: skip)")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--skip-replicas", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="uvicorn's event loop in the servers (auto: uvloop when installed)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not shutil.which("redis-server"):
        raise SystemExit("bench/feeds needs redis-server (make services installs it)")
    database = os.environ.get("HUB_BENCH_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
    work = Path(tempfile.mkdtemp(prefix="hub-bench-feeds-"))
    bench = Bench(work, database, args.loop)
    keep = False
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    try:
        bench.start()
        rows = [asyncio.run(broadcast(args.subscribers, args.rate, args.seconds))]
        a = bench.serve("a")
        idle = idle_memory(bench, *a, args) if args.idle else None  # a fresh process
        rows.append(through_hub(bench, "hub, one process", [a], args))
        if not args.skip_replicas:
            b = bench.serve("b")
            rows.append(through_hub(bench, "hub, two replicas + Redis", [a, b], args))
        report(rows, args, idle)
        keep = any(row.missing for row in rows)
    finally:
        bench.stop()
        if keep:  # the servers' logs say what happened to the lost events
            print(f"\nevents were lost: the servers' logs are kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
