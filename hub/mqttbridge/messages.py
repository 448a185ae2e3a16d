"""What the bridge sends: which events, on which topics, as which payloads; and to which broker."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from hub.events import FeedEvent
from hub.feeds import grants

CRISES_SEGMENT = "crises"  # crisis events have no dataset: ROOT/risk/crises/crisis
# Wildcards, the level separator and NUL are not allowed inside a topic level.
_UNSAFE = re.compile(r"[+#/\x00]")


@dataclass(frozen=True)
class Broker:
    """Where the bridge publishes; the password is kept out of every repr and log line."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> Broker:
        """A broker from mqtt://[user:password@]host[:port] or mqtts://… (checked by Settings)."""
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname or "",
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def __str__(self) -> str:
        who = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{who}{self.host}:{self.port}"


def topic_of(event: FeedEvent, root: str) -> str:
    """ROOT/theme/dataset/type, each level made safe for MQTT."""
    if event.kind == "crisis":
        return f"{root}/{level(event.theme or 'risk')}/{CRISES_SEGMENT}/crisis"
    return f"{root}/{level(event.theme)}/{level(event.dataset)}/{level(event.kind)}"


def level(text: str) -> str:
    """One topic level from data: wildcards, separators and NUL become '_', empty becomes '_'."""
    return _UNSAFE.sub("_", text) or "_"


def payload_of(event: FeedEvent) -> bytes | None:
    """The `data:` object an anonymous feed client gets, plus `event_id` (the SSE id, for
    `Last-Event-ID`); None for an event an anonymous client does not get."""
    # The broker grants nothing: it gets what the feed gives anyone, by the feed's own rule
    # (an open dataset's events; a crisis without its cells).
    data = grants.public_data(event)
    # As the feed's default: Actual only (an exercise's crisis events, Exercise and Test
    # alerts are for its participants, who ask the feed for them).
    if data is None or event.status != "Actual":
        return None
    # `event_id`, not `id`: a crisis event's data already has its own `id`, the crisis's.
    return json.dumps(
        {**data, "event_id": event.id},
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    ).encode("utf-8")
