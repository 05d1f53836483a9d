"""What every benchmark shares: server processes, /proc readings, summaries and the frame sets."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

Frame = tuple[float, int, bytes]
"""(seconds from the start of the set, 29-bit identifier, payload)."""

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS in /proc status")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_percent(pid: int, seconds: float) -> float:
    """A process's CPU over the next `seconds`, in % of one core."""
    began, cpu = time.monotonic(), cpu_seconds(pid)
    time.sleep(seconds)
    return 100.0 * (cpu_seconds(pid) - cpu) / (time.monotonic() - began)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value at `fraction` of the sorted values (nearest rank); NaN for none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def spread(samples: Sequence[float], digits: int = 3) -> dict[str, float]:
    """Median, min and max of the runs of one figure."""
    return {"median": round(statistics.median(samples), digits), "min": round(min(samples), digits),
            "max": round(max(samples), digits)}


def rates(run: Callable[[], None], count: int, rounds: int = 7) -> list[float]:
    """`count / seconds` of `rounds` calls of `run`, sorted."""
    found = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        found.append(count / (time.perf_counter() - began))
    return sorted(found)


def server_env(data_dir: Path, env_extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmark server: this one without COACHIQ_* settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHIQ_")}
    env.update(COACHIQ_DATA_DIR=str(data_dir), **(env_extra or {}))
    return env


def start_server(data_dir: Path, env_extra: dict[str, str] | None = None, *args: str,
                 pass_fds: Sequence[int] = ()) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start `coachiq serve` on a free loopback port; returns the process, its base URL and the seconds
    from the start of the process to /readyz answering 200."""
    port = free_port()
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "coachiq.cli", "serve", "--port", str(port), *args],
                               env=server_env(data_dir, env_extra), pass_fds=pass_fds,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} during the benchmark")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return process, base, time.perf_counter() - began
        except OSError:
            pass
        if time.perf_counter() - began > 60:
            stop(process)
            raise RuntimeError("the server did not become ready within 60 s")
        time.sleep(0.005)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextlib.contextmanager
def server(data_dir: Path, env_extra: dict[str, str] | None = None, *args: str,
           pass_fds: Sequence[int] = ()) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A running server for the `with` block: (process, base URL)."""
    process, base, _ready = start_server(data_dir, env_extra, *args, pass_fds=pass_fds)
    try:
        yield process, base
    finally:
        stop(process)


# Status DGNs common on coaches, with a typical source address and a relative weight.
COMMON_STATUS = [(0x1FEDA, 0x8E, 30), (0x1FFB7, 0xAF, 10), (0x1FFE2, 0x9D, 8), (0x1FFE1, 0x96, 8),
                 (0x1FFF7, 0x99, 5), (0x1FFFD, 0x3D, 5), (0x1FFBF, 0x9D, 5), (0x1FF9C, 0x9D, 5),
                 (0x1FECA, 0x9F, 5), (0x1FFDC, 0x9D, 3), (0x1FFF4, 0x9D, 3), (0x1FFAD, 0x4F, 3),
                 (0x1FE97, 0x99, 2), (0x1FFFC, 0x3D, 2), (0x1FFD4, 0x42, 2), (0x1FFC7, 0x42, 2)]


def read_frames(path: Path) -> list[Frame]:
    """(timestamp, arbitration id, payload) of every frame of a candump -L log."""
    from coachiq.can.logs import LogFrame, read_log

    return [(f.timestamp, f.arbitration_id, f.data) for f in read_log(path) if isinstance(f, LogFrame)]


def write_log(path: Path, frames: Sequence[Frame]) -> Path:
    """Write frames as a candump -L log (interface can0)."""
    with path.open("w", encoding="ascii") as out:
        for timestamp, can_id, data in frames:
            out.write(f"({1_700_000_000 + timestamp:.6f}) can0 {can_id:08X}#{data.hex().upper()}\n")
    return path


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


BENCH_ENTITIES = 150


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


def generated_log(folder: Path) -> Path:
    """The generated coach at full bus load (60 s) as a candump log in `folder`."""
    return write_log(folder / "generated-coach.log", generate_coach(seconds=60))
