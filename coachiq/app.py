"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from coachiq import __version__
from coachiq.api.health import router as health_router
from coachiq.api.problems import install_problem_handlers
from coachiq.api.roles import router as access_router
from coachiq.api.v2 import router as v2_router
from coachiq.api.v2.entities import UnfilteredListRoute
from coachiq.core.access import AccessGate
from coachiq.runtime import Runtime
from coachiq.web import mount_web


def create_app(runtime: Runtime) -> FastAPI:
    """Build the HTTP application around a runtime; the runtime's lifecycle is driven by the server."""
    app = FastAPI(
        title="CoachIQ",
        version=__version__,
        description="Monitor and control an RV's devices on its RV-C CAN bus.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.include_router(health_router)
    app.include_router(v2_router)
    app.include_router(access_router)
    # First, so the most frequent request skips matching the routers above (see UnfilteredListRoute).
    app.router.routes.insert(0, UnfilteredListRoute())
    if runtime.settings.simulated:
        # Driving the simulated chassis exists only in simulation: outside it the path is 404.
        from coachiq.api.v2.sim import router as sim_router

        app.include_router(sim_router)
    mount_web(app)
    if runtime.access.required:
        # Every request passes the access gate: a principal, or an open or public path (core/access.py).
        app.add_middleware(AccessGate, access=runtime.access)
    runtime.bind_app(app)
    return app
