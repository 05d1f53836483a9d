"""Benchmarks of the chassis J1939 bus, run by `coachiq bench`. Every figure is a median with its min and max.

- j1939_decode_fps: J1939 payloads decoded per second on one core with the feature's definitions, every
  payload new (worst case), over a chassis frame set of the groups the feature decodes.
- j1939_feature_fps: the feature's whole frame handler (filter, decode, fold into the chassis state).
- j1939_full_bus_cpu_percent: a real `coachiq serve` with the j1939 feature on, CPU in % of one
  core: the RV-C coach log alone on its bus, then the same with a chassis J1939 bus at full load on a
  second interface (about 1,900 frames/s: engine and transmission groups at their J1939 rates, ABS,
  cluster, and other controllers' groups filling the bus); the figure is the difference. Both buses are
  feed socket pairs (coachiq/bench/feed.py), read as SocketCAN is, each frame at its own time.
- four_features_ready_s, four_features_rss_mib, four_features_start_ms: start to /readyz, RSS after 10 s idle
  and the features' own start time with j1939, spartan_k2, firefly and diagnostics on.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coachiq.bench.common import Frame, cpu_seconds, rss_mib, server, spread, start_server, stop, write_log
from coachiq.bench.feed import Feed
from coachiq.can.ids import compose_id
from coachiq.rvc.codec import Codec
from coachiq.rvc.receive import RvcFrame

__all__ = ["bench_chassis", "generate_chassis"]

_STARTED = re.compile(r"feature (j1939|spartan_k2|firefly|diagnostics) started in (\d+) ms")
FEATURES_ENV = {"COACHIQ_FEATURE_J1939": "true", "COACHIQ_FEATURE_SPARTAN_K2": "true",
                "COACHIQ_FEATURE_FIREFLY": "true", "COACHIQ_FEATURE_DIAGNOSTICS": "true"}

FULL_BUS_FPS = 1900
RUNS = 5
SETTLE_S = 3.0
# (PGN, source address, frames per second, share of frames whose payload changes)
_SCHEDULE = [
    (0xF004, 0x00, 100, 1.0),   # EEC1, engine speed every 10 ms
    (0xF002, 0x03, 100, 1.0),   # ETC1 (not decoded): transmission every 10 ms
    (0xF003, 0x00, 20, 0.5),    # EEC2 (not decoded)
    (0xF001, 0x0B, 10, 0.3),    # EBC1 (not decoded): ABS
    (0xFEF1, 0x00, 10, 1.0),    # CCVS1
    (0xF005, 0x03, 10, 0.1),    # ETC2
    (0xFEF2, 0x00, 10, 1.0),    # LFE1
    (0xFEEE, 0x00, 1, 0.3),     # ET1
    (0xFEEF, 0x00, 2, 0.5),     # EFL/P1
    (0xFEFC, 0x17, 1, 0.1),     # DD1
    (0xFEF7, 0x00, 1, 0.5),     # VEP1
    (0xFEE5, 0x00, 1, 0.1),     # HOURS
    (0xFECA, 0x00, 1, 0.0),     # DM1
]


def generate_chassis(seconds: int = 60, seed: int = 3) -> list[Frame]:
    """A chassis J1939 bus at full load: the scheduled groups plus other controllers' groups filling it."""
    rng = random.Random(seed)
    schedule = list(_SCHEDULE)
    used = sum(rate for _p, _s, rate, _c in schedule)
    filler = 0
    while used < FULL_BUS_FPS:  # other broadcast groups of engine, transmission, ABS, body controller
        rate = min(50, FULL_BUS_FPS - used)
        schedule.append((0xFE00 + (filler % 0xC0), (0x00, 0x03, 0x0B, 0x21)[filler % 4], rate, 0.2))
        used += rate
        filler += 1
    frames: list[Frame] = []
    for pgn, source, rate, change in schedule:
        can_id = compose_id(pgn, source, 3 if pgn == 0xF004 else 6)
        payload = bytearray(rng.randbytes(8))
        if pgn == 0xFECA:
            payload = bytearray.fromhex("00FF00000000FFFF")
        for k in range(seconds * rate):
            if rng.random() < change:
                payload[rng.randrange(8)] = rng.randrange(256)
            frames.append((k / rate + rng.random() * 0.001, can_id, bytes(payload)))
    frames.sort()
    return frames


def _rates(run: Callable[[], None], count: int, rounds: int = RUNS) -> dict[str, float]:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        samples.append(count / (time.perf_counter() - began))
    return spread(samples, 0)


def bench_decode(frames: list[Frame]) -> dict[str, Any]:
    """Decoder and feature-handler throughput on the chassis frame set (every payload treated as new)."""
    from coachiq.features.j1939 import J1939Feature, load_database

    db = load_database()
    codec = Codec(db)
    known = {spec.dgn for spec in db}
    work = [((can_id >> 8) & 0x3FFFF, data) for _, can_id, data in frames if ((can_id >> 8) & 0x3FFFF) in known]
    decode = codec.decode

    def run_decode() -> None:
        for pgn, data in work:
            decode(pgn, data)

    feature = J1939Feature()
    feature.use(db, "chassis")  # the handler alone, without a running server
    rvc = Codec(db)
    published = [RvcFrame(t, can_id, "chassis", (can_id >> 8) & 0x3FFFF, can_id & 0xFF,
                          rvc.decode((can_id >> 8) & 0x3FFFF, data), False) for t, can_id, data in frames]
    handler = feature.on_frame

    def run_feature() -> None:
        for frame in published:
            handler(frame)

    return {"j1939_decode_fps": _rates(run_decode, len(work)), "j1939_decode_frames": len(work),
            "j1939_feature_fps": _rates(run_feature, len(published)), "j1939_feature_frames": len(published)}


def _full_bus_cpu(folder: Path, coach_log: Path, chassis_log: Path | None, seconds: float) -> float:
    """Server CPU with the RV-C bus at full load, and the chassis J1939 bus at full load on a second
    interface when `chassis_log` is given (a chassis bus is its own CAN bus: both at full load would not
    fit on one 250 kbit/s bus). Each bus is a feed socket pair, read as SocketCAN is."""
    house, chassis = Feed(), Feed()
    interfaces = [house.settings("house"), chassis.settings("chassis")]
    folder.mkdir(parents=True, exist_ok=True)
    features = folder / "features.yaml"
    features.write_text("features:\n  j1939:\n    enabled: true\n    settings: {interface: chassis}\n",
                        encoding="utf-8")
    env = {"COACHIQ_CAN_INTERFACES": json.dumps(interfaces), "COACHIQ_COACH": "generic",
           "COACHIQ_FEATURES_FILE": str(features)}
    with contextlib.closing(house), contextlib.closing(chassis), \
            server(folder / "data", env, pass_fds=[house.server_fd, chassis.server_fd]) as (process, _base):
        house.started()
        chassis.started()
        players = [house.play(coach_log, seconds=SETTLE_S + seconds + 30.0)]
        if chassis_log is not None:
            players.append(chassis.play(chassis_log, seconds=SETTLE_S + seconds + 30.0))
        try:
            time.sleep(SETTLE_S)  # start-up work and the first burst of new payloads
            began, cpu = time.monotonic(), cpu_seconds(process.pid)
            time.sleep(seconds)
            if process.poll() is not None:
                raise RuntimeError("the server stopped during the benchmark")
            return 100.0 * (cpu_seconds(process.pid) - cpu) / (time.monotonic() - began)
        finally:
            for player in players:
                player.stop()


def _from_start(frames: list[Frame], span: float) -> list[Frame]:
    """The frames of the first `span` seconds, their times counted from the first frame."""
    if not frames:
        return []
    start = frames[0][0]
    return [(when - start, can_id, data) for when, can_id, data in frames if when - start < span]


def bench_full_bus(coach: list[Frame], chassis: list[Frame], runs: int = RUNS, seconds: float = 10.0) -> dict[str, Any]:
    """Server CPU with the RV-C bus alone and with the chassis bus too, alternating, `runs` times."""
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-j1939-") as name:
        folder = Path(name)
        span = 30.0 + seconds  # start-up (several seconds on a busy machine), settling, measuring, margin
        # Each set from its own start (a candump log carries the wall-clock time of its capture).
        coach_log = write_log(folder / "coach.log", _from_start(coach, span))
        chassis_log = write_log(folder / "chassis.log", _from_start(chassis, span))
        without, with_chassis = [], []
        for run in range(runs):
            without.append(_full_bus_cpu(folder / f"alone-{run}", coach_log, None, seconds))
            with_chassis.append(_full_bus_cpu(folder / f"both-{run}", coach_log, chassis_log, seconds))
    added = [b - a for a, b in zip(without, with_chassis, strict=True)]
    return {"j1939_full_bus_cpu_percent": spread(added, 2), "rvc_only_cpu_percent": spread(without, 2),
            "rvc_and_chassis_cpu_percent": spread(with_chassis, 2),
            "chassis_frames_per_s": round(sum(1 for f in _from_start(chassis, 1.0)))}


def bench_startup_with_features(runs: int = RUNS, idle_s: float = 10.0) -> dict[str, Any]:
    """Start to ready and idle RSS of the simulated coach with j1939, spartan_k2, firefly and diagnostics on
    (database at head)."""
    env = FEATURES_ENV
    ready, rss, feature_ms = [], [], []
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-j1939-start-") as name:
        data = Path(name) / "data"
        process, _base, _first = start_server(data, env)  # creates the database
        stop(process)
        for _ in range(runs):
            process, _base, seconds = start_server(data, env)
            try:
                ready.append(seconds)
                time.sleep(idle_s)
                rss.append(rss_mib(process.pid))
            finally:
                stop(process)
            # The features' own share of the start, as the feature manager logs it (last start's lines).
            lines = (data / "logs" / "coachiq.log").read_text(encoding="utf-8").splitlines()
            started = [float(m.group(2)) for m in (_STARTED.search(line) for line in lines) if m]
            feature_ms.append(sum(started[-len(FEATURES_ENV):]))
    return {"four_features_ready_s": spread(ready, 3), "four_features_rss_mib": spread(rss, 1),
            "four_features_start_ms": spread(feature_ms, 1)}


def bench_chassis(coach: list[Frame]) -> dict[str, Any]:
    """Every chassis figure."""
    chassis = generate_chassis()
    figures: dict[str, Any] = {}
    figures.update(bench_decode(chassis))
    figures.update(bench_full_bus(coach, chassis))
    figures.update(bench_startup_with_features())
    return figures
