"""The realtime hub over real WebSockets on 127.0.0.1: snapshot, updates, coalescing, filters, commands,
malformed messages, slow clients, and motion stopped when a client goes away.

The entity side is a small in-test entity table: these tests are about the hub's protocol and flow
control; the entity manager's own behaviour is tested with it in tests/entities and end to end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
import websockets
from fastapi import FastAPI, WebSocket

from coachiq.core.events import EventBus
from coachiq.entities.model import CommandResult, EntityUpdate, Outcome, Source
from coachiq.entities.topics import ENTITY_UPDATE
from coachiq.realtime import hub as hub_module
from coachiq.realtime import session as session_module
from coachiq.realtime.hub import RealtimeHub
from tests.conftest import free_port, wait_for


@dataclass
class Item:
    id: str
    type: str
    area: str | None
    values: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.id, "type": self.type, "area": self.area, "capabilities": [],
                "state": dict(self.values), "available": True, "updated_at": None}


class Table:
    """Entities and a command that confirms at once, like a device echoing its status."""

    def __init__(self, events: EventBus) -> None:
        self.events = events
        self.entities = {e.id: e for e in (Item("light.galley", "light", "galley"),
                                           Item("light.bedroom", "light", "bedroom"),
                                           Item("tank.fresh", "tank", "utility"),
                                           Item("slide.living", "slide", "living"))}
        self.commands: list[tuple[str, str, dict[str, Any], str | None]] = []

    async def execute(self, entity_id: str, command: str, params: dict[str, Any], actor: str,
                      client_id: str | None = None) -> CommandResult:
        self.commands.append((entity_id, command, params, client_id))
        if command == "extend":
            return CommandResult("c2", entity_id, command, Outcome.REFUSED, reason="vehicle is moving")
        values = {"on": True}
        self.update(entity_id, values)
        return CommandResult("c1", entity_id, command, Outcome.CONFIRMED, state=values)

    def update(self, entity_id: str, values: dict[str, Any]) -> None:
        self.entities[entity_id].values.update(values)
        self.events.publish(ENTITY_UPDATE, EntityUpdate(entity_id, values, Source(0x1FEDA, 0x80), time.time()))


class Watcher:
    def __init__(self) -> None:
        self.gone: list[str] = []

    def client_gone(self, client_id: str) -> None:
        self.gone.append(client_id)

    def snapshot(self) -> dict[str, Any]:
        return {"emergency_stop": False}


@dataclass
class Setup:
    url: str
    hub: RealtimeHub
    table: Table
    watcher: Watcher


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    events = EventBus()
    table = Table(events)
    watcher = Watcher()
    hub = RealtimeHub(events, table, watcher, rvc=None)  # type: ignore[arg-type]
    await hub.start()
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await hub.serve(websocket)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None,
                                           ws="websockets-sansio"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started or task.done(), timeout=10)
    if task.done():
        task.result()  # the server failed to start: say why
    try:
        yield Setup(f"ws://127.0.0.1:{port}/ws", hub, table, watcher)
    finally:
        await hub.stop()
        server.should_exit = True
        await task


async def receive(socket: Any, timeout: float = 2.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        message: dict[str, Any] = json.loads(await socket.recv())
    return message


async def test_snapshot_then_updates(setup: Setup) -> None:
    async with websockets.connect(setup.url) as socket:
        await socket.send(json.dumps({"type": "subscribe", "all": True}))
        snapshot = await receive(socket)
        assert snapshot["type"] == "snapshot"
        assert {e["id"] for e in snapshot["entities"]} == set(setup.table.entities)
        setup.table.update("light.galley", {"brightness": 50.0})
        update = await receive(socket)
        assert update["type"] == "update" and update["entity_id"] == "light.galley"
        assert update["values"] == {"brightness": 50.0}
        assert update["source"] == {"dgn": 0x1FEDA, "source_address": 0x80}
        assert update["timestamp"] > 0


async def test_filters_select_entities(setup: Setup) -> None:
    async with websockets.connect(setup.url) as socket:
        await socket.send(json.dumps({"type": "subscribe", "types": ["light"], "areas": ["galley"]}))
        snapshot = await receive(socket)
        assert [e["id"] for e in snapshot["entities"]] == ["light.galley"]
        setup.table.update("tank.fresh", {"level": 10.0})
        setup.table.update("light.bedroom", {"brightness": 10.0})
        setup.table.update("light.galley", {"brightness": 20.0})
        update = await receive(socket)
        assert update["entity_id"] == "light.galley"
        await socket.send(json.dumps({"type": "subscribe", "entities": ["tank.fresh"]}))
        snapshot = await receive(socket)
        assert [e["id"] for e in snapshot["entities"]] == ["tank.fresh"]


async def test_updates_are_coalesced_per_entity(setup: Setup) -> None:
    async with websockets.connect(setup.url) as socket:
        await socket.send(json.dumps({"type": "subscribe", "all": True}))
        await receive(socket)
        setup.table.update("light.galley", {"brightness": 1.0})
        first = await receive(socket)
        assert first["values"] == {"brightness": 1.0}
        # A ramp inside one coalescing window arrives as one message with the merged, latest values.
        for level in range(2, 30):
            setup.table.update("light.galley", {"brightness": float(level), "on": True})
        began = time.monotonic()
        merged = await receive(socket)
        assert merged["values"] == {"brightness": 29.0, "on": True}
        assert time.monotonic() - began < 0.5
        with pytest.raises(TimeoutError):
            await receive(socket, timeout=0.2)


async def test_commands_over_the_socket(setup: Setup) -> None:
    async with websockets.connect(setup.url) as socket:
        await socket.send(json.dumps({"type": "command", "id": 7, "entity_id": "light.galley",
                                      "command": "set_brightness", "brightness": 40}))
        result = await receive(socket)
        assert result == {"type": "command_result", "id": 7, "entity_id": "light.galley", "command_id": "c1",
                          "status": "confirmed", "state": {"on": True}}
        await socket.send(json.dumps({"type": "command", "id": "x", "entity_id": "slide.living",
                                      "command": "extend", "params": {"duration_s": 5}}))
        refused = await receive(socket)
        assert refused["status"] == "refused" and refused["reason"] == "vehicle is moving"
    entity_id, command, params, client_id = setup.table.commands[0]
    assert (entity_id, command, params) == ("light.galley", "set_brightness", {"brightness": 40})
    assert setup.table.commands[1][2] == {"duration_s": 5}
    # The client that started motion is gone: the state manager hears of it.
    await wait_for(lambda: setup.watcher.gone, timeout=2)
    assert setup.watcher.gone == [client_id]


@pytest.mark.parametrize(("message", "expected"), [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"type": "dance"}', "unknown message type"),
    ('{"type": "subscribe"}', "needs \"all\": true"),
    ('{"type": "subscribe", "types": ["spaceship"]}', "unknown entity types"),
    ('{"type": "subscribe", "entities": "light.galley"}', "list of strings"),
    ('{"type": "subscribe", "entities": ["light.nowhere"]}', "unknown entities"),
])
async def test_malformed_messages_get_an_error_and_the_socket_stays_open(setup: Setup, message: str,
                                                                          expected: str) -> None:
    async with websockets.connect(setup.url) as socket:
        await socket.send(message)
        error = await receive(socket)
        assert error["type"] == "error" and expected in error["reason"]
        await socket.send(b"\x00binary")
        assert "binary" in (await receive(socket))["reason"]
        await socket.send(json.dumps({"type": "ping", "id": 1}))
        assert await receive(socket) == {"type": "pong", "id": 1}


async def test_a_command_without_entity_is_invalid(setup: Setup) -> None:
    async with websockets.connect(setup.url) as socket:
        await socket.send(json.dumps({"type": "command", "id": 1, "command": "turn_on"}))
        result = await receive(socket)
        assert result["status"] == "invalid" and "entity_id" in result["reason"]


async def test_clients_share_an_update_and_a_merge_stays_with_its_client(setup: Setup) -> None:
    async with websockets.connect(setup.url) as one, websockets.connect(setup.url) as two:
        for socket in (one, two):
            await socket.send(json.dumps({"type": "subscribe", "all": True}))
            await receive(socket)
        setup.table.update("tank.fresh", {"level": 10})
        assert (await receive(one))["values"] == {"level": 10}
        # Two changes inside the window: each client merges them into its own copy, the shared one is untouched.
        setup.table.update("tank.fresh", {"level": 20})
        setup.table.update("tank.fresh", {"volume_l": 5})
        assert (await receive(one))["values"] == {"level": 20, "volume_l": 5}
        assert (await receive(two))["values"] == {"level": 10}
        assert (await receive(two))["values"] == {"level": 20, "volume_l": 5}
        setup.table.update("light.bedroom", {"on": True})
        assert (await receive(one))["values"] == (await receive(two))["values"] == {"on": True}


async def test_an_overflowing_client_is_resynchronised_with_a_snapshot(setup: Setup,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "MAX_PENDING_ENTITIES", 2)
    async with websockets.connect(setup.url) as socket:
        await socket.send(json.dumps({"type": "subscribe", "all": True}))
        await receive(socket)
        # Four entities change before the sender runs: more than the client may have pending.
        for entity_id in ("light.galley", "light.bedroom", "tank.fresh", "slide.living"):
            setup.table.update(entity_id, {"n": 1})
        message = await receive(socket)
        assert message["type"] == "snapshot" and len(message["entities"]) == 4
        assert setup.hub.resyncs == 1


def _masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_a_client_that_does_not_read_is_dropped_without_slowing_the_bus(
        setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "SEND_TIMEOUT_S", 0.2)
    # A bare WebSocket client with a tiny receive buffer that never reads after the handshake.
    port = int(setup.url.rsplit(":", 1)[1].split("/")[0])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    writer.write(_masked_text_frame(json.dumps({"type": "subscribe", "all": True})))
    try:
        big = "x" * 1_000_000
        slowest = 0.0
        for n in range(300):
            began = time.perf_counter()
            setup.table.update("light.galley", {"blob": big, "n": n})
            slowest = max(slowest, time.perf_counter() - began)
            await asyncio.sleep(0.01)  # paces the producer, as a bus does; the client reads nothing
            if setup.hub.dropped_clients:
                break
        assert setup.hub.dropped_clients == 1
        assert slowest < 0.005  # publishing never waited for the client
        await wait_for(lambda: not setup.hub.clients, timeout=2)
    finally:
        writer.close()


async def test_clients_waiting_on_the_same_update_share_its_merge(setup: Setup) -> None:
    async with websockets.connect(setup.url) as first, websockets.connect(setup.url) as second:
        for socket_ in (first, second):
            await socket_.send(json.dumps({"type": "subscribe", "all": True}))
            assert (await receive(socket_))["type"] == "snapshot"
        # Two changes before the senders run: each client holds one merged update, the same object.
        setup.table.update("light.galley", {"brightness": 10.0})
        setup.table.update("light.galley", {"on": True})
        pending = [client.pending["light.galley"] for client in setup.hub.clients.values()]
        assert len(pending) == 2 and pending[0] is pending[1]
        assert pending[0].message["values"] == {"brightness": 10.0, "on": True}
        for socket_ in (first, second):
            update = await receive(socket_)
            assert update["entity_id"] == "light.galley" and update["values"] == {"brightness": 10.0, "on": True}
