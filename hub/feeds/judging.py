"""What one event becomes for one client: nothing (its filters or its grant refuse it), or its
SSE bytes in the variant the grant allows, with the read to log for a non-open dataset."""

from __future__ import annotations

from typing import Any

from hub import access, events
from hub.feeds import grants, sse, tallies
from hub.feeds.clients import Client, Delivery
from hub.feeds.grants import Keeper


def judge(
    held: Keeper, client: Client, event: events.FeedEvent, shape: Any, encoded: dict[str, bytes]
) -> Delivery | None:
    """The delivery of `event` to `client` under the grants `held`, or None; `encoded` caches
    the event's bytes per variant across clients."""
    if not client.filters.matches(event, shape):
        return None
    variant = grants.variant_for(held, client.key, event)
    if variant is None:
        return None
    body = encoded.get(variant)
    if body is None:
        body = encoded[variant] = sse.message(event.kind, grants.shown(event, variant), event.id)
    dataset = held.dataset(event.dataset)
    if dataset is None or access.shared_level(dataset) == "open":
        return Delivery(event.id, body)
    grant = held.grant(client.key, event.dataset)
    return Delivery(event.id, body, dataset, grant, event.subject, event.kind in tallies.ROWS)


def open_delivery(
    held: Keeper, event: events.FeedEvent, encoded: dict[str, bytes]
) -> Delivery | None:
    """The delivery every client gets whose filters take `event`, when no grant can change it
    (an open event of an open dataset, not a crisis: `judge` says the same for every key)."""
    if event.access != "open" or event.kind == "crisis":
        return None
    dataset = held.dataset(event.dataset)
    if dataset is not None and access.shared_level(dataset) != "open":
        return None
    body = encoded["as-is"] = sse.message(event.kind, grants.shown(event, "as-is"), event.id)
    return Delivery(event.id, body)
