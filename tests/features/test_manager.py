"""Feature flags: validation, dependency order, overrides, and isolation of failing features."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from coachiq.core.errors import ConfigError
from coachiq.features.manager import SHIPPED_FLAGS, load_feature_config
from coachiq.settings import Settings
from tests.conftest import running_server, wait_for
from tests.features.sample_features import IMPLEMENTATIONS, LateDeviceFeature

FLAGS = """
features:
  echo: {enabled: true, depends_on: [], safety_classification: operational,
         safe_state_action: continue_operation, description: echo, settings: {word: hi}}
  crashing: {enabled: true, depends_on: [], safety_classification: position_critical,
             safe_state_action: stop_motion, description: crashes}
  hanging: {enabled: true, depends_on: [echo], safety_classification: maintenance,
            safe_state_action: continue_operation, description: hangs}
  after_crash: {enabled: true, depends_on: [crashing], safety_classification: operational,
                safe_state_action: continue_operation, description: depends on the crashing one}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_shipped_flags_list_every_optional_feature() -> None:
    names = {d.name for d in load_feature_config(environ={})}
    assert names == {"authentication", "notifications", "api_docs", "j1939", "firefly", "spartan_k2",
                     "diagnostics", "analytics", "predictive_maintenance", "monitoring", "mqtt", "can_tools"}


def test_dependency_order(tmp_path: Path) -> None:
    flags = write(tmp_path / "flags.yaml", FLAGS)
    order = [d.name for d in load_feature_config(environ={}, shipped=flags, implementations=IMPLEMENTATIONS)]
    assert order.index("echo") < order.index("hanging")
    assert order.index("crashing") < order.index("after_crash")


def test_cycle_is_printed(tmp_path: Path) -> None:
    flags = write(tmp_path / "flags.yaml", """
features:
  echo: {enabled: true, depends_on: [hanging]}
  hanging: {enabled: true, depends_on: [crashing]}
  crashing: {enabled: true, depends_on: [echo]}
""")
    with pytest.raises(ConfigError) as caught:
        load_feature_config(environ={}, shipped=flags, implementations=IMPLEMENTATIONS)
    assert "dependency cycle: crashing -> echo -> hanging -> crashing" in str(caught.value)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    flags = write(tmp_path / "flags.yaml", """
features:
  echo: {enabled: maybe, colour: blue}
  hanging: {enabled: true, depends_on: [nowhere]}
  crashing: {enabled: true, depends_on: [after_crash]}
  after_crash: {enabled: false}
  persistence: {enabled: false}
""")
    with pytest.raises(ConfigError) as caught:
        load_feature_config(environ={"COACHIQ_FEATURE_NOPE": "true"}, shipped=flags,
                            implementations=IMPLEMENTATIONS)
    text = str(caught.value)
    assert "flags.yaml:3: feature 'echo' has unknown key 'colour'" in text
    assert "'echo.enabled' must be true or false" in text
    assert "'hanging' depends on 'nowhere', which does not exist" in text
    assert "'crashing' is enabled but depends on 'after_crash', which is disabled" in text
    assert "'persistence' is a core service" in text
    assert "COACHIQ_FEATURE_NOPE: unknown feature 'nope'" in text


def test_unavailable_feature_cannot_be_enabled() -> None:
    with pytest.raises(ConfigError, match="'notifications' is not available in this version"):
        load_feature_config(environ={"COACHIQ_FEATURE_NOTIFICATIONS": "true"})


def test_user_file_and_environment_override(tmp_path: Path) -> None:
    user = write(tmp_path / "user.yaml", "features:\n  api_docs: {enabled: false}\n")
    features = {d.name: d for d in load_feature_config(user, environ={})}
    assert not features["api_docs"].enabled
    features = {d.name: d for d in load_feature_config(user, environ={"COACHIQ_FEATURE_API_DOCS": "true"})}
    assert features["api_docs"].enabled
    with pytest.raises(ConfigError, match="use true or false"):
        load_feature_config(environ={"COACHIQ_FEATURE_API_DOCS": "sometimes"})
    # The server's own settings that begin the same way are not features.
    load_feature_config(environ={"COACHIQ_FEATURE_TIMEOUT": "10", "COACHIQ_FEATURE_RETRY_S": "2",
                                 "COACHIQ_FEATURES_FILE": str(user)})


def test_user_file_cannot_disable_core_or_change_dependencies(tmp_path: Path) -> None:
    user = write(tmp_path / "user.yaml", "features:\n  database: {enabled: false}\n  api_docs: {depends_on: []}\n")
    with pytest.raises(ConfigError) as caught:
        load_feature_config(user, environ={})
    assert "'database' is a core service" in str(caught.value)
    assert "'api_docs.depends_on' cannot be set in a user file" in str(caught.value)


def test_shipped_flags_file_is_valid() -> None:
    assert SHIPPED_FLAGS.is_file()


async def test_failing_features_are_isolated(tmp_path: Path, settings: Settings) -> None:
    flags = write(tmp_path / "flags.yaml", FLAGS)
    definitions = load_feature_config(environ={}, shipped=flags, implementations=IMPLEMENTATIONS)
    async with running_server(settings, definitions, IMPLEMENTATIONS) as (url, _runtime), \
            httpx.AsyncClient(base_url=url) as client:
        health = (await client.get("/health")).json()
        assert health["status"] == "degraded"
        features = health["features"]
        assert features["echo"]["status"] == "running"
        assert features["crashing"]["status"] == "failed"
        assert "deliberate crash" in features["crashing"]["detail"]
        assert features["hanging"]["status"] == "failed"
        assert "did not start within 2 s" in features["hanging"]["detail"]
        assert features["after_crash"]["status"] == "skipped"
        assert "crashing" in features["after_crash"]["detail"]
        assert all(s["status"] == "healthy" for s in health["core_services"].values())
        # The core and the working feature keep serving; the crashed feature's routes are gone.
        assert (await client.get("/echo")).json() == {"word": "hi"}
        assert (await client.get("/crashing")).status_code == 404
        assert (await client.get("/readyz")).status_code == 200
        priorities = {a["source"]: a["priority"] for a in health["alerts"]}
        assert priorities == {"crashing": "P2", "hanging": "P3"}
        metrics = (await client.get("/metrics")).text
        assert 'coachiq_feature_up{feature="echo"} 1.0' in metrics
        assert 'coachiq_feature_up{feature="crashing"} 0.0' in metrics


LATE_FLAGS = """
features:
  late: {{enabled: true, depends_on: [], safety_classification: operational,
         safe_state_action: continue_operation, description: starts late, settings: {{device: "{device}"}}}}
  after_late: {{enabled: true, depends_on: [late], safety_classification: operational,
               safe_state_action: continue_operation, description: waits for the late one}}
"""


async def test_a_feature_that_failed_to_start_is_tried_again_and_its_dependents_follow(
        tmp_path: Path, settings: Settings) -> None:
    device = tmp_path / "adapter"
    flags = write(tmp_path / "flags.yaml", LATE_FLAGS.format(device=device))
    definitions = load_feature_config(environ={}, shipped=flags, implementations=IMPLEMENTATIONS)
    settings = settings.model_copy(update={"feature_retry_s": 0.2})
    async with running_server(settings, definitions, IMPLEMENTATIONS) as (url, runtime), \
            httpx.AsyncClient(base_url=url) as client:
        health = (await client.get("/health")).json()
        assert health["features"]["late"]["status"] == "failed"
        assert "no device at" in health["features"]["late"]["detail"]
        assert "next try in 0.2 s" in health["features"]["late"]["detail"]
        assert health["features"]["after_late"]["status"] == "skipped"
        assert [a["source"] for a in health["alerts"]] == ["late"]
        # Still missing: tried again and again, at doubling intervals.
        await wait_for(lambda: runtime.features is not None and runtime.features.features["late"].failures >= 3)
        assert "next try in 0.8 s" in runtime.features.features["late"].detail \
            or "next try in 1.6 s" in runtime.features.features["late"].detail
        assert LateDeviceFeature.stops >= 3  # each failed start was told to stop what it began
        device.touch()  # the adapter is plugged in
        await wait_for(lambda: runtime.features is not None
                       and runtime.features.features["after_late"].status == "running", timeout=10)
        health = (await client.get("/health")).json()
        assert health["status"] == "healthy"
        assert health["features"]["late"]["status"] == "running"
        assert health["alerts"] == []
        assert (await client.get("/late")).json() == {"device": "found"}
