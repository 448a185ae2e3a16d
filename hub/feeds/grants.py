"""Which feed events a client may receive: its grants, through the path hub.reading.admit takes.

Grants are kept per (actor, purpose), so the 2,000 anonymous clients of a process share one
book; they are computed off the event loop before events are handed out, and forgotten on every
refresh (hub.feeds.fanout), for crisis datasets at once on a `crisis` event, and for a personal
dataset at once on a `grant` event (a consent revoked or a link removed). A dataset the
keeper has no grant for is refused, never opened.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import shapely
from shapely.geometry import shape as shapely_shape
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub import access, crises, events, tokens
from hub.access import Actor, Grant, Zone
from hub.crises import areas
from hub.models import Dataset, as_utc
from hub.selfdata import consents, scopes

log = logging.getLogger(__name__)

Key = tuple[Actor, str]  # (actor, purpose): who reads, and for what
Verdict = Literal["as-is", "withheld"] | None  # send it; send it without counts; do not send
COUNTS = (
    "published",
    "updated",
    "quarantined",
    "skipped",
    "events",
    "purged",
    "quarantine_purged",
    "withdrawn",
    "left_out",
)


def grant_for(engine: Engine, dataset: Dataset, actor: Actor, purpose: str) -> Grant:
    """The actor's grant on `dataset`, computed as hub.reading.admit computes it (not logged:
    a feed logs a read when its first row goes out)."""
    held = scopes.readable(engine, dataset, actor, purpose)
    zones = crises.zones(engine, dataset, actor)
    return access.grant(dataset, actor, purpose=purpose, subjects=held, zones=zones)


@dataclass
class Keeper:
    """The datasets events name and the grants of every (actor, purpose) reading the feed."""

    datasets: dict[str, Dataset | None] = field(default_factory=dict)
    books: dict[Key, dict[str, Grant]] = field(default_factory=dict)
    generation: int = 0  # bumped when grants are forgotten: older computations are dropped
    # When a grant kept here first narrows (a consent, a token or a crisis ends): the fan-out
    # checks tokens and forgets every grant then, not at its next periodic refresh.
    until: datetime | None = None

    def due(self, now: datetime) -> bool:
        """Whether a grant kept here may no longer hold at `now`."""
        return self.until is not None and now >= self.until

    def missing(
        self, keys: Iterable[Key], dataset_ids: Iterable[str]
    ) -> tuple[set[str], dict[Key, set[str]]]:
        """The dataset ids not loaded yet, and per key the non-open datasets it has no grant on."""
        ids = {dataset_id for dataset_id in dataset_ids if dataset_id}
        unloaded = {dataset_id for dataset_id in ids if dataset_id not in self.datasets}
        wanted: dict[Key, set[str]] = {}
        for key in keys:
            book = self.books.get(key, {})
            lacking = {
                dataset_id
                for dataset_id in ids
                if dataset_id not in book and _closed(self.datasets.get(dataset_id), dataset_id)
            }
            if lacking:
                wanted[key] = lacking
        return unloaded, wanted

    def merge(self, computed: Computed) -> None:
        """Keep what a computation found, unless grants were forgotten since it started."""
        if computed.generation != self.generation:
            return
        self.datasets.update(computed.datasets)
        for key, grants in computed.grants.items():
            self.books.setdefault(key, {}).update(grants)
        self.until = earliest(self.until, computed.until)

    def forget(self, *, crisis_only: bool = False, dataset: str = "") -> None:
        """Forget grants (all, those on crisis datasets, or those on one dataset) and, for all,
        the datasets too."""
        self.generation += 1
        if not crisis_only and not dataset:
            self.datasets.clear()
            self.books.clear()
            self.until = None
            return
        for book in self.books.values():
            for dataset_id in [
                d
                for d in book
                if d == dataset or (crisis_only and _is_crisis(self.datasets.get(d)))
            ]:
                del book[dataset_id]

    def copy_for(self, key: Key) -> Keeper:
        """The datasets and one key's grants as they are now (a replay judges a page with
        them, whatever a refresh forgets meanwhile)."""
        book = {key: dict(self.books.get(key, {}))}
        return Keeper(dict(self.datasets), book, self.generation, self.until)

    def drop_key(self, key: Key) -> None:
        """Forget the book of a key no client uses any more."""
        self.books.pop(key, None)

    def verdict(self, key: Key, event: events.FeedEvent) -> Verdict:
        """Whether `key` may receive `event`: as it is, with its counts withheld, or not."""
        dataset = self.datasets.get(event.dataset)
        if event.access == "open" and (dataset is None or access.shared_level(dataset) == "open"):
            return "as-is"
        if dataset is None:
            return None  # withdrawn, or not loaded: refuse rather than guess
        given = self.books.get(key, {}).get(event.dataset)
        if given is None or not given.reads_rows:
            return None
        if given.whole:
            return "as-is"
        if event.kind in ("dataset", "gap"):
            return "withheld"  # counts are computed from every row
        if given.scope == "subjects":
            return "as-is" if event.subject and event.subject in given.subjects else None
        if given.scope == "area":
            return "as-is" if inside_zones(event, given.zones) else None
        return None

    def dataset(self, dataset_id: str) -> Dataset | None:
        """A loaded dataset."""
        return self.datasets.get(dataset_id)

    def grant(self, key: Key, dataset_id: str) -> Grant | None:
        """A key's grant on a dataset, if computed."""
        return self.books.get(key, {}).get(dataset_id)


@dataclass
class Computed:
    """Datasets and grants computed off the event loop, for Keeper.merge."""

    generation: int
    datasets: dict[str, Dataset | None] = field(default_factory=dict)
    grants: dict[Key, dict[str, Grant]] = field(default_factory=dict)
    until: datetime | None = None  # when the first of these grants narrows


def compute(
    engine: Engine,
    generation: int,
    known: dict[str, Dataset | None],
    unloaded: set[str],
    wanted: dict[Key, set[str]],
) -> Computed:
    """Load datasets and compute grants (blocking: run in a thread)."""
    computed = Computed(generation, load(engine, unloaded))
    seen = {**known, **computed.datasets}
    needed = set().union(*wanted.values()) if wanted else set()
    for dataset_id in needed - set(seen):
        seen.update(load(engine, {dataset_id}))
    for key, dataset_ids in wanted.items():
        actor, purpose = key
        book = computed.grants.setdefault(key, {})
        for dataset_id in dataset_ids:
            dataset = seen.get(dataset_id)
            if dataset is not None and access.shared_level(dataset) != "open":
                given = book[dataset_id] = grant_for(engine, dataset, actor, purpose)
                computed.until = earliest(
                    computed.until, ends(engine, dataset, actor, purpose, given)
                )
        if book and not actor.anonymous:
            computed.until = earliest(computed.until, token_end(engine, actor))
    return computed


def ends(
    engine: Engine, dataset: Dataset, actor: Actor, purpose: str, given: Grant
) -> datetime | None:
    """When `given` first narrows: the first of the service's consents behind it expires, or the
    first crisis that opens it ends (None: not before something else says so)."""
    moments: list[datetime | None] = [zone.end for zone in given.zones]
    if given.scope == "subjects" and actor.role == "service" and actor.service:
        with engine.connect() as connection:
            moments.append(consents.first_expiry(connection, actor.service, dataset.id, purpose))
    return earliest(*moments)


def token_end(engine: Engine, actor: Actor) -> datetime | None:
    """When the actor's token expires (None: it does not)."""
    with Session(engine) as session:
        row = tokens.lookup(session, actor.id)
    return as_utc(row.expires_at) if row is not None and row.expires_at is not None else None


def earliest(*moments: datetime | None) -> datetime | None:
    """The first of some moments (None among them: not a moment)."""
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


def load(engine: Engine, dataset_ids: set[str]) -> dict[str, Dataset | None]:
    """Datasets by id (None for an id the catalogue does not hold)."""
    if not dataset_ids:
        return {}
    with Session(engine, expire_on_commit=False) as session:
        found = session.exec(select(Dataset).where(col(Dataset.id).in_(sorted(dataset_ids))))
        loaded: dict[str, Dataset | None] = {dataset.id: dataset for dataset in found}
        for dataset in loaded.values():
            if dataset is not None:
                session.expunge(dataset)
    return {dataset_id: loaded.get(dataset_id) for dataset_id in dataset_ids}


def closed_ids(engine: Engine) -> set[str]:
    """The ids of every dataset that is not open (a connecting client's grants cover them),
    those a charter version in force closes since their last harvest included."""
    with Session(engine) as session:
        stored = set(session.exec(select(Dataset.id).where(Dataset.access != "open")).all())
        return stored | access.closed_open_ids(session)


def withhold_counts(data: dict[str, Any]) -> dict[str, Any]:
    """A dataset event without what is computed from its rows."""
    return {name: value for name, value in data.items() if name not in COUNTS}


def inside_zones(event: events.FeedEvent, zones: tuple[Zone, ...]) -> bool:
    """Whether an event lies inside one of a grant's zones, in its window (as the rows' SQL
    condition decides: a point inside or on the edge; anything else wholly covered)."""
    geometry = event.data.get("geometry")
    moment = _moment(event.data.get("time"))
    # a lasting row (an outage) carries its `end`, None while ongoing: it counts while it
    # overlaps the window, as the rows' SQL condition (hub.records.overlapping) decides
    last = _moment(event.data.get("end"))
    ongoing = "end" in event.data and last is None
    if not isinstance(geometry, dict) or moment is False or last is False:
        return False
    when = moment if isinstance(moment, datetime) else None
    if geometry.get("type") == "Point":
        lon, lat = (geometry.get("coordinates") or [None, None])[:2]
        if not all(isinstance(c, int | float) for c in (lon, lat)):
            return False
        return any(
            areas.covers(zone, float(lon), float(lat), when, last, ongoing) for zone in zones
        )
    try:
        shape = shapely_shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.ShapelyError):
        return False
    return any(
        (when is None or areas.in_window(zone, when, last, ongoing))
        and shapely_shape(json.loads(zone.shape)).covers(shape)
        for zone in zones
    )


def _moment(value: Any) -> datetime | None | Literal[False]:
    """An event's time: a datetime, None when it has none, False when it is no time."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return False
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _closed(dataset: Dataset | None, dataset_id: str) -> bool:
    return bool(dataset_id) and (dataset is None or access.shared_level(dataset) != "open")


def _is_crisis(dataset: Dataset | None) -> bool:
    return dataset is None or dataset.access == "crisis"


def recheck(engine: Engine, actors: set[Actor]) -> dict[Actor, Actor | None]:
    """Each actor's token checked again: its actor now, or None (revoked, expired, gone)."""
    found: dict[Actor, Actor | None] = {}
    with Session(engine) as session:
        for actor in actors:
            try:
                found[actor] = tokens.actor_of(session, actor.id)
            except tokens.InvalidToken:
                found[actor] = None
    return found


def variant_for(held: Keeper, key: Key, event: events.FeedEvent) -> str | None:
    """The variant of `event` that `key` receives (None: not sent): its grant's verdict, with a
    crisis's cells left out for those GET /api/v1/crises does not show them to."""
    verdict = held.verdict(key, event)
    if verdict is not None and event.kind == "crisis" and not sees_cells(key[0], event.data):
        return "public"
    return verdict


def public_data(event: events.FeedEvent) -> dict[str, Any] | None:
    """An event's data as an anonymous feed client receives it (None: not sent to one).

    No dataset is loaded: an anonymous actor holds no grant on any non-open dataset, so its
    verdict follows from the event's own access level (a dataset's level never changes). The
    public MQTT bridge publishes this and nothing else: one rule for both.
    """
    variant = variant_for(Keeper(), (access.ANONYMOUS, ""), event)
    return None if variant is None else shown(event, variant)


def shown(event: events.FeedEvent, variant: str) -> dict[str, Any]:
    """An event's data as a variant shows it: as-is, counts withheld, or cells left out."""
    if variant == "withheld":
        return withhold_counts(event.data)
    if variant == "public":
        return {name: value for name, value in event.data.items() if name != "cells"}
    return event.data


def sees_cells(actor: Actor, data: dict[str, Any]) -> bool:
    """Whether a crisis event's cells may be shown to `actor`, as GET /api/v1/crises shows
    them (hub.crises.ledger.sees_cells): to admins, to the cells it names, to the operators
    whose crisis data it opens (its `producers`)."""
    if actor.role == "admin":
        return True
    if actor.role == "crisis-cell":
        return bool(set(data.get("cells") or ()) & actor.organizations)
    return actor.role == "operator" and bool(set(data.get("producers") or ()) & actor.organizations)
