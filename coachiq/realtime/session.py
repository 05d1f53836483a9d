"""One WebSocket client of the realtime hub: its subscription, what waits to be sent, and its sender.

The hub's bus handler only merges an update into `pending` (dict work) and wakes the sender task; the
sender sends control messages first, then a snapshot when one is due, then the updates whose
coalescing window has passed. See coachiq/realtime/hub.py for the protocol.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

if TYPE_CHECKING:
    from coachiq.realtime.hub import RealtimeHub

log = logging.getLogger(__name__)

__all__ = ["COALESCE_S", "MAX_CONTROL_MESSAGES", "MAX_PENDING_ENTITIES", "ClientSession", "EncodedUpdate", "dumps"]

# A held change waits up to this long, and on the SocketCAN-shaped path at full bus that wait is the
# tail of the frame -> client latency: p99 ~47 ms at 45 ms, over the 25 ms budget; ~22 ms at 20 ms.
# 10 ms still caps a chatty entity at ~100 messages/s per client. With the reader's default 15 ms drain
# an entity's changes come at least a drain apart and are not held; with drain_ms 0 they can be.
COALESCE_S = 0.010
MAX_PENDING_ENTITIES = 512  # more distinct entities waiting than this: the client gets a snapshot instead
MAX_CONTROL_MESSAGES = 64  # command results and errors not yet sent: beyond this the client is dropped


def dumps(message: Mapping[str, Any]) -> str:
    """Compact JSON of a message."""
    # default=str: decoded values are JSON types; anything else (an enum, bytes) is shown, never fatal.
    return json.dumps(message, separators=(",", ":"), default=str)


class EncodedUpdate:
    """One update message, encoded once however many clients send it unchanged."""

    __slots__ = ("message", "text")

    def __init__(self, message: dict[str, Any]) -> None:
        """`message` is never changed once built: clients share it."""
        self.message = message
        self.text: str | None = None

    def encoded(self) -> str:
        """The JSON text, encoded on first use."""
        text = self.text
        if text is None:
            text = self.text = dumps(self.message)
        return text


class ClientSession:
    """One WebSocket client: its subscription, pending updates and control messages."""

    __slots__ = ("closed", "control", "dropped_reason", "held", "hub", "id", "ids", "last_sent", "pending",
                 "refusal_audited_at", "refusals_unwritten", "resync", "sender", "sending_since", "sent",
                 "subscribed", "tasks", "timer", "wake", "websocket")

    def __init__(self, hub: RealtimeHub, websocket: WebSocket, client_id: str) -> None:
        self.hub = hub
        self.websocket = websocket
        self.id = client_id
        self.subscribed = False
        self.ids: frozenset[str] | None = None  # None with subscribed: every entity
        self.pending: dict[str, EncodedUpdate] = {}
        self.last_sent: dict[str, float] = {}
        self.held: set[str] = set()  # entities whose pending update waits for its coalescing window
        self.control: deque[dict[str, Any]] = deque()
        self.resync = False
        self.wake = asyncio.Event()
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.sending_since: float | None = None  # monotonic time the send in progress began
        self.sender: asyncio.Task[None] | None = None
        self.closed = False
        self.dropped_reason = ""
        self.refusal_audited_at: float | None = None  # monotonic time a refused command was last audited
        self.refusals_unwritten = 0  # refused commands since then, counted in the next entry

    def clear_pending(self) -> None:
        """Forget the updates not sent yet (a snapshot about to go out holds them)."""
        self.pending.clear()
        self.held.clear()

    def wants(self, entity_id: str) -> bool:
        """True when the client's subscription takes this entity."""
        return self.subscribed and (self.ids is None or entity_id in self.ids)

    def offer(self, update: EncodedUpdate, merges: dict[int, tuple[EncodedUpdate, EncodedUpdate]]) -> None:
        """Merge one update into the pending ones (bus path: dict work only).

        `merges` is shared by the clients offered the same update: clients that had the same update
        pending (the usual case) then share the merged one too, built and encoded once.
        """
        if self.resync:
            return  # the snapshot about to be sent already holds it
        message = update.message
        entity_id = message["entity_id"]
        pending = self.pending.get(entity_id)
        if pending is None:
            if len(self.pending) >= MAX_PENDING_ENTITIES:
                self.hub.resyncs += 1
                self.resync = True
                self.clear_pending()
            else:
                self.pending[entity_id] = update  # shared with the other clients: never changed in place
        else:
            known = merges.get(id(pending))
            if known is None:
                # The pending update is kept in the entry so that its id cannot be reused meanwhile.
                known = merges[id(pending)] = (pending, EncodedUpdate(
                    {**message, "values": {**pending.message["values"], **message["values"]}}))
            self.pending[entity_id] = known[1]
        self.wake.set()

    def say(self, message: dict[str, Any]) -> None:
        """Queue a control message (snapshot request, result, error); drop a client that does not read."""
        if len(self.control) >= MAX_CONTROL_MESSAGES:
            self.drop("too many unsent replies: the client does not read its socket")
            return
        self.control.append(message)
        self.wake.set()

    def drop(self, reason: str) -> None:
        """Close the session for `reason` (told to the client when its socket closes)."""
        if self.closed:
            return
        self.closed = True
        self.dropped_reason = reason
        self.hub.dropped_clients += 1
        log.warning("WebSocket client %s dropped: %s", self.id, reason)
        self.wake.set()

    async def send(self, message: Mapping[str, Any] | EncodedUpdate) -> None:
        """Send one message now (the sender task's own sends)."""
        text = message.encoded() if isinstance(message, EncodedUpdate) else dumps(message)
        # No timer per message: the hub's watchdog drops a client whose send has waited too long.
        self.sending_since = time.monotonic()
        await self.websocket.send({"type": "websocket.send", "text": text})
        self.sending_since = None
        self.sent += 1

    async def run_sender(self) -> None:
        """Send control messages, snapshots and due updates until the client closes or is dropped."""
        loop = asyncio.get_running_loop()
        while not self.closed:
            await self.wake.wait()
            self.wake.clear()
            while self.control and not self.closed:
                message = self.control.popleft()
                if message.get("type") == "snapshot":
                    # Built at send time so it is the freshest state; later updates follow it.
                    self.clear_pending()
                    self.resync = False
                    message = {"type": "snapshot", "entities": self.hub.snapshot(self.ids),
                               "safety": self.hub.safety.snapshot()}
                await self.send(message)
            if self.resync and not self.closed:
                self.resync = False
                self.clear_pending()
                await self.send({"type": "snapshot", "entities": self.hub.snapshot(self.ids),
                                 "safety": self.hub.safety.snapshot()})
            now = time.monotonic()
            next_due = float("inf")
            for entity_id in list(self.pending):
                due = self.last_sent.get(entity_id, 0.0) + COALESCE_S
                if due <= now:
                    update = self.pending.pop(entity_id, None)
                    if update is None:
                        continue
                    self.last_sent[entity_id] = now
                    if entity_id in self.held:
                        self.held.discard(entity_id)
                        self.hub.held_updates += 1
                    await self.send(update)
                    if self.closed:
                        return
                else:
                    self.held.add(entity_id)
                    next_due = min(next_due, due)
            if next_due != float("inf") and not self.wake.is_set():
                if self.timer is not None:
                    self.timer.cancel()
                self.timer = loop.call_later(max(0.0, next_due - time.monotonic()), self.wake.set)
