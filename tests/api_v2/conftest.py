"""A full server in the test's event loop (core, HTTP on 127.0.0.1) with the simulated coach on its bus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from coachiq.app import create_app
from coachiq.can.interface import BusFactory, open_bus
from coachiq.features.manager import IMPLEMENTATIONS, FeatureDefinition, load_feature_config
from coachiq.runtime import Runtime
from coachiq.settings import Settings
from coachiq.sim.coach import SimulatedCoach
from tests.conftest import free_port


@dataclass
class Coach:
    """A running server and the simulated coach it controls."""

    base_url: str
    runtime: Runtime
    sim: SimulatedCoach
    http: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/api/v2/ws"


async def wait_until(condition: object, timeout: float = 5.0) -> None:
    """Poll `condition()` until it is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def serve_coach(data_dir: Path, coach: str = "class_a_diesel", features: Sequence[str] = (),
                      extra_features: Sequence[FeatureDefinition] = (),
                      implementations: Mapping[str, str] = IMPLEMENTATIONS, bus_factory: BusFactory = open_bus,
                      **settings_values: Any) -> AsyncIterator[Coach]:
    """Core services, HTTP and the simulated coach, all in this event loop; `features` are switched on,
    `extra_features` (test features, from `implementations`) added; `bus_factory` opens the CAN bus."""
    settings = Settings(data_dir=data_dir, coach=coach, flush_interval=0.2, health_interval=0.5,
                        feature_timeout=2, **settings_values)
    environ = {f"COACHIQ_FEATURE_{name.upper()}": "true" for name in features}
    definitions = [d for d in load_feature_config(environ=environ) if d.name in features]
    runtime = Runtime(settings, [*definitions, *extra_features], {**IMPLEMENTATIONS, **implementations},
                      bus_factory=bus_factory)
    app = create_app(runtime)
    await runtime.core.start()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None,
                                           access_log=False, ws="websockets-sansio"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    base_url = f"http://127.0.0.1:{port}"
    try:
        await runtime.start_features()  # starts the simulated coach: no CAN hardware is configured
        sim = runtime.simulation
        assert sim is not None, "the runtime did not start the simulated coach"
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            yield Coach(base_url, runtime, sim, http)
    finally:
        server.should_exit = True
        await task
        await runtime.stop()


@pytest.fixture
async def coach(tmp_path: Path) -> AsyncIterator[Coach]:
    """The Class A diesel coach, simulated, parked with the park brake set, and its server."""
    async with serve_coach(tmp_path / "data") as running:
        running.sim.set_chassis(moving=False, park_brake=True)
        await wait_until(lambda: running.runtime.core.state.vehicle_state() == "parked")
        yield running
