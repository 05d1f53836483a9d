"""`coachiq bench`: measure the figures the project budgets for, and return them as one dict.

- ready_s: process start to /readyz 200, database already at head (the usual start of a coach).
- ready_first_s: the same on a first start, which creates the database.
- rss_mib: resident memory of the server after 10 s idle.
- decode_fps: payloads decoded per second on one core, every payload new (worst case), every field read,
  over the log's frames and random payloads of every DGN of the database at its real length; median of 7.
- pipeline_fps: frames per second through the receive path (repeat filter, decode of new payloads,
  statistics) on a coach at full bus load, where most frames repeat.
- the realtime and API figures of coachiq/realtime/bench.py: WebSocket latency and CPU at full bus
  load, command latencies, GET /api/v2/entities latency.
- the mqtt feature's figures of coachiq/features/mqtt/bench.py: frame -> MQTT state message latency,
  and the CPU and memory the feature adds at full bus load (needs Mosquitto).
- the authentication figures of coachiq/features/authentication/bench.py: sign-in verify time, the
  access gate's overhead per request (auth_request_overhead_p99_ms) and the RSS with authentication on.
- the safety figures of coachiq/safety_bench.py: e-stop to stop frames and motion after the coach
  became unsafe, under a 20-client flood of commands and raw sends; the transmit loop after a burst.

Frame sets come from candump -L logs (`--unique`, `--coach`); without them equivalent sets are generated
here with a fixed seed.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

IDLE_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS in /proc status")


def _start_and_wait_ready(data_dir: Path) -> tuple[subprocess.Popen[bytes], float]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHIQ_")}
    env["COACHIQ_DATA_DIR"] = str(data_dir)
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "coachiq.cli", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/readyz"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} during the benchmark")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return process, time.perf_counter() - began
        except OSError:
            pass
        if time.perf_counter() - began > 60:
            process.kill()
            raise RuntimeError("the server did not become ready within 60 s")
        time.sleep(0.005)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def bench_startup() -> dict[str, Any]:
    """Start the server twice on a fresh data folder: first start, then a normal start; then idle."""
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-") as folder:
        data_dir = Path(folder)
        process, first = _start_and_wait_ready(data_dir)
        _stop(process)
        process, ready = _start_and_wait_ready(data_dir)
        try:
            time.sleep(IDLE_S)
            rss = _rss_mib(process.pid)
        finally:
            _stop(process)
    return {"ready_s": round(ready, 3), "ready_first_s": round(first, 3), "rss_mib": rss}


# Status DGNs common on coaches, with a typical source address and a relative weight.
COMMON_STATUS = [(0x1FEDA, 0x8E, 30), (0x1FFB7, 0xAF, 10), (0x1FFE2, 0x9D, 8), (0x1FFE1, 0x96, 8),
                 (0x1FFF7, 0x99, 5), (0x1FFFD, 0x3D, 5), (0x1FFBF, 0x9D, 5), (0x1FF9C, 0x9D, 5),
                 (0x1FECA, 0x9F, 5), (0x1FFDC, 0x9D, 3), (0x1FFF4, 0x9D, 3), (0x1FFAD, 0x4F, 3),
                 (0x1FE97, 0x99, 2), (0x1FFFC, 0x3D, 2), (0x1FFD4, 0x42, 2), (0x1FFC7, 0x42, 2)]

Frame = tuple[float, int, bytes]


def read_frames(path: Path) -> list[Frame]:
    """(timestamp, arbitration id, payload) of every frame of a candump -L log."""
    from coachiq.can.logs import LogFrame, read_log

    return [(f.timestamp, f.arbitration_id, f.data) for f in read_log(path) if isinstance(f, LogFrame)]


def generate_unique(count: int = 200_000, seed: int = 1) -> list[Frame]:
    """Random payloads over the common status DGNs: every payload new."""
    rng = random.Random(seed)
    ids = [(6 << 26) | (dgn << 8) | source for dgn, source, _ in COMMON_STATUS]
    weights = [weight for *_, weight in COMMON_STATUS]
    return [(i * 0.0005, can_id, rng.randbytes(8)) for i, can_id in enumerate(rng.choices(ids, weights, k=count))]


def generate_coach(seconds: int = 120, rate: int = 1800, seed: int = 2) -> list[Frame]:
    """About 140 devices re-broadcasting status at full bus load; 2% of broadcasts change something."""
    rng = random.Random(seed)
    devices = []
    for dgn, source, weight in COMMON_STATUS:
        for instance in range(1, 1 + max(1, weight * 140 // 95)):
            payload = bytearray(rng.randbytes(8))
            payload[0] = instance
            devices.append(((6 << 26) | (dgn << 8) | source, payload))
    frames = []
    for k in range(seconds * rate):
        can_id, payload = devices[k % len(devices)]
        if rng.random() < 0.02:
            payload[1 + rng.randrange(7)] = rng.randrange(256)
        frames.append((k / rate, can_id, bytes(payload)))
    return frames


def _best_rate(run: Any, count: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return count / best


def _rates(run: Any, count: int, rounds: int = 7) -> list[float]:
    rates = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        rates.append(count / (time.perf_counter() - began))
    return sorted(rates)


def every_dgn_frames(per_dgn: int = 200, seed: int = 10) -> list[tuple[int, bytes]]:
    """`per_dgn` random payloads of every DGN of the database, each at the DGN's real length.

    Multi-packet DGNs take the lengths of their samples. Random bytes also hit special values and
    unknown enumeration values, as a real bus does now and then.
    """
    from coachiq.rvc.spec_load import load_database

    rng = random.Random(seed)
    work = []
    for spec in load_database():
        lengths = [spec.length] if spec.length is not None else sorted({len(s.payload) for s in spec.samples})
        for k in range(per_dgn):
            work.append((spec.dgn, rng.randbytes(lengths[k % len(lengths)])))
    return work


def bench_decode(frames: list[Frame]) -> dict[str, Any]:
    """Decode every payload (no repeat filter) and read every field: the decoder's own speed on one core.

    The frame set is the given log (or the generated one) together with random payloads of every DGN of
    the database at its real length, shuffled; the figure is the median of 7 rounds, with min and max.
    """
    from coachiq.rvc.codec import Codec
    from coachiq.rvc.spec_load import load_database

    codec = Codec(load_database())
    work = [((can_id >> 8) & 0x3FFFF, data) for _, can_id, data in frames] + every_dgn_frames()
    random.Random(11).shuffle(work)
    decode = codec.decode

    def run() -> None:
        for dgn, data in work:
            for _value in decode(dgn, data).values.values():
                pass

    rates = _rates(run, len(work))
    return {"decode_fps": round(rates[len(rates) // 2]), "decode_fps_min": round(rates[0]),
            "decode_fps_max": round(rates[-1]), "decode_frames": len(work)}


def bench_pipeline(frames: list[Frame]) -> dict[str, Any]:
    """The receive path with decoding and a subscriber: repeat filter, decode, statistics, publish.

    Frames go through in the batches a reader hands over at full bus load (50 ms of traffic, as
    `serve --replay` reads them); pipeline_single_fps is the same path one frame at a time.
    """
    from coachiq.can.pipeline import InterfaceStats, ReceivePipeline
    from coachiq.rvc.codec import Codec
    from coachiq.rvc.receive import RvcReceiver, instance_bytes
    from coachiq.rvc.spec_load import load_database

    db = load_database()
    codec = Codec(db)
    instances = instance_bytes(db)
    published = [0]

    def publish(_frame: object) -> None:
        published[0] += 1

    batch = 90
    batches = [(frames[i][0], [(can_id, data) for _, can_id, data in frames[i:i + batch]])
               for i in range(0, len(frames), batch)]

    def run_batches() -> None:
        pipeline = ReceivePipeline(RvcReceiver(codec, instances, publish))
        stats = InterfaceStats("house")
        for timestamp, read in batches:
            pipeline.process_batch(timestamp, read, stats)

    def run_single() -> None:
        pipeline = ReceivePipeline(RvcReceiver(codec, instances, publish))
        stats = InterfaceStats("house")
        process = pipeline.process
        for timestamp, can_id, data in frames:
            process(timestamp, can_id, data, stats)

    rate = _best_rate(run_batches, len(frames))
    bus_fps = 1900
    return {"pipeline_fps": round(rate), "pipeline_full_bus_core_percent": round(100 * bus_fps / rate, 3),
            "pipeline_single_fps": round(_best_rate(run_single, len(frames)))}


def run_benchmarks(args: argparse.Namespace) -> dict[str, Any]:
    """Every benchmark; returns one flat dict of figures."""
    figures: dict[str, Any] = {}
    unique = read_frames(args.unique) if args.unique else generate_unique()
    coach = read_frames(args.coach) if args.coach else generate_coach()
    # The ~400,000 frames read above live until the end: out of the cyclic collector's way, so that its
    # full collections walking them are not counted in the throughput figures (the server freezes its
    # start-up objects the same way).
    gc.collect()
    gc.freeze()
    figures.update(bench_decode(unique))
    figures.update(bench_pipeline(coach))
    figures.update(bench_startup())
    try:
        from coachiq import safety_bench
        from coachiq.realtime import bench as realtime
    except ImportError as exc:  # the HTTP client comes with the test extras
        raise SystemExit(f"coachiq bench needs the test dependencies ({exc.name}): run `python3 dev.py bench`") from exc
    figures.update(realtime.bench_realtime_load(args.coach))
    figures.update(realtime.bench_commands())
    figures.update(realtime.bench_entities_list())
    from coachiq.features.mqtt.bench import bench_mqtt

    figures.update(bench_mqtt(args.coach))
    from coachiq.features.authentication.bench import bench_authentication

    figures.update(bench_authentication())
    from coachiq.features.j1939.bench import bench_chassis

    figures.update(bench_chassis(coach))
    figures.update(safety_bench.bench_safety())
    return figures
