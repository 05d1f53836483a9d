"""Start-up time and memory of the server on the simulated coach.

Each run takes a fresh data folder: the first start creates the database and the DGN database cache
(ready_first_s), and the server's RSS is read `IDLE_S` after it answered ready (rss_first_start_mib: what an
owner's Pi holds after installing and starting). Then the same folder is started again (ready_s: the
usual start of a coach, database at head). Figures are the median, min and max of RUNS runs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from coachiq.bench.common import rss_mib, spread, start_server, stop

IDLE_S = 10.0
RUNS = 5


def startup_run(idle_s: float = IDLE_S) -> dict[str, float]:
    """One fresh data folder: first start, its RSS after `idle_s`, then a second start."""
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-") as folder:
        data_dir = Path(folder)
        process, _base, first = start_server(data_dir)
        try:
            time.sleep(idle_s)
            rss = rss_mib(process.pid)
        finally:
            stop(process)
        process, _base, ready = start_server(data_dir)
        stop(process)
    return {"ready_first_s": first, "rss_first_start_mib": rss, "ready_s": ready}


def bench_startup(runs: int = RUNS, idle_s: float = IDLE_S) -> dict[str, Any]:
    """Start-up figures over `runs` fresh data folders."""
    results = [startup_run(idle_s) for _ in range(runs)]
    return {"ready_s": spread([r["ready_s"] for r in results]),
            "ready_first_s": spread([r["ready_first_s"] for r in results]),
            "rss_first_start_mib": spread([r["rss_first_start_mib"] for r in results], 1),
            "rss_after_s": idle_s, "startup_runs": runs}
