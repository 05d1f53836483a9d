"""Start-up time and idle memory of the server on the simulated coach."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from coachiq.bench.common import rss_mib, start_server, stop

IDLE_S = 10.0


def bench_startup() -> dict[str, Any]:
    """Start the server twice on a fresh data folder: first start, then a normal start; then idle."""
    with tempfile.TemporaryDirectory(prefix="coachiq-bench-") as folder:
        data_dir = Path(folder)
        process, _base, first = start_server(data_dir)
        stop(process)
        process, _base, ready = start_server(data_dir)
        try:
            time.sleep(IDLE_S)
            rss = rss_mib(process.pid)
        finally:
            stop(process)
    return {"ready_s": round(ready, 3), "ready_first_s": round(first, 3), "rss_mib": rss}
