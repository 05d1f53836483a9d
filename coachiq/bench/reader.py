"""The live reader's strategy at full bus: a wake-up per frame against a short periodic drain.

- bench_bare_reader(log): the reader alone. A process runs an event loop with nothing but
  coachiq.can.reader.SocketReader on the `fd` socket and a handler that counts frames, while the frame
  player (coachiq/bench/feed.py) sends the log at its own pace; reader_cpu_percent_drain_<N>ms is that
  process's CPU in % of one core over SECONDS, for each drain interval N (0: read at every wake-up).
  Besides the loop's wake-ups this is the cost of reading the records, which the server pays the same.
- bench_reader_strategies(log): the same intervals in the server, with the figures of
  coachiq.bench.realtime.bench_realtime_load (CPU with no client, latency p99 to 5 WebSocket clients).

Every figure is the median, min and max of RUNS runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from coachiq.bench.common import cpu_seconds, generated_log, spread
from coachiq.bench.feed import Feed

__all__ = ["bench_bare_reader", "bench_reader_strategies"]

DRAINS_MS = (0.0, 10.0, 15.0, 20.0)
RUNS = 5
SECONDS = 10.0
SETTLE_S = 2.0


class _Counter:
    """A FrameHandler that only counts."""

    def __init__(self) -> None:
        self.frame_count = 0
        self.other = 0

    def frames(self, frames: list[tuple[float, int, bytes]]) -> None:
        self.frame_count += len(frames)

    def standard_frame(self) -> None:
        self.other += 1

    def error_frame(self, error_class: int) -> None:
        self.other += 1

    def refused(self, reason: str) -> None:
        self.other += 1

    def fault(self, exc: BaseException) -> None:
        raise SystemExit(f"the bare reader failed: {exc}")


async def _read(fd: int, drain_ms: float) -> None:
    import socket

    from coachiq.can.reader import SocketReader

    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    counter = _Counter()
    reader = SocketReader(socket.socket(fileno=fd), loop, counter, drain_ms / 1000)
    reader.start()
    print("ready", flush=True)
    await stop
    reader.stop()
    print(counter.frame_count, flush=True)


def bare_reader_run(log: Path, drain_ms: float, seconds: float = SECONDS) -> tuple[float, int]:
    """One bare reader process at full bus: (CPU % of one core over `seconds`, frames it read in all)."""
    feed = Feed()
    try:
        process = subprocess.Popen([sys.executable, "-m", "coachiq.bench.reader", "--fd", str(feed.server_fd),
                                    "--drain-ms", str(drain_ms)], pass_fds=[feed.server_fd],
                                   stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("the bare reader did not start")
            feed.started()
            player = feed.play(log, seconds=SETTLE_S + seconds + 5.0)
            try:
                time.sleep(SETTLE_S)
                began, cpu = time.monotonic(), cpu_seconds(process.pid)
                time.sleep(seconds)
                percent = 100.0 * (cpu_seconds(process.pid) - cpu) / (time.monotonic() - began)
            finally:
                player.stop()
            process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=10)
            return percent, int(out.split()[-1])
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(5)
    finally:
        feed.close()


def bench_bare_reader(log: Path | None = None, runs: int = RUNS, seconds: float = SECONDS) -> dict[str, Any]:
    """The bare reader's CPU at full bus for each drain interval."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-reader-") as name:
        played = log if log is not None else generated_log(Path(name))
        for drain_ms in DRAINS_MS:
            found = [bare_reader_run(played, drain_ms, seconds)[0] for _ in range(runs)]
            figures[f"reader_cpu_percent_drain_{drain_ms:g}ms"] = spread(found, 2)
    figures["reader_load_average"] = os.getloadavg()[0]
    return figures


def bench_reader_strategies(log: Path | None = None, runs: int = RUNS, seconds: float = SECONDS) -> dict[str, Any]:
    """The server's CPU with no client and its latency p99 at full bus for each drain interval."""
    from coachiq.bench.realtime import bench_realtime_load

    figures: dict[str, Any] = {}
    for drain_ms in DRAINS_MS:
        found = bench_realtime_load(log, runs, drain_ms=drain_ms, cpu_s=seconds, measure_s=seconds,
                                    rss_after_s=None)
        for key in ("full_load_cpu_percent", "full_load_with_clients_cpu_percent", "ws_latency_p50_ms",
                    "ws_latency_p99_ms"):
            figures[f"server_{key}_drain_{drain_ms:g}ms"] = found[key]
    return figures


def main(argv: list[str] | None = None) -> int:
    """`python -m coachiq.bench.reader --fd N --drain-ms M`: a bare reader until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m coachiq.bench.reader", description=main.__doc__)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--drain-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    asyncio.run(_read(args.fd, args.drain_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
