"""The fan-out's index of clients: every client whose filters take an event is among the
event's candidates, and a point meets a `bbox` filter exactly as shapely decides; a writer
sends what queued for its client in one write."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine

from hub import events
from hub.feeds import filters, sse, stream
from hub.feeds.clients import Client, Closing, Delivery
from hub.feeds.fanout import Fanout
from hub.feeds.index import Index, cells_of
from hub.reading import Caller

NOW = datetime.now(UTC)
THEMES = ("air-quality", "energy", "risk")
DATASETS = ("air", "power", "floods", "fires")


def event(seq: int, rng: random.Random) -> events.FeedEvent:
    kind = rng.choice(events.KINDS)
    dataset = rng.choice(DATASETS)
    shape = rng.random()
    lon, lat = rng.uniform(-10, 10), rng.uniform(40, 52)
    geometry: dict[str, Any] | None
    if shape < 0.6:  # points, some on whole degrees (cell and box edges)
        if rng.random() < 0.3:
            lon, lat = float(round(lon)), float(round(lat))
        geometry = {"type": "Point", "coordinates": [lon, lat]}
    elif shape < 0.8:
        size = rng.choice((0.1, 2.0, 40.0))
        ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size]]
        geometry = {"type": "Polygon", "coordinates": [[*ring, [lon, lat]]]}
    elif shape < 0.9:
        geometry = {"type": "Point", "coordinates": [float("nan"), lat]}
    else:
        geometry = None
    data = {
        "dataset": dataset,
        "geometry": geometry,
        "severity": rng.choice(events.SEVERITIES),
        "status": rng.choice(("Actual", "Test")),
    }
    theme = rng.choice(THEMES)
    return events.FeedEvent(seq, kind, dataset, theme, NOW, data, bbox=events.bounds(geometry))


def wanted(rng: random.Random) -> filters.Filters:
    raw: dict[str, list[str]] = {}
    if rng.random() < 0.3:
        raw["types"] = rng.sample(filters.TYPES, rng.randint(1, 2))
    if rng.random() < 0.3:
        raw["theme"] = rng.sample(THEMES, rng.randint(1, 2))
    if rng.random() < 0.2:
        raw["dataset"] = rng.sample(DATASETS, rng.randint(1, 2))
    if rng.random() < 0.2:
        raw["min_severity"] = [rng.choice(events.SEVERITIES)]
    within = None
    if rng.random() < 0.6:
        west, south = rng.uniform(-12, 8), rng.uniform(38, 50)
        size = rng.choice((0.0, 0.5, 1.0, 3.0, 30.0))
        if rng.random() < 0.3:
            west, south = float(round(west)), float(round(south))
        raw["bbox"] = [f"{west},{south},{west + size},{south + size}"]
    if rng.random() < 0.2:
        west, south = rng.uniform(-12, 8), rng.uniform(38, 50)
        ring = [[west, south], [west + 2, south], [west + 1, south + 2], [west, south]]
        within = ({"type": "Polygon", "coordinates": [ring]}, "")
    return filters.parse(raw, within)


def test_every_client_an_event_is_for_is_among_its_candidates() -> None:
    async def scenario() -> None:
        rng = random.Random(11)
        index = Index()
        clients = [Client(Caller(), wanted(rng), asyncio.Queue()) for _ in range(300)]
        for client in clients:
            index.add(client)
        for client in clients[::7]:  # some leave
            index.remove(client)
        present = [client for client in clients if client in index.filed]
        assert len(index) == len(present)
        narrowed = 0
        for seq in range(600):
            item = event(seq, rng)
            candidates = index.candidates(item)
            assert len(candidates) == len(set(candidates))  # each once
            assert set(candidates) <= set(present)
            shape = filters.event_shape(item)
            takers = {c for c in present if c.filters.matches(item, shape)}
            assert takers <= set(candidates)
            narrowed += len(candidates) < len(present)
        assert narrowed > 300  # the index does narrow

    asyncio.run(scenario())


def test_a_point_meets_a_bbox_filter_as_shapely_decides() -> None:
    rng = random.Random(3)
    for _ in range(2_000):
        west, south = rng.uniform(-180, 170), rng.uniform(-90, 80)
        east, north = west + rng.choice((0.5, 1.0, 10.0)), south + rng.choice((0.5, 1.0, 10.0))
        area = filters.bbox_area(f"{west},{south},{east},{north}")
        assert area.rectangular
        lon = rng.choice((west, east, rng.uniform(west - 1, east + 1)))
        lat = rng.choice((south, north, rng.uniform(south - 1, north + 1)))
        geometry = {"type": "Point", "coordinates": [lon, lat]}
        item = events.FeedEvent(1, "observation", "air", "", NOW, {"geometry": geometry})
        item = events.FeedEvent(**{**item.__dict__, "bbox": events.bounds(geometry)})
        exact = filters.event_shape(item)
        assert area.touches(item, filters.Shape(item)) == bool(area.geometry.intersects(exact))


def test_a_box_of_no_width_and_a_wide_box_are_left_to_shapely_and_to_every_spatial_client() -> None:
    assert not filters.bbox_area("2,45,2,46").rectangular
    assert cells_of((-180.0, -90.0, 180.0, 90.0)) is None
    assert cells_of((0.0, 0.0, float("inf"), 1.0)) is None
    assert cells_of((1.0, 1.0, 0.0, 2.0)) is None
    assert cells_of((0.25, 0.25, 0.5, 0.5)) == [(0, 0), (0, 1), (1, 0), (1, 1)]  # 0.5° cells


def test_a_writer_sends_what_queued_meanwhile_in_one_write_and_then_the_final_message() -> None:
    async def scenario() -> None:
        hub = Fanout(create_engine("sqlite://"))
        client = Client(Caller(), filters.parse({}), hub.new_queue())
        client.sent_id = 1  # the replay sent event 1 already
        for number in (1, 2, 3, 4):
            client.queue.put_nowait(Delivery(number, b"id: %d\n\n" % number))
        client.queue.put_nowait(Closing("closed", "the server is shutting down"))
        written: list[bytes] = []

        async def write(body: bytes) -> None:
            written.append(body)

        await stream._live(hub, client, write)
        assert written[0] == b"id: 2\n\nid: 3\n\nid: 4\n\n"
        assert written[1] == sse.final("closed", "the server is shutting down", 4)
        assert len(written) == 2 and client.sent_id == 4 and client.delivered == 3
        await hub.stop()

    asyncio.run(scenario())
