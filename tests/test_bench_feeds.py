"""bench/feeds.py end to end with tiny numbers, so that it cannot rot: the bare broadcast, one
`hub serve`, two replicas over a private Redis, and idle streams, all counted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flows.processes import child_env
from replicas import POSTGRES_URL, postgres_reachable

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE = postgres_reachable()

pytestmark = [
    pytest.mark.skipif(bool(UNREACHABLE), reason=UNREACHABLE or "-"),
    pytest.mark.skipif(
        not shutil.which("redis-server"), reason="needs redis-server (make services)"
    ),
]


def test_the_feeds_bench_counts_every_event_on_every_side(tmp_path: Path) -> None:
    figures = tmp_path / "feeds.json"
    command = [sys.executable, "-m", "bench.feeds", "--subscribers", "12", "--rate", "40"]
    command += ["--seconds", "1.5", "--idle", "20", "--clients", "2", "--json", str(figures)]
    env = child_env(HUB_BENCH_DATABASE_URL=POSTGRES_URL)
    for name in [n for n in env if n.startswith("HUB_") and n != "HUB_BENCH_DATABASE_URL"]:
        env.pop(name)
    # The bench stops its own servers and clients; the timeout only guards against a hang.
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=500)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    found = json.loads(figures.read_text())
    sides = ["bare asyncio broadcast", "hub, one process", "hub, two replicas + Redis"]
    assert [side for side in found if side != "idle"] == sides
    for side in sides:
        counts = found[side]
        assert counts["published"] == 60
        assert counts["expected"] > 0 and counts["received"] == counts["expected"], side
        assert counts["lost"] == counts["duplicates"] == counts["unexpected"] == 0, side
        assert counts["cpu_seconds"] > 0 and counts["p99_ms"] >= counts["p50_ms"] > 0, side
    assert found["idle"]["connections"] == 20 and found["idle"]["rss_after_kib"] > 0
    table = done.stdout.decode()
    assert all(f"| {side} |" in table for side in sides)
    assert "20 idle streams on one `hub serve`" in table
