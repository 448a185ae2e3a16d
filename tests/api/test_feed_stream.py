"""GET/POST /api/v1/feeds/stream over a real uvicorn server: filters, replay across the live seam,
snapshot, heartbeat, back-pressure, grants and bad input."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import polars as pl
import pytest
import sqlalchemy as sa
from api.subjects import write_charter
from api.support import ATMO, FIELDS, air_batch, bearer, live_server, write_closed_charters
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import audit, crises, events, tokens
from hub.bus import reset_bus
from hub.catalogue import Batch, Publisher, publish
from hub.config import get_settings
from hub.feeds import fanout, tallies
from hub.models import AccessEvent, AccessSubject, Event, SubjectLink
from hub.pseudonyms import pseudonym
from hub.selfdata import consents, links, services

WAIT = 30.0  # a readiness bound for reads, never a timing assertion
CITY = (-1.75, 48.0, -1.55, 48.2)
# st-a and st-b inside the city box; st-c outside it
PLACES = {"st-a": (-1.68, 48.11), "st-b": (-1.60, 48.08), "st-c": (-1.20, 48.30)}


@dataclass
class Message:
    """One SSE message, or a comment (`comment` set)."""

    event: str = "message"
    id: str | None = None
    data: Any = None
    comment: str | None = None


@dataclass
class SSE:
    """A server-sent-events client on a raw socket (so a test can make one that never reads)."""

    base: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    body: bytes = b""
    receive_buffer: int | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.base)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        self.sock.settimeout(WAIT)
        self.sock.connect((parts.hostname, parts.port))
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(self.body)}"]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + self.body)
        self.raw = b""
        self.text = ""
        self.ended = False
        self.chunked = False

    def open(self) -> SSE:
        """Read the status line and headers."""
        while b"\r\n\r\n" not in self.raw:
            self._recv()
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.response_headers = {
            k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)
        }
        self.chunked = self.response_headers.get("transfer-encoding") == "chunked"
        return self

    def json(self) -> Any:
        """The whole body of a non-streamed answer, as JSON."""
        length = int(self.response_headers.get("content-length", "0"))
        while len(self.raw) < length:
            self._recv()
        return json.loads(self.raw[:length])

    def _recv(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.raw += data

    def _decode(self) -> None:
        while self.raw:
            size_line, sep, rest = self.raw.partition(b"\r\n")
            if not sep:
                return
            size = int(size_line, 16)
            if len(rest) < size + 2:
                return
            if size == 0:
                self.ended = True
                self.raw = b""
                return
            self.text += rest[:size].decode()
            self.raw = rest[size + 2 :]

    def next(self) -> Message:
        """The next message or comment (EOFError when the stream ended)."""
        while "\n\n" not in self.text:
            if self.ended:
                raise EOFError("the stream ended")
            self._decode()
            if "\n\n" not in self.text and not self.ended:
                self._recv()
        block, _, self.text = self.text.partition("\n\n")
        found = Message()
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                found.comment = value
            elif name == "event":
                found.event = value
            elif name == "id":
                found.id = value
            elif name == "data":
                found.data = json.loads(value)
        return found

    def events(self) -> Iterator[Message]:
        """Messages that are events (comments and `retry` skipped)."""
        while True:
            message = self.next()
            if message.comment is None and message.data is not None:
                yield message

    def until_idle(self) -> list[Message]:
        """Events until the first heartbeat (the stream has sent all it had)."""
        found = []
        while True:
            message = self.next()
            if message.comment == "heartbeat":
                return found
            if message.data is not None:
                found.append(message)

    def until_id(self, last: int) -> list[Message]:
        """Events up to the one of id `last`."""
        found: list[Message] = []
        deadline = time.monotonic() + WAIT
        for message in self.events():
            found.append(message)
            if message.id is not None and int(message.id) >= last:
                return found
            if message.event in {"overflow", "closed"}:
                raise AssertionError(f"the stream ended: {message.data}")
            if time.monotonic() > deadline:
                raise AssertionError(f"event {last} never came")
        return found

    def close(self) -> None:
        """Hang up."""
        self.sock.close()


def stream(base: str, query: str = "", headers: dict[str, str] | None = None) -> SSE:
    """An open GET stream."""
    return SSE(base, f"/api/v1/feeds/stream{query}", headers or {}).open()


def posted(base: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> SSE:
    """An open POST stream."""
    data = json.dumps(body).encode()
    return SSE(base, "/api/v1/feeds/stream", headers or {}, "POST", data).open()


def readings(
    stations: list[str], hours: list[int], *, value: str = "12.5", pollutant: str = "no2"
) -> pl.DataFrame:
    """Recent hourly readings (the feed announces the last 48 h), `_row` numbered."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = []
    for hour in hours:
        moment = (now - timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for station in stations:
            lon, lat = PLACES[station]
            rows.append(
                dict(
                    zip(
                        FIELDS,
                        [station, station, pollutant, value, "µg/m³", "PT1H", moment]
                        + [f"{lon:.4f}", f"{lat:.4f}", "unverified"],
                        strict=True,
                    )
                )
            )
    frame = pl.DataFrame(rows, schema={f: pl.Utf8 for f in FIELDS})
    return frame.with_columns(pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64))


def put(engine: Engine, dataset: str, charter: str, frame: pl.DataFrame) -> None:
    """Publish through the gate (which logs the events and wakes the feed)."""
    run = publish(air_batch(dataset, charter, f"Air ({dataset})", frame, ATMO), engine=engine)
    assert run.status == "succeeded", run.error


def newest(engine: Engine) -> int:
    with engine.connect() as connection:
        return events.newest_id(connection)


def alert(engine: Engine, severity: str, status: str, geometry: dict[str, Any]) -> int:
    """A logged alert event (as the gate logs a risk-alert record)."""
    record = {"identifier": f"a-{severity}-{status}", "severity": severity, "status": status}
    return events.emit(
        engine,
        "alert",
        dataset_id="cap-alerts",
        theme="risk",
        payload={"geometry": geometry, "severity": severity, "status": status, "record": record},
    )


def square(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def wait_for(check: Any, what: str) -> None:
    """Wait until `check()` holds (a readiness bound, not a timing assertion)."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def the_fanout() -> fanout.Fanout:
    (running,) = [f for f in fanout.running() if f._reader is not None]
    return running


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short heartbeat, refresh and grace, a small queue: what tests can wait for."""
    monkeypatch.setattr(fanout, "HEARTBEAT_SECONDS", 0.4)
    monkeypatch.setattr(fanout, "REFRESH_SECONDS", 0.5)
    monkeypatch.setattr(fanout, "DROP_GRACE_SECONDS", 20.0)
    monkeypatch.setattr(fanout, "QUEUE_SIZE", 40)


@pytest.fixture
def charters(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "charters"
    write_closed_charters(folder)
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    get_settings.cache_clear()
    return folder


@pytest.fixture
def server(engine: Engine, charters: Path, quick: None) -> Iterator[str]:
    with live_server() as base:
        yield base


def test_a_stream_sends_each_published_observation_live(engine: Engine, server: str) -> None:
    client = stream(server)
    try:
        assert client.status == 200
        assert client.response_headers["content-type"].startswith("text/event-stream")
        assert client.response_headers["cache-control"] == "no-store"
        assert client.response_headers["x-accel-buffering"] == "no"
        # the start passed the middlewares (the body chunks go to the server's send directly)
        assert client.response_headers["x-content-type-options"] == "nosniff"
        client.until_idle()  # registered and live
        put(engine, "air-open", "atmo-demo-open", readings(["st-a", "st-c"], [1, 2]))
        got = client.until_id(newest(engine))
    finally:
        client.close()
    assert [m.event for m in got] == ["observation"] * 4 + ["dataset"]
    first = got[0].data
    assert first["dataset"] == "air-open" and first["theme"] == "air-quality"
    assert first["geometry"] == {"type": "Point", "coordinates": [-1.68, 48.11]}
    assert first["record"]["station_id"] == "st-a" and first["time"]
    assert [int(m.id or 0) for m in got] == sorted({int(m.id or 0) for m in got})
    assert got[-1].data["events"] == 4


def test_a_stream_asked_with_gzip_is_sent_plain_each_event_as_it_comes(
    engine: Engine, server: str
) -> None:
    client = stream(server, headers={"Accept-Encoding": "gzip"})
    try:
        assert client.status == 200 and "content-encoding" not in client.response_headers
        client.until_idle()  # the heartbeat came alone, readable as written
        put(engine, "air-open", "atmo-demo-open", readings(["st-a"], [1]))
        got = client.until_id(newest(engine))
    finally:
        client.close()
    assert [m.event for m in got] == ["observation", "dataset"]


def test_the_feed_is_woken_through_redis_too(
    engine: Engine, charters: Path, quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "POLL_SECONDS", 30.0)  # only the bus can wake it in time
    monkeypatch.setenv("HUB_BUS_URL", "redis://127.0.0.1:6379/0")
    get_settings.cache_clear()
    reset_bus()
    with live_server() as base:
        client = stream(base)
        try:
            client.until_idle()
            wait_for(the_fanout().listening.is_set, "the feed subscribed to Redis")
            put(engine, "air-open", "atmo-demo-open", readings(["st-a"], [1]))
            got = client.until_id(newest(engine))
        finally:
            client.close()
    assert [m.event for m in got] == ["observation", "dataset"]


def test_heartbeats_keep_an_idle_stream_open(server: str) -> None:
    client = stream(server)
    try:
        beats = [client.next() for _ in range(4)]
    finally:
        client.close()
    assert [m.comment for m in beats[1:]] == ["heartbeat"] * 3


def test_each_filter_keeps_only_its_events(engine: Engine, server: str) -> None:
    put(engine, "air-open", "atmo-demo-open", readings(["st-a", "st-c"], [1]))
    put(engine, "air-other", "atmo-demo-open", readings(["st-b"], [1], pollutant="pm25"))
    inside, outside = square(-1.7, 48.0, -1.5, 48.2), square(10, 10, 11, 11)
    ids = {
        "minor": alert(engine, "Minor", "Actual", inside),
        "severe": alert(engine, "Severe", "Actual", inside),
        "extreme-far": alert(engine, "Extreme", "Actual", outside),
        "exercise": alert(engine, "Extreme", "Exercise", inside),
        "test": alert(engine, "Severe", "Test", inside),
    }
    box = ",".join(map(str, CITY))

    def seen(query: str) -> list[tuple[str, str, str]]:
        client = stream(server, f"?since=0&{query}")
        try:
            return [
                (
                    m.event,
                    m.data.get("dataset") or "",
                    (m.data.get("record") or {}).get("station_id") or m.data.get("status", ""),
                )
                for m in client.until_idle()
            ]
        finally:
            client.close()

    assert {e for e, _, _ in seen("types=alert")} == {"alert"}
    assert len(seen("types=alert")) == 3  # Actual only, by default
    assert {e for e, _, _ in seen("types=observation,dataset")} == {"observation", "dataset"}
    assert seen("types=observation&types=crisis") == [
        ("observation", "air-open", "st-a"),
        ("observation", "air-open", "st-c"),
        ("observation", "air-other", "st-b"),
    ]
    assert {d for _, d, _ in seen("theme=risk")} == {"cap-alerts"}
    assert {d for _, d, _ in seen("dataset=air-other")} == {"air-other"}
    assert {d for _, d, _ in seen("dataset=air-other&dataset=air-open")} == {
        "air-other",
        "air-open",
    }
    near = seen(f"bbox={box}")  # events without a geometry (dataset changes) never match
    assert ("observation", "air-open", "st-c") not in near and (
        "dataset",
        "air-open",
        "",
    ) not in near
    assert ("observation", "air-open", "st-a") in near and len(near) == 2 + 2  # + 2 alerts
    severe = seen("types=alert&min_severity=severe")
    assert len(severe) == 2  # Severe and the far Extreme
    # min_severity leaves events without a severity alone
    assert {e for e, _, _ in seen("min_severity=Extreme")} == {"observation", "dataset", "alert"}
    statuses = seen("types=alert&status=Exercise,Test")
    assert sorted(s for _, _, s in statuses) == ["Exercise", "Test"]
    assert len(seen("types=alert&status=all")) == 5
    assert ids["minor"] < ids["test"]


def test_bbox_and_within_are_exact(engine: Engine, server: str) -> None:
    # An L-shaped area whose bbox holds all three stations; its notch excludes st-b.
    ring = [[-1.75, 48.0], [-1.65, 48.0], [-1.65, 48.1], [-1.1, 48.1], [-1.1, 48.4]]
    ring += [[-1.75, 48.4], [-1.75, 48.0]]
    notch = {"type": "Polygon", "coordinates": [ring]}
    put(engine, "air-open", "atmo-demo-open", readings(["st-a", "st-b", "st-c"], [1]))
    touching = alert(engine, "Severe", "Actual", square(-1.2, 48.05, -1.0, 48.15))
    in_notch = alert(engine, "Severe", "Actual", square(-1.62, 48.02, -1.58, 48.06))
    client = posted(server, {"within": notch, "since": "0"})
    try:
        got = client.until_idle()
    finally:
        client.close()
    stations = [m.data["record"].get("station_id") for m in got if m.event == "observation"]
    assert stations == ["st-a", "st-c"]
    assert [int(m.id or 0) for m in got if m.event == "alert"] == [touching]
    assert in_notch not in [int(m.id or 0) for m in got]
    # the same area by GET, as GeoJSON text; and a bbox across the antimeridian
    client = stream(server, f"?since=0&types=observation&within={quote(json.dumps(notch))}")
    try:
        assert len(client.until_idle()) == 2
    finally:
        client.close()
    client = stream(server, "?since=0&bbox=170,-10,-170,10")
    try:
        assert client.until_idle() == []
    finally:
        client.close()


def test_within_a_crisis_uses_its_perimeter_and_ends_with_it(engine: Engine, server: str) -> None:
    crisis = crises.declare(
        engine,
        name="Flood",
        area=square(-1.7, 48.05, -1.65, 48.15),  # st-a only
        start=datetime.now(UTC) - timedelta(hours=1),
        end=datetime.now(UTC) + timedelta(days=1),
        cells=["cell-35"],
        by="test",
    )
    put(engine, "air-open", "atmo-demo-open", readings(["st-a", "st-b"], [1]))
    client = stream(server, f"?since=0&within=crisis:{crisis.id}")
    try:
        got = client.until_idle()
        assert [m.event for m in got] == ["crisis", "observation"]
        assert got[1].data["record"]["station_id"] == "st-a"
        crises.close(engine, crisis.id, by="test")
        rest = []
        with pytest.raises(EOFError):
            while True:
                rest.append(client.next())
    finally:
        client.close()
    said = [m for m in rest if m.data is not None]
    close, final = said[-2], said[-1]  # the crisis's own close event first, then the end
    assert close.event == "crisis" and close.data["status"] == "closed"
    assert final.event == "closed" and crisis.id in final.data["reason"]
    assert final.data["resume"] == close.id  # resuming would not send the close again
    again = stream(server, f"?within=crisis:{crisis.id}")  # a stream that would never end
    try:
        assert again.status == 400 and "was closed" in again.json()["detail"]
    finally:
        again.close()


def test_a_stream_within_a_crisis_ends_when_its_window_does(engine: Engine, server: str) -> None:
    ends = datetime.now(UTC) + timedelta(seconds=2)
    crisis = crises.declare(
        engine,
        name="Short",
        area=square(-1.7, 48.05, -1.65, 48.15),
        start=datetime.now(UTC) - timedelta(hours=1),
        end=ends,
        cells=["cell-35"],
        by="test",
    )
    client = stream(server, f"?within=crisis:{crisis.id}")
    deadline = time.monotonic() + WAIT  # heartbeats keep the socket busy: bound the wait here
    final = None
    try:
        client.until_idle()
        while final is None and time.monotonic() < deadline:
            message = client.next()
            final = message if message.event == "closed" else None
        assert final is not None, "the stream outlived its crisis"
        with pytest.raises(EOFError):
            client.next()
    finally:
        client.close()
    assert datetime.now(UTC) >= ends
    assert f"crisis {crisis.id} ended at" in final.data["reason"]


def test_a_stream_naming_a_dataset_its_caller_may_not_read_is_refused_and_logged(
    engine: Engine, server: str
) -> None:
    put(engine, "air-crisis", "atmo-demo-crisis", readings(["st-a"], [1]))
    stranger = bearer(engine, "crisis-cell", "cell-99")
    for headers, status in ((stranger, 403), ({}, 401)):
        client = stream(server, "?dataset=air-crisis", headers)
        try:
            assert client.status == status
            assert "air-crisis" in client.json()["detail"]
        finally:
            client.close()
    with Session(engine) as session:
        logged = session.exec(
            select(AccessEvent).where(AccessEvent.dataset_id == "air-crisis")
        ).all()
    assert [(e.outcome, e.actor_role, e.route) for e in logged] == [
        ("denied", "crisis-cell", "GET /api/v1/feeds/stream"),
        ("denied", "anonymous", "GET /api/v1/feeds/stream"),
    ]


def test_replay_by_last_event_id_and_since_has_no_gap_nor_duplicate(
    engine: Engine, server: str
) -> None:
    """Events published while the backlog (longer than a page) is replayed arrive once, in
    order. (The queue of this server holds 40 events: a reader of the test process that lags
    by more than the socket buffers would be dropped, rightly; so the live events stay fewer.)"""
    before = newest(engine)
    start_time = datetime.now(UTC) - timedelta(seconds=1)
    with engine.begin() as connection:
        events.append(connection, [_crisis_entry(i) for i in range(fanout.PAGE + 300)])
    events.announce()
    stop = threading.Event()

    def more() -> None:
        for i in range(fanout.QUEUE_SIZE - 5):
            if stop.is_set():
                return
            events.emit(engine, "dataset", dataset_id="d-live", payload={"i": i})

    writer = threading.Thread(target=more)
    clients = [
        stream(server, "", {"Last-Event-ID": str(before)}),
        stream(server, f"?since={quote(start_time.isoformat())}"),
        stream(server, f"?since={before}"),
    ]
    writer.start()
    try:
        writer.join()
        last = newest(engine)
        with ThreadPoolExecutor(len(clients)) as readers:  # each read as it comes, as clients do
            runs = list(readers.map(lambda client: client.until_id(last), clients))
        for got in runs:
            assert [int(m.id or 0) for m in got] == list(range(before + 1, last + 1))
    finally:
        stop.set()
        for client in clients:
            client.close()


def _crisis_entry(number: int) -> dict[str, Any]:
    return {
        "kind": "dataset",
        "dataset_id": "d-backlog",
        "theme": "risk",
        "payload": {"dataset": "d-backlog", "n": number, "geometry": None},
    }


def test_a_purged_resume_point_says_there_is_a_gap(engine: Engine, server: str) -> None:
    for i in range(3):
        events.emit(engine, "dataset", dataset_id="d", payload={"i": i})
    first = newest(engine) - 2
    with engine.begin() as connection:
        connection.execute(sa.delete(Event.__table__).where(Event.__table__.c.id < first + 1))
    client = stream(server, "", {"Last-Event-ID": str(first - 1)})
    try:
        gap = client.next()
        while gap.comment is not None or gap.data is None:
            gap = client.next()
        got = client.until_idle()
    finally:
        client.close()
    assert gap.event == "gap" and gap.id is None and gap.data["oldest"] == str(first + 1)
    assert [int(m.id or 0) for m in got] == [first + 1, first + 2]


@pytest.mark.parametrize(
    ("query", "headers", "reason"),
    [
        ("?types=observation,rumour", {}, "unknown event type"),
        ("?bbox=1,2,3", {}, "4 comma-separated"),
        ("?bbox=a,b,c,d", {}, "only numbers"),
        ("?bbox=0,0,1,91", {}, "outside"),
        ("?bbox=0,0,1,1&bbox=2,2,3,3", {}, "'bbox' is given 2 times"),
        ("?min_severity=Catastrophic", {}, "CAP severity"),
        ("?status=Rumour", {}, "CAP status"),
        ("?dataset=%3Cscript%3E", {}, "not a dataset id"),
        ("?within=crisis:nope", {}, "no crisis"),
        ("?type=alert", {}, "unknown filter 'type'"),
        ("?minseverity=Extreme", {}, "unknown filter 'minseverity'"),
        ("?theme=air_quality", {}, "'air_quality' is not a theme"),
        ("?dataset=no-such-dataset", {}, "'no-such-dataset': no such dataset"),
        ("?within=%7Bnot%20json", {}, "GeoJSON"),
        ('?within={"type":"Point","coordinates":[0,0]}', {}, "Polygon or MultiPolygon"),
        (
            "?within="
            + quote(json.dumps(square(0, 0, 1, 1) | {"coordinates": [[[0, 0], [1, 1]]]})),
            {},
            "at least 4",
        ),
        ("?since=yesterday", {}, "neither an ISO 8601 time"),
        ("?since=2999-01-01T00:00:00Z", {}, "in the future"),
        ("?snapshot=everything", {}, "latest"),
        ("", {"Last-Event-ID": "abc"}, "not an event id"),
        ("", {"Last-Event-ID": "-4"}, "not an event id"),
        ("", {"Last-Event-ID": "1e5"}, "not an event id"),
        ("", {"Last-Event-ID": "99999999999"}, "beyond the newest event"),
        ("?token=abc", {}, "query string"),
    ],
)
def test_malformed_input_is_answered_400_with_the_reason(
    server: str, query: str, headers: dict[str, str], reason: str
) -> None:
    client = stream(server, query, headers)
    try:
        assert client.status == 400
        assert reason in client.json()["detail"]
    finally:
        client.close()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"within": square(0, 0, 1, 1) | {"coordinates": [[[0, 0], [1, 0], [0, 1], [1, 1]]]}}, ""),
        (
            {"within": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]}},
            "closed",
        ),
        (
            {"within": {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]}},
            "WGS84",
        ),
        ({"within": 42}, "GeoJSON"),
        ({"bbox": [1, 2, 3]}, "four numbers"),
        ({"types": [{"x": 1}]}, "list of strings"),
        ({"colour": "red"}, "unknown filter"),
    ],
)
def test_malformed_posted_filters_are_400(server: str, body: dict[str, Any], reason: str) -> None:
    client = posted(server, body)
    try:
        assert client.status == 400
        assert reason in client.json()["detail"]
    finally:
        client.close()


def test_a_body_that_is_not_json_is_400(server: str) -> None:
    client = SSE(server, "/api/v1/feeds/stream", {}, "POST", b"{nope").open()
    try:
        assert client.status == 400
    finally:
        client.close()


def test_snapshot_sends_the_latest_value_of_each_series(engine: Engine, server: str) -> None:
    put(engine, "air-open", "atmo-demo-open", readings(["st-a", "st-b"], [3, 2, 1]))
    put(engine, "air-open", "atmo-demo-open", readings(["st-a"], [2, 1], pollutant="pm25"))
    put(engine, "air-restricted", "atmo-demo-restricted", readings(["st-a"], [1]))
    client = stream(server, "?snapshot=latest&types=observation")
    try:
        got = client.until_idle()
    finally:
        client.close()
    series = {(m.data["record"]["station_id"], m.data["record"]["pollutant"]): m for m in got}
    assert len(got) == len(series) == 3  # nothing of the restricted dataset for anonymous
    assert all(m.id is None and m.data["snapshot"] is True for m in got)
    newest_time = max(m.data["time"] for m in got)
    assert all(m.data["time"] == newest_time for m in got)
    member = bearer(engine, "agency", "metropole-civil-protection")
    client = stream(server, "?snapshot=latest&dataset=air-restricted", member)
    try:
        assert [m.data["dataset"] for m in client.until_idle()] == ["air-restricted"]
    finally:
        client.close()


def test_snapshot_holds_a_series_silent_behind_many_newer_rows(engine: Engine, server: str) -> None:
    """A station silent for days still has its latest value in the snapshot, however many rows
    other stations sent since (the snapshot is per series, not the newest rows)."""
    put(engine, "air-open", "atmo-demo-open", readings(["st-b"], [200]))
    put(engine, "air-open", "atmo-demo-open", readings(["st-a"], list(range(1, 1_201))))
    client = stream(server, "?snapshot=latest&types=observation")
    try:
        got = client.until_idle()
    finally:
        client.close()
    stations = [m.data["record"]["station_id"] for m in got if m.data.get("snapshot")]
    assert stations == ["st-a", "st-b"]  # newest first


def test_restricted_events_reach_only_members_and_are_logged_once(
    engine: Engine, server: str
) -> None:
    member = bearer(engine, "agency", "metropole-civil-protection")
    outsider = bearer(engine, "agency", "another-town")
    watchers = {
        "anonymous": stream(server, "?types=observation,dataset"),
        "outsider": stream(server, "?types=observation,dataset", outsider),
        "member": stream(server, "?types=observation,dataset", member),
    }
    try:
        for client in watchers.values():
            client.until_idle()
        put(engine, "air-restricted", "atmo-demo-restricted", readings(["st-a", "st-b"], [2, 1]))
        put(engine, "air-open", "atmo-demo-open", readings(["st-c"], [1]))
        last = newest(engine)
        got = {who: client.until_id(last) for who, client in watchers.items()}
    finally:
        for client in watchers.values():
            client.close()
    for who in ("anonymous", "outsider"):
        assert {m.data["dataset"] for m in got[who]} == {"air-open"}, who
    assert [m.data["dataset"] for m in got["member"]].count("air-restricted") == 5
    # logged at its first event, then at its end with the rows sent (a dataset event is no row)
    logged = ended_entries(engine, "air-restricted", 2)
    assert [(e.outcome, e.route, e.rows) for e in logged] == [
        ("granted", "GET /api/v1/feeds/stream", None),
        ("granted", "GET /api/v1/feeds/stream", 4),
    ]
    assert logged[1].reason.endswith(f"feed stream of entry {logged[0].id} ended")


def test_an_open_stream_logs_its_counts_while_it_runs(
    engine: Engine, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream open for days does not wait for its end to say what it sent: every
    COUNT_SECONDS its rows sent since the last count are logged, and its end logs the rest."""
    monkeypatch.setattr(tallies, "COUNT_SECONDS", 0.3)
    member = bearer(engine, "agency", "metropole-civil-protection")
    client = stream(server, "?types=observation,dataset", member)
    try:
        client.until_idle()
        put(engine, "air-restricted", "atmo-demo-restricted", readings(["st-a", "st-b"], [2, 1]))
        client.until_id(newest(engine))
        opened, counted = ended_entries(engine, "air-restricted", 2)
        assert (opened.rows, counted.rows) == (None, 4)
        assert counted.reason.endswith(f"feed stream of entry {opened.id} goes on")
        put(engine, "air-restricted", "atmo-demo-restricted", readings(["st-a"], [0]))
        client.until_id(newest(engine))
    finally:
        client.close()
    wait_for(
        lambda: "ended" in ended_entries(engine, "air-restricted", 3)[-1].reason, "the end entry"
    )
    later = ended_entries(engine, "air-restricted", 3)[2:]
    assert sum(entry.rows or 0 for entry in later) == 1  # the last reading, counted once
    assert "since its last count" in later[-1].reason


def ended_entries(engine: Engine, dataset: str, count: int) -> list[AccessEvent]:
    """The access log's entries of `dataset`, once there are `count` (a stream's end entry is
    written as the server sees the client hang up)."""
    found: list[AccessEvent] = []

    def written() -> bool:
        nonlocal found
        with Session(engine) as session:
            statement = select(AccessEvent).where(AccessEvent.dataset_id == dataset)
            found = list(session.exec(statement.order_by(sa.column("id"))).all())
        return len(found) >= count

    wait_for(written, f"{count} entries of {dataset}")
    return found


def curves(keys: list[str], hours_ago: int = 2) -> pl.DataFrame:
    """A recent hour of energy use of each household, keyed as its operator sends it."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start -= timedelta(hours=hours_ago)
    rows = [
        {
            "subject_key": key,
            "period_start": f"{start:%Y-%m-%dT%H:%M:%SZ}",
            "period_end": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
            "circuit": "main",
            "quantity": "energy",
            "value": "1.25",
            "unit": "kWh",
            "quality": "measured",
        }
        for key in keys
    ]
    frame = pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]})
    return frame.with_columns(pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64))


def test_personal_events_reach_only_their_subject(
    engine: Engine, server: str, charters: Path
) -> None:
    write_charter(charters, "feed-curves", "grid-feed", "https://matching.example.org/")
    run = publish(
        Batch(
            dataset_id="curves",
            title="Load curves",
            publisher=Publisher("grid-feed", "Grid"),
            theme="energy",
            schema="energy-consumption",
            charter="feed-curves",
            chunks=[curves(["30001234567890", "30009876543210"])],
            source_url="https://example.org/curves.csv",
        ),
        engine=engine,
    )
    assert run.status == "succeeded", run.error
    headers = {}
    with Session(engine) as session:
        for who, meter in (("alice", "30001234567890"), ("mallory", "30005555555555")):
            issued = tokens.issue(session, "subject", [], who)
            headers[who] = {"Authorization": f"Bearer {issued.token}"}
            account = tokens.actor_of(session, issued.row.id).account
            session.add(
                SubjectLink(
                    id=f"ln-{who}",
                    account=account,
                    producer="grid-feed",
                    dataset_id="curves",
                    pseudonym=pseudonym("grid-feed", meter),
                )
            )
        session.commit()
    got = {}
    for who in ("alice", "mallory", "anonymous"):
        client = stream(server, "?since=0", headers.get(who, {}))
        try:
            got[who] = client.until_idle()
        finally:
            client.close()
    alice = [m for m in got["alice"] if m.event == "observation"]
    assert [m.data["record"]["subject_key"] for m in alice] == [
        pseudonym("grid-feed", "30001234567890")
    ]
    changed = [m.data for m in got["alice"] if m.event == "dataset"]
    assert changed and "published" not in changed[0] and "events" not in changed[0]
    assert all(m.event == "dataset" for m in got["mallory"])  # none of the others' rows
    assert got["anonymous"] == []
    snapshots = {}
    for who in ("alice", "mallory"):
        client = stream(server, "?snapshot=latest&types=observation", headers[who])
        try:
            snapshots[who] = [m.data["record"]["subject_key"] for m in client.until_idle()]
        finally:
            client.close()
    assert snapshots == {"alice": [pseudonym("grid-feed", "30001234567890")], "mallory": []}


def publish_curves(engine: Engine, frame: pl.DataFrame) -> None:
    run = publish(
        Batch(
            dataset_id="curves",
            title="Load curves",
            publisher=Publisher("grid-feed", "Grid"),
            theme="energy",
            schema="energy-consumption",
            charter="feed-curves",
            chunks=[frame],
            source_url="https://example.org/curves.csv",
        ),
        engine=engine,
    )
    assert run.status == "succeeded", run.error


def test_a_services_stream_tells_each_subject_how_many_of_their_rows_it_took(
    engine: Engine, server: str, charters: Path
) -> None:
    write_charter(charters, "feed-curves", "grid-feed", "https://matching.example.org/")
    meters = {"alice": "30001234567890", "bob": "30009876543210", "carol": "30005555555555"}
    publish_curves(engine, curves([meters["alice"], meters["bob"], meters["carol"]], 3))
    publish_curves(engine, curves([meters["alice"], meters["carol"]], 2))
    headers, accounts = {}, {}
    with Session(engine) as session:
        coach = services.register(session, "Coach", "https://coach.example.org")
        service = tokens.issue(session, "service", [], "coach", service=coach.id)
        for who, meter in meters.items():
            issued = tokens.issue(session, "subject", [], who)
            headers[who] = {"Authorization": f"Bearer {issued.token}"}
            accounts[who] = tokens.actor_of(session, issued.row.id).account or ""
            session.add(
                SubjectLink(
                    id=f"ln-{who}",
                    account=accounts[who],
                    producer="grid-feed",
                    dataset_id="curves",
                    pseudonym=pseudonym("grid-feed", meter),
                )
            )
        session.commit()
        for who in ("alice", "bob"):  # Carol gives no consent: none of her rows go out
            consents.give(
                session,
                accounts[who],
                coach.id,
                ["curves"],
                "energy-saving-advice",
                datetime.now(UTC) + timedelta(days=1),
                "http://testserver/",
            )
    query = "?since=0&types=observation&purpose=energy-saving-advice"
    client = stream(server, query, {"Authorization": f"Bearer {service.token}"})
    try:
        got = [m.data["record"]["subject_key"] for m in client.until_idle()]
    finally:
        client.close()
    alice, bob = pseudonym("grid-feed", meters["alice"]), pseudonym("grid-feed", meters["bob"])
    assert sorted(got) == sorted([alice, alice, bob])
    opened, ended = ended_entries(engine, "curves", 2)
    assert (opened.rows, ended.rows) == (None, 3)
    assert ended.reason.endswith(f"feed stream of entry {opened.id} ended")
    seen = {who: _subject_log(server, headers[who]) for who in meters}
    # each their own count; the stream's total (the other's count with it) stays committed
    assert [(e["rows"], e["your_rows"]) for e in seen["alice"]] == [(None, None), (None, 2)]
    assert [(e["rows"], e["your_rows"]) for e in seen["bob"]] == [(None, None), (None, 1)]
    assert seen["carol"] == []  # her rows were not read
    counted = seen["alice"][1]["covered"][0]
    assert audit.includes(seen["alice"][1]["subjects"], ended.prev_hash, alice, counted["proof"], 2)
    assert audit.verify(engine).intact


def _subject_log(server: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """A subject's access log as /api/v1/me/access-log answers it."""
    asked = urllib.request.Request(f"{server}/api/v1/me/access-log", headers=headers)
    with urllib.request.urlopen(asked, timeout=WAIT) as answer:  # noqa: S310 - the test server
        entries: list[dict[str, Any]] = json.load(answer)["entries"]
    return entries


def _alice_and_coach(
    engine: Engine, charters: Path, meter: str, token_expires: datetime | None = None
) -> tuple[str, str, str, str]:
    """Alice linked to her curve, and the coach service: her account and token, the coach's id
    and its token (expiring at `token_expires`)."""
    write_charter(charters, "feed-curves", "grid-feed", "https://matching.example.org/")
    publish_curves(engine, curves([meter], hours_ago=3))
    with Session(engine) as session:
        issued = tokens.issue(session, "subject", [], "alice")
        account = tokens.actor_of(session, issued.row.id).account or ""
        session.add(
            SubjectLink(
                id="ln-alice",
                account=account,
                producer="grid-feed",
                dataset_id="curves",
                pseudonym=pseudonym("grid-feed", meter),
            )
        )
        session.commit()
        coach = services.register(session, "Coach", "https://coach.example.org").id
        service = tokens.issue(session, "service", [], "coach", token_expires, service=coach)
    return account, issued.token, coach, service.token


@pytest.mark.parametrize("ended_by", ["consent revoked", "link removed"])
def test_an_open_stream_stops_a_subjects_rows_once_the_consent_or_link_ends(
    engine: Engine, server: str, charters: Path, ended_by: str
) -> None:
    """The next rows published after a revocation (or an unlink) never go out on a stream that
    was open before it, though the fan-out's periodic refresh is an hour away."""
    alice_meter = "30001234567890"
    account, subject_token, coach, service_token = _alice_and_coach(engine, charters, alice_meter)
    with Session(engine) as session:
        given = consents.give(
            session,
            account,
            coach,
            ["curves"],
            "energy-saving-advice",
            datetime.now(UTC) + timedelta(days=1),
            "http://testserver/",
        )
    if ended_by == "consent revoked":
        reader = {"Authorization": f"Bearer {service_token}"}
        query = "?types=observation&purpose=energy-saving-advice"
    else:
        reader = {"Authorization": f"Bearer {subject_token}"}
        query = "?types=observation"
    client = stream(server, query, reader)
    try:
        assert client.status == 200
        the_fanout().refresh_seconds = 3600.0  # only the revocation itself may end the rows

        def next_observation() -> Message:
            while True:
                message = client.next()
                assert message.event != "grant"  # the fan-out's signal, never sent
                if message.event == "observation":
                    return message

        publish_curves(engine, curves([alice_meter], hours_ago=2))
        first = next_observation()
        assert first.data["record"]["subject_key"] == pseudonym("grid-feed", alice_meter)
        with Session(engine) as session:
            if ended_by == "consent revoked":
                consents.revoke(session, account, given.consent.id)
            else:
                links.unlink(session, account, "ln-alice")
        publish_curves(engine, curves([alice_meter], hours_ago=1))
        put(engine, "air-open", "atmo-demo-open", readings(["st-a"], [1]))
        after = next_observation()  # the open reading, logged after the curves' new row
        assert after.data["dataset"] == "air-open", after.data
    finally:
        client.close()
    # the grant no longer names Alice, but the stream's end entry does, with the row it sent
    _, ended = ended_entries(engine, "curves", 2)
    with Session(engine) as session:
        named = session.exec(select(AccessSubject).where(AccessSubject.event_id == ended.id))
        assert [(n.pseudonym, n.rows) for n in named] == [(pseudonym("grid-feed", alice_meter), 1)]
    with Session(engine) as session:  # the signals name no one: no account, no pseudonym
        signals = session.exec(select(Event).where(Event.kind == "grant")).all()
    assert len(signals) == 2  # the consent given, then the revocation or unlink
    for signal in signals:
        assert (signal.dataset_id, signal.access, signal.subject) == ("curves", "personal", "")
        assert account not in json.dumps(signal.payload)


def _observations(client: SSE) -> Iterator[Message]:
    while True:
        message = client.next()
        if message.event == "observation":
            yield message


def test_a_consent_given_reaches_an_open_stream_at_once(
    engine: Engine, server: str, charters: Path
) -> None:
    """A service streaming before the subject consents gets her next row, though the fan-out's
    periodic refresh is an hour away."""
    meter = "30001234567890"
    account, _, coach, token = _alice_and_coach(engine, charters, meter)
    reader = {"Authorization": f"Bearer {token}"}
    client = stream(server, "?types=observation&purpose=energy-saving-advice", reader)
    try:
        assert client.status == 200
        the_fanout().refresh_seconds = 3600.0
        publish_curves(engine, curves([meter], hours_ago=2))  # before the consent: not sent
        with Session(engine) as session:
            consents.give(
                session,
                account,
                coach,
                ["curves"],
                "energy-saving-advice",
                datetime.now(UTC) + timedelta(days=1),
                "http://testserver/",
            )
        publish_curves(engine, curves([meter], hours_ago=1))
        wanted = curves([meter], hours_ago=1)["period_start"][0]
        # The earlier row may go out too when the fan-out reads it after the consent (the
        # consent covers her rows, old ones included): wait for the later one.
        got = next(m for m in _observations(client) if m.data["record"]["period_start"] == wanted)
    finally:
        client.close()
    assert got.data["record"]["subject_key"] == pseudonym("grid-feed", meter)


@pytest.mark.parametrize("ending", ["consent", "token"])
def test_an_open_stream_stops_the_rows_when_the_consent_or_token_expires(
    engine: Engine, server: str, charters: Path, ending: str
) -> None:
    """Nothing signals an expiry: the fan-out knows when the grants it holds end, and judges
    afresh then (a token's stream ends), not at its refresh an hour away."""
    meter = "30001234567890"
    ends = datetime.now(UTC) + timedelta(seconds=4)
    account, _, coach, token = _alice_and_coach(
        engine, charters, meter, ends if ending == "token" else None
    )
    with Session(engine) as session:
        consents.give(
            session,
            account,
            coach,
            ["curves"],
            "energy-saving-advice",
            ends if ending == "consent" else datetime.now(UTC) + timedelta(days=1),
            "http://testserver/",
        )
    reader = {"Authorization": f"Bearer {token}"}
    client = stream(server, "?types=observation&purpose=energy-saving-advice", reader)
    try:
        assert client.status == 200
        the_fanout().refresh_seconds = 3600.0
        publish_curves(engine, curves([meter], hours_ago=2))
        assert next(_observations(client)).data["dataset"] == "curves"
        time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.5)
        if ending == "token":
            deadline = time.monotonic() + 5  # heartbeats come often: the loop cannot hang
            while (final := client.next()).event != "closed":
                assert time.monotonic() < deadline, "the stream outlived its token"
            assert "expired" in final.data["reason"], final
            return
        publish_curves(engine, curves([meter], hours_ago=1))
        put(engine, "air-open", "atmo-demo-open", readings(["st-a"], [1]))
        after = next(_observations(client))  # the open reading, logged after the curve's row
        assert after.data["dataset"] == "air-open", after.data
    finally:
        client.close()


def test_crisis_events_reach_a_cell_inside_its_crisis_only(engine: Engine, server: str) -> None:
    cell = bearer(engine, "crisis-cell", "cell-35")
    stranger = bearer(engine, "crisis-cell", "cell-99")
    put(engine, "air-crisis", "atmo-demo-crisis", readings(["st-a", "st-c"], [1]))
    crises.declare(
        engine,
        name="Flood",
        area=square(-1.7, 48.05, -1.65, 48.15),  # st-a only
        start=datetime.now(UTC) - timedelta(hours=3),
        end=datetime.now(UTC) + timedelta(days=1),
        cells=["cell-35"],
        by="test",
    )
    got = {}
    for who, headers in (("cell", cell), ("stranger", stranger), ("anonymous", {})):
        client = stream(server, "?since=0&types=observation,crisis", headers)
        try:
            got[who] = client.until_idle()
        finally:
            client.close()
    stations = [m.data["record"]["station_id"] for m in got["cell"] if m.event == "observation"]
    assert stations == ["st-a"]
    for who in ("stranger", "anonymous"):
        assert [m.event for m in got[who]] == ["crisis"], who
    assert "cells" not in got["anonymous"][0].data  # as GET /api/v1/crises shows them
    assert [m.data for m in got["cell"] if m.event == "crisis"][0]["cells"] == ["cell-35"]


def test_a_revoked_token_ends_its_stream_on_the_next_refresh(engine: Engine, server: str) -> None:
    with Session(engine) as session:
        issued = tokens.issue(session, "agency", ["metropole-civil-protection"], "agency")
    client = stream(server, "", {"Authorization": f"Bearer {issued.token}"})
    try:
        client.until_idle()
        with Session(engine) as session:
            tokens.revoke(session, issued.row.id)
        final = next(m for m in client.events() if m.event != "crisis")
        assert final.event == "closed" and "revoked" in final.data["reason"]
        with pytest.raises(EOFError):
            client.next()
    finally:
        client.close()


def test_a_client_that_never_reads_is_dropped_with_its_resume_id(
    engine: Engine, server: str
) -> None:
    """It never slows the fast client, which gets everything; when it reads at last, it finds
    events without a hole, then the id to resume from, then the end of the stream."""
    fast = stream(server)
    slow = SSE(server, "/api/v1/feeds/stream", receive_buffer=4096).open()
    try:
        fast.until_idle()
        wait_for(lambda: the_fanout().stats().clients == 2, "both clients registered")
        first, fast_ids = newest(engine) + 1, []
        for batch in range(80):
            with engine.begin() as connection:
                events.append(connection, [_big(batch, i) for i in range(25)])
            events.announce()
            fast_ids += [int(m.id or 0) for m in fast.until_id(newest(engine))]
            if the_fanout().stats().dropped:
                break
        assert the_fanout().stats().dropped == 1
        wait_for(lambda: the_fanout().stats().clients == 1, "the slow client unregistered")
        assert fast_ids == list(range(first, newest(engine) + 1))
        ids, final = _read_to_end(slow)
    finally:
        fast.close()
        slow.close()
    assert ids == list(range(first, first + len(ids)))  # no hole before the final message
    assert final.event == "overflow" and final.data["resume"] == final.id
    resume = int(final.data["resume"])
    assert resume == (ids[-1] if ids else first - 1)
    again = stream(server, "", {"Last-Event-ID": str(resume)})
    try:
        rest = again.until_id(newest(engine))
    finally:
        again.close()
    assert [int(m.id or 0) for m in rest] == list(range(resume + 1, newest(engine) + 1))


def _big(batch: int, number: int) -> dict[str, Any]:
    padding = "x" * 20_000
    payload = {"dataset": "d-big", "b": batch, "i": number, "padding": padding}
    return {"kind": "dataset", "dataset_id": "d-big", "payload": payload}


def _read_to_end(client: SSE) -> tuple[list[int], Message]:
    """A dropped client's event ids, and its last message, read until the server hangs up."""
    ids, last = [], Message()
    try:
        while True:
            message = client.next()
            if message.data is None:
                continue
            if message.event == "dataset":
                ids.append(int(message.id or 0))
            last = message
    except EOFError:
        return ids, last
