"""Benchmarks of the HTTP and WebSocket API as a client sees it, against a real `coachiq serve`.

Every figure is the median of RUNS runs (a fresh server each) with its min and max. "Full bus load" is
a coach at about 1,800 frames/s (coachiq.bench.common.generate_coach, or the log given to
`coachiq bench --coach`) on the SocketCAN-shaped path: the server's CAN interface is one end of a
datagram socket pair (coachiq/bench/feed.py) and each frame arrives as one `can_frame` datagram at
the log's own time. The server's CPU and the machine's load average are printed beside the figures.

- entities_list_p99_ms / _p50_ms: GET /api/v2/entities (the documented route, no filters) with the
  benchmark coach (150 entities) under full bus load, from 5 concurrent HTTP/1.1 keep-alive clients,
  each sending its next request as soon as the previous answer is read (for LIST_S seconds), with the
  headers a browser or an HTTP library sends (`Accept-Encoding: gzip`). entities_list_bodies counts the
  distinct bodies the clients received: the bus changes entities during the run, so any cached answer
  is rebuilt.
- command_ws_p50_ms / _p99_ms: on the simulated coach (the server's own simulator, whose devices echo
  their status as real ones do), 5 WebSocket clients subscribed to every entity as the page is; a
  dimmer command is sent over
  /api/v2/ws in the page's message format and timed from the send to the `command_result` arriving at
  the client. The command goes through the entity manager and the transmit queue onto the bus, the
  simulated dimmer answers with its status, and that status confirms the command.
- command_rest_p50_ms / _p99_ms: the same commands as POST /api/v2/entities/{id}/commands, timed until
  the response (which the server sends once the status echo confirmed the command) has been read.
- command_*_failures: commands whose answer was not `confirmed` (timed out, refused, busy, no answer
  within CLIENT_TIMEOUT_S). They stay in the latency sample, counted at the time they took (or
  CLIENT_TIMEOUT_S), and their number and rate are reported.
- the same command figures with `_load` under full bus load: the benchmark coach (150 lights) with the
  log on the SocketCAN-shaped path, from a bus process that also plays five dimmer outputs the log does
  not use (coachiq.sim.loads.DcOutput, as the simulator's): each answers a DC_DIMMER_COMMAND_2 for its
  instance with its DC_DIMMER_STATUS_3 as soon as the command arrives, and broadcasts it every second.
- entities_list_bus, command_bus_load: what the bus process did (frames per second, frames the server's
  socket buffer had no room for, how far and how often it fell behind the log's pace on this shared
  machine, whether it had real-time priority).

Commands go one after the other, as people press buttons: after each answer the client waits a random
20-80 ms (seeded; nothing aligned to the server's periodic work), and targets rotate over the coach's
dimmable lights with a brightness different from the previous one, so every command changes the
device's state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import websockets

from coachiq.bench.common import (
    BENCH_ENTITIES,
    bench_coach_file,
    cpu_seconds,
    generated_log,
    percentile,
    read_frames,
    server,
    spread,
)
from coachiq.bench.feed import Feed

RUNS = 5
CLIENTS = 5
SETTLE_S = 2.0  # the first second of a bus brings every device's payload as new: not the steady state
LIST_S = 5.0  # seconds of requests per run
COMMANDS = 100  # per path and run
CLIENT_TIMEOUT_S = 5.0
GAP_S = (0.02, 0.08)
COMMAND_COACH = "class_a_diesel"
COMMAND_TARGETS = ("light.living_room_ceiling", "light.galley_ceiling", "light.bedroom_ceiling",
                   "light.bathroom_ceiling", "light.bedroom_reading_left")
# Under load: lights of the benchmark coach (dimmer outputs at 0x8E) whose instances the log never sends.
LOADED_INSTANCES = tuple(range(BENCH_ENTITIES - 17, BENCH_ENTITIES - 12))
LOADED_TARGETS = tuple(f"light.bench_{n}" for n in LOADED_INSTANCES)
DIMMER_SOURCE = 0x8E
BUS_GAP_S = 1 / 1900  # a 250 kbit/s bus carries at most about 1,900 frames/s (8-byte, 29-bit)
STALL_S = 0.002  # a frame sent later than this after its time in the log counts as a stall


def load_average() -> float:
    """The machine's 1-minute load average, printed beside the figures."""
    return round(os.getloadavg()[0], 2)


@contextlib.contextmanager
def full_bus_server(folder: Path, env: dict[str, str], log: Path | None = None, dimmers: Sequence[int] = (),
                    bus_stats: dict[str, float] | None = None) -> Iterator[tuple[Any, str]]:
    """A server whose CAN interface carries a coach at full bus load: (process, base URL).

    The log plays from a bus process at its own pace, one datagram per frame; `dimmers` are instances
    of dimmer outputs at DIMMER_SOURCE that the same process plays as devices answering commands.
    `bus_stats` receives what the bus process reports when it stops: frames sent, frames dropped
    (the server's socket buffer was full), seconds played and how far it fell behind the log's pace.
    """
    played = log if log is not None else generated_log(folder)
    feed = Feed()
    try:
        with server(folder / "data", {**env, **feed.env()}, pass_fds=[feed.server_fd]) as (process, base):
            feed.started()
            bus = subprocess.Popen([sys.executable, "-m", "coachiq.bench.api", "--bus", str(feed.ours.fileno()),
                                    "--log", str(played), "--dimmers", ",".join(map(str, dimmers))],
                                   pass_fds=[feed.ours.fileno()], stdout=subprocess.PIPE, text=True)
            try:
                time.sleep(SETTLE_S)
                yield process, base
                if bus.poll() is not None:
                    raise RuntimeError(f"the bus process ended with status {bus.returncode} during the benchmark")
            finally:
                if bus.poll() is None:
                    bus.send_signal(signal.SIGTERM)
                out, _ = bus.communicate(timeout=10)
                if bus_stats is not None and out.strip():
                    bus_stats.update(json.loads(out.strip().splitlines()[-1]))
    finally:
        feed.close()


# --- GET /api/v2/entities ---------------------------------------------------------------------------

async def list_clients(base: str, seconds: float, clients: int = CLIENTS,
                       path: str = "/api/v2/entities") -> tuple[list[float], set[bytes]]:
    """`clients` concurrent keep-alive clients sending GETs for `seconds`: latencies (ms) and body digests.

    A bare HTTP/1.1 client: an HTTP library would spend more CPU per request than the request it times,
    on the same two cores as the server.
    """
    host, port = base.removeprefix("http://").split(":")
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
               "Accept-Encoding: gzip, deflate\r\n\r\n").encode()
    timings: list[float] = []
    bodies: set[bytes] = set()
    until = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < until:
                began = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                body = await reader.readexactly(length)
                timings.append((time.perf_counter() - began) * 1000)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"GET {path} answered {head.splitlines()[0]!r}")
                bodies.add(hashlib.blake2b(body, digest_size=16).digest())
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return timings, bodies


def _list_run(log: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-list-") as name:
        folder = Path(name)
        env = {"COACHIQ_COACH": "generic", "COACHIQ_COACH_FILE": str(bench_coach_file(folder))}
        bus: dict[str, float] = {}
        with full_bus_server(folder, env, log, bus_stats=bus) as (process, base):
            count = len(httpx.get(base + "/api/v2/entities").json()["entities"])
            asyncio.run(list_clients(base, 0.2))  # warm up the connections' first requests
            began, cpu = time.monotonic(), cpu_seconds(process.pid)
            timings, bodies = asyncio.run(list_clients(base, LIST_S))
            cpu_percent = 100.0 * (cpu_seconds(process.pid) - cpu) / (time.monotonic() - began)
            if process.poll() is not None:
                raise RuntimeError("the server stopped during the benchmark")
    return {"p99": percentile(timings, 0.99), "p50": percentile(timings, 0.50), "entities": count,
            "bodies": len(bodies), "requests": len(timings), "cpu": cpu_percent, "load": load_average(),
            "bus": bus}


def bench_entities_list(log: Path | None = None, runs: int = RUNS) -> dict[str, Any]:
    """GET /api/v2/entities from 5 concurrent clients under full bus load; median, min and max of runs."""
    results = [_list_run(log) for _ in range(runs)]
    return {
        "entities_list_p99_ms": spread([r["p99"] for r in results]),
        "entities_list_p50_ms": spread([r["p50"] for r in results]),
        "entities_list_server_cpu_percent": spread([r["cpu"] for r in results], 1),
        "entities_list_bodies": spread([r["bodies"] for r in results], 0),
        "entities_list_setup": {"entities": results[0]["entities"], "clients": CLIENTS,
                                "seconds_per_run": LIST_S,
                                "requests": [r["requests"] for r in results], "runs": runs,
                                "load_average": [r["load"] for r in results]},
        "entities_list_bus": bus_summary([r["bus"] for r in results]),
    }


# --- commands over the WebSocket and REST -------------------------------------------------------------

class CommandSample:
    """Latencies (ms) of commands, and what each failed one was answered."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()

    def add(self, began: float, status: str) -> None:
        """One command sent at `began` (perf_counter) whose answer `status` arrived now."""
        self.latencies.append((time.perf_counter() - began) * 1000)
        if status != "confirmed":
            self.failures[status] += 1

    def lost(self) -> None:
        """A command that got no answer within CLIENT_TIMEOUT_S: a failure, counted at that time."""
        self.latencies.append(CLIENT_TIMEOUT_S * 1000)
        self.failures["no answer"] += 1

    def figures(self) -> dict[str, Any]:
        """p50, p99, count and failures of this sample."""
        count = len(self.latencies)
        failed = sum(self.failures.values())
        return {"p50": percentile(self.latencies, 0.50), "p99": percentile(self.latencies, 0.99),
                "count": count, "failed": failed, "failures": dict(self.failures)}


def command_plan(count: int, seed: int, targets: Sequence[str] = COMMAND_TARGETS) -> list[tuple[str, int, float]]:
    """(entity id, brightness, gap before it in s) of `count` commands; each changes its light."""
    rng = random.Random(seed)
    last: dict[str, int] = {}
    plan = []
    for n in range(count):
        target = targets[n % len(targets)]
        level = rng.choice([v for v in (10, 25, 40, 55, 70, 85, 100) if v != last.get(target)])
        last[target] = level
        plan.append((target, level, rng.uniform(*GAP_S)))
    return plan


async def _ws_commands(base: str, plan: list[tuple[str, int, float]]) -> CommandSample:
    """Commands from the page's protocol over 5 subscribed WebSocket clients, in turn."""
    url = base.replace("http://", "ws://") + "/api/v2/ws"
    sample = CommandSample()
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(websockets.connect(url, max_size=None, compression=None))
                   for _ in range(CLIENTS)]
        results: list[asyncio.Queue[dict[str, Any]]] = [asyncio.Queue() for _ in sockets]

        async def read(index: int) -> None:
            async for raw in sockets[index]:
                message = json.loads(raw)
                if message.get("type") == "command_result":
                    results[index].put_nowait(message)

        readers = [asyncio.create_task(read(k)) for k in range(CLIENTS)]
        try:
            for socket in sockets:
                await socket.send(json.dumps({"type": "subscribe", "all": True}))
            await asyncio.sleep(1.0)  # the snapshots have gone out
            for n, (entity_id, level, gap) in enumerate(plan):
                await asyncio.sleep(gap)
                k = n % CLIENTS
                request_id = f"bench-{n}"
                began = time.perf_counter()
                await sockets[k].send(json.dumps({"type": "command", "id": request_id, "entity_id": entity_id,
                                                  "command": "set_brightness", "brightness": level}))
                deadline = began + CLIENT_TIMEOUT_S
                while True:
                    try:
                        async with asyncio.timeout(max(0.0, deadline - time.perf_counter())):
                            answer = await results[k].get()
                    except TimeoutError:
                        sample.lost()
                        break
                    if answer.get("id") == request_id:
                        sample.add(began, str(answer.get("status")))
                        break
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
    return sample


async def _rest_commands(base: str, plan: list[tuple[str, int, float]]) -> CommandSample:
    """The same commands as POST /api/v2/entities/{id}/commands, one keep-alive client."""
    sample = CommandSample()
    async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT_S) as http:
        await http.get("/healthz")  # the connection is open
        for entity_id, level, gap in plan:
            await asyncio.sleep(gap)
            began = time.perf_counter()
            try:
                answer = await http.post(f"/api/v2/entities/{entity_id}/commands",
                                         json={"command": "set_brightness", "brightness": level})
            except httpx.TimeoutException:
                sample.lost()
                continue
            status = answer.json().get("status") if answer.status_code == 200 else f"http {answer.status_code}"
            sample.add(began, str(status))
    return sample


def _command_run(run: int, log: Path | None, loaded: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-cmd-") as name:
        folder = Path(name)
        bus: dict[str, float] = {}
        if loaded:
            env = {"COACHIQ_COACH": "generic", "COACHIQ_COACH_FILE": str(bench_coach_file(folder))}
            running = full_bus_server(folder, env, log, LOADED_INSTANCES, bus_stats=bus)
            targets = LOADED_TARGETS
        else:
            running = server(folder / "data", {"COACHIQ_COACH": COMMAND_COACH})
            targets = COMMAND_TARGETS
        with running as (process, base):
            began, cpu = time.monotonic(), cpu_seconds(process.pid)
            ws = asyncio.run(_ws_commands(base, command_plan(COMMANDS, 2 * run, targets)))
            rest = asyncio.run(_rest_commands(base, command_plan(COMMANDS, 2 * run + 1, targets)))
            cpu_percent = 100.0 * (cpu_seconds(process.pid) - cpu) / (time.monotonic() - began)
            if process.poll() is not None:
                raise RuntimeError("the server stopped during the benchmark")
    return {"ws": ws.figures(), "rest": rest.figures(), "cpu": cpu_percent, "load": load_average(), "bus": bus}


def _command_figures(results: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for path in ("ws", "rest"):
        found = [r[path] for r in results]
        count = sum(f["count"] for f in found)
        failed = sum(f["failed"] for f in found)
        reasons: Counter[str] = Counter()
        for f in found:
            reasons.update(f["failures"])
        figures[f"command_{path}_p99_ms{suffix}"] = spread([f["p99"] for f in found])
        figures[f"command_{path}_p50_ms{suffix}"] = spread([f["p50"] for f in found])
        figures[f"command_{path}_failures{suffix}"] = {"count": failed, "of": count,
                                                      "rate": round(failed / count, 4) if count else None,
                                                      "reasons": dict(reasons)}
    figures[f"command_server_cpu_percent{suffix}"] = spread([r["cpu"] for r in results], 1)
    figures[f"command_load_average{suffix}"] = [r["load"] for r in results]
    if any(r["bus"] for r in results):
        figures[f"command_bus{suffix}"] = bus_summary([r["bus"] for r in results])
    return figures


def bus_summary(runs: Sequence[dict[str, float]]) -> dict[str, Any]:
    """What the bus processes of the runs did: frames per second, frames dropped, falling behind."""
    return {"frames_per_s": spread([r["sent"] / r["seconds"] for r in runs], 0),
            "frames_dropped": int(sum(r["dropped"] for r in runs)),
            "behind_ms_max": round(max(r["behind_ms_max"] for r in runs), 1),
            "stalls": int(sum(r["stalls"] for r in runs)), "realtime": all(r["realtime"] for r in runs)}


def bench_commands(log: Path | None = None, runs: int = RUNS) -> dict[str, Any]:
    """Commands end to end over the WebSocket and REST, on the idle simulated coach and under full bus load."""
    idle = [_command_run(run, log, loaded=False) for run in range(runs)]
    loaded = [_command_run(run, log, loaded=True) for run in range(runs)]
    return {**_command_figures(idle, ""), **_command_figures(loaded, "_load"),
            "command_setup": {"coach": COMMAND_COACH, "coach_load": f"generic + {BENCH_ENTITIES} bench lights",
                              "commands_per_path_and_run": COMMANDS, "runs": runs, "ws_clients": CLIENTS,
                              "gap_s": list(GAP_S)}}


# --- the bus process -------------------------------------------------------------------------------

def _bus(fd: int, log: Path, instances: Sequence[int]) -> None:
    """Play `log` at its own pace onto the socket `fd`, looping, and be the dimmer outputs `instances`.

    Between two frames of the log the process waits on the socket: a DC_DIMMER_COMMAND_2 for one of its
    outputs is carried out and answered with the output's DC_DIMMER_STATUS_3 at once. Every output also
    broadcasts its status once a second. Paced as coachiq/bench/feed.py's player: real-time priority
    where allowed, and after a stall the frames follow no faster than a bus carries them. Runs until
    SIGTERM; then prints what it sent, dropped and how late it was, as one JSON line.
    """
    from coachiq.can.ids import compose_id, dgn_and_source
    from coachiq.can.reader import CAN_EFF_FLAG, CAN_EFF_MASK, CAN_FRAME, pack_frame
    from coachiq.rvc.codec import Codec
    from coachiq.rvc.spec_load import load_database
    from coachiq.sim.loads import DcOutput, apply_dimmer_command

    codec = Codec(load_database())
    command_dgn = codec.spec_for("DC_DIMMER_COMMAND_2").dgn
    status_dgn = codec.spec_for("DC_DIMMER_STATUS_3").dgn
    status_id = compose_id(status_dgn, DIMMER_SOURCE)
    outputs = {n: DcOutput(n, dimmable=True) for n in instances}
    sock = socket.socket(fileno=fd)
    stopping = [False]

    def on_term(_signum: int, _frame: object) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, on_term)

    def status(output: DcOutput) -> None:
        payload = codec.encode(status_dgn, output.values(), check_limits=False)
        with contextlib.suppress(BlockingIOError):  # the server's buffer is full: lost, as on a bus
            sock.send(pack_frame(status_id, payload), socket.MSG_DONTWAIT)

    def answer() -> None:
        while True:
            try:
                record = sock.recv(72, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            if len(record) != CAN_FRAME.size:
                continue
            can_id, _length, data = CAN_FRAME.unpack(record)
            if not can_id & CAN_EFF_FLAG or dgn_and_source(can_id & CAN_EFF_MASK)[0] != command_dgn:
                continue
            values = codec.decode(command_dgn, data).values
            output = outputs.get(values.get("instance"))  # type: ignore[arg-type]
            if output is not None:
                apply_dimmer_command(output, values)
                status(output)

    frames = read_frames(log)
    span = frames[-1][0] - frames[0][0] + 0.001
    records = [(offset - frames[0][0], pack_frame(can_id, data)) for offset, can_id, data in frames]
    # Ahead of ordinary processes where allowed, as the kernel's CAN driver is (it sleeps between frames).
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        realtime = True
    except (OSError, AttributeError):
        realtime = False
    started = time.monotonic()
    next_status = started
    lap = sent = dropped = stalls = 0
    behind = earliest = 0.0
    while not stopping[0]:
        for offset, record in records:
            due = started + lap * span + offset
            send_at = max(due, earliest)  # after a stall, frames follow at a bus's pace, not in a burst
            while not stopping[0]:
                now = time.monotonic()
                if now >= next_status:
                    for output in outputs.values():
                        status(output)
                    next_status += 1.0
                if now >= send_at:
                    if now - due > STALL_S:
                        stalls += 1
                        behind = max(behind, now - due)
                    break
                try:
                    readable, _, _ = select.select([sock], [], [], min(send_at, next_status) - now)
                except InterruptedError:
                    continue
                if readable:
                    answer()
            if stopping[0]:
                break
            earliest = time.monotonic() + BUS_GAP_S
            try:
                sock.send(record, socket.MSG_DONTWAIT)
                sent += 1
            except BlockingIOError:
                dropped += 1  # the server's socket buffer is full: the kernel drops it on a real bus too
        lap += 1
    print(json.dumps({"sent": sent, "dropped": dropped, "seconds": time.monotonic() - started,
                      "behind_ms_max": behind * 1000, "stalls": stalls, "realtime": realtime}), flush=True)


def main(argv: list[str] | None = None) -> None:
    """`python -m coachiq.bench.api` prints the figures; `--bus FD --log LOG` is the bus process."""
    parser = argparse.ArgumentParser(prog="python -m coachiq.bench.api")
    parser.add_argument("--bus", type=int, metavar="FD")
    parser.add_argument("--log", type=Path)
    parser.add_argument("--dimmers", default="", help="instances of the dimmer outputs to play, comma-separated")
    args = parser.parse_args(argv)
    if args.bus is not None:
        _bus(args.bus, args.log, [int(n) for n in args.dimmers.split(",") if n])
    else:
        print(json.dumps({**bench_entities_list(), **bench_commands()}, indent=2))


if __name__ == "__main__":
    main()
