"""The MQTT bridge (HUB_MQTT_URL): the feed's public events on ROOT/theme/dataset/type, retained.

Open datasets' observations, alerts and dataset events, and crisis declarations and closes, go
to the broker with QoS 1 and `retain`, so a dashboard that subscribes gets each topic's newest
value at once. Restricted, personal and crisis data never go: the broker grants nothing. One
bridge per database publishes (hub.mqttbridge.lease); the others stand by and take over.
"""

from __future__ import annotations

from sqlalchemy import Engine

from hub.config import get_settings
from hub.mqttbridge.bridge import Bridge
from hub.mqttbridge.messages import Broker

__all__ = ["Bridge", "Broker", "start_bridge"]


def start_bridge(engine: Engine) -> Bridge | None:
    """Start the bridge HUB_MQTT_URL asks for (None when unset); the caller stops it."""
    settings = get_settings()
    if not settings.mqtt_url:
        return None
    bridge = Bridge(engine, Broker.from_url(settings.mqtt_url), root=settings.mqtt_topic_root)
    bridge.start()
    return bridge
