"""The event bus: in-process by default, Redis over a real connection when HUB_BUS_URL says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hub.bus import BusUnreachable, MemoryBus, RedisBus, get_bus, subscription
from hub.config import SettingsError, get_settings

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set HUB_TEST_REDIS_URL (make test does)")


def test_the_default_bus_is_in_process():
    assert isinstance(get_bus(), MemoryBus)


def test_memory_subscribers_get_what_is_published_after_they_subscribe():
    bus = MemoryBus()
    early = bus.subscribe()
    bus.publish({"n": 1})
    late = bus.subscribe()
    bus.publish({"n": 2})
    assert [early.get(0.1), early.get(0.1)] == [{"n": 1}, {"n": 2}]
    assert late.get(0.1) == {"n": 2}
    assert late.get(0.01) is None
    late.close()
    bus.publish({"n": 3})
    assert late.get(0.01) is None


def test_a_slow_memory_subscriber_loses_the_oldest_not_the_newest():
    bus = MemoryBus()
    sub = bus.subscribe()
    for n in range(10_005):
        bus.publish({"n": n})
    assert sub.get(0.1) == {"n": 5}


@needs_redis
def test_redis_bus_is_chosen_by_url_and_carries_events_between_connections(monkeypatch):
    monkeypatch.setenv("HUB_BUS_URL", REDIS_URL)
    get_settings.cache_clear()
    assert isinstance(get_bus(), RedisBus)
    other_process_bus = RedisBus(REDIS_URL)  # a second client, as another replica would have
    with subscription() as sub:
        received = []
        reader = threading.Thread(target=lambda: received.append(sub.get(5.0)))
        reader.start()
        other_process_bus.publish({"event": "dataset", "dataset": "x", "published": 3})
        reader.join(6)
    assert received == [{"event": "dataset", "dataset": "x", "published": 3}]


def test_an_unreachable_redis_fails_at_start_up():
    with pytest.raises(
        BusUnreachable, match=r"redis://u:\*\*\*@127\.0\.0\.1:1/0 does not answer"
    ) as caught:
        RedisBus("redis://u:secret@127.0.0.1:1/0")
    assert "secret" not in str(caught.value)


def test_hub_serve_with_an_unreachable_redis_says_so_in_one_line(tmp_path):
    """Before uvicorn starts, whose failed start would print the lifespan's traceback."""
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "HUB_BUS_URL": "redis://u:secret@127.0.0.1:1/0",
        "PREFECT_API_URL": "http://127.0.0.1:1/api",  # no Prefect server started for this
    }
    hub = Path(sys.executable).with_name("hub")
    done = subprocess.run(
        [str(hub), "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=120
    )
    out = done.stdout + done.stderr
    assert done.returncode == 3, out
    assert "HUB_BUS_URL: Redis at redis://u:***@127.0.0.1:1/0 does not answer" in out
    assert "Traceback" not in out and "secret" not in out


@pytest.mark.parametrize(
    "url",
    [
        "redis:/127.0.0.1:18010",  # one slash short
        "http://127.0.0.1:6379/0",
        "127.0.0.1:6379",
        "redis://127.0.0.1:63x9/0",
        "redis://127.0.0.1:6379/zero",
        "unix://run/redis.sock",  # a relative socket path: the host would be "run"
    ],
)
def test_a_bus_url_that_names_no_redis_is_a_settings_error_not_the_in_process_bus(monkeypatch, url):
    from typer.testing import CliRunner

    from hub.cli import app

    monkeypatch.setenv("HUB_BUS_URL", url)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["sources"])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: HUB_BUS_URL ") and "Traceback" not in result.output


def test_a_bus_url_password_is_not_repeated_in_its_error(monkeypatch):
    monkeypatch.setenv("HUB_BUS_URL", "http://hub:s3cret@127.0.0.1:6379/0")
    with pytest.raises(SettingsError) as refused:
        get_settings.cache_clear()
        get_settings()
    assert "HUB_BUS_URL" in str(refused.value) and "s3cret" not in str(refused.value)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_unix_socket_url_chooses_redis(monkeypatch, tmp_path):
    socket = tmp_path / "redis.sock"
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(socket), "--save", "", "--dir",
         str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not socket.exists() and time.monotonic() < deadline:  # a readiness guard
            time.sleep(0.05)
        monkeypatch.setenv("HUB_BUS_URL", f"unix://{socket}?db=1")
        get_settings.cache_clear()
        bus = get_bus()
        assert isinstance(bus, RedisBus)
        with subscription() as sub:
            bus.publish({"event": "dataset", "dataset": "x"})
            assert sub.get(5.0) == {"event": "dataset", "dataset": "x"}
    finally:
        server.terminate()
        server.wait(10)
