"""Whose rows of a personal dataset a data subject or a service may read: the pseudonyms behind
their grant, looked up afresh on every read (a revoked or expired consent, a removed link, counts
from the next request on)."""

from __future__ import annotations

from sqlalchemy import Engine

from hub.access import Actor
from hub.models import Dataset
from hub.selfdata import consents, links


def readable(engine: Engine, dataset: Dataset, actor: Actor, purpose: str) -> frozenset[str] | None:
    """The pseudonyms `actor` may read in `dataset` — a subject its own links, a service those
    whose subjects consent to `purpose` — or None when no subject or consent applies."""
    if dataset.access != "personal":
        return None
    if actor.role == "subject" and actor.account:
        with engine.connect() as connection:
            return links.pseudonyms(connection, actor.account, dataset.id)
    if actor.role == "service" and actor.service and purpose:
        with engine.connect() as connection:
            return consents.consenting(connection, actor.service, dataset.id, purpose)
    return None
