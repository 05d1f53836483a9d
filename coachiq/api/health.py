"""Health and metrics endpoints: /healthz (liveness), /readyz (readiness), /health, /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from coachiq.api.v2.deps import ServerView, runtime_of

router = APIRouter(tags=["health"])


class ComponentHealth(BaseModel):
    """Status and detail of one core service or feature."""

    status: str
    detail: str


class SystemMetrics(BaseModel):
    """Figures about the process and its database."""

    uptime_s: float
    rss_bytes: int
    cpu_percent: float
    db_size_bytes: int | None
    db_revision: str | None


class AlertOut(BaseModel):
    """An active alert."""

    priority: str
    source: str
    message: str
    raised_at: float


class HealthReport(BaseModel):
    """The unified health document."""

    status: str
    version: str
    core_services: dict[str, ComponentHealth]
    features: dict[str, ComponentHealth]
    alerts: list[AlertOut]
    system_metrics: SystemMetrics


class Probe(BaseModel):
    """Answer of the liveness and readiness probes."""

    status: str
    detail: str = ""


def _runtime(request: Request) -> ServerView:
    return runtime_of(request)


@router.get("/healthz", response_model=Probe)
async def healthz() -> dict[str, Any]:
    """Liveness: 200 while the process serves HTTP."""
    return {"status": "alive"}


@router.get("/readyz", response_model=Probe, responses={503: {"model": Probe}})
async def readyz(request: Request) -> Any:
    """Readiness: 503 until every core service (and authentication, when enabled) is up, then 200 while
    none is unhealthy."""
    runtime = _runtime(request)
    if runtime.core.ready and runtime.access.required and runtime.access.authenticator is None:
        # Every request but the probes would be refused: not ready until authentication runs.
        return JSONResponse({"status": "not_ready", "detail": "authentication is enabled but not running"},
                            status_code=503)
    if runtime.core.ready:
        return {"status": "ready"}
    waiting = [name for name, h in runtime.core.group.last_health.items() if not h.ok]
    detail = "waiting for core services: " + ", ".join(waiting) if waiting else "P1 alert: " + "; ".join(
        a.message for a in runtime.alerts.active if a.priority.value == "P1")
    return JSONResponse({"status": "not_ready", "detail": detail}, status_code=503)


@router.get("/health", response_model=HealthReport, responses={503: {"model": HealthReport}})
async def health(request: Request) -> Any:
    """Unified health: healthy, degraded (a feature failed) or unhealthy (a core service is), 503 if unhealthy."""
    report = await _runtime(request).health_report()
    return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format."""
    runtime = _runtime(request)
    await runtime.health_report()
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
