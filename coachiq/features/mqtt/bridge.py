"""The MQTT bridge: one broker connection, kept up with back-off, between the coach and the broker.

On every connection: subscribe to the command topics and to Home Assistant's status, publish the birth
message, every discovery config (retained), clear the configs of entities no longer mapped, and publish
every state. Then two tasks run until the connection drops: the receiver (commands, Home Assistant
coming online) and the sender (command results first, then the changed states). The last will marks
CoachIQ offline when the connection is lost; a clean stop publishes `offline` itself.

Commands go through the entity manager's public `execute`, so the safety gate, the audit log and the
confirmation by the device's status echo are the same as for the web page. Motion started from MQTT
belongs to the MQTT connection: when it drops, the state manager stops that motion as it does for a
departed WebSocket client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from coachiq import __version__
from coachiq.core.alerts import Alert, Priority
from coachiq.core.tasks import cancel_all, next_tick, sleep_aligned
from coachiq.entities.model import MOTION_COMMANDS, CommandError, CommandResult, EntityUpdate, Outcome
from coachiq.entities.topics import ENTITY_UPDATE
from coachiq.features.mqtt.commands import MAX_PAYLOAD_BYTES, Rejected, generic_command, translate
from coachiq.features.mqtt.discovery import (
    EMERGENCY_STOP_ID,
    SAFETY_ID,
    Announcement,
    Discovery,
    Topics,
    is_position_critical,
    state_payload,
)
from coachiq.features.mqtt.outbox import Outbox
from coachiq.features.mqtt.settings import MqttSettings

if TYPE_CHECKING:
    from coachiq.composition import CoreServices
    from coachiq.entities.manager import Entity

log = logging.getLogger(__name__)
client_log = logging.getLogger(__name__ + ".client")  # the MQTT library's own messages

ACTOR = "mqtt"
RETAINED_SETTING = "mqtt.retained_topics"  # every config and state topic announced, so a restart can clear
NODE_ID_SETTING = "mqtt.node_id"
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
MAX_COMMANDS_IN_FLIGHT = 16
MAX_QUEUED_REJECTIONS = 256
MAX_INCOMING_QUEUE = 256
MAX_PACKET_BYTES = 65_536  # MQTT 5: the broker must not send us anything bigger
SAFETY_POLL_S = 1.0
SAFETY_MIN_S = 0.2
PUBLISH_BATCH = 20
STOP_PUBLISH_S = 2.0
_LOG_EVERY_S = 1.0


def _dumps(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), default=str).encode()


class MqttBridge:
    """Connects the coach to one MQTT broker; built by the mqtt feature with the core services."""

    def __init__(self, core: CoreServices, settings: MqttSettings, node_id: str, retained: list[str]) -> None:
        """`retained`: the topics announced before (from the database), to clear those no longer mapped."""
        self.core = core
        self.settings = settings
        self.broker = settings.broker
        self.topics = Topics(settings.discovery_prefix, settings.topic_prefix, node_id)
        self.client_id = settings.client_id or f"coachiq-{node_id}"
        self.motion_owner = f"mqtt:{self.client_id}"
        mapping = core.entities.mapping
        coach = mapping.coach if mapping else "coach"
        self.discovery = Discovery(self.topics, coach, mapping.description if mapping else "", __version__)
        self.entities: dict[str, Entity] = dict(core.entities.entities)
        self.announcements: list[Announcement] = self.discovery.all(e.config for e in self.entities.values())
        self.previously_retained = set(retained)
        self.outbox = Outbox(settings.queue_size)
        self.connected = False
        self.connections = 0
        self.last_error = ""
        self.next_attempt: float | None = None
        self.commands = 0
        self.rejected = 0
        self.published_states = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._commands: set[asyncio.Task[None]] = set()
        self._safety_key: tuple[Any, ...] | None = None
        self._safety_wake = asyncio.Event()
        self._reannounce = asyncio.Event()
        self._log_window = (0.0, 0)  # (start of the window, messages suppressed in it)
        self._unsubscribe: list[Callable[[], None]] = []

    # --- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Follow entity changes and alerts, and start connecting."""
        self._unsubscribe.append(self.core.events.subscribe(ENTITY_UPDATE, self.on_update))
        self._unsubscribe.append(self.core.alerts.subscribe(self._on_alert))
        self._tasks.append(asyncio.create_task(self._run(), name="mqtt-connection"))
        self._tasks.append(asyncio.create_task(self._safety_loop(), name="mqtt-safety"))

    async def stop(self) -> None:
        """Publish `offline`, disconnect, and stop every task."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self._stop.set()
        connection = self._tasks[0] if self._tasks else None
        if connection is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_PUBLISH_S + 1):
                    await asyncio.wait([connection])
        await cancel_all(list(self._commands))
        await cancel_all(self._tasks)

    @property
    def running(self) -> bool:
        """True while the connection and safety tasks are alive."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    # --- event bus (receive path: dict work only) ------------------------------------------------

    def on_update(self, update: EntityUpdate) -> None:
        """An entity changed: remember it for the sender."""
        entity_id = update.entity_id
        if entity_id in self.entities:
            self.outbox.state_changed(entity_id, update.timestamp)
            if entity_id.startswith("chassis."):
                self._safety_wake.set()  # the vehicle state may have changed with it

    def _on_alert(self, alert: Alert, raised: bool) -> None:
        self._safety_wake.set()

    # --- connection -----------------------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        broker, settings = self.broker, self.settings
        tls = None
        if broker.tls:
            tls = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
        version5 = settings.protocol == "5"
        properties = None
        if version5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.MaximumPacketSize = MAX_PACKET_BYTES
        will = aiomqtt.Will(self.topics.status, b"offline", qos=1, retain=True)
        client = aiomqtt.Client(broker.host, broker.port, username=broker.username, password=broker.password,
                              identifier=self.client_id, logger=client_log,
                              protocol=aiomqtt.ProtocolVersion.V5 if version5 else aiomqtt.ProtocolVersion.V311,
                              will=will, keepalive=settings.keepalive_s, timeout=10,
                              max_queued_incoming_messages=MAX_INCOMING_QUEUE, properties=properties,
                              tls_context=tls)
        client.pending_calls_threshold = PUBLISH_BATCH  # the configs go out in batches of this many
        return client

    async def _run(self) -> None:
        delay = BACKOFF_MIN_S
        while not self._stop.is_set():
            try:
                async with self._client() as client:
                    self.connected = True
                    self.connections += 1
                    self.next_attempt = None
                    delay = BACKOFF_MIN_S
                    log.info("connected to the MQTT broker %s as %s", self.broker.safe_url, self.client_id)
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                error = str(exc) or type(exc).__name__
                if self.connected or error != self.last_error:
                    log.warning("MQTT broker %s: %s", self.broker.safe_url, error)
                self.last_error = error
            except OSError as exc:  # the TLS context: an unreadable or invalid CA file
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("MQTT broker %s: %s", self.broker.safe_url, self.last_error)
            except Exception as exc:  # a fault of ours must not end the connection for good: log, retry
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("the MQTT connection to %s failed", self.broker.safe_url)
            finally:
                if self.connected:
                    self.connected = False
                    # Motion started over MQTT stops with the connection, as for a WebSocket client.
                    self.core.motion.client_gone(self.motion_owner)
            if self._stop.is_set():
                break
            wait = delay * random.uniform(0.8, 1.2)
            self.next_attempt = time.time() + wait
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._stop.wait()
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _session(self, client: aiomqtt.Client) -> None:
        # The receiver runs first: it notices a dropped connection at once, while a publish of the
        # announcement would only time out.
        receiver = asyncio.create_task(self._receive(client), name="mqtt-receive")
        sender = asyncio.create_task(self._send(client), name="mqtt-send")
        stopper = asyncio.create_task(self._stop.wait(), name="mqtt-stop")
        tasks = [receiver, sender, stopper]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_all([t for t in tasks if not t.done()])
        if stopper in done:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(STOP_PUBLISH_S):
                    await self._flush_results(client)
                    await client.publish(self.topics.status, b"offline", qos=1, retain=True)
            return
        for task in (receiver, sender):
            if task in done and (error := task.exception()) is not None:
                raise error
        raise aiomqtt.MqttError("the connection ended")

    async def _announce(self, client: aiomqtt.Client, with_states: bool) -> None:
        """Birth message, discovery configs, clearing of stale ones, and (after connecting) every state."""
        configs = [(self.discovery.config_topic(a), _dumps(a.config)) for a in self.announcements]
        current = {topic for topic, _ in configs}
        current.update(self.topics.state(entity_id) for entity_id in [*self.entities, SAFETY_ID])
        persistence = self.core.persistence
        if with_states and not current <= self.previously_retained:
            # Written before anything is published: a stop in the middle still leaves a record of every
            # topic that may hold a retained message, so the next start can clear what is gone.
            self.previously_retained |= current
            await persistence.set_setting(RETAINED_SETTING, sorted(self.previously_retained))
        await client.publish(self.topics.status, b"online", qos=1, retain=True)
        await _publish_all(client, configs)
        if not with_states:
            return
        stale = sorted(self.previously_retained - current)
        if stale:
            # An empty retained message deletes the retained one: Home Assistant removes the entity.
            await _publish_all(client, [(topic, b"") for topic in stale])
            log.info("cleared %d MQTT topics of entities no longer mapped", len(stale))
            self.previously_retained = current
            await persistence.set_setting(RETAINED_SETTING, sorted(current))
        for entity_id in self.entities:
            self.outbox.states.pop(entity_id, None)
            await self._publish_state(client, entity_id, None)
        self._safety_key = None
        self._safety_wake.set()

    async def _publish_state(self, client: aiomqtt.Client, entity_id: str, timestamp: float | None) -> None:
        if entity_id == SAFETY_ID:
            payload = self._safety_payload()
        else:
            entity = self.entities[entity_id]
            state = entity.state
            payload = state_payload(entity.config, state.values, state.available,
                                    timestamp if timestamp else state.updated_at)
        await client.publish(self.topics.state(entity_id), _dumps(payload), qos=0, retain=True)
        self.published_states += 1

    async def _flush_results(self, client: aiomqtt.Client) -> None:
        results = self.outbox.results
        while results:
            topic, payload = results[0]
            await client.publish(topic, payload, qos=1)
            results.popleft()  # only once the broker has it: a result is never lost to a dropped connection

    async def _send(self, client: aiomqtt.Client) -> None:
        for topic in self.topics.subscriptions:
            await client.subscribe(topic, qos=1)
        await self._announce(client, with_states=True)
        outbox = self.outbox
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None
        try:
            while True:
                await outbox.wake.wait()
                outbox.wake.clear()
                if timer is not None:
                    timer.cancel()
                    timer = None
                if self._reannounce.is_set():
                    self._reannounce.clear()
                    await self._announce(client, with_states=False)
                await self._flush_results(client)
                due, next_due = outbox.take_due()
                for entity_id, timestamp in due:
                    await self._publish_state(client, entity_id, timestamp)
                if next_due is not None:  # held back to coalesce: wake when the first one falls due
                    timer = loop.call_later(max(0.0, next_due - time.monotonic()), outbox.wake.set)
        finally:
            if timer is not None:
                timer.cancel()

    # --- receiving ------------------------------------------------------------------------------

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            if topic == self.topics.ha_status:
                # Home Assistant started (or its MQTT integration reloaded): it needs the configs again.
                if payload.strip() == b"online" and not message.retain:
                    log.info("Home Assistant is online: sending the discovery configs again")
                    self._reannounce.set()
                    self.outbox.wake.set()
                continue
            parsed = self.topics.parse_command_topic(topic)
            if parsed is None:
                continue
            if len(self._commands) >= MAX_COMMANDS_IN_FLIGHT:
                self._reject(topic, parsed[0], f"more than {MAX_COMMANDS_IN_FLIGHT} commands are in progress")
                continue
            task = asyncio.create_task(self._command(topic, *parsed, payload), name="mqtt-command")
            self._commands.add(task)
            task.add_done_callback(self._commands.discard)

    def _reject(self, topic: str, entity_id: str, reason: str, request_id: Any = None,
                command: str | None = None) -> None:
        """A message that is not a valid command: log it (rate-limited) and answer when the entity exists."""
        self.rejected += 1
        started, suppressed = self._log_window
        now = time.monotonic()
        if now - started >= _LOG_EVERY_S:
            more = f" ({suppressed} more rejected in the last second)" if suppressed else ""
            log.warning("MQTT message on %s rejected: %s%s", topic[:200], reason, more)
            self._log_window = (now, 0)
        else:
            self._log_window = (started, suppressed + 1)
        known = entity_id in self.entities or entity_id == EMERGENCY_STOP_ID
        if known and len(self.outbox.results) < MAX_QUEUED_REJECTIONS:
            self._result(entity_id, {"id": request_id, "entity_id": entity_id, "command": command,
                                     "status": "rejected", "reason": reason})

    def _result(self, entity_id: str, data: dict[str, Any]) -> None:
        topic = self.topics.result(entity_id) if entity_id != EMERGENCY_STOP_ID else f"{self.topics.base}/safety/result"
        self.outbox.add_result(topic, _dumps(data))

    async def _command(self, topic: str, entity_id: str, kind: str, aspect: str, payload: bytes) -> None:
        if len(payload) > MAX_PAYLOAD_BYTES:
            self._reject(topic, entity_id, f"the payload of {len(payload)} bytes is over the limit of "
                                           f"{MAX_PAYLOAD_BYTES} bytes")
            return
        if entity_id == EMERGENCY_STOP_ID and kind == "set" and not aspect:
            await self._emergency_stop(topic, payload)
            return
        entity = self.entities.get(entity_id)
        if entity is None:
            self._reject(topic, entity_id, f"no entity {entity_id!r}")
            return
        request_id: Any = None
        try:
            if kind == "command":
                command, params, request_id = generic_command(payload)
            else:
                command, params = translate(entity.config, aspect, payload, entity.state.values)
        except Rejected as exc:
            self._reject(topic, entity_id, str(exc))
            return
        if command in MOTION_COMMANDS:
            if not self.settings.position_critical_commands and is_position_critical(entity.config):
                reason = ("position-critical commands from MQTT are off: set COACHIQ_MQTT_POSITION_CRITICAL_COMMANDS"
                          "=true to allow them")
                self.commands += 1
                self.core.entities.spawn(self.core.persistence.audit(ACTOR, command, entity_id, "refused", reason))
                self._result(entity_id, {"id": request_id, "entity_id": entity_id, "command": command,
                                         "status": Outcome.REFUSED.value, "reason": reason})
                return
            params.setdefault("duration_s", min(self.settings.motion_duration_s, entity.config.max_duration_s))
        self.commands += 1
        try:
            result = await self.core.entities.execute(entity_id, command, params, ACTOR, client_id=self.motion_owner)
        except CommandError as exc:
            self._reject(topic, entity_id, str(exc), request_id, command)
            return
        self._result(entity_id, _result_json(result, request_id))

    async def _emergency_stop(self, topic: str, payload: bytes) -> None:
        if payload.strip() != b"PRESS":
            self._reject(topic, EMERGENCY_STOP_ID, "the emergency stop takes the payload PRESS")
            return
        self.commands += 1
        results = await self.core.motion.emergency_stop(ACTOR)
        self._result(EMERGENCY_STOP_ID, {"command": "emergency_stop", "status": Outcome.CONFIRMED.value,
                                         "stopped": [r.entity_id for r in results
                                                     if r.outcome is Outcome.CONFIRMED]})
        self._safety_wake.set()

    # --- safety ---------------------------------------------------------------------------------

    def _safety_payload(self) -> dict[str, Any]:
        snapshot = self.core.state.snapshot()
        alerts = [{"priority": a.priority.value, "source": a.source, "message": a.message}
                  for a in self.core.alerts.active]
        faults = any(a.priority in (Priority.P1, Priority.P2) for a in self.core.alerts.active)
        return {"safe_state": snapshot["safe_state"], "reasons": snapshot["reasons"],
                "emergency_stop": snapshot["emergency_stop"], "vehicle_state": snapshot["vehicle_state"],
                "interlocks": snapshot["interlocks"], "faults": faults, "alerts": alerts, "timestamp": time.time()}

    async def _safety_loop(self) -> None:
        # The safety view has no change event of its own: it is checked once a second on the shared tick,
        # and at once on an alert or a chassis update; it is published only when something in it changed.
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_tick(SAFETY_POLL_S)):
                    await self._safety_wake.wait()
            self._safety_wake.clear()
            snapshot = self.core.state.snapshot()
            alerts = tuple(a.key for a in self.core.alerts.active)
            interlocks = tuple(sorted(snapshot["interlocks"].items()))
            key = (snapshot["safe_state"], snapshot["emergency_stop"], snapshot["vehicle_state"],
                   len(snapshot["reasons"]), interlocks, alerts)
            if key != self._safety_key:
                self._safety_key = key
                self.outbox.state_changed(SAFETY_ID, time.time())
            await sleep_aligned(SAFETY_MIN_S)  # a few checks a second at most, however often it is woken

    # --- health ---------------------------------------------------------------------------------

    def describe(self) -> str:
        """One line for /health: the broker connection and what went over it."""
        if self.connected:
            return (f"connected to {self.broker.safe_url} as {self.client_id} (MQTT {self.settings.protocol}); "
                    f"{len(self.announcements)} Home Assistant entities announced, {self.commands} commands, "
                    f"{self.rejected} rejected messages, {self.outbox.dropped_states} states dropped")
        when = ""
        if self.next_attempt is not None:
            when = f"; next attempt in {max(0.0, self.next_attempt - time.time()):.0f} s"
        error = self.last_error or "connecting"
        return f"not connected to {self.broker.safe_url}: {error}{when}"


async def _publish_all(client: aiomqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    """Publish retained messages at QoS 1, a batch at a time (each batch waits for the broker's acks)."""
    for start in range(0, len(messages), PUBLISH_BATCH):
        await asyncio.gather(*(client.publish(topic, payload, qos=1, retain=True)
                               for topic, payload in messages[start:start + PUBLISH_BATCH]))


def _result_json(result: CommandResult, request_id: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": request_id, "command_id": result.command_id, "entity_id": result.entity_id,
                            "command": result.command, "status": result.outcome.value}
    if result.state is not None:
        data["state"] = result.state
    if result.reason:
        data["reason"] = result.reason
    return data
