"""What bench/feeds.py publishes and who listens: the events (the same for every run and every
process, by sequence number), the subscribers' filters with a local copy of what each should
match, and the client processes that stream them from the hub over HTTP (bare asyncio sockets:
the load generator must not be what is measured).

    .venv/bin/python -m bench.feeds_load CONFIG.json   (started by bench/feeds.py)

A client process opens its subscribers' streams, says `ready` on stdout once every one answered,
reads them until a `stop N` line arrives on stdin (N: the events published; a `count N` line
asks for the events received so far and the number expected), then writes each
subscriber's count of expected, received, missing and duplicated events and every latency to
the config's `out` file. A stream that ends (a server that dropped a slow client, a replica that
restarted) is opened again with its `Last-Event-ID`, as a browser's EventSource would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

# (name, lon, lat): where most events happen and where the area filters look.
CITIES = [
    ("Rennes", -1.68, 48.11),
    ("Lille", 3.06, 50.63),
    ("Strasbourg", 7.75, 48.57),
    ("Paris", 2.35, 48.86),
    ("Nantes", -1.55, 47.22),
    ("Bordeaux", -0.58, 44.84),
    ("Lyon", 4.84, 45.76),
    ("Grenoble", 5.72, 45.19),
    ("Toulouse", 1.44, 43.60),
    ("Montpellier", 3.88, 43.61),
    ("Marseille", 5.37, 43.30),
    ("Nice", 7.26, 43.70),
]
FRANCE = (-5.0, 42.0, 8.0, 51.0)
THEMES = ("air-quality", "energy", "biodiversity", "risk")
DATASETS = tuple(f"bench-{theme}-{n}" for theme in THEMES for n in range(5))
IDLE_DATASET = "bench-idle-nothing"  # idle streams name it: no event is ever of it
SEVERITIES = ("Unknown", "Minor", "Moderate", "Severe", "Extreme")
ALERT_SHARE = 0.1
UNFILTERED_EVERY = 100  # one subscriber in a hundred takes everything


@dataclass(frozen=True)
class BenchEvent:
    """What a subscriber's filter looks at in one published event."""

    seq: int
    kind: str
    dataset: str
    theme: str
    lon: float
    lat: float
    severity: int | None
    status: str


def event_at(seq: int) -> BenchEvent:
    """The event of sequence number `seq` (deterministic: every process derives the same)."""
    rng = random.Random(seq)
    dataset = DATASETS[rng.randrange(len(DATASETS))]
    if rng.random() < 0.8:
        _, lon, lat = CITIES[rng.randrange(len(CITIES))]
        lon, lat = lon + rng.gauss(0, 0.3), lat + rng.gauss(0, 0.3)
    else:
        lon, lat = rng.uniform(FRANCE[0], FRANCE[2]), rng.uniform(FRANCE[1], FRANCE[3])
    alert = rng.random() < ALERT_SHARE
    return BenchEvent(
        seq=seq,
        kind="alert" if alert else "observation",
        dataset=dataset,
        theme=dataset.removeprefix("bench-").rsplit("-", 1)[0],
        lon=round(lon, 5),
        lat=round(lat, 5),
        severity=rng.randrange(len(SEVERITIES)) if alert else None,
        status=("Actual" if rng.random() < 0.95 else "Test") if alert else "Actual",
    )


def payload(event: BenchEvent, published_at: float) -> dict[str, Any]:
    """The event's `data:` object, as the gate logs it, stamped with its publish time."""
    data: dict[str, Any] = {
        "dataset": event.dataset,
        "theme": event.theme,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(published_at)),
        "geometry": {"type": "Point", "coordinates": [event.lon, event.lat]},
        "record": {"station_id": f"B{event.seq % 5000:04d}", "value": event.seq % 97},
        "seq": event.seq,
        "published_at": published_at,
    }
    if event.kind == "alert":
        data["severity"] = SEVERITIES[event.severity or 0]
        data["status"] = event.status
    return data


@dataclass(frozen=True)
class Subscriber:
    """One client's filters, as query parameters and as a local test of a BenchEvent."""

    number: int
    params: dict[str, str]
    kinds: frozenset[str] = frozenset({"observation", "alert"})
    theme: str = ""
    dataset: str = ""
    bbox: tuple[float, float, float, float] | None = None
    min_severity: int | None = None

    def matches(self, event: BenchEvent) -> bool:
        """Whether the hub's filters (hub.feeds.filters) let `event` through to this client."""
        if event.kind not in self.kinds or (self.theme and event.theme != self.theme):
            return False
        if self.dataset and event.dataset != self.dataset:
            return False
        if event.kind == "alert":
            if event.status != "Actual":
                return False
            if self.min_severity is not None and (event.severity or 0) < self.min_severity:
                return False
        if self.bbox is not None:
            west, south, east, north = self.bbox
            return west <= event.lon <= east and south <= event.lat <= north
        return True


def subscriber(number: int) -> Subscriber:
    """Subscriber `number`'s filters: a mix of what crisis cells and dashboards ask for."""
    rng = random.Random(-1 - number)
    _, lon, lat = CITIES[rng.randrange(len(CITIES))]
    mix = number % UNFILTERED_EVERY
    if mix == 0:  # everything
        return Subscriber(number, {})
    if mix < 41:  # a city's surroundings
        area = (lon - 0.25, lat - 0.25, lon + 0.25, lat + 0.25)
        return Subscriber(number, {"bbox": _bbox(area)}, bbox=area)
    if mix < 61:  # a theme over a region
        area = (lon - 1.5, lat - 1.5, lon + 1.5, lat + 1.5)
        theme = THEMES[rng.randrange(len(THEMES))]
        return Subscriber(number, {"theme": theme, "bbox": _bbox(area)}, theme=theme, bbox=area)
    if mix < 76:  # alerts over a region
        area = (lon - 1.5, lat - 1.5, lon + 1.5, lat + 1.5)
        alerts = frozenset({"alert"})
        return Subscriber(number, {"types": "alert", "bbox": _bbox(area)}, alerts, bbox=area)
    if mix < 90:  # severe alerts anywhere
        params = {"types": "alert", "min_severity": "Severe"}
        return Subscriber(number, params, frozenset({"alert"}), min_severity=3)
    dataset = DATASETS[rng.randrange(len(DATASETS))]  # one dataset
    return Subscriber(number, {"dataset": dataset}, dataset=dataset)


def _bbox(area: tuple[float, float, float, float]) -> str:
    return ",".join(f"{value:.4f}" for value in area)


# --- the client process --------------------------------------------------------------------


@dataclass
class Listener:
    """One subscriber's stream and what it received."""

    who: Subscriber
    url: str
    received: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    reconnections: int = 0
    last_id: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def listen(self, idle: bool) -> None:
        """Read the stream for ever, opening it again (from the last id) when it ends."""
        while True:
            params = {"dataset": IDLE_DATASET} if idle else self.who.params
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
                await self.stream(params)
            self.reconnections += 1
            await asyncio.sleep(0.1)

    async def stream(self, params: dict[str, str]) -> None:
        """One GET over a bare socket (HTTP/1.1, chunked), read until the server ends it: the
        load generator must cost far less than the server it measures (httpx did not). The
        socket is read in blocks and the chunked framing undone by hand: one await per block,
        not two per chunk."""
        place = urlsplit(self.url)
        reader, writer = await asyncio.open_connection(place.hostname, place.port)
        try:
            target = f"{place.path}?{urlencode(params)}" if params else place.path
            head = f"GET {target} HTTP/1.1\r\nHost: {place.netloc}\r\n"
            head += "Accept: text/event-stream\r\n"
            if self.last_id is not None:
                head += f"Last-Event-ID: {self.last_id}\r\n"
            writer.write(f"{head}\r\n".encode())
            answer = await reader.readuntil(b"\r\n\r\n")
            status = answer.split(b" ", 2)[1]
            if status != b"200":
                raise SystemExit(f"{self.url}: {status.decode()}")
            if b"chunked" not in answer.lower():
                raise ValueError("the stream is not chunked")
            self.ready.set()
            framed, pending = b"", b""
            while block := await reader.read(READ_SIZE):
                framed += block
                body, framed, ended = unchunk(framed)
                pending = self.take(pending + body)
                if ended:
                    return
        finally:
            writer.close()

    def take(self, pending: bytes) -> bytes:
        """Take each complete message's id and stamp (messages end with a blank line); what
        is left of an incomplete one."""
        end = pending.rfind(b"\n\n")
        if end < 0:
            return pending
        now = time.time()
        complete, rest = pending[: end + 2], pending[end + 2 :]
        for event_id, seq, stamp in STAMPED.findall(complete):
            self.last_id = int(event_id)
            self.received.append(int(seq))
            self.latencies.append(now - float(stamp))
        if complete.count(b"\ndata:") != complete.count(b'"published_at":'):
            self.take_slowly(complete)  # messages without a stamp (crises, gaps): by JSON
        return rest

    def take_slowly(self, complete: bytes) -> None:
        """The last id of messages the pattern does not cover (their stamps are all taken)."""
        for block in complete.split(b"\n\n"):
            if b"published_at" in block:
                continue
            event_id = next((x[3:] for x in block.split(b"\n") if x.startswith(b"id:")), None)
            if event_id is not None and b"\ndata:" in b"\n" + block:
                self.last_id = max(self.last_id or 0, int(event_id))


READ_SIZE = 1 << 16
# id, seq and publish stamp of a bench event's message (json.dumps keeps the payload's order).
STAMPED = re.compile(
    rb'id: (\d+)\nevent: [a-z]+\ndata: [^\n]*?"seq":(\d+),"published_at":([0-9.eE+-]+)'
)


def unchunk(framed: bytes) -> tuple[bytes, bytes, bool]:
    """The body bytes of every complete chunk in `framed`, what is left of an incomplete one,
    and whether the last chunk (size 0) arrived."""
    body: list[bytes] = []
    at = 0
    while True:
        line_end = framed.find(b"\r\n", at)
        if line_end < 0:
            break
        size = int(framed[at:line_end].split(b";")[0], 16)
        if size == 0:
            return b"".join(body), b"", True
        start = line_end + 2
        if len(framed) < start + size + 2:
            break
        body.append(framed[start : start + size])
        at = start + size + 2
    return b"".join(body), framed[at:], False


async def run_clients(config: dict[str, Any]) -> None:
    """Open the config's subscribers, say ready, read until told to stop, write the counts."""
    listeners = [
        Listener(subscriber(n), config["urls"][n % len(config["urls"])] + "/api/v1/feeds/stream")
        for n in config["subscribers"]
    ]
    for listener in listeners:
        listener.last_id = config["after"]
    idle = config.get("idle", False)
    tasks = [asyncio.create_task(x.listen(idle)) for x in listeners]
    await asyncio.gather(*(x.ready.wait() for x in listeners))
    for listener in listeners:
        listener.reconnections = 0
    print("ready", flush=True)
    expected: dict[int, int] = {}  # events published -> events the listeners expect
    while True:  # `count N`: events received so far, and expected; `stop N`: finish
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if not line.startswith("count"):
            break
        published = int(line.split()[1])
        if published not in expected:
            everything = [event_at(seq) for seq in range(published)]
            expected[published] = sum(x.who.matches(e) for x in listeners for e in everything)
        print(sum(len(x.received) for x in listeners), expected[published], flush=True)
    published = int(line.split()[1])
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    write_counts(config["out"], listeners, published)


def write_counts(out: str, listeners: list[Listener], published: int) -> None:
    """Each subscriber's expected / received / missing / duplicated / unexpected, and latencies."""
    everything = [event_at(seq) for seq in range(published)]
    report = []
    for listener in listeners:
        expected = {e.seq for e in everything if listener.who.matches(e)}
        got = set(listener.received)
        report.append(
            {
                "subscriber": listener.who.number,
                "expected": len(expected),
                "received": len(listener.received),
                "missing": len(expected - got),
                "duplicates": len(listener.received) - len(got),
                "unexpected": len(got - expected),
                "reconnections": listener.reconnections,
                "latencies": [round(x, 6) for x in listener.latencies],
            }
        )
    with open(out, "w") as file:
        json.dump(report, file)


if __name__ == "__main__":
    with open(sys.argv[1]) as file:
        settings = json.load(file)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_clients(settings))
