"""Health, readiness and metrics through a real server process on 127.0.0.1."""

from __future__ import annotations

import signal
import time

import httpx

from coachiq.db.manager import Revisions
from tests.conftest import ServerProcess, start_server


def test_health_endpoints(server_process: ServerProcess) -> None:
    base = server_process.base_url
    assert httpx.get(base + "/healthz").json()["status"] == "alive"
    assert httpx.get(base + "/readyz").status_code == 200
    response = httpx.get(base + "/health")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "healthy"
    assert set(report["core_services"]) >= {"database", "persistence", "can"}
    assert report["features"]["api_docs"]["status"] == "running"
    assert report["features"]["notifications"]["status"] == "unavailable"
    system = report["system_metrics"]
    assert system["db_revision"] == Revisions.scan().head and system["db_size_bytes"] > 0 and system["rss_bytes"] > 0
    metrics = httpx.get(base + "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'coachiq_core_service_up{service="database"} 1.0' in metrics.text
    assert "coachiq_ws_clients 0.0" in metrics.text and "coachiq_ws_updates_held_total" in metrics.text
    assert httpx.get(base + "/docs").status_code == 200
    assert httpx.get(base + "/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert httpx.get(base + "/openapi.json").json()["info"]["title"] == "CoachIQ"


def test_errors_are_problem_details(server_process: ServerProcess) -> None:
    response = httpx.get(server_process.base_url + "/no/such/path")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_docs_absent_when_api_docs_disabled(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = start_server(tmp_path, env={"COACHIQ_FEATURE_API_DOCS": "false"})
    try:
        assert httpx.get(server.base_url + "/docs").status_code == 404
        assert httpx.get(server.base_url + "/openapi.json").status_code == 200
    finally:
        assert server.stop() == 0


def test_sigterm_stops_within_five_seconds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = start_server(tmp_path)
    began = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - began < 5
    log = (tmp_path / "logs" / "coachiq.log").read_text()
    assert log.index("core service can stopped") < log.index("core service persistence stopped") \
        < log.index("core service database stopped")


def test_the_date_header_follows_the_clock(server_process: ServerProcess) -> None:
    # The HTTP server refreshes it on the shared one-second tick rather than in its own loop.
    first = httpx.get(server_process.base_url + "/healthz").headers["date"]
    deadline = time.monotonic() + 3.0  # the header has one-second resolution: it must change within two ticks
    while httpx.get(server_process.base_url + "/healthz").headers["date"] == first:
        assert time.monotonic() < deadline, "the Date header did not follow the clock"
        time.sleep(0.05)
