"""POST /api/v2/sim/chassis against a running simulated coach, over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import uvicorn
from fastapi import FastAPI

from coachiq.api.problems import install_problem_handlers
from coachiq.api.v2.sim import router
from coachiq.sim.coach import SimulatedCoach
from tests.conftest import free_port, wait_for
from tests.sim.conftest import Listener


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None,
                                           access_log=False))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started or task.done(), timeout=10)
    if task.done():
        task.result()  # the server failed to start: say why
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def sim_app(sim: SimulatedCoach | None) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    if sim is not None:
        app.state.sim = sim
    return app


async def test_drive_and_park_over_http(sim: SimulatedCoach, listener: Listener) -> None:
    async with serve(sim_app(sim)) as base, httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/api/v2/sim/chassis", json={"moving": True, "park_brake": False})
        assert response.status_code == 200
        assert response.json() == {"moving": True, "park_brake": False, "speed_kph": 0.0}
        await listener.wait_for("CHASSIS_MOBILITY_STATUS", lambda v: v["vehicle_speed"] > 0, timeout=2.0)
        response = await client.post("/api/v2/sim/chassis", json={"moving": False, "park_brake": True})
        assert response.status_code == 200
        assert response.json()["park_brake"] is True
        await listener.wait_for("CHASSIS_MOBILITY_STATUS", lambda v: v["transmission_current_gear"] == "park",
                                timeout=2.0)
        bad = await client.post("/api/v2/sim/chassis", json={"moving": "fast"})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        schema = (await client.get("/openapi.json")).json()
        operation = schema["paths"]["/api/v2/sim/chassis"]["post"]
        assert set(operation["responses"]) >= {"200", "404", "422"}
        assert "application/problem+json" in operation["responses"]["422"]["content"]


async def test_not_simulated_is_404() -> None:
    async with serve(sim_app(None)) as base, httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/api/v2/sim/chassis", json={"moving": True, "park_brake": False})
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
