"""Benchmarks of the realtime hub; each function returns a dict of figures (the API's: coachiq/bench/api.py).

- bench_realtime_load(log): the budget figures at full bus load on the SocketCAN-shaped path. A server
  gets one end of a socket pair as its CAN interface (`fd`, read by the same reader as a SocketCAN
  socket) and a player process (coachiq/bench/feed.py) sends each frame of the log as one `can_frame`
  datagram at the log's own time offset, recording when it sent each. Per run: the bus runs SETTLE_S;
  full_load_cpu_percent is the server's CPU (% of one core) over CPU_S with no client; then 5 WebSocket
  clients subscribe to everything and, once their snapshots are out, every update they receive in
  MEASURE_S is timed from the send of its frame to the moment its bytes reach the client
  (ws_latency_p50_ms, ws_latency_p99_ms, ws_latency_max_ms; frame_latencies says how an update is
  matched to its frame), with full_load_with_clients_cpu_percent over the same window; with the clients
  still on, rss_full_load_mib is the server's RSS RSS_AFTER_S after they connected. Each server starts on
  a fresh data folder, as on a first start (the migrations run in a child process, so the server's memory
  is the same as on later starts; startup.py measures both kinds of start). Every figure is the
  median, min and max of RUNS servers. Nothing is left out: updates that could not be matched to a frame,
  frames the server's socket buffer had no room for, and how far the player fell behind the log's pace on
  this shared machine are reported beside the figures. ws_updates_held_to_coalesce counts updates the
  hub held back on purpose (its coalescing window); they are in the latency figures too.

Without a log, a coach at full bus load is generated with a fixed seed (coachiq.bench.common.generate_coach).
`serve --replay` plays logs for people; no figure here comes from it.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from coachiq.bench.common import (
    bench_coach_file,
    cpu_percent,
    cpu_seconds,
    generated_log,
    percentile,
    rss_mib,
    server,
    spread,
)
from coachiq.bench.feed import Feed, Sent

CLIENTS = 5
RUNS = 5
SETTLE_S = 3.0  # the first second of a bus brings every device's payload as new: not the steady state
SNAPSHOT_S = 1.0
CPU_S = 10.0
MEASURE_S = 10.0
RSS_AFTER_S = 60.0


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


class _Clients:
    """Five WebSocket clients subscribed to everything, run in a thread of their own.

    Each stamps every server message with the time its bytes arrived (time.time(), the clock the frame
    player stamps its sends with) and keeps it; `measured()` returns the updates that arrived in the
    measuring window.
    """

    def __init__(self, base: str, count: int = CLIENTS) -> None:
        self.url = base.replace("http://", "ws://") + "/api/v2/ws"
        self.count = count
        self.clients: list[_WsClient] = []
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="bench-ws-clients", daemon=True)

    def __enter__(self) -> _Clients:
        self._thread.start()
        if not self.ready.wait(30) or self.failure is not None:
            raise RuntimeError(f"the WebSocket clients did not connect: {self.failure!r}")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._done is not None:
            self._loop.call_soon_threadsafe(self._done.set_result, None)
        self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by __enter__ or measured()
            self.failure = exc
            self.ready.set()

    async def _main(self) -> None:
        host, port_path = self.url.removeprefix("ws://").split(":", 1)
        port, path = port_path.split("/", 1)
        request = (f"GET /{path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        loop = self._loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        for _ in range(self.count):
            transport, client = await loop.create_connection(_WsClient, host, int(port))
            transport.write(request)
            await client.upgraded
            client.send(0x1, json.dumps({"type": "subscribe", "all": True}).encode())
            self.clients.append(client)
        self.ready.set()
        await self._done
        for client in self.clients:
            if client.transport is not None:
                client.transport.close()

    def measured(self, since: float, until: float) -> list[tuple[float, dict[str, Any]]]:
        """(arrival, message) of every update that arrived in [since, until), all clients together."""
        if self.failure is not None:
            raise RuntimeError(f"a WebSocket client failed: {self.failure!r}")
        found = []
        for client in self.clients:
            if client.closed:
                raise RuntimeError("the server closed a WebSocket client during the benchmark")
            for arrived, payload in list(client.received):
                if since <= arrived < until:
                    message = json.loads(payload)
                    if message.get("type") == "update":
                        found.append((arrived, message))
        return found


def _dgn_of(can_id: int) -> tuple[int, int]:
    """(DGN, source address) of a 29-bit identifier, as the update's "source" gives them."""
    dgn = (can_id >> 8) & 0x3FFFF
    if (dgn >> 8) & 0xFF < 0xF0:
        dgn &= 0x3FF00
    return dgn, can_id & 0xFF


def frame_latencies(updates: list[tuple[float, dict[str, Any]]], sent: list[Sent]) -> dict[str, Any]:
    """Latency of every update from the moment its frame was sent, in ms, and what could not be matched.

    The update names its frame's sender (DGN, source address) and carries the frame's time stamp, which
    on this path is the kernel's, taken as the player sent it. The player sends one frame at a time, so
    the frame behind an update is the last frame from that sender sent at or before that stamp: found
    by the player's own record of sends, and the latency is counted from that record. Updates without a
    frame (no "source") or whose frame is not among the sends are counted, never left out silently.
    """
    by_sender: dict[tuple[int, int], list[float]] = {}
    for when, can_id, _data in sent:
        by_sender.setdefault(_dgn_of(can_id), []).append(when)
    latencies: list[float] = []
    stamp_lag: list[float] = []
    no_frame = unmatched = 0
    for arrived, message in updates:
        source = message.get("source")
        if source is None:
            no_frame += 1
            continue
        times = by_sender.get((source["dgn"], source["source_address"]))
        stamp = float(message["timestamp"])
        index = -1 if times is None else bisect.bisect_right(times, stamp) - 1
        if times is None or index < 0 or stamp - times[index] > 1.0:
            unmatched += 1
            continue
        latencies.append((arrived - times[index]) * 1000)
        stamp_lag.append((stamp - times[index]) * 1000)
    return {"latencies": latencies, "no_frame": no_frame, "unmatched": unmatched,
            "stamp_lag_max_ms": max(stamp_lag, default=float("nan"))}


def _metric(base: str, name: str) -> float:
    for line in httpx.get(base + "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise RuntimeError(f"the server exports no {name}")


def full_bus_run(log: Path, *, drain_ms: float | None = None, cpu_s: float = CPU_S, measure_s: float = MEASURE_S,
                 rss_after_s: float | None = None) -> dict[str, Any]:
    """One server on the SocketCAN-shaped path with the coach log at its own pace; one run's figures.

    The bus runs `SETTLE_S`, then the server's CPU is read for `cpu_s` with no client; then 5 clients
    subscribe to everything and, after their snapshots, every update they receive for `measure_s` is
    timed from its frame's send, and the CPU read over the same window. With `rss_after_s` the clients
    stay on until that long after they connected, and the server's RSS is read then.
    """
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-rt-") as name:
        folder = Path(name)
        feed = Feed()
        env = {**feed.env(drain_ms=drain_ms), "COACHIQ_COACH": "generic",
               "COACHIQ_COACH_FILE": str(bench_coach_file(folder))}
        figures: dict[str, Any] = {}
        try:
            with server(folder / "data", env, pass_fds=[feed.server_fd]) as (process, base):
                feed.started()
                total = SETTLE_S + cpu_s + 1.0 + SNAPSHOT_S + measure_s + (rss_after_s or 0.0) + 30.0
                player = feed.play(log, seconds=total)
                try:
                    time.sleep(SETTLE_S)
                    figures["cpu_percent"] = cpu_percent(process.pid, cpu_s)
                    with _Clients(base) as clients:
                        connected = time.monotonic()
                        time.sleep(SNAPSHOT_S)  # the five snapshots (150 entities each) go out first
                        held_before = _metric(base, "coachiq_ws_updates_held_total")
                        since, began, cpu = time.time(), time.monotonic(), cpu_seconds(process.pid)
                        time.sleep(measure_s)
                        until = time.time()
                        figures["clients_cpu_percent"] = 100.0 * (cpu_seconds(process.pid) - cpu) / (
                            time.monotonic() - began)
                        figures["held"] = _metric(base, "coachiq_ws_updates_held_total") - held_before
                        time.sleep(1.0)  # updates of frames sent just before `until` are on their way
                        if rss_after_s is not None:
                            time.sleep(max(0.0, connected + rss_after_s - time.monotonic()))
                            figures["rss_mib"] = rss_mib(process.pid)
                        updates = clients.measured(since, float("inf"))
                finally:
                    played = player.stop()
                if process.poll() is not None:
                    raise RuntimeError("the server stopped during the benchmark")
        finally:
            feed.close()
    # Only frames sent inside the window count as the window's updates: an update that arrived in it for a
    # frame sent before it is still counted (it was measured), one whose frame came after `until` is not.
    matched = frame_latencies([(a, m) for a, m in updates if a < until or float(m["timestamp"]) < until], played.sent)
    frames_in_window = sum(1 for when, _, _ in played.sent if since <= when < until)
    figures.update(latencies=matched["latencies"], no_frame=matched["no_frame"], unmatched=matched["unmatched"],
                   stamp_lag_max_ms=matched["stamp_lag_max_ms"], dropped=len(played.dropped),
                   player_behind_ms_max=played.behind_ms_max, player_stalls=played.stalls,
                   player_realtime=played.realtime,
                   frames_per_s=frames_in_window / (until - since))
    return figures


def bench_realtime_load(log: Path | None = None, runs: int = RUNS, *, drain_ms: float | None = None,
                        cpu_s: float = CPU_S, measure_s: float = MEASURE_S,
                        rss_after_s: float | None = RSS_AFTER_S) -> dict[str, Any]:
    """The budget figures at full bus on the SocketCAN-shaped path: median, min and max over `runs` servers."""
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-log-") as name:
        played = log if log is not None else generated_log(Path(name))
        results = [full_bus_run(played, drain_ms=drain_ms, cpu_s=cpu_s, measure_s=measure_s,
                                rss_after_s=rss_after_s) for _ in range(runs)]
    figures: dict[str, Any] = {
        "full_load_cpu_percent": spread([r["cpu_percent"] for r in results], 2),
        "full_load_with_clients_cpu_percent": spread([r["clients_cpu_percent"] for r in results], 2),
        "ws_latency_p50_ms": spread([percentile(r["latencies"], 0.50) for r in results]),
        "ws_latency_p99_ms": spread([percentile(r["latencies"], 0.99) for r in results]),
        "ws_latency_max_ms": spread([max(r["latencies"], default=float("nan")) for r in results]),
        "ws_updates": spread([len(r["latencies"]) for r in results], 0),
        "ws_updates_held_to_coalesce": spread([r["held"] for r in results], 0),
        "ws_updates_unmatched": sum(r["unmatched"] for r in results),
        "ws_updates_without_frame": sum(r["no_frame"] for r in results),
        "frames_per_s": spread([r["frames_per_s"] for r in results], 0),
        "frames_dropped": sum(r["dropped"] for r in results),
        "player_behind_ms_max": round(max(r["player_behind_ms_max"] for r in results), 2),
        "player_stalls": sum(r["player_stalls"] for r in results),
        "player_realtime_priority": all(r["player_realtime"] for r in results),
        "frame_stamp_lag_max_ms": round(max(r["stamp_lag_max_ms"] for r in results), 3),
        "ws_clients": CLIENTS, "runs": runs,
        "drain_ms": "server default" if drain_ms is None else drain_ms,
        "log": str(log) if log is not None else "generated",
        "load_average": os.getloadavg()[0],
    }
    if rss_after_s is not None:
        figures["rss_full_load_mib"] = spread([r["rss_mib"] for r in results], 1)
        figures["rss_full_load_after_s"] = rss_after_s
    return figures
