"""A diagnostics feature that crashes, at start or on every frame, leaves the core and the coach running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from coachiq.features.base import FeatureContext
from coachiq.features.diagnostics import DiagnosticsFeature
from coachiq.features.manager import IMPLEMENTATIONS, load_feature_config
from coachiq.rvc.receive import RvcFrame
from coachiq.settings import Settings
from tests.api_v2.conftest import wait_until
from tests.conftest import running_server


class CrashingOnFrames(DiagnosticsFeature):
    """A bug in the frame handler: every frame it sees raises."""

    def _on_frame(self, frame: RvcFrame) -> None:
        raise RuntimeError("deliberate bug in the DM_RV handler")


class CrashingAtStart(DiagnosticsFeature):
    """Start fails before anything runs."""

    async def start(self, ctx: FeatureContext) -> None:
        raise RuntimeError("deliberate start failure")


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", flush_interval=0.2, health_interval=0.5, feature_timeout=2)


def _features(target: str) -> tuple[Any, dict[str, str]]:
    implementations = {**IMPLEMENTATIONS, "diagnostics": f"{__name__}:{target}"}
    features = load_feature_config(environ={"COACHIQ_FEATURE_DIAGNOSTICS": "true"}, implementations=implementations)
    return features, implementations


async def test_a_handler_that_raises_on_every_frame_does_not_stop_entities(tmp_path: Path) -> None:
    features, implementations = _features("CrashingOnFrames")
    async with running_server(_settings(tmp_path), features, implementations) as (base_url, runtime):
        sim = runtime.simulation
        assert sim is not None
        sim.set_fault("slide.living_room", 300, 5, True)
        errors_before = runtime.core.events.handler_errors
        await wait_until(lambda: runtime.core.events.handler_errors > errors_before + 5)
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            answer = await http.post("/api/v2/entities/light.bathroom_ceiling/commands",
                                     json={"command": "set_brightness", "brightness": 30})
            assert answer.status_code == 200, answer.text
            assert answer.json()["state"]["brightness"] == 30
            health = (await http.get("/health")).json()
        assert all(s["status"] == "healthy" for s in health["core_services"].values()), health["core_services"]


async def test_a_feature_that_fails_to_start_is_failed_alone(tmp_path: Path) -> None:
    features, implementations = _features("CrashingAtStart")
    async with running_server(_settings(tmp_path), features, implementations) as (base_url, runtime):
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            health = (await http.get("/health")).json()
            assert health["features"]["diagnostics"]["status"] == "failed"
            assert health["status"] == "degraded"
            assert all(s["status"] == "healthy" for s in health["core_services"].values())
            assert any(a["source"] == "diagnostics" and a["priority"] == "P3" for a in health["alerts"])
            assert (await http.get("/api/v2/diagnostics")).status_code == 404
            assert (await http.get("/readyz")).status_code == 200
        assert runtime.core.ready
