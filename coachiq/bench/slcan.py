"""What python-can's `slcan` interface costs to read a coach at full bus load, for `coachiq bench`.

An SLCAN adapter (CANable, USBtin and the like in their serial firmware) shows up as a serial port and
sends each CAN frame as a line of ASCII: `T` + 8 hex digits of identifier + the length + 2 hex digits a
byte + `\\r` for a 29-bit frame. The adapter is emulated by a pseudo-terminal: this process writes the
frames of the benchmark coach (about 1,800 frames/s, coachiq.bench.common.generate_coach) to its master
side, each at its own time (frames falling due together while the writer slept go in one write), and a
separate process reads the other side with a bare python-can reader and nothing else.

- slcan_reader_cpu_percent: that reader's CPU in % of one core, `bus.recv(1.0)` in a loop (the way
  python-can's own Notifier, and any reading thread, uses a bus).
- slcan_reader_ready_cpu_percent: the same bus read only when the port is readable (select, then
  `recv(0)` until nothing is left), the way the server reads a bus that has a file descriptor.
- slcan_frames_per_s: frames the adapter sent per second, with slcan_frames_missed, frames the reader had
  not received when the run ended.

Each figure is the median of RUNS runs (a new pseudo-terminal and reader each) with its min and max.
python-can's slcan reader takes the port one byte per read call (two system calls a byte, 27 bytes a
frame), which is what this measures; the kernel's SLCAN driver (slcand) turns the same adapter into a
SocketCAN interface, read as one datagram per frame (docs/hardware.md).
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import termios
import threading
import time
import tty
from collections.abc import Sequence
from typing import Any

from coachiq.bench.common import Frame, cpu_seconds, generate_coach, spread

RUNS = 5
MEASURE_S = 5.0
WARM_S = 1.0


def slcan_line(can_id: int, data: bytes) -> bytes:
    """One frame as an SLCAN adapter sends it: `T` + identifier + length + data + carriage return."""
    return b"T%08X%d%s\r" % (can_id, len(data), data.hex().upper().encode())


def _play(master: int, frames: Sequence[Frame], stop: threading.Event) -> int:
    """Write the frames to the pseudo-terminal at their own times; returns how many were written."""
    started = time.monotonic()
    written = 0
    pending = bytearray()
    for timestamp, can_id, data in frames:
        due = started + timestamp
        now = time.monotonic()
        if due > now:
            if pending:
                os.write(master, pending)
                pending.clear()
            if stop.wait(due - now):
                break
        pending += slcan_line(can_id, data)
        written += 1
    if pending and not stop.is_set():
        os.write(master, pending)
    return written


def _drain(master: int, stop: threading.Event) -> None:
    """Read (and drop) what the reader sends the adapter: its open and close commands."""
    while not stop.is_set():
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                os.read(master, 1024)
            except OSError:
                return


def _run(frames: Sequence[Frame], mode: str) -> dict[str, float]:
    master, slave = os.openpty()
    tty.setraw(master)
    attributes = termios.tcgetattr(master)
    attributes[3] &= ~termios.ECHO
    termios.tcsetattr(master, termios.TCSANOW, attributes)
    path = os.ttyname(slave)
    reader = subprocess.Popen([sys.executable, "-m", "coachiq.bench.slcan", "--read", path, "--mode", mode],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stop = threading.Event()
    drain = threading.Thread(target=_drain, args=(master, stop), daemon=True)
    drain.start()
    written = [0]
    player = threading.Thread(target=lambda: written.__setitem__(0, _play(master, frames, stop)), daemon=True)
    try:
        assert reader.stdout is not None
        if reader.stdout.readline().strip() != "ready":
            raise RuntimeError("the slcan reader did not start")
        player.start()
        time.sleep(WARM_S)
        began, cpu = time.monotonic(), cpu_seconds(reader.pid)
        time.sleep(MEASURE_S)
        cpu_percent = 100.0 * (cpu_seconds(reader.pid) - cpu) / (time.monotonic() - began)
        elapsed = time.monotonic() - began + WARM_S
        stop.set()
        player.join(5)
        time.sleep(0.2)  # what is still in the pseudo-terminal reaches the reader
        reader.send_signal(signal.SIGTERM)
        out, _ = reader.communicate(timeout=10)
        received = int(out.split()[-1])
    finally:
        stop.set()
        if reader.poll() is None:
            reader.kill()
            reader.wait()
        os.close(master)
        os.close(slave)
    return {"cpu": cpu_percent, "fps": written[0] / elapsed, "missed": written[0] - received}


def bench_slcan(runs: int = RUNS) -> dict[str, Any]:
    """CPU of a bare python-can slcan reader at full bus load, both ways of reading; median, min and max."""
    try:
        import serial  # noqa: F401 - python-can's slcan interface needs pyserial
    except ImportError:
        return {"slcan": "not measured: pyserial is not installed (`python3 dev.py bench` installs it)"}
    frames = [f for f in generate_coach(seconds=int(WARM_S + MEASURE_S) + 2)]
    blocking = [_run(frames, "recv") for _ in range(runs)]
    ready = [_run(frames, "ready") for _ in range(runs)]
    return {"slcan_reader_cpu_percent": spread([r["cpu"] for r in blocking], 1),
            "slcan_reader_ready_cpu_percent": spread([r["cpu"] for r in ready], 1),
            "slcan_frames_per_s": spread([r["fps"] for r in blocking + ready], 0),
            "slcan_frames_missed": sum(int(r["missed"]) for r in blocking + ready)}


def read(path: str, mode: str) -> None:
    """The reader process: a python-can slcan bus on `path`, read until SIGTERM; prints the frame count."""
    import can

    bus = can.Bus(interface="slcan", channel=path, bitrate=250_000, sleep_after_open=0)
    count = 0
    stopping = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    if mode == "recv":
        while not stopping:
            if bus.recv(1.0) is not None:
                count += 1
    else:
        fd = bus.fileno()
        while not stopping:
            try:
                readable, _, _ = select.select([fd], [], [], 1.0)
            except InterruptedError:
                continue
            while readable and bus.recv(0) is not None:
                count += 1
    print(count, flush=True)
    bus.shutdown()


def main(argv: list[str] | None = None) -> None:
    """`python -m coachiq.bench.slcan` prints the figures; `--read PTY` is the reader process."""
    parser = argparse.ArgumentParser(prog="python -m coachiq.bench.slcan")
    parser.add_argument("--read", metavar="PTY")
    parser.add_argument("--mode", choices=("recv", "ready"), default="recv")
    args = parser.parse_args(argv)
    if args.read:
        read(args.read, args.mode)
    else:
        import json

        print(json.dumps(bench_slcan(), indent=2))


if __name__ == "__main__":
    main()
