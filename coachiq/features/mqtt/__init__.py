"""The mqtt feature: the coach in Home Assistant through MQTT discovery, and on any MQTT broker.

Started after the core services with them injected; it only uses their public interfaces (entity
updates on the event bus, `EntityManager.execute`, the state manager's snapshot and emergency stop,
persistence settings). A broker that is down does not fail the feature: it keeps retrying with back-off
and /health shows it as unhealthy with the reason, which makes the server "degraded", never down.
"""

from __future__ import annotations

import secrets
from typing import ClassVar

from pydantic import BaseModel

from coachiq.core.service import Health, Status
from coachiq.features.base import FeatureContext
from coachiq.features.mqtt.bridge import NODE_ID_SETTING, RETAINED_SETTING, MqttBridge
from coachiq.features.mqtt.settings import MqttSettings

__all__ = ["MqttFeature", "MqttSettings"]


class MqttFeature:
    """Publishes the coach to an MQTT broker and takes commands from it."""

    name: ClassVar[str] = "mqtt"
    settings_model: ClassVar[type[BaseModel]] = MqttSettings

    def __init__(self) -> None:
        self.bridge: MqttBridge | None = None

    async def start(self, ctx: FeatureContext) -> None:
        """Choose (once) this coach's node id, then start connecting; returns without waiting for the broker."""
        settings = ctx.settings
        if not isinstance(settings, MqttSettings):
            raise TypeError("the mqtt feature needs MqttSettings")
        persistence = ctx.core.persistence
        node_id = settings.node_id
        if node_id is None:
            stored = await persistence.get_setting(NODE_ID_SETTING)
            if isinstance(stored, str) and stored:
                node_id = stored
            else:
                node_id = secrets.token_hex(4)
                await persistence.set_setting(NODE_ID_SETTING, node_id)
        retained = await persistence.get_setting(RETAINED_SETTING, [])
        topics = [t for t in retained if isinstance(t, str)] if isinstance(retained, list) else []
        self.bridge = MqttBridge(ctx.core, settings, node_id, topics)
        self.bridge.start()

    async def stop(self) -> None:
        """Publish `offline` and disconnect."""
        if self.bridge is not None:
            await self.bridge.stop()

    def health(self) -> Health:
        """Healthy while connected to the broker; the detail names the broker and what went over it."""
        bridge = self.bridge
        if bridge is None:
            return Health(Status.STOPPED, "not running")
        if not bridge.running:
            return Health(Status.UNHEALTHY, "an MQTT task stopped (see the log): " + bridge.describe())
        return Health(Status.HEALTHY if bridge.connected else Status.UNHEALTHY, bridge.describe(),
                      {"connected": bridge.connected, "broker": bridge.broker.safe_url})
