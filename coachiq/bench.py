"""`coachiq bench`: measure the figures the project budgets for, and return them as one dict.

- ready_s: process start to /readyz 200, database already at head (the usual start of a coach).
- ready_first_s: the same on a first start, which creates the database.
- rss_mib: resident memory of the server after 10 s idle.
"""

from __future__ import annotations

import argparse
import os
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


def run_benchmarks(args: argparse.Namespace) -> dict[str, Any]:
    """Every benchmark; returns one flat dict of figures."""
    figures: dict[str, Any] = {}
    figures.update(bench_startup())
    return figures
