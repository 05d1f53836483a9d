"""Benchmarks of the realtime hub and the v2 API; each function returns a dict of figures.

- bench_realtime_load(log): a `coachiq serve --replay LOG` process at the log's own pace (a coach at full
  bus load). full_load_cpu_percent: the server's CPU in % of one core with no client; then 5 WebSocket
  clients subscribed to everything: ws_latency_p50_ms / ws_latency_p99_ms, frame on the bus (its receive
  time stamp) to the update at a client, and full_load_with_clients_cpu_percent. Updates the hub held
  back to coalesce a fast-changing entity (up to COALESCE_S) are reported apart, as
  ws_coalesced_latency_p99_ms: their delay is the coalescing window by design. The CPU figure includes
  every frame's trip through the receive path (repeat filter, decode, entities, state, hub) and the
  wake-ups that pace the replay (one per 10 ms batch, like a socket reader draining what arrived); it
  leaves out most of the log-text parsing, which a bus does not cost (coachiq.can.logs explains how).
  Frames are stamped when the replay hands them over, so the latency starts at the server's reader.
- bench_commands(): the simulated coach, the entity manager's command path: command_to_frame_p99_ms
  (execute() called -> the command frame seen by another node on the bus) and command_confirm_p99_ms
  (execute() called -> confirmed by the device's echo; the simulated device echoes at once).
- bench_entities_list(): GET /api/v2/entities with 150 entities, 5 concurrent HTTP clients:
  entities_list_p99_ms (and p50).

Without a log, a coach at full bus load is generated with a fixed seed (coachiq.bench.generate_coach).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

CLIENTS = 5
BENCH_ENTITIES = 150
_TICKS = os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bench_coach_file(folder: Path, count: int = BENCH_ENTITIES) -> Path:
    """A user mapping file that brings the generic coach (13 entities) to `count`: dimmers at source 0x8E.

    Source 0x8E and instances 1.. are the dimmer outputs of the benchmark coach log, so its traffic
    drives these entities.
    """
    extra = count - 13
    lines = ["entities:"] + [
        f"  - {{id: light.bench_{n}, name: Bench light {n}, area: bench_{n % 10}, device: dimmer, "
        f"instance: {n}, source_address: 0x8E}}" for n in range(1, extra + 1)]
    path = folder / "bench-coach.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_generated_log(folder: Path) -> Path:
    from coachiq.bench import generate_coach

    path = folder / "generated-coach.log"
    with path.open("w", encoding="ascii") as out:
        for timestamp, can_id, data in generate_coach(seconds=60):
            out.write(f"({1_700_000_000 + timestamp:.6f}) can0 {can_id:08X}#{data.hex().upper()}\n")
    return path


@contextlib.contextmanager
def _server(data_dir: Path, env_extra: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    from coachiq.bench import _free_port

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHIQ_")}
    env.update(COACHIQ_DATA_DIR=str(data_dir), **env_extra)
    process = subprocess.Popen([sys.executable, "-m", "coachiq.cli", "serve", "--port", str(port), *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with status {process.returncode} during the benchmark")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become ready within 60 s")
            time.sleep(0.02)
        yield process, base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _cpu_percent(pid: int, seconds: float) -> float:
    began, cpu = time.monotonic(), _cpu_seconds(pid)
    time.sleep(seconds)
    return 100.0 * (_cpu_seconds(pid) - cpu) / (time.monotonic() - began)


async def _ws_clients(url: str, seconds: float) -> tuple[list[float], list[float]]:
    """Latencies of updates sent at once, and of updates the hub held back to coalesce them."""
    import websockets

    from coachiq.realtime.hub import COALESCE_S

    latencies: list[float] = []
    held: list[float] = []

    async def client() -> None:
        last: dict[str, float] = {}
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "subscribe", "all": True}))
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                try:
                    text = await asyncio.wait_for(ws.recv(), left)
                except TimeoutError:
                    break
                now = time.time()
                message = json.loads(text)
                if message.get("type") == "update" and message.get("source") is not None:
                    # An update within the coalescing window of the entity's previous one was held back
                    # on purpose; its delay is the window, not the hub's speed.
                    entity_id = message["entity_id"]
                    coalesced = now - last.get(entity_id, 0.0) < COALESCE_S * 1.2
                    last[entity_id] = now
                    (held if coalesced else latencies).append((now - message["timestamp"]) * 1000)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return latencies, held


def bench_realtime_load(log: Path | None = None, seconds: float = 15.0) -> dict[str, Any]:
    """Server CPU at full bus load without and with 5 WebSocket clients, and frame-to-client latency."""
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-rt-") as name:
        folder = Path(name)
        replay = log if log is not None else _write_generated_log(folder)
        env = {"COACHIQ_COACH": "generic", "COACHIQ_COACH_FILE": str(bench_coach_file(folder))}
        with _server(folder / "data", env, "--replay", str(replay), "--speed", "1") as (process, base):
            time.sleep(2.0)  # let start-up work and the first burst of new payloads settle
            cpu_alone = _cpu_percent(process.pid, seconds)
            began, cpu = time.monotonic(), _cpu_seconds(process.pid)
            latencies, held = asyncio.run(_ws_clients(base.replace("http://", "ws://") + "/api/v2/ws", seconds))
            cpu_clients = 100.0 * (_cpu_seconds(process.pid) - cpu) / (time.monotonic() - began)
            if process.poll() is not None:
                raise RuntimeError("the server stopped during the benchmark")
    return {
        "full_load_cpu_percent": round(cpu_alone, 2),
        "full_load_with_clients_cpu_percent": round(cpu_clients, 2),
        "ws_latency_p50_ms": round(_percentile(latencies, 0.50), 3),
        "ws_latency_p99_ms": round(_percentile(latencies, 0.99), 3),
        "ws_updates": len(latencies),
        "ws_coalesced_updates": len(held),
        "ws_coalesced_latency_p99_ms": round(_percentile(held, 0.99), 3),
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
        "command_to_frame_p99_ms": round(_percentile(to_frame, 0.99), 3),
        "command_to_frame_p50_ms": round(_percentile(to_frame, 0.50), 3),
        "command_confirm_p99_ms": round(_percentile(confirm, 0.99), 3),
        "command_confirm_p50_ms": round(_percentile(confirm, 0.50), 3),
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
        with _server(folder / "data", env) as (_process, base):
            count = len(httpx.get(base + "/api/v2/entities").json()["entities"])
            asyncio.run(_list_clients(base, 20))  # warm up
            timings = asyncio.run(_list_clients(base, requests))
    return {"entities_list_p99_ms": round(_percentile(timings, 0.99), 3),
            "entities_list_p50_ms": round(statistics.median(timings), 3),
            "entities": count, "requests": len(timings), "clients": CLIENTS}
