"""Benchmarks of the realtime hub and the v2 API; each function returns a dict of figures.

- bench_realtime_load(log): a `coachiq serve --replay LOG` process at the log's own pace (a coach at full
  bus load). full_load_cpu_percent: the server's CPU in % of one core with no client; then 5 WebSocket
  clients subscribed to everything, measured after a settling second: ws_latency_p50_ms /
  ws_latency_p99_ms over every update they receive, from the frame's receive time stamp to the moment
  its bytes reach the client, and full_load_with_clients_cpu_percent. The log is played by a separate
  player process (coachiq.can.replay), as a bus is outside the server: the CPU figure is every frame's
  trip through the receive path (repeat filter, decode, entities, state, hub) plus the wake-ups of
  reading it, one per 50 ms hand-over, and not the parsing of log text. Frames are stamped when the
  server reads them, so the latency starts at the server's reader; the wait of up to one hand-over
  interval before that is the player's, like the time a frame waits in a socket before its reader
  drains it. ws_updates_held_to_coalesce counts updates the hub held back on purpose (coalescing
  window); they are in the latency figures too.
- bench_commands(): the simulated coach, the entity manager's command path: command_to_frame_p99_ms
  (execute() called -> the command frame seen by another node on the bus) and command_confirm_p99_ms
  (execute() called -> confirmed by the device's echo; the simulated device echoes at once).
- bench_entities_list(): GET /api/v2/entities with 150 entities, 5 concurrent HTTP clients:
  entities_list_p99_ms (and p50).

Without a log, a coach at full bus load is generated with a fixed seed (coachiq.bench.common.generate_coach).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from coachiq.bench.common import bench_coach_file, cpu_percent, cpu_seconds, generated_log, percentile, server

CLIENTS = 5
SETTLE_S = 1.0


class _WsClient(asyncio.Protocol):
    """A bare WebSocket client that stamps each server message with the time its bytes arrived.

    A WebSocket library spends more CPU per message than the hub does, and five of them in one
    process would time each other's work; this client only splits frames on arrival (the server sends
    unmasked, uncompressed frames) and leaves decoding the JSON until after the stamp.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.received: list[tuple[float, bytes]] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("the server closed the connection during the upgrade"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:buffer.find(b"\r\n")])
            del buffer[:end + 4]
            if not status.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(f"upgrade refused: {status!r}"))
                return
            self.upgraded.set_result(None)
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start:start + length])
            del buffer[:start + length]
            if opcode == 0x1:
                self.received.append((now, payload))
            elif opcode == 0x9:
                self.send(0xA, payload)  # answer the server's ping
            elif opcode == 0x8:
                self.closed = True

    def send(self, opcode: int, payload: bytes) -> None:
        """One masked frame (clients must mask; a zero mask leaves the payload as it is)."""
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload), 0, 0, 0, 0]) + payload)


async def _ws_clients(url: str, seconds: float) -> list[float]:
    """Frame-to-client latencies (ms) of every update the clients received."""
    host, port_path = url.removeprefix("ws://").split(":", 1)
    port, path = port_path.split("/", 1)
    request = (f"GET /{path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    clients: list[_WsClient] = []
    for _ in range(CLIENTS):
        transport, client = await loop.create_connection(_WsClient, host, int(port))
        transport.write(request)
        await client.upgraded
        client.send(0x1, json.dumps({"type": "subscribe", "all": True}).encode())
        clients.append(client)
    # Steady state only: the five snapshots (150 entities each) hold up the updates sent with them.
    await asyncio.sleep(SETTLE_S)
    measured_from = time.time()
    await asyncio.sleep(seconds)
    latencies: list[float] = []
    for client in clients:
        if client.closed:
            raise RuntimeError("the server closed a WebSocket client during the benchmark")
        assert client.transport is not None
        client.transport.close()
        for arrived, payload in client.received:
            if arrived < measured_from:
                continue
            message = json.loads(payload)
            if message.get("type") == "update" and message.get("source") is not None:
                latencies.append((arrived - message["timestamp"]) * 1000)
    return latencies


def bench_realtime_load(log: Path | None = None, seconds: float = 15.0) -> dict[str, Any]:
    """Server CPU at full bus load without and with 5 WebSocket clients, and frame-to-client latency."""
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-rt-") as name:
        folder = Path(name)
        replay = log if log is not None else generated_log(folder)
        env = {"COACHIQ_COACH": "generic", "COACHIQ_COACH_FILE": str(bench_coach_file(folder))}
        with server(folder / "data", env, "--replay", str(replay), "--speed", "1") as (process, base):
            time.sleep(2.0)  # let start-up work and the first burst of new payloads settle
            cpu_alone = cpu_percent(process.pid, seconds)
            began, cpu = time.monotonic(), cpu_seconds(process.pid)
            latencies = asyncio.run(_ws_clients(base.replace("http://", "ws://") + "/api/v2/ws", seconds))
            cpu_clients = 100.0 * (cpu_seconds(process.pid) - cpu) / (time.monotonic() - began)
            held = next(float(line.split()[1]) for line in httpx.get(base + "/metrics").text.splitlines()
                        if line.startswith("coachiq_ws_updates_held_total "))
            if process.poll() is not None:
                raise RuntimeError("the server stopped during the benchmark")
    return {
        "full_load_cpu_percent": round(cpu_alone, 2),
        "full_load_with_clients_cpu_percent": round(cpu_clients, 2),
        "ws_latency_p50_ms": round(percentile(latencies, 0.50), 3),
        "ws_latency_p99_ms": round(percentile(latencies, 0.99), 3),
        "ws_updates": len(latencies),
        "ws_updates_held_to_coalesce": int(held),
        "ws_clients": CLIENTS,
        "replay": str(log) if log is not None else "generated",
    }


async def _commands(count: int) -> dict[str, Any]:
    import can

    from coachiq.can.interface import SIMULATED_CHANNEL
    from coachiq.runtime import Runtime
    from coachiq.settings import Settings

    with tempfile.TemporaryDirectory(prefix="coachiq-bench-cmd-") as name:
        runtime = Runtime(Settings(data_dir=Path(name) / "data", coach="class_a_diesel"), [])
        await runtime.core.start()
        await runtime.start_simulation()
        seen: list[float] = []
        stop = threading.Event()
        command_dgn = runtime.core.rvc.codec.spec_for("DC_DIMMER_COMMAND_2").dgn  # type: ignore[union-attr]
        source = runtime.core.can.source_address

        def listen(bus: can.BusABC) -> None:
            # Another node on the bus: when did the command frame arrive?
            while not stop.is_set():
                message = bus.recv(0.1)
                if message is not None and (message.arbitration_id >> 8) & 0x3FF00 == command_dgn & 0x3FF00 \
                        and message.arbitration_id & 0xFF == source:
                    seen.append(time.perf_counter())

        bus = can.Bus(interface="virtual", channel=SIMULATED_CHANNEL)
        thread = threading.Thread(target=listen, args=(bus,), daemon=True)
        thread.start()
        entities = runtime.core.entities
        to_frame: list[float] = []
        confirm: list[float] = []
        outcomes: dict[str, int] = {}
        try:
            await asyncio.sleep(1.5)  # devices heard, address claimed
            for n in range(count):
                # Spaced like commands from people, beyond the transmit queue's per-destination rate limit
                # (coachiq.can.interface.RATE_LIMIT_S), which would otherwise be what is measured.
                await asyncio.sleep(0.03)
                before = len(seen)
                began = time.perf_counter()
                result = await entities.execute("light.galley_ceiling", "set_brightness",
                                                {"brightness": 20 + (n % 2) * 50}, actor="bench")
                confirm.append((time.perf_counter() - began) * 1000)
                outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
                for _ in range(100):
                    if len(seen) > before:
                        break
                    await asyncio.sleep(0.001)
                if len(seen) > before:
                    to_frame.append((seen[before] - began) * 1000)
        finally:
            stop.set()
            thread.join(2)
            bus.shutdown()
            await runtime.stop()
    return {
        "command_to_frame_p99_ms": round(percentile(to_frame, 0.99), 3),
        "command_to_frame_p50_ms": round(percentile(to_frame, 0.50), 3),
        "command_confirm_p99_ms": round(percentile(confirm, 0.99), 3),
        "command_confirm_p50_ms": round(percentile(confirm, 0.50), 3),
        "commands": count,
        "outcomes": outcomes,
    }


def bench_commands(count: int = 200) -> dict[str, Any]:
    """Command to frame on the bus, and command to confirmation, on the simulated coach."""
    return asyncio.run(_commands(count))


async def _list_clients(base: str, requests: int) -> list[float]:
    # A bare HTTP/1.1 keep-alive client: an HTTP library would cost more CPU than the request it times.
    host, port = base.removeprefix("http://").split(":")
    request = f"GET /api/v2/entities HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    timings: list[float] = []

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for _ in range(requests):
                began = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                timings.append((time.perf_counter() - began) * 1000)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"GET /api/v2/entities answered {head.splitlines()[0]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return timings


def bench_entities_list(requests: int = 200) -> dict[str, Any]:
    """GET /api/v2/entities with 150 entities from 5 concurrent clients."""
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-list-") as name:
        folder = Path(name)
        env = {"COACHIQ_COACH": "generic", "COACHIQ_COACH_FILE": str(bench_coach_file(folder))}
        with server(folder / "data", env) as (_process, base):
            count = len(httpx.get(base + "/api/v2/entities").json()["entities"])
            asyncio.run(_list_clients(base, 20))  # warm up
            timings = asyncio.run(_list_clients(base, requests))
    return {"entities_list_p99_ms": round(percentile(timings, 0.99), 3),
            "entities_list_p50_ms": round(statistics.median(timings), 3),
            "entities": count, "requests": len(timings), "clients": CLIENTS}
