"""Figures of the authentication feature for `coachiq bench`.

- signin_verify_ms: one Argon2id verify of a right password (the cost of a sign-in), median/min/max.
- auth_request_overhead_p99_ms: p99 latency of GET /api/v2/safety with a session cookie on a server
  with authentication on, minus the p99 of the same request on a server with it off. The servers run
  at once and the requests rotate between them, so that the machine's load hits each alike; several
  runs, median with min and max. auth_noise_p99_ms is the same comparison between two servers with
  authentication off: differences smaller than it are not resolved by this machine.
- auth_gate_us: the access gate's own work per request (header scan, SHA-256, look-up), in process;
  median, min and max of RUNS rounds.
- rss_auth_mib: resident memory of the server with authentication on after each run above, median,
  min and max (rss_auth_off_mib: the server with it off, at the same moments).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from coachiq.bench.common import rss_mib, spread, start_server, stop

RUNS = 5
REQUESTS_PER_RUN = 1000
PASSWORD = "bench-password-0123"


def bench_verify(runs: int = 9) -> dict[str, Any]:
    """Time Argon2id verifies of the right password with the shipped parameters."""
    from coachiq.features.authentication import passwords

    stored = passwords.hash_password(PASSWORD)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        assert passwords.verify_password(stored, PASSWORD)
        times.append((time.perf_counter() - began) * 1000)
    return {"signin_verify_ms": spread(times, 1),
            "argon2id": {"time_cost": passwords.TIME_COST, "memory_kib": passwords.MEMORY_COST_KIB,
                         "parallelism": passwords.PARALLELISM}}


def bench_gate(rounds: int = 50_000) -> dict[str, Any]:
    """The gate's per-request work, in process: authenticate a request with a session cookie."""
    from coachiq.core.access import Principal, Role
    from coachiq.features.authentication.credentials import SESSION_COOKIE, Credentials

    async def no_reload() -> None:
        return None

    credentials = Credentials({"/"}, no_reload)
    session = "s" * 43
    from coachiq.features.authentication.store import digest

    credentials.add_session(digest(session), Principal("session", "bench", Role.OPERATOR, 1), time.time() + 3600)
    scope = {"type": "http", "method": "GET", "path": "/api/v2/safety", "headers": [
        (b"host", b"127.0.0.1:8080"), (b"user-agent", b"Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile"),
        (b"accept", b"*/*"), (b"accept-encoding", b"gzip, deflate"), (b"accept-language", b"en-US,en;q=0.9"),
        (b"cookie", f"theme=dark; {SESSION_COOKIE}={session}".encode())]}
    found = []
    for _ in range(RUNS):
        began = time.perf_counter()
        for _ in range(rounds):
            credentials.authenticate(scope)
        found.append((time.perf_counter() - began) / rounds * 1e6)
    return {"auth_gate_us": spread(found, 2)}


def _start(data_dir: Path, authentication: bool) -> tuple[subprocess.Popen[bytes], int]:
    process, base, _ready = start_server(data_dir, {"COACHIQ_FEATURE_AUTHENTICATION": str(authentication).lower()})
    return process, int(base.rsplit(":", 1)[1])


def _sign_in(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/api/v2/auth/sign-in", json.dumps({"name": "bench", "password": PASSWORD}),
                       {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"})
    response = connection.getresponse()
    response.read()
    cookie = response.getheader("set-cookie") or ""
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"sign-in for the benchmark failed with {response.status}")
    return cookie.split(";")[0]


def _timed_get(connection: http.client.HTTPConnection, headers: dict[str, str]) -> float:
    began = time.perf_counter()
    connection.request("GET", "/api/v2/safety", headers=headers)
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - began
    if response.status != 200:
        raise RuntimeError(f"GET /api/v2/safety answered {response.status} during the benchmark")
    return elapsed * 1000


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def bench_overhead() -> dict[str, Any]:
    """Three servers: authentication off (twice) and on. Each round sends the same request to each, in
    a rotating order. The second server with authentication off measures the noise of the comparison
    itself (`auth_noise_p99_ms`: the same figure between two identical servers)."""
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-auth-") as folder:
        on_dir = Path(folder) / "on"
        env = {k: v for k, v in os.environ.items() if not k.startswith("COACHIQ_")}
        env["COACHIQ_DATA_DIR"] = str(on_dir)
        subprocess.run([sys.executable, "-m", "coachiq.cli", "user", "add", "bench", "--role", "operator",
                        "--password-stdin"], input=(PASSWORD + "\n").encode(), env=env, check=True,
                       stdout=subprocess.DEVNULL)
        for off_dir in (Path(folder) / "off", Path(folder) / "off2"):
            # Every database exists before its server starts: the figures compare usual starts.
            subprocess.run([sys.executable, "-m", "coachiq.cli", "db", "upgrade"], check=True,
                           stdout=subprocess.DEVNULL, env={**env, "COACHIQ_DATA_DIR": str(off_dir)})
        servers: list[tuple[subprocess.Popen[bytes], int]] = []
        try:
            for data_dir, authentication in ((Path(folder) / "off", False), (Path(folder) / "off2", False),
                                             (on_dir, True)):
                servers.append(_start(data_dir, authentication))
            headers: list[dict[str, str]] = [{}, {}, {"Cookie": _sign_in(servers[2][1])}]
            p99s: list[list[float]] = [[], [], []]
            medians: list[list[float]] = [[], [], []]
            rss_off: list[float] = []
            rss_on: list[float] = []
            for _ in range(RUNS):
                connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _, port in servers]
                for _ in range(50):  # warm the connections and the servers' caches
                    for k in range(3):
                        _timed_get(connections[k], headers[k])
                times: list[list[float]] = [[], [], []]
                for i in range(REQUESTS_PER_RUN):
                    for k in (i % 3, (i + 1) % 3, (i + 2) % 3):
                        times[k].append(_timed_get(connections[k], headers[k]))
                for k in range(3):
                    connections[k].close()
                    p99s[k].append(_p99(times[k]))
                    medians[k].append(statistics.median(times[k]))
                rss_off.append(rss_mib(servers[0][0].pid))
                rss_on.append(rss_mib(servers[2][0].pid))
        finally:
            for process, _port in servers:
                stop(process)
    off, off2, on = p99s
    return {"auth_request_overhead_p99_ms": spread([b - a for a, b in zip(off, on, strict=True)]),
            "auth_noise_p99_ms": spread([b - a for a, b in zip(off, off2, strict=True)]),
            "auth_request_overhead_median_ms": spread([b - a for a, b in zip(medians[0], medians[2], strict=True)]),
            "auth_off_p99_ms": spread(off), "auth_on_p99_ms": spread(on),
            "rss_auth_mib": spread(rss_on, 1), "rss_auth_off_mib": spread(rss_off, 1)}


def bench_authentication() -> dict[str, Any]:
    """Every authentication figure."""
    figures: dict[str, Any] = {}
    figures.update(bench_verify())
    figures.update(bench_gate())
    figures.update(bench_overhead())
    return figures
