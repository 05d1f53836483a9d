"""The raw frame stream of /api/v2/ws/can: every decoded frame with its values, for diagnostics.

Client `{"type": "subscribe"}` streams every frame; `{"type": "subscribe", "dgns": [0x1FEDA,
"DC_DIMMER_STATUS_3", "0x1FFB7"]}` only those DGNs. Server `{"type": "frame", "timestamp", "interface",
"can_id", "dgn", "name", "source_address", "instance", "own", "values", "data"}`.

The stream listens on the bus only while a client is subscribed, so it costs nothing otherwise. Each
client has a bounded queue; when it is full the oldest frames are dropped and counted, and the next
message says how many were lost (`"dropped"`): diagnostics never slow the receive path.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from coachiq.core.events import EventBus
from coachiq.core.jsonlimits import loads_limited
from coachiq.core.tasks import cancel_all
from coachiq.entities.topics import FRAME
from coachiq.rvc.receive import RvcFrame
from coachiq.rvc.service import RvcProtocolService

log = logging.getLogger(__name__)

__all__ = ["CanStream", "frame_json", "parse_dgn"]

QUEUE_FRAMES = 1000
SEND_TIMEOUT_S = 5.0
MAX_MESSAGE_CHARS = 65_536


def frame_json(frame: RvcFrame) -> dict[str, Any]:
    """The JSON shape of one frame (also used by the recent-frames endpoint)."""
    decoded = frame.decoded
    return {"type": "frame", "timestamp": frame.timestamp, "interface": frame.interface, "can_id": frame.can_id,
            "dgn": frame.dgn, "name": decoded.name, "source_address": frame.source_address,
            "instance": decoded.instance, "own": frame.own, "values": decoded.values,
            "data": decoded.payload.hex(" ").upper()}


def parse_dgn(rvc: RvcProtocolService, value: object) -> int:
    """A DGN given as an integer, a hex string ("0x1FEDA") or a name; ValueError says what is wrong."""
    if isinstance(value, bool):
        raise ValueError(f"not a DGN: {value!r}")
    if isinstance(value, int):
        dgn = value
    elif isinstance(value, str) and value.lower().startswith("0x"):
        try:
            dgn = int(value, 16)
        except ValueError:
            raise ValueError(f"not a hexadecimal DGN: {value!r}") from None
    elif isinstance(value, str):
        codec = rvc.codec
        if codec is None:
            raise ValueError("the DGN database is not loaded")
        try:
            return codec.spec_for(value).dgn
        except KeyError:
            raise ValueError(f"unknown DGN name {value!r}") from None
    else:
        raise ValueError(f"not a DGN: {value!r}: give a number, \"0x...\" or a name")
    if not 0 <= dgn <= 0x3FFFF:
        raise ValueError(f"DGN {value!r} is out of range 0..0x3FFFF")
    return dgn


class _CanClient:
    __slots__ = ("dgns", "dropped", "queue", "subscribed", "wake", "websocket")

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.subscribed = False
        self.dgns: frozenset[int] | None = None
        self.queue: deque[RvcFrame | dict[str, Any]] = deque()
        self.dropped = 0
        self.wake = asyncio.Event()

    def put(self, item: RvcFrame | dict[str, Any]) -> None:
        if len(self.queue) >= QUEUE_FRAMES:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(item)
        self.wake.set()


class CanStream:
    """Streams decoded frames to /api/v2/ws/can clients."""

    def __init__(self, events: EventBus, rvc: RvcProtocolService) -> None:
        """Frames come from the event bus topic the RV-C service publishes on."""
        self.events = events
        self.rvc = rvc
        self.clients: dict[int, _CanClient] = {}
        self._ids = itertools.count(1)
        self._unsubscribe: Callable[[], None] | None = None

    def _on_frame(self, frame: RvcFrame) -> None:
        # Bus path: only a membership test and a deque append per client.
        for client in self.clients.values():
            if client.subscribed and (client.dgns is None or frame.dgn in client.dgns):
                client.put(frame)

    def _listen(self) -> None:
        wanted = any(c.subscribed for c in self.clients.values())
        if wanted and self._unsubscribe is None:
            self._unsubscribe = self.events.subscribe(FRAME, self._on_frame)
        elif not wanted and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def close_all(self) -> None:
        """Close every client (server stop)."""
        for client in list(self.clients.values()):
            with contextlib.suppress(Exception):
                await client.websocket.close(1001)

    async def serve(self, websocket: WebSocket) -> None:
        """Run one diagnostics client until it disconnects."""
        await websocket.accept()
        client = _CanClient(websocket)
        key = next(self._ids)
        self.clients[key] = client
        sender = asyncio.create_task(self._send_loop(client), name="ws-can-sender")
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                self._handle(client, message.get("text"))
                self._listen()
                if sender.done():
                    break
        finally:
            del self.clients[key]
            self._listen()
            await cancel_all([sender])
            if websocket.application_state is not WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await websocket.close()

    def _handle(self, client: _CanClient, text: str | None) -> None:
        if text is None:
            client.put({"type": "error", "reason": "binary messages are not supported: send JSON text"})
            return
        if len(text) > MAX_MESSAGE_CHARS:
            client.put({"type": "error", "reason": f"message too long: at most {MAX_MESSAGE_CHARS} characters"})
            return
        try:
            message = loads_limited(text)
        except ValueError as exc:  # not JSON, or nested too deep to parse safely
            client.put({"type": "error", "reason": str(exc)})
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "unsubscribe":
            client.subscribed = False
            client.put({"type": "unsubscribed"})
            return
        if kind != "subscribe" or not isinstance(message, dict):
            client.put({"type": "error", "reason": "expected {\"type\": \"subscribe\", \"dgns\": [...]} or "
                                                   "{\"type\": \"unsubscribe\"}"})
            return
        dgns = message.get("dgns")
        if dgns is None:
            client.dgns = None
        elif not isinstance(dgns, list):
            client.put({"type": "error", "reason": "'dgns' must be a list of DGNs (numbers, \"0x...\" or names)"})
            return
        else:
            try:
                client.dgns = frozenset(parse_dgn(self.rvc, d) for d in dgns)
            except ValueError as exc:
                client.put({"type": "error", "reason": str(exc)})
                return
        client.subscribed = True
        client.put({"type": "subscribed", "dgns": None if client.dgns is None else sorted(client.dgns)})

    async def _send_loop(self, client: _CanClient) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while True:
                await client.wake.wait()
                client.wake.clear()
                while client.queue:
                    item = client.queue.popleft()
                    message = frame_json(item) if isinstance(item, RvcFrame) else item
                    if client.dropped:
                        message = {**message, "dropped": client.dropped}
                        client.dropped = 0
                    try:
                        async with asyncio.timeout(SEND_TIMEOUT_S):
                            await client.websocket.send_text(json.dumps(message, separators=(",", ":"), default=str))
                    except TimeoutError:
                        log.warning("CAN stream client dropped: a frame was not taken within %.0f s",
                                    SEND_TIMEOUT_S)
                        return
