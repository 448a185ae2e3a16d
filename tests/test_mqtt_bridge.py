"""The MQTT bridge against real brokers: the machine's Mosquitto, and private ones it restarts."""

from __future__ import annotations

import getpass
import json
import logging
import os
import queue
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from api.support import air_batch, write_closed_charters
from fastapi.testclient import TestClient
from test_events import readings

from hub import crises, events
from hub.catalogue import publish
from hub.config import SettingsError, get_settings
from hub.feeds import grants
from hub.mqttbridge import Bridge, Broker
from hub.mqttbridge.messages import level

HOST, PORT = "127.0.0.1", 1883
MOSQUITTO = Path("/usr/sbin/mosquitto")
ON_POSTGRES = bool(os.environ.get("HUB_TEST_DATABASE_URL"))
WAIT = 30.0  # seconds before a wait fails the test (not a timing assert: a bound on a hang)


def reachable(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture
def broker() -> Broker:
    """The machine's Mosquitto."""
    if not reachable(PORT):
        pytest.skip(f"no MQTT broker at {HOST}:{PORT} (start mosquitto to run these tests)")
    return Broker(HOST, PORT, tls=False)


@pytest.fixture
def root() -> str:
    """A topic root of this test's own: parallel runs share the broker, never a topic."""
    return f"hubtest-{uuid.uuid4().hex[:12]}"


def wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@dataclass
class Message:
    topic: str
    data: dict
    retained: bool


class Listener:
    """A subscriber to ROOT/#, collecting what arrives (retained values first)."""

    def __init__(self, port: int, root: str) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.seen: list[Message] = []
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self._client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(f"{root}/#", qos=1)
        self._client.on_message = self._receive
        self.subscribed = threading.Event()
        self._client.on_subscribe = lambda _c, _u, _m, _r, _p: self.subscribed.set()
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.connect_async(HOST, port)
        self._client.loop_start()

    def _receive(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.payload:  # an empty retained payload is a topic being cleared
            data = json.loads(message.payload)
            self.messages.put(Message(message.topic, data, bool(message.retain)))

    def until(self, condition: Callable[[Message], bool], what: str) -> Message:
        """The first message (from now or already seen) that meets the condition."""
        found = next((m for m in self.seen if condition(m)), None)
        deadline = time.monotonic() + WAIT
        while found is None:
            left = deadline - time.monotonic()
            assert left > 0, f"no MQTT message {what}; got {[m.topic for m in self.seen]}"
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(message)
            found = message if condition(message) else None
        return found

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def listen(root: str) -> Iterator[Callable[..., Listener]]:
    """Open listeners on ROOT/#; after the test, close them and clear the retained topics."""
    opened: list[tuple[int, Listener]] = []

    def open_listener(port: int = PORT) -> Listener:
        listener = Listener(port, root)
        opened.append((port, listener))
        assert listener.subscribed.wait(WAIT), f"could not subscribe to {root}/# on port {port}"
        return listener

    yield open_listener
    for port, listener in opened:
        listener.close()
        if port == PORT and reachable(PORT):  # the shared broker keeps retained values on disk
            topics = {m.topic for m in listener.seen}
            for topic in topics:
                subprocess.run(
                    ["mosquitto_pub", "-h", HOST, "-p", str(port), "-t", topic, "-r", "-n"],
                    check=False,
                    timeout=10,
                )


@pytest.fixture
def bridges(engine, root: str) -> Iterator[Callable[..., Bridge]]:
    """Start bridges on the test's database; every one is stopped (and joined) after."""
    started: list[Bridge] = []

    def start(broker: Broker) -> Bridge:
        bridge = Bridge(engine, broker, root=root, poll_seconds=0.2, standby_seconds=0.2)
        bridge.start()
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.stop()


class Mosquitto:
    """A private broker on a port of its own, which a test can stop and start again."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.folder = folder
        # Run as whoever runs the tests (as root, mosquitto would become `mosquitto` and lose
        # access to this test's folder).
        self.common = (
            f"listener {self.port} {HOST}\npersistence false\nuser {getpass.getuser()}\n"
            f"log_dest file {folder / 'mosquitto.log'}\n"
        )
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"{self.common}allow_anonymous true\n",
            encoding="utf-8",
        )

    def require(self, user: str, password: str) -> None:
        """Accept only this user from now on (anonymous listeners included: they stay out)."""
        passwords = self.folder / "passwords"
        subprocess.run(
            ["mosquitto_passwd", "-c", "-b", str(passwords), user, password],
            check=True,
            capture_output=True,
            timeout=10,
        )
        self.config.write_text(
            f"{self.common}allow_anonymous false\npassword_file {passwords}\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(MOSQUITTO), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self.process
        wait_until(lambda: reachable(self.port) or process.poll() is not None, "mosquitto")
        assert process.poll() is None, (self.folder / "mosquitto.log").read_text("utf-8")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if not MOSQUITTO.exists():
        pytest.skip(f"no mosquitto binary at {MOSQUITTO} to run a private broker")
    broker = Mosquitto(tmp_path)
    yield broker
    broker.stop()


def is_event(kind: str, dataset: str = "") -> Callable[[Message], bool]:
    return lambda m: m.topic.endswith(f"/{kind}") and (not dataset or m.data["dataset"] == dataset)


def test_open_events_reach_their_topics_and_the_latest_is_retained(
    engine, broker, root, bridges, listen
):
    bridge = bridges(broker)
    wait_until(lambda: bridge.active, "the bridge to take its lease")
    live = listen()
    publish(air_batch("demo-no2", "atmo-demo-open", "NO2", readings([3, 2, 1])))
    announced = live.until(is_event("dataset"), "for the dataset")
    assert announced.topic == f"{root}/air-quality/demo-no2/dataset"
    assert announced.data["events"] == 3 and announced.data["dataset"] == "demo-no2"
    observations = [m for m in live.seen if m.topic.endswith("/observation")]
    assert [m.topic for m in observations] == [f"{root}/air-quality/demo-no2/observation"] * 3
    ids = [m.data["event_id"] for m in observations]
    assert ids == sorted(ids) and ids[-1] < announced.data["event_id"]
    newest = observations[-1].data
    assert newest["record"]["value"] == 21.5 and newest["theme"] == "air-quality"
    assert newest["geometry"] == {"type": "Point", "coordinates": [3.88, 43.61]}

    late = listen()  # connects after: gets each topic's newest value, retained
    kept = late.until(is_event("observation"), "retained for a late subscriber")
    assert kept.retained and kept.data == newest
    # The broker hands the messages on before the bridge's thread has read its last PUBACK,
    # and the bridge moves its cursor only then: wait for it, never past the dataset event.
    wait_until(lambda: bridge.last_id is not None, "the bridge to note the broker's acks")
    wait_until(lambda: bridge.last_id == announced.data["event_id"], "the cursor at the last event")


def test_restricted_personal_and_crisis_data_never_reach_the_broker(
    engine, broker, bridges, listen, tmp_path, monkeypatch
):
    write_closed_charters(tmp_path / "charters")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(tmp_path / "charters"))
    get_settings.cache_clear()
    bridge = bridges(broker)
    wait_until(lambda: bridge.active, "the bridge to take its lease")
    live = listen()
    for access in ("restricted", "personal", "crisis"):
        run = publish(air_batch(f"closed-{access}", f"atmo-demo-{access}", "NO2", readings([1])))
        assert run.status == "succeeded"
    publish(air_batch("open-after", "atmo-demo-open", "NO2", readings([1])))
    live.until(is_event("dataset", "open-after"), "for the open dataset published last")
    # The bridge publishes in log order: what came before the open batch was decided already.
    assert {m.data["dataset"] for m in live.seen} == {"open-after"}
    with engine.connect() as connection:
        closed = {e.access for e in events.after(connection, 0) if e.dataset.startswith("closed")}
    assert closed == {"restricted", "personal", "crisis"}  # they were in the log, not sent


def test_crisis_declarations_and_closes_are_published(engine, broker, root, bridges, listen):
    bridge = bridges(broker)
    wait_until(lambda: bridge.active, "the bridge to take its lease")
    live = listen()
    now = datetime.now(UTC)
    area = {
        "type": "Polygon",
        "coordinates": [[[3.8, 43.5], [4.0, 43.5], [4.0, 43.7], [3.8, 43.5]]],
    }
    crisis = crises.declare(
        engine,
        name="Lez flood",
        area=area,
        start=now,
        end=now + timedelta(days=1),
        cells=["metropole-civil-protection", "sdis-secret-cell"],
        by="test",
    )
    declared = live.until(is_event("crisis"), "for the declaration")
    assert declared.topic == f"{root}/risk/crises/crisis"
    assert declared.data["id"] == crisis.id and declared.data["status"] != "closed"
    crises.close(engine, crisis.id, by="test")
    closed = live.until(lambda m: m.data.get("status") == "closed", "for the close")
    assert closed.topic == declared.topic and closed.data["event_id"] > declared.data["event_id"]
    # The broker is public: it gets what an anonymous feed client gets, the cells left out
    # (as GET /api/v1/crises and the SSE feed leave them out for anonymous readers).
    with engine.connect() as connection:
        logged = {e.id: e for e in events.after(connection, 0) if e.kind == "crisis"}
    for message in (declared, closed):
        event = logged[message.data["event_id"]]
        assert "cells" in event.data and "cells" not in message.data
        assert "sdis-secret-cell" not in json.dumps(message.data)
        assert message.data == {**grants.public_data(event), "event_id": event.id}
        assert set(message.data) == set(event.data) - {"cells"} | {"event_id"}


def test_a_bridge_started_while_the_broker_is_down_delivers_once_it_is_up(
    engine, bridges, listen, private_broker
):
    bridge = bridges(Broker(HOST, private_broker.port, tls=False))
    wait_until(lambda: bridge.active, "the bridge to take its lease")
    publish(air_batch("demo-no2", "atmo-demo-open", "NO2", readings([2, 1])))
    assert not bridge.connected and bridge.last_id is None  # nothing to publish to yet
    private_broker.start()
    wait_until(lambda: bridge.last_id is not None, "the broker to acknowledge the batch")
    later = listen(private_broker.port)  # after: what it gets is what the broker retained
    announced = later.until(is_event("dataset"), "for the batch published while it was down")
    assert announced.retained and announced.data["events"] == 2
    assert announced.data["event_id"] == bridge.last_id
    kept = later.until(is_event("observation"), "retained observation")
    assert kept.data["event_id"] == announced.data["event_id"] - 1


def test_a_broker_restart_loses_nothing_still_in_the_log(engine, bridges, listen, private_broker):
    private_broker.start()
    bridge = bridges(Broker(HOST, private_broker.port, tls=False))
    wait_until(lambda: bridge.active and bridge.connected, "the bridge to connect")
    publish(air_batch("before", "atmo-demo-open", "NO2", readings([1])))
    wait_until(lambda: bridge.last_id is not None, "the first batch to be acknowledged")
    private_broker.stop()  # retained values go with it: persistence is off
    wait_until(lambda: not bridge.connected, "the bridge to notice")
    publish(air_batch("during", "atmo-demo-open", "NO2", readings([1])))
    acknowledged = bridge.last_id
    private_broker.start()
    wait_until(lambda: bridge.last_id != acknowledged, "the batch of the outage to be acked")
    after = listen(private_broker.port)  # after: what it gets is what the restarted one kept
    announced = after.until(is_event("dataset", "during"), "for the batch of the outage")
    assert announced.retained and announced.data["event_id"] == bridge.last_id
    assert after.until(is_event("observation", "during"), "observation of the outage")


def test_a_broker_that_wants_a_password_gets_it_and_no_log_shows_it(
    engine, bridges, private_broker, caplog
):
    private_broker.require("dashboards", "wr0ng-or-r1ght")
    private_broker.start()
    caplog.set_level(logging.DEBUG)
    refused = bridges(Broker.from_url(f"mqtt://dashboards:n0t-1t@{HOST}:{private_broker.port}"))
    wait_until(lambda: "refused the bridge" in caplog.text, "the broker to refuse a bad password")
    refused.stop()
    bridge = bridges(
        Broker.from_url(f"mqtt://dashboards:wr0ng-or-r1ght@{HOST}:{private_broker.port}")
    )
    wait_until(lambda: bridge.active and bridge.connected, "the bridge to log in")
    publish(air_batch("with-login", "atmo-demo-open", "NO2", readings([1])))
    wait_until(lambda: bridge.last_id is not None, "the broker to acknowledge the batch")
    assert "mqtt://dashboards@" in caplog.text
    assert "n0t-1t" not in caplog.text and "wr0ng-or-r1ght" not in caplog.text


@pytest.mark.skipif(not ON_POSTGRES, reason="the PostgreSQL lease (SQLite's is a file lock)")
def test_a_bridge_whose_database_session_dies_takes_its_lease_again(
    engine, broker, bridges, listen
):
    bridge = bridges(broker)
    wait_until(lambda: bridge.active, "the bridge to take its lease")
    with engine.begin() as connection:  # what a server restart does to the lease's session
        killed = connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND ((classid::bigint << 32) | objid::bigint) = "
                "hashtextextended('hub.mqtt-bridge:' || current_schema(), 0)"
            )
        ).all()
    assert killed == [(True,)]
    live = listen()
    publish(air_batch("after-kill", "atmo-demo-open", "NO2", readings([1])))
    assert live.until(is_event("dataset", "after-kill"), "after the bridge took its lease again")


def test_with_the_bus_down_the_bridge_finds_the_events_by_reading_the_log(
    engine, broker, bridges, listen, monkeypatch
):
    with socket.socket() as probe:  # a port nothing listens on: Redis is down
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HUB_BUS_URL", f"redis://{HOST}:{port}/0")
    get_settings.cache_clear()
    bridge = bridges(broker)
    wait_until(lambda: bridge.active, "the bridge to take its lease")
    live = listen()
    assert publish(air_batch("no-bus", "atmo-demo-open", "NO2", readings([1]))).status == (
        "succeeded"
    )
    assert live.until(is_event("dataset", "no-bus"), "found by polling the log")


def test_one_bridge_per_database_publishes_and_a_standby_takes_over(
    engine, broker, bridges, listen
):
    first, second = bridges(broker), bridges(broker)
    wait_until(
        lambda: {first.state, second.state} == {"active", "standby"}, "one active, one standby"
    )
    active, standby = (first, second) if first.active else (second, first)
    live = listen()
    publish(air_batch("both", "atmo-demo-open", "NO2", readings([3, 2, 1])))
    live.until(is_event("dataset", "both"), "for the batch")
    ids = [m.data["event_id"] for m in live.seen]
    assert len(ids) == 4 and len(set(ids)) == 4  # once each: the standby published nothing

    active.stop()
    assert active.state == "stopped"
    wait_until(lambda: standby.active, "the standby to take over")
    publish(air_batch("taken-over", "atmo-demo-open", "NO2", readings([1])))
    assert live.until(is_event("dataset", "taken-over"), "from the bridge that took over")


def test_the_bridge_stops_cleanly_and_gives_its_lease_back(engine, broker, bridges):
    bridge = bridges(broker)
    wait_until(lambda: bridge.active and bridge.connected, "the bridge to connect")
    bridge.stop()
    assert bridge.state == "stopped" and not bridge.connected
    names = [thread.name for thread in threading.enumerate()]
    assert not [n for n in names if n == "hub-mqtt-bridge" or n.startswith("paho-mqtt-client-")]
    successor = bridges(broker)
    wait_until(lambda: successor.active, "another bridge to take the lease given back")


def test_the_app_runs_the_bridge_when_hub_mqtt_url_is_set(
    engine, broker, root, listen, monkeypatch
):
    from hub.app import create_app

    monkeypatch.setenv("HUB_MQTT_URL", f"mqtt://{HOST}:{PORT}")
    monkeypatch.setenv("HUB_MQTT_TOPIC_ROOT", root)
    get_settings.cache_clear()
    live = listen()
    with TestClient(create_app()) as client:
        bridge = client.app.state.mqtt_bridge
        wait_until(lambda: bridge.active, "the app's bridge to take its lease")
        publish(air_batch("served", "atmo-demo-open", "NO2", readings([1])))
        live.until(is_event("dataset", "served"), "from the app's bridge")
    assert not [t for t in threading.enumerate() if t.name == "hub-mqtt-bridge"]


def test_broker_urls_are_checked_and_their_passwords_never_shown(monkeypatch):
    broker = Broker.from_url("mqtts://dash%40board:s3cr%2Ft@broker.example.org")
    assert (broker.host, broker.port, broker.tls) == ("broker.example.org", 8883, True)
    assert (broker.username, broker.password) == ("dash@board", "s3cr/t")
    assert "s3cr" not in str(broker) and "s3cr" not in repr(broker)
    assert Broker.from_url("mqtt://localhost").port == 1883
    for bad in ("http://u:s3cret@host", "mqtt://u:s3cret@host:port", "mqtt://u:s3cret@host/a"):
        monkeypatch.setenv("HUB_MQTT_URL", bad)
        get_settings.cache_clear()
        with pytest.raises(SettingsError, match="HUB_MQTT_URL") as refused:
            get_settings()
        assert "s3cret" not in str(refused.value)
    monkeypatch.setenv("HUB_MQTT_URL", "mqtt://host")
    monkeypatch.setenv("HUB_MQTT_TOPIC_ROOT", "city/#")
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="HUB_MQTT_TOPIC_ROOT"):
        get_settings()


def test_topic_levels_from_data_are_made_safe():
    assert level("a/b+c#d\x00") == "a_b_c_d_"
    assert level("") == "_"
    assert level("openaq-toronto-pm25") == "openaq-toronto-pm25"
