"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from coachiq import __version__
from coachiq.api.health import router as health_router
from coachiq.api.openapi import install_openapi
from coachiq.api.problems import install_problem_handlers
from coachiq.api.roles import router as access_router
from coachiq.api.security import AccessPolicy, SecurityMiddleware
from coachiq.api.v2 import entities
from coachiq.api.v2 import router as v2_router
from coachiq.api.v2.deps import ServerView
from coachiq.api.v2.service import GZIP_LEVEL, GZIP_MINIMUM_SIZE
from coachiq.core.access import AccessGate, missing_origin_policy
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
    server: ServerView = runtime  # the routes' view of the runtime (mypy checks that it fits)
    app.state.runtime = server
    settings = runtime.settings
    if runtime.access.required:
        # Inside the security checks (added later, so outside): every request that passed them passes
        # the access gate, which finds its principal or refuses it (core/access.py).
        app.add_middleware(AccessGate, access=runtime.access)
    app.add_middleware(SecurityMiddleware, policy=AccessPolicy.for_server(
        settings.host, settings.allowed_hosts, settings.allowed_origins),
        missing_origin=missing_origin_policy(runtime.access))
    # Outermost: JSON answers (entity lists, history, diagnostics) are compressed for a client that asks
    # for it; the page's own files arrive already compressed and pass through as they are.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_SIZE, compresslevel=GZIP_LEVEL)
    # A path with a trailing slash is not redirected: that redirect's Location is built from the Host header.
    app.router.redirect_slashes = False
    install_problem_handlers(app)
    install_openapi(app, entities.DOCUMENTED_MODELS)
    app.include_router(health_router)
    app.include_router(v2_router)
    app.include_router(access_router)
    if runtime.settings.simulated:
        # Driving the simulated chassis exists only in simulation: outside it the path is 404.
        from coachiq.api.v2.sim import router as sim_router

        app.include_router(sim_router)
    mount_web(app)
    runtime.bind_app(app)
    return app
