"""bench/ui.py's page weight, timing and report on a tiny catalogue, through the app in-process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from api.support import client_for
from sqlalchemy import Engine

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_bench() -> ModuleType:
    """bench/ui.py under a name of its own (tests/ui is a folder of tests), its siblings
    (api_common, api_records, api_search) importable as the bench imports them."""
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_ui", BENCH / "ui.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench()


def test_weights_timings_and_report(
    engine: Engine, bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    bench.publish_small("bench-air-small")
    bench.publish_small("bench-air-other")
    wanted = bench.kinds("atmo-demo", bench.CHARTER, "bench-air-small", "bench-air-other")
    with client_for(engine) as client:
        found, notes = bench.present(client, wanted)
        weights = {kind.name: bench.weigh(client, kind.page) for kind in found}
        samples = bench.latencies(client, found, requests=3, warmup=1)
    names = [kind.name for kind in found]
    required = ["home", "search: air", "search: air + theme facet"]
    assert names[:5] == [*required, "dataset, small", "dataset, large"]
    # Pages being built are timed once they answer, and noted while they do not.
    missing = {k.name for k in wanted if k.optional} - set(names)
    assert len(notes) == len(missing)
    for kind in found:
        weight = weights[kind.name]
        assert weight.html > 0
        assert weight.js + weight.css > 0, f"{kind.name} links no script and no stylesheet"
        assert all(size > 0 for _, size in weight.files)
        assert not weight.missing, f"{kind.name} links files that do not answer"
        assert len(samples[kind.name]["page"]) == len(samples[kind.name]["api"]) == 3
    table = bench.rows(found, samples)
    assert [row.name for row in table] == [*names, "overall"]
    assert all(row.page_p95 > 0 and row.api_p95 > 0 for row in table)
    bench.print_timing(table)
    bench.print_weights(found, weights)
    printed = capsys.readouterr().out
    assert all(name[:33] in printed for name in [*names, "overall"])
