"""bench/api's storage accounting: a file held in memory while the cold words are timed, the
hub's reads from storage counted per request, and the report that sets those requests apart."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    import api_search

    return api_search


def locked_kib() -> int:
    """This process's locked memory (VmLck), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1])
    pytest.skip("no VmLck in /proc/self/status")


def test_a_file_is_locked_in_memory_while_held_and_let_go_after(
    bench: ModuleType, tmp_path: Path
) -> None:
    catalogue = tmp_path / "hub.db"
    catalogue.write_bytes(os.urandom(3 * 2**20))
    before = locked_kib()
    try:
        with bench.held_in_memory(catalogue):
            held = locked_kib()
    except SystemExit as refused:  # no CAP_IPC_LOCK and a small `ulimit -l`
        pytest.skip(str(refused))
    assert held - before >= 3 * 1024
    assert locked_kib() == before


def test_a_file_that_cannot_be_mapped_is_a_clear_error(bench: ModuleType, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(SystemExit, match="cannot map"), bench.held_in_memory(empty):
        pass


def test_storage_reads_are_counted_for_a_live_process_only(bench: ModuleType) -> None:
    reads = bench.storage_reads(os.getpid())
    if reads is None:
        pytest.skip("this kernel does not count a process's storage reads")
    assert reads >= 0
    assert bench.storage_reads(2**22 + 7) is None  # above Linux's largest process id


def test_the_requests_that_read_from_storage_are_set_apart(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    seconds = [0.010, 0.030, 0.012, 0.014, 0.050, 0.016]
    cold = bench.Cold(
        samples={"one word": {"hub": seconds, "datasette": seconds}},
        reads={"one word": [0, 2_000_000, 0, 0, 1_500_000, 0]},
        checks={"one word": ("1–2", "same hits")},
    )
    bench.report_storage(cold)
    printed = capsys.readouterr().out
    assert "one word: 2 of 6 requests read 3.5 MB; the 4 others p50 13.0 p95 15.7 ms" in printed

    cold.reads["one word"] = [0] * 6
    bench.report_storage(cold)
    assert "one word: 0 of 6 requests read 0.0 MB\n" in capsys.readouterr().out

    cold.reads["one word"][3] = None
    bench.report_storage(cold)
    assert "not counted by this kernel" in capsys.readouterr().out
