"""Which clients an event may be for: the fan-out's clients filed by their most selective filter,
so an event is judged only against the clients that might want it.

A client is filed under one kind of key, the first it has of: its datasets, a grid of 0.5°
cells over the bounding boxes of one of its areas (with each event type it takes, and each theme
it names, if it names any), its themes, its event types; a client with none of these is filed
under "any". An event's candidates are the clients filed under its dataset, under the cells its
bounding box touches with its type (and any theme, or its own), under its theme, under its type,
and under "any": a superset
of the clients whose filters take it (each filter requires what it is filed under), which the
fan-out then judges exactly. An area or an event too wide for the grid (or with a bbox that is
not finite) is filed or looked up as "every spatial client".
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from hub import events
from hub.feeds.filters import TYPES, Area

if TYPE_CHECKING:
    from hub.feeds.clients import Client

CELL = 0.5  # degrees a grid cell spans, both ways
MAX_CELLS = 400  # an area or event covering more cells is "wide"
ANY: Hashable = ("any",)
WIDE = "wide"

Cell = tuple[int, int]


class Index:
    """The fan-out's clients filed for look-up by event."""

    def __init__(self) -> None:
        self.buckets: dict[Hashable, set[Client]] = {}
        self.filed: dict[Client, list[Hashable]] = {}
        self.spatial: set[Client] = set()  # clients filed under cells, or WIDE

    def __len__(self) -> int:
        return len(self.filed)

    def add(self, client: Client) -> None:
        """File a client (once)."""
        if client in self.filed:
            return
        keys = keys_of(client)
        self.filed[client] = keys
        for key in keys:
            self.buckets.setdefault(key, set()).add(client)
        if not client.filters.datasets and client.filters.areas:
            self.spatial.add(client)

    def remove(self, client: Client) -> None:
        """Forget a client (if filed)."""
        keys = self.filed.pop(client, None)
        if keys is None:
            return
        self.spatial.discard(client)
        for key in keys:
            bucket = self.buckets.get(key)
            if bucket is None:
                continue
            bucket.discard(client)
            if not bucket:
                del self.buckets[key]

    def candidates(self, event: events.FeedEvent) -> list[Client]:
        """The clients `event` may be for (each once; a copy, as judging may drop some)."""
        buckets = self.buckets
        found: list[set[Client]] = []
        for key in (ANY, ("type", event.kind), ("theme", event.theme), ("dataset", event.dataset)):
            bucket = buckets.get(key)
            if bucket:
                found.append(bucket)
        if event.bbox is not None and self.spatial:
            cells = cells_of(event.bbox)
            if cells is None:
                found.append(self.spatial)
            else:
                kind = event.kind
                themes = (None,) if event.theme is None else (None, event.theme)
                for theme in themes:
                    wide = buckets.get((WIDE, kind, theme))
                    if wide:
                        found.append(wide)
                    for x, y in cells:
                        bucket = buckets.get((x, y, kind, theme))
                        if bucket:
                            found.append(bucket)
        if len(found) == 1:
            return list(found[0])
        if len(found) == 2 and not (found[0] & found[1]):
            return [*found[0], *found[1]]
        return list(set().union(*found))


def keys_of(client: Client) -> list[Hashable]:
    """The keys a client is filed under: its datasets, cells, themes, types, or "any"."""
    chosen = client.filters
    if chosen.datasets:
        return [("dataset", dataset) for dataset in sorted(chosen.datasets)]
    if chosen.areas:  # with its themes, if it names any (None: every theme)
        places = _area_keys(min(chosen.areas, key=_cell_count))
        themes: list[str | None] = [*sorted(chosen.themes)] or [None]
        kinds = sorted(chosen.types)
        return [(*place, kind, theme) for place in places for kind in kinds for theme in themes]
    if chosen.themes:
        return [("theme", theme) for theme in sorted(chosen.themes)]
    if chosen.types != frozenset(TYPES):
        return [("type", kind) for kind in sorted(chosen.types)]
    return [ANY]


def cells_of(bbox: tuple[float, float, float, float]) -> list[Cell] | None:
    """The grid cells a bounding box touches (edges included), or None if too many or not
    finite."""
    west, south, east, north = bbox
    if not all(math.isfinite(value) for value in bbox) or west > east or south > north:
        return None
    x0, x1 = math.floor(west / CELL), math.floor(east / CELL)
    y0, y1 = math.floor(south / CELL), math.floor(north / CELL)
    if (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_CELLS:
        return None
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def _area_keys(area: Area) -> list[tuple[Any, ...]]:
    cells: set[Cell] = set()
    for box in area.boxes:
        found = cells_of(box)
        if found is None:
            return [(WIDE,)]
        cells.update(found)
    if len(cells) > MAX_CELLS:
        return [(WIDE,)]
    return sorted(cells)


def _cell_count(area: Area) -> float:
    total = 0.0
    for box in area.boxes:
        found = cells_of(box)
        total += math.inf if found is None else len(found)
    return total
