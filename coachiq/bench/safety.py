"""Benchmarks of the transmit path and the safety gate under load, against a `coachiq serve` process.

The server runs the simulated Class A coach on loopback with the can_tools feature on (raw sends are
part of the flood). 20 HTTP clients flood it at the same time, each from its own loopback address (as
separate devices on the coach's network; the server keeps a rate limit per caller): ten post raw
DC_DIMMER_STATUS_3 frames at priority 0, ten post commands (lights toggled, two other slides extended).
The benchmark's own requests (start the living room slide and the awning, e-stop, drive off) come from
127.0.0.1. What left the bus is read from the server's own frame stream (/api/v2/ws/can: own frames,
stamped when handed to the bus); the benchmark runs on the same host, so the clocks are one. The
receive filter keeps a frame identical to its output's previous one out of that stream, so every
motion frame of the flood and of the benchmark differs from the one before it.

- estop_to_stop_frames_p99_ms: with the slide and the awning moving, POST /api/v2/safety/emergency-stop;
  from the moment the request is sent to the stop frame of each moving device (the later of the two),
  99th percentile over the e-stops of a run (a stop not seen within 15 s counts as 15 s).
- motion_after_unsafe_max_ms: from the moment the coach becomes unsafe (the e-stop request sent, or the
  first chassis frame showing the park brake released after the simulated driver drives off) to the
  last motion frame (a motor output switched on, an awning extend) that still left within 2 s; 0 when
  none did. The largest over the run.
- tx_loop_survives: 300 raw sends at once (each given up by the server after its time-out), then a
  light command must be confirmed within 1 s; tx_loop_confirm_ms is how long it took.

Each figure is the median of RUNS runs (a fresh server each), with its min and max.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import websockets

from coachiq.bench.common import percentile, server

RUNS = 3
CYCLES = 10  # e-stops, then drive-offs, per run
FLOOD_CLIENTS = 20
BURST = 300
WATCH_S = 2.0  # how long after the coach becomes unsafe the bus is watched for motion frames
STOP_WAIT_S = 15.0  # a stop frame later than this counts as this late
START_WAIT_S = 20.0  # a slide and awning not started by then: the cycle is counted as failed
SLIDE, AWNING = "slide.living_room", "awning.patio"
SLIDE_EXTEND_OUTPUT = 40  # class_a_diesel: the living room slide's extend output
MOTOR_OUTPUTS = frozenset(range(40, 48)) | frozenset(range(50, 58))  # slides and jacks


class FrameLog:
    """Motion, stop and chassis frames seen on the server's frame stream, with their bus times."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def follow(self, url: str) -> None:
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "subscribe", "dgns": ["DC_DIMMER_COMMAND_2", "AWNING_COMMAND",
                                                                    "CHASSIS_MOBILITY_STATUS"]}))
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "frame":
                    self.frames.append(message)

    def since(self, moment: float) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["timestamp"] >= moment]


def is_motion(frame: dict[str, Any]) -> bool:
    """A frame that makes something move: a motor output switched on, an awning told to extend/retract."""
    values = frame["values"]
    if not frame["own"]:
        return False
    if frame["name"] == "AWNING_COMMAND":
        return values.get("direction") in ("extend", "retract")
    return frame["instance"] in MOTOR_OUTPUTS and values.get("command") == "on_duration"


def stop_of(frame: dict[str, Any]) -> str | None:
    """Which device a frame stops (slide or awning), or None."""
    values = frame["values"]
    if not frame["own"]:
        return None
    if frame["name"] == "AWNING_COMMAND" and values.get("direction") == "stop":
        return AWNING
    if frame["instance"] == SLIDE_EXTEND_OUTPUT and values.get("command") == "set_level" \
            and values.get("desired_level") == 0:
        return SLIDE
    return None


async def _flood(base: str, number: int, running: asyncio.Event, answers: Counter[int]) -> None:
    rng = random.Random(number)
    # Each client from its own loopback address, as separate devices on the coach's network would be
    # (the server keys its per-caller rate limit by address until authentication gives it a user).
    transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{number + 2}")
    async with httpx.AsyncClient(base_url=base, timeout=10, transport=transport) as http:
        while running.is_set():
            with contextlib.suppress(httpx.HTTPError):
                if number % 2 == 0:
                    answer = await http.post("/api/v2/can/send", json={
                        "dgn": "DC_DIMMER_STATUS_3", "priority": 0,
                        "data": f"{rng.randrange(1, 250):02X} FF {rng.randrange(200):02X} FC FF 05 00 FF"})
                else:
                    # Motion of other devices than the two the benchmark starts and watches. The receive
                    # filter drops a frame identical to the output's previous one (so the stream would not
                    # show it): each client has durations of its own, so consecutive frames always differ.
                    target = rng.choice(["light.galley_ceiling", "light.porch", "slide.galley", "slide.bedroom"])
                    body = {"command": "toggle"} if target.startswith("light.") else \
                        {"command": "extend", "duration_s": 1 + number // 2 + 10 * rng.randrange(3)}
                    answer = await http.post(f"/api/v2/entities/{target}/commands", json=body)
                answers[answer.status_code] += 1


async def _stops_after(log: FrameLog, moment: float) -> dict[str, float]:
    """The bus time of the first stop frame of the slide and of the awning after `moment` (waits for both,
    at most STOP_WAIT_S)."""
    deadline = time.monotonic() + STOP_WAIT_S
    while True:
        stops: dict[str, float] = {}
        for frame in log.since(moment):
            device = stop_of(frame)
            if device is not None and device not in stops:
                stops[device] = frame["timestamp"]
        if len(stops) == 2 or time.monotonic() > deadline:
            return stops
        await asyncio.sleep(0.01)


async def _until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark's coach did not reach the expected state in time")
        await asyncio.sleep(0.02)


async def _command(http: httpx.AsyncClient, entity_id: str, body: dict[str, Any]) -> None:
    """Post a command, trying again while the caller's rate limit (shared with the flood) answers 429."""
    for _ in range(200):
        try:
            answer = await http.post(f"/api/v2/entities/{entity_id}/commands", json=body)
        except httpx.TimeoutException:
            return  # no answer at all: the start is judged by the frames on the bus
        except httpx.TransportError:
            await asyncio.sleep(0.02)
            continue
        if answer.status_code not in (429, 503):
            return
        await asyncio.sleep(0.02)


async def _parked_and_moving(http: httpx.AsyncClient, log: FrameLog, duration: int) -> bool:
    """Clear the e-stop, park the coach, and start the slide and the awning; False when they do not start
    within START_WAIT_S (the server sends nothing: a cycle that cannot be measured)."""
    await http.post("/api/v2/safety/emergency-stop/clear")
    await http.post("/api/v2/sim/chassis", json={"moving": False, "park_brake": True})

    async def allowed() -> bool:
        safety = (await http.get("/api/v2/safety")).json()
        return bool(safety["interlocks"]["slides_awnings_allowed"])

    await _until(allowed, 30.0)
    began = time.time()
    await asyncio.gather(_command(http, SLIDE, {"command": "extend", "duration_s": duration}),
                         _command(http, AWNING, {"command": "extend", "duration_s": duration}))

    async def started() -> bool:
        seen = log.since(began)
        return any(is_motion(f) and f["instance"] == SLIDE_EXTEND_OUTPUT for f in seen) and any(
            is_motion(f) and f["name"] == "AWNING_COMMAND" for f in seen)

    try:
        await _until(started, START_WAIT_S)
    except RuntimeError:
        return False
    return True


async def _run(base: str) -> dict[str, Any]:
    log = FrameLog()
    follower = asyncio.create_task(log.follow(base.replace("http://", "ws://") + "/api/v2/ws/can"))
    running = asyncio.Event()
    running.set()
    flood: list[asyncio.Task[None]] = []
    estop_ms: list[float] = []
    after_ms: list[float] = []
    answers: Counter[int] = Counter()
    failed = 0
    flood_began = time.monotonic()
    try:
        # Connections idle for a second are not reused: the server closes idle ones after a few seconds,
        # and a request sent as it does so fails.
        async with httpx.AsyncClient(base_url=base, timeout=STOP_WAIT_S,
                                     limits=httpx.Limits(keepalive_expiry=1.0)) as http:
            await asyncio.sleep(0.5)  # the stream is subscribed
            flood = [asyncio.create_task(_flood(base, n, running, answers)) for n in range(FLOOD_CLIENTS)]
            for cycle in range(CYCLES):
                if not await _parked_and_moving(http, log, 5 + cycle % 10):
                    failed += 1
                    continue
                unsafe = time.time()
                request = asyncio.create_task(http.post("/api/v2/safety/emergency-stop"))
                stops = await _stops_after(log, unsafe)
                with contextlib.suppress(httpx.HTTPError):
                    await request
                await asyncio.sleep(max(0.0, unsafe + WATCH_S - time.time()))  # late motion frames, if any
                seen = log.since(unsafe)
                estop_ms.append((max(stops.values()) - unsafe) * 1000 if len(stops) == 2 else STOP_WAIT_S * 1000)
                after_ms.append(max([0.0] + [(f["timestamp"] - unsafe) * 1000 for f in seen if is_motion(f)]))
            for cycle in range(CYCLES):
                if not await _parked_and_moving(http, log, 5 + cycle % 10):
                    failed += 1
                    continue
                asked = time.time()
                await http.post("/api/v2/sim/chassis", json={"moving": True, "park_brake": False})
                await _stops_after(log, asked)
                await asyncio.sleep(max(0.0, asked + WATCH_S - time.time()))
                seen = log.since(asked)
                unsafe_at = next((f["timestamp"] for f in seen if f["name"] == "CHASSIS_MOBILITY_STATUS"
                                  and not f["own"] and (f["values"].get("park_brake") != "engaged"
                                                        or (f["values"].get("vehicle_speed") or 0) > 0)), None)
                if unsafe_at is None:
                    raise RuntimeError("the simulated chassis did not report driving off")
                after_ms.append(max([0.0] + [(f["timestamp"] - unsafe_at) * 1000 for f in seen
                                             if is_motion(f) and f["timestamp"] >= unsafe_at]))
            running.clear()
            await asyncio.gather(*flood, return_exceptions=True)
            flood_s = time.monotonic() - flood_began
            survives, confirm_ms = await _burst(base, http)
    finally:
        running.clear()
        for task in [*flood, follower]:
            task.cancel()
        await asyncio.gather(*flood, follower, return_exceptions=True)
    return {"estop_p99": percentile(estop_ms, 0.99), "after_max": max(after_ms, default=float("nan")),
            "failed": failed, "survives": survives,
            "confirm_ms": confirm_ms, "flood_rps": sum(answers.values()) / flood_s,
            "flood_answers": dict(sorted(answers.items()))}


async def _burst(base: str, http: httpx.AsyncClient) -> tuple[bool, float]:
    """300 raw sends at once, then one light command: confirmed within 1 s?"""
    limits = httpx.Limits(max_connections=BURST)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as burst:
        await asyncio.gather(*(burst.post("/api/v2/can/send", json={
            "dgn": "DC_DIMMER_STATUS_3", "data": f"{n % 250 + 1:02X} FF C8 FC FF 05 00 FF"})
            for n in range(BURST)), return_exceptions=True)
    with contextlib.suppress(httpx.TimeoutException):
        await http.post("/api/v2/safety/emergency-stop/clear")
    began = time.perf_counter()
    confirmed = False
    with contextlib.suppress(httpx.TimeoutException):
        for _ in range(3):  # the command shares the caller's rate limit with what came before
            answer = await http.post("/api/v2/entities/light.porch/commands", json={"command": "toggle"})
            if answer.status_code != 429:
                break
            await asyncio.sleep(0.1)
        confirmed = answer.status_code == 200 and answer.json().get("status") == "confirmed"
    elapsed = (time.perf_counter() - began) * 1000
    return confirmed and elapsed < 1000, round(elapsed, 1)


SERVER_ENV = {"COACHIQ_COACH": "class_a_diesel", "COACHIQ_FEATURE_CAN_TOOLS": "true"}


def bench_safety(runs: int = RUNS, server_env: dict[str, str] | None = None) -> dict[str, Any]:
    """The three safety figures, each the median of `runs` runs with its min and max.

    `server_env`: the server's COACHIQ_* settings (default: the Class A coach with can_tools on).
    """
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="coachiq-bench-") as folder, \
                server(Path(folder), SERVER_ENV if server_env is None else server_env) as (_process, base):
            results.append(asyncio.run(_run(base)))
    figures: dict[str, Any] = {}
    for key, name in (("estop_p99", "estop_to_stop_frames_p99_ms"), ("after_max", "motion_after_unsafe_max_ms"),
                      ("confirm_ms", "tx_loop_confirm_ms")):
        values = [float(r[key]) for r in results]
        figures[name] = round(statistics.median(values), 1)
        figures[f"{name}_min"] = round(min(values), 1)
        figures[f"{name}_max"] = round(max(values), 1)
    figures["tx_loop_survives"] = all(r["survives"] for r in results)
    # Cycles whose slide and awning never started (nothing left the bus): not in the figures above.
    figures["safety_cycles_failed"] = sum(r["failed"] for r in results)
    # What the flood was answered (status code: count, summed over the runs) and its rate.
    figures["safety_flood_requests_per_s"] = round(statistics.median(r["flood_rps"] for r in results))
    total: Counter[str] = Counter()
    for r in results:
        total.update({str(code): n for code, n in r["flood_answers"].items()})
    figures["safety_flood_answers"] = dict(sorted(total.items()))
    return figures


if __name__ == "__main__":
    print(json.dumps(bench_safety(), indent=2))
