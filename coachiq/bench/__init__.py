"""`coachiq bench`: measure the figures the project budgets for, and return them as one dict.

- ready_s: process start to /readyz 200, database already at head (the usual start of a coach).
- ready_first_s: the same on a first start, which creates the database.
- rss_mib: resident memory of the server after 10 s idle.
- decode_fps: payloads decoded per second on one core, every payload new (worst case), every field read,
  over the log's frames and random payloads of every DGN of the database at its real length; median of 7.
- pipeline_fps: frames per second through the receive path (repeat filter, decode of new payloads,
  statistics) on a coach at full bus load, where most frames repeat.
- the realtime and API figures of coachiq/bench/realtime.py: WebSocket latency and CPU at full bus
  load, command latencies, GET /api/v2/entities latency.
- the mqtt feature's figures of coachiq/bench/mqtt.py: frame -> MQTT state message latency,
  and the CPU and memory the feature adds at full bus load (needs Mosquitto).
- the authentication figures of coachiq/bench/authentication.py: sign-in verify time, the
  access gate's overhead per request (auth_request_overhead_p99_ms) and the RSS with authentication on.
- the safety figures of coachiq/bench/safety.py: e-stop to stop frames and motion after the coach
  became unsafe, under a 20-client flood of commands and raw sends; the transmit loop after a burst.

Frame sets come from candump -L logs (`--unique`, `--coach`); without them equivalent sets are generated
here with a fixed seed.
"""

from __future__ import annotations

import argparse
import gc
from typing import Any

from coachiq.bench.common import generate_coach, generate_unique, read_frames
from coachiq.bench.decode import bench_decode, bench_pipeline
from coachiq.bench.startup import bench_startup


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
        from coachiq.bench import realtime, safety
    except ImportError as exc:  # the HTTP client comes with the test extras
        raise SystemExit(f"coachiq bench needs the test dependencies ({exc.name}): run `python3 dev.py bench`") from exc
    figures.update(realtime.bench_realtime_load(args.coach))
    figures.update(realtime.bench_commands())
    figures.update(realtime.bench_entities_list())
    from coachiq.bench.mqtt import bench_mqtt

    figures.update(bench_mqtt(args.coach))
    from coachiq.bench.authentication import bench_authentication

    figures.update(bench_authentication())
    from coachiq.bench.chassis import bench_chassis

    figures.update(bench_chassis(coach))
    figures.update(safety.bench_safety())
    return figures
