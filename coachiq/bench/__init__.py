"""`coachiq bench`: measure the figures the project budgets for, and return them as one dict.

Every figure is `{"median", "min", "max"}` over at least 5 runs (common.spread), on a real `coachiq
serve` over loopback where a client is involved. "Full bus" is a coach at about 1,800 frames/s
(`--coach LOG`, or common.generate_coach) sent to the server's CAN socket one `can_frame` datagram per
frame at the log's own time (the SocketCAN-shaped path, coachiq/bench/feed.py). This machine has 2
shared cores: the load average is printed beside the figures that depend on it.

| figure | what | module | budget |
|---|---|---|---|
| ready_s | start -> /readyz 200, database at head | startup.py | < 1.0 s |
| ready_first_s | the same on a fresh data folder (creates the database) | startup.py | - |
| rss_first_start_mib | RSS 10 s after a first start on a fresh data folder | startup.py | < 75 MiB |
| decode_fps | payloads decoded/s on one core, every DGN at its real length, every field read | decode.py | - |
| full_load_cpu_percent | server CPU at full bus, no client (% of one core) | realtime.py | < 3 % |
| full_load_with_clients_cpu_percent | the same with 5 WebSocket clients subscribed to everything | realtime.py | - |
| ws_latency_p50_ms, _p99_ms | frame sent -> its update at 5 WebSocket clients, full bus | realtime.py | p99 < 25 ms |
| rss_full_load_mib | RSS after 60 s at full bus with 5 clients | realtime.py | < 90 MiB |
| reader_cpu_percent_drain_*ms | a bare reader of the CAN socket, per frame and per 10/20 ms drain | reader.py | - |
| entities_list_p99_ms, _p50_ms | GET /api/v2/entities, 150 entities, 5 clients, full bus | api.py | p99 < 5 ms |
| command_ws_p99_ms, _p50_ms | WebSocket command -> `command_result` confirmed, simulated coach | api.py | p99 < 50 ms |
| command_rest_p99_ms, _p50_ms | POST .../commands -> confirmed response, simulated coach | api.py | p99 < 50 ms |
| command_ws_p99_ms_load, command_rest_p99_ms_load | the same at full bus, devices on the bus | api.py | p99 < 50 ms |
| command_*_failures[_load] | commands not confirmed: count, rate, answers (kept in the latencies) | api.py | 0 |
| slcan_reader_cpu_percent | python-can's slcan reader alone, emulated adapter, full bus | slcan.py | reported |
| mqtt_state_latency_p99_ms | frame -> MQTT state message at a subscriber (needs Mosquitto) | mqtt.py | < 50 ms |
| mqtt_cpu_overhead_percent, mqtt_rss_overhead_mib | what the mqtt feature adds at full bus | mqtt.py | < 1 %, < 8 MiB |
| signin_verify_ms | one Argon2id verify (a sign-in) | authentication.py | < 500 ms |
| auth_request_overhead_p99_ms, auth_gate_us | authentication's cost per request | authentication.py | < 0.3 ms |
| rss_auth_mib | RSS with authentication on | authentication.py | < 75 MiB |
| j1939_decode_fps, j1939_feature_fps | chassis payloads decoded / handled per second | chassis.py | decode >= 500,000 |
| j1939_full_bus_cpu_percent | CPU a full chassis bus adds | chassis.py | < 1 % |
| four_features_ready_s, four_features_rss_mib | start, idle RSS: the four features on | chassis.py | < 1 s, < 75 MiB |
| estop_to_stop_frames_p99_ms | e-stop request -> stop frames, 20-client flood | safety.py | < 50 ms |
| motion_after_unsafe_max_ms | last motion frame after the coach became unsafe | safety.py | < 100 ms |
| tx_loop_confirm_ms | a command confirmed after a 300-send burst | safety.py | < 1000 ms |

Frame sets come from candump -L logs (`--unique`, `--coach`); without them equivalent sets are generated
here with a fixed seed.
"""

from __future__ import annotations

import argparse
import gc
from typing import Any

from coachiq.bench.common import generate_coach, generate_unique, read_frames
from coachiq.bench.decode import bench_decode
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
    figures.update(bench_startup())
    try:
        from coachiq.bench import realtime, safety
    except ImportError as exc:  # the HTTP client comes with the test extras
        raise SystemExit(f"coachiq bench needs the test dependencies ({exc.name}): run `python3 dev.py bench`") from exc
    figures.update(realtime.bench_realtime_load(args.coach))
    from coachiq.bench import api, slcan
    from coachiq.bench.reader import bench_bare_reader

    figures.update(bench_bare_reader(args.coach))
    figures.update(api.bench_entities_list(args.coach))
    figures.update(api.bench_commands(args.coach))
    figures.update(slcan.bench_slcan())
    from coachiq.bench.mqtt import bench_mqtt

    figures.update(bench_mqtt(args.coach))
    from coachiq.bench.authentication import bench_authentication

    figures.update(bench_authentication())
    from coachiq.bench.chassis import bench_chassis

    figures.update(bench_chassis(coach))
    figures.update(safety.bench_safety())
    return figures
