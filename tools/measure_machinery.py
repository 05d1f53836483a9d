"""Measure the hand-written machinery against the plain alternative (docs/architecture.md, "Measured").

    .venv/bin/python tools/measure_machinery.py [spec|decoders|uvicorn|all] [--runs N]

Every figure is the median of N runs (default 7) with the min and max, each run in a fresh process
where start-up matters. The figures are for the docs: they decide whether a piece of hand-written code
stays; the budget table's figures come from `coachiq bench`.

- spec: loading the DGN database as the server does (no samples or notes kept), in a fresh
  interpreter per run: the time of the load call (wall, and CPU time of the process, which the
  other processes on a shared machine do not inflate) and the process's resident memory before it, after
  it (VmRSS) and at its peak (VmHWM), with the YAML reader of coachiq/rvc/spec_yaml.py and with
  PyYAML's own CSafeLoader (libyaml's parser, PyYAML's resolver and constructor; on a copy of the
  files where the two labels YAML 1.1 reads as booleans are quoted), each with the parsed-file cache
  warm (a normal start) and without it (the first start, an upgrade, the command line).
- decoders: frames decoded per CPU second of the process over every DGN of the database at its sample payloads' real
  length, every field of the result read, with the generated decoders (Codec.decode) and with a
  plain decoder that interprets the field specs for each frame.
- uvicorn: an idle server (one virtual CAN bus with no traffic, no clients) for 20 s after it is
  ready: CPU seconds of the process and voluntary context switches (wake-ups) of its main thread,
  with the server's own loop (startup()/shutdown(), woken by the stop request and the shared tick)
  and with uvicorn's main_loop (a 0.1 s tick).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def spread(values: list[float], digits: int = 1) -> str:
    """'median (min–max)' of the values."""
    return (f"{round(statistics.median(values), digits)} ({round(min(values), digits)}–"
            f"{round(max(values), digits)})")


# --- spec loader ---------------------------------------------------------------------------------

_SPEC_CHILD = r"""
import json, sys, time
from pathlib import Path
import yaml
from coachiq.rvc import spec_load
variant, folder, cache = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if variant.startswith("pyyaml"):  # PyYAML's own safe loader in place of the reader of spec_yaml.py
    spec_load.parse_spec_document = lambda data, file: yaml.load(data, Loader=yaml.CSafeLoader)

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024

before = status("VmRSS")
start, cpu_start = time.perf_counter(), time.process_time()
if variant.endswith("cached"):
    db = spec_load.load_cached_database(folder, cache)
else:
    db = spec_load.load_database(folder, keep_samples_and_notes=False)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
print(json.dumps({"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "rss": status("VmRSS"), "hwm": status("VmHWM"),
                  "before": before, "dgns": len(db)}))
"""


def measure_spec(runs: int) -> dict[str, Any]:
    """Load time and memory of the DGN database with and without the custom reader and the cache."""
    sys.path.insert(0, str(ROOT))
    from coachiq.rvc.spec_load import default_spec_directory

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dgns"
        shutil.copytree(default_spec_directory(), folder)
        stock = Path(tmp) / "dgns-stock"
        shutil.copytree(folder, stock)
        for path in stock.glob("*.yaml"):  # YAML 1.1 reads these labels as booleans
            path.write_text(path.read_text().replace("{0: no, 1: yes}", '{0: "no", 1: "yes"}'))
        variants = {"reader_cached": folder, "reader": folder, "pyyaml_cached": stock, "pyyaml": stock}
        for variant, source in variants.items():
            if variant.endswith("cached"):  # the first start fills the cache
                subprocess.run([PYTHON, "-c", _SPEC_CHILD, variant, str(source), str(Path(tmp) / variant)],
                               check=True, capture_output=True, cwd=ROOT)
        samples_of: dict[str, list[dict[str, float]]] = {variant: [] for variant in variants}
        for _ in range(runs):
            for variant, source in variants.items():  # interleaved: the machine's load hits all alike
                out = subprocess.run([PYTHON, "-c", _SPEC_CHILD, variant, str(source), str(Path(tmp) / variant)],
                                     check=True, capture_output=True, text=True, cwd=ROOT).stdout
                samples_of[variant].append(json.loads(out))
        for variant, samples in samples_of.items():
            results[variant] = {key: spread([s[key] for s in samples])
                                for key in ("ms", "cpu_ms", "rss", "hwm", "before")}
            results[variant]["dgns"] = samples[0]["dgns"]
    return results


# --- decoders ------------------------------------------------------------------------------------


def measure_decoders(runs: int) -> dict[str, Any]:
    """Frames per second: generated decoders against a decoder interpreting the specs per frame."""
    sys.path.insert(0, str(ROOT))
    from coachiq.rvc.codec import Codec
    from coachiq.rvc.decoded import Decoded
    from coachiq.rvc.fields import decode_raw
    from coachiq.rvc.spec import DgnSpec
    from coachiq.rvc.spec_load import load_database

    db = load_database()
    work = [(spec.dgn, sample.payload) for spec in db for sample in spec.samples]
    by_dgn = {spec.dgn: spec for spec in db}

    def interpret(spec: DgnSpec, payload: bytes) -> Decoded:
        bits = int.from_bytes(payload, "little")
        values: dict[str, Any] = {}
        for field in spec.fields:
            if field.is_text:
                chunk = payload[field.byte:field.end_byte]
                values[field.name] = chunk.rstrip(b"\xff").decode("latin-1") if field.type == "ascii" else chunk
            else:
                values[field.name] = decode_raw(field, (bits >> field.shift) & ((1 << field.width) - 1))
        instance = values.get(spec.instance_field) if spec.instance_field else None
        return Decoded(spec.dgn, spec.name, instance if isinstance(instance, int) else None, values,
                       payload=payload)

    codec = Codec(db)
    for dgn, payload in work:  # both decoders warm: the generated ones compiled, caches filled
        codec.decode(dgn, payload)

    def generated() -> None:
        decode = codec.decode
        for dgn, payload in work:
            for _value in decode(dgn, payload).values.values():
                pass

    def plain() -> None:
        for dgn, payload in work:
            for _value in interpret(by_dgn[dgn], payload).values.values():
                pass

    def rate(run: Callable[[], None]) -> float:
        # CPU time of this process, not wall time: the machine is shared, and a slice lost to another
        # process is not the decoder's cost.
        start = time.process_time()
        repeats = 0
        while time.process_time() - start < 1.0:
            run()
            repeats += 1
        return repeats * len(work) / (time.process_time() - start)

    rates: dict[str, list[float]] = {"generated": [], "plain": []}
    for _ in range(runs):  # interleaved, so that the machine's load hits both alike
        rates["generated"].append(rate(generated))
        rates["plain"].append(rate(plain))
    return {"frames_per_pass": len(work), "dgns": len(db), "generated_fps": spread(rates["generated"], 0),
            "plain_fps": spread(rates["plain"], 0),
            "ratio": spread([g / p for g, p in zip(rates["generated"], rates["plain"], strict=True)], 2)}


# --- uvicorn loop --------------------------------------------------------------------------------

_SERVE_CHILD = r"""
import asyncio, sys
import coachiq.server
variant = sys.argv[1]
if variant == "uvicorn":
    async def uvicorn_loop(server, stop):
        # uvicorn's own serve loop: main_loop ticks every 0.1 s until should_exit.
        async def watch():
            await stop.wait()
            server.should_exit = True
        watcher = asyncio.create_task(watch())
        await server.main_loop()
        watcher.cancel()
    coachiq.server._serve_http = uvicorn_loop
from coachiq.cli import main
sys.exit(main(["serve", "--config", sys.argv[2], "--port", sys.argv[3]]))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _cpu_and_switches(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    switches = 0
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            switches = int(line.split()[1])
    return cpu, switches


def measure_uvicorn(runs: int, idle_s: float = 20.0, settle_s: float = 5.0) -> dict[str, Any]:
    """Idle CPU and main-thread wake-ups of the server with its own loop and with uvicorn's."""
    results: dict[str, Any] = {}
    samples: dict[str, list[tuple[float, float]]] = {"coachiq": [], "uvicorn": []}
    for _ in range(runs):
        for variant in samples:  # interleaved, so that load from others on the machine hits both alike
            with tempfile.TemporaryDirectory() as tmp:
                config = Path(tmp) / "settings.yaml"
                config.write_text(f"data_dir: {tmp}/data\ncan_interfaces:\n  - name: house\n"
                                  f"    interface: virtual\n    channel: idle-{os.getpid()}-{variant}\n")
                port = _free_port()
                process = subprocess.Popen([PYTHON, "-c", _SERVE_CHILD, variant, str(config), str(port)],
                                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                try:
                    assert process.stdout is not None
                    line = process.stdout.readline()
                    if "serving on" not in line:
                        raise RuntimeError(f"the server did not start: {line!r}")
                    time.sleep(settle_s)  # start-up work (caches, first health round) is not idle
                    cpu0, sw0 = _cpu_and_switches(process.pid)
                    time.sleep(idle_s)
                    cpu1, sw1 = _cpu_and_switches(process.pid)
                    samples[variant].append((100 * (cpu1 - cpu0) / idle_s, (sw1 - sw0) / idle_s))
                finally:
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=15)
    for variant, values in samples.items():
        results[variant] = {"cpu_percent": spread([v[0] for v in values], 2),
                            "main_thread_wakeups_per_s": spread([v[1] for v in values], 1)}
    return results


def main() -> int:
    """Run the chosen measurements and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="all", choices=["spec", "decoders", "uvicorn", "all"])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle per uvicorn run")
    args = parser.parse_args()
    out: dict[str, Any] = {"machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"}
    if args.what in ("spec", "all"):
        out["spec"] = measure_spec(args.runs)
    if args.what in ("decoders", "all"):
        out["decoders"] = measure_decoders(args.runs)
    if args.what in ("uvicorn", "all"):
        out["uvicorn"] = measure_uvicorn(args.runs, args.idle)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
