"""The mqtt feature's budgets, measured for `coachiq bench`.

A Mosquitto on a free loopback port and two servers in turn on the benchmark coach (150 entities), each
fed the coach log at full bus load on the SocketCAN-shaped path as coachiq/bench/realtime.py feeds it
(coachiq/bench/feed.py: one `can_frame` datagram per frame at the log's own time): one without the mqtt
feature and one with it and a subscriber to every state topic, as Home Assistant subscribes. Each run
measures both, one after the other, the same number of seconds.

- mqtt_state_latency_p50_ms / _p99_ms: frame sent -> its state message at the subscriber. The state
  message carries the time stamp of the newest frame it folds in, which on this path is the kernel's
  stamp taken as the player sent the frame; a change held to coalesce counts with its wait.
- mqtt_cpu_overhead_percent: the server's CPU (% of one core) with the feature and the subscriber minus
  without. The broker's own CPU is not counted: it usually runs elsewhere (on the Home Assistant host).
- mqtt_rss_overhead_mib: the server's resident memory with the feature minus without, at the end.

Each figure is the median of `runs` runs with its min and max. Budgets: p99 < 50 ms, CPU < 1 % of a
core, RSS < 8 MiB.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from coachiq.bench.common import (
    bench_coach_file,
    cpu_seconds,
    free_port,
    generated_log,
    percentile,
    rss_mib,
    server,
    spread,
)
from coachiq.bench.feed import Feed

MOSQUITTO = "/usr/sbin/mosquitto"
NODE_ID = "bench"
SETTLE_S = 3.0
RUNS = 5


def _mosquitto(folder: Path, port: int) -> subprocess.Popen[bytes]:
    import getpass
    import socket

    config = folder / "mosquitto.conf"
    config.write_text(f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
                      "persistence false\n", encoding="utf-8")
    process = subprocess.Popen([shutil.which("mosquitto") or MOSQUITTO, "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("mosquitto did not start") from None
            time.sleep(0.05)


class _Subscriber:
    """A subscriber to every state topic, stamping each message when it arrives."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.arrivals: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"coachiq/{NODE_ID}/+/+/state", qos=0)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        now = time.time()
        if not message.retain:  # live changes only: retained ones were published before we came
            with self._lock:
                self.arrivals.append((now, bytes(message.payload)))

    def latencies(self, since: float) -> list[float]:
        with self._lock:
            arrivals = list(self.arrivals)
        found = []
        for arrived, payload in arrivals:
            if arrived < since:
                continue
            stamp = json.loads(payload).get("timestamp")
            if isinstance(stamp, int | float):
                found.append((arrived - stamp) * 1000)
        return found

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _one_server(folder: Path, log: Path, coach_file: Path, seconds: float, port: int | None
                ) -> dict[str, Any]:
    feed = Feed()
    env = {**feed.env(), "COACHIQ_COACH": "generic", "COACHIQ_COACH_FILE": str(coach_file)}
    if port is not None:
        env.update(COACHIQ_FEATURE_MQTT="true", COACHIQ_MQTT_URL=f"mqtt://127.0.0.1:{port}",
                   COACHIQ_MQTT_NODE_ID=NODE_ID)
    with contextlib.closing(feed), server(folder, env, pass_fds=[feed.server_fd]) as (process, _base):
        feed.started()
        player = feed.play(log, seconds=SETTLE_S + seconds + 30.0)
        subscriber = _Subscriber(port) if port is not None else None
        try:
            time.sleep(SETTLE_S)  # start-up work, the first burst of new payloads, the announcement
            began, cpu = time.monotonic(), cpu_seconds(process.pid)
            measured_from = time.time()
            time.sleep(seconds)
            cpu_percent = 100.0 * (cpu_seconds(process.pid) - cpu) / (time.monotonic() - began)
            rss = rss_mib(process.pid)
            if process.poll() is not None:
                raise RuntimeError("the server stopped during the benchmark")
        finally:
            if subscriber is not None:
                subscriber.close()
            player.stop()
    result: dict[str, Any] = {"cpu": cpu_percent, "rss": rss}
    if subscriber is not None:
        latencies = subscriber.latencies(measured_from)
        if not latencies:
            raise RuntimeError("no MQTT state message arrived during the benchmark")
        result.update(p50=percentile(latencies, 0.5), p99=percentile(latencies, 0.99),
                      rate=len(latencies) / seconds)
    return result


def bench_mqtt(log: Path | None = None, runs: int = RUNS, seconds: float = 15.0) -> dict[str, Any]:
    """State latency, CPU and memory of the mqtt feature at full bus load; median, min and max of `runs`."""
    if not (os.access(MOSQUITTO, os.X_OK) or shutil.which("mosquitto")):
        return {"mqtt": "not measured: Mosquitto is not installed (Debian package mosquitto)"}
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-mqtt-") as name:
        folder = Path(name)
        replay = log if log is not None else generated_log(folder)
        coach_file = bench_coach_file(folder)
        port = free_port()
        broker = _mosquitto(folder, port)
        try:
            without, with_mqtt = [], []
            for run in range(runs):
                without.append(_one_server(folder / f"off-{run}", replay, coach_file, seconds, None))
                with_mqtt.append(_one_server(folder / f"on-{run}", replay, coach_file, seconds, port))
        finally:
            broker.send_signal(signal.SIGTERM)
            broker.wait(10)
    cpu_overhead = [w["cpu"] - o["cpu"] for w, o in zip(with_mqtt, without, strict=True)]
    rss_overhead = [w["rss"] - o["rss"] for w, o in zip(with_mqtt, without, strict=True)]
    return {
        "mqtt_state_latency_p99_ms": spread([r["p99"] for r in with_mqtt]),
        "mqtt_state_latency_p50_ms": spread([r["p50"] for r in with_mqtt]),
        "mqtt_state_messages_per_s": spread([r["rate"] for r in with_mqtt], 1),
        "mqtt_cpu_overhead_percent": spread(cpu_overhead, 2),
        "mqtt_server_cpu_percent": {"without": spread([r["cpu"] for r in without], 2),
                                    "with": spread([r["cpu"] for r in with_mqtt], 2)},
        "mqtt_rss_overhead_mib": spread(rss_overhead, 1),
        "mqtt_runs": runs, "mqtt_run_s": seconds,
    }
