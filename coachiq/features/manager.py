"""The feature manager: reads feature_flags.yaml and its overrides, then runs enabled features.

The files' schema is the pydantic models of flags.py.

Configuration problems (unknown features or keys, bad values, dependency cycles, an enabled feature
whose dependency is off) are all collected and reported together before anything starts. At run
time each feature is isolated: one that raises or hangs is marked failed, its dependents are skipped,
an alert is raised at the feature's priority, and the core and the other features keep running.

A feature that failed to start is tried again, first after `retry_s` and then at doubling intervals up to
RETRY_MAX_S (an adapter plugged in late, a broker that comes up later); once it runs, its alert is
cleared and the features that waited for it start. Settings it cannot be built with are not retried.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ValidationError

from coachiq.core.access import AccessControl
from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.errors import ConfigError
from coachiq.core.metrics import Metrics
from coachiq.core.service import Health, Status
from coachiq.core.tasks import cancel_all
from coachiq.core.yamlfile import LocatedYaml, YamlFileError, load_located
from coachiq.features.base import Feature, FeatureContext, SafeStateAction, SafetyClass
from coachiq.features.flags import core_service_problem, parse_shipped, parse_user
from coachiq.settings import CORE_SERVICE_ALIASES, Settings

log = logging.getLogger(__name__)

SHIPPED_FLAGS = Path(__file__).with_name("feature_flags.yaml")

# The features whose code exists, by name: "module:Class". A feature listed in feature_flags.yaml
# but not here is unavailable and cannot be enabled.
IMPLEMENTATIONS: Mapping[str, str] = {
    "api_docs": "coachiq.features.api_docs:ApiDocsFeature",
    "mqtt": "coachiq.features.mqtt:MqttFeature",
    "authentication": "coachiq.features.authentication:AuthenticationFeature",
    "j1939": "coachiq.features.j1939:J1939Feature",
    "spartan_k2": "coachiq.features.spartan_k2:SpartanK2Feature",
    "diagnostics": "coachiq.features.diagnostics:DiagnosticsFeature",
    "firefly": "coachiq.features.firefly:FireflyFeature",
    "can_tools": "coachiq.features.can_tools:CanToolsFeature",
}

RETRY_MAX_S = 300.0  # the longest wait between two tries of a feature that fails to start

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


@dataclass
class FeatureDefinition:
    """One feature as configured."""

    name: str
    enabled: bool
    depends_on: list[str]
    safety: SafetyClass
    safe_state_action: SafeStateAction
    description: str
    settings: dict[str, Any]
    available: bool

    @property
    def alert_priority(self) -> Priority:
        """P2 for features that matter to safety, P3 for the rest."""
        serious = {SafetyClass.CRITICAL, SafetyClass.SAFETY_RELATED, SafetyClass.POSITION_CRITICAL}
        return Priority.P2 if self.safety in serious else Priority.P3


def _definitions(doc: LocatedYaml, implementations: Mapping[str, str],
                 problems: list[str]) -> dict[str, FeatureDefinition]:
    return {name: FeatureDefinition(name, entry.enabled, list(entry.depends_on), entry.safety_classification,
                                    entry.safe_state_action, entry.description, dict(entry.settings or {}),
                                    name in implementations)
            for name, entry in parse_shipped(doc, problems).items()}


def _apply_user_file(doc: LocatedYaml, features: dict[str, FeatureDefinition], problems: list[str]) -> None:
    for name, override in parse_user(doc, set(features), problems).items():
        if override.enabled is not None:
            features[name].enabled = override.enabled
        if override.settings:
            features[name].settings.update(override.settings)


_SETTINGS_VARIABLES = frozenset(f"COACHIQ_{name.upper()}" for name in Settings.model_fields)


def _apply_environment(environ: Mapping[str, str], features: dict[str, FeatureDefinition],
                       problems: list[str]) -> None:
    for variable, raw in sorted(environ.items()):
        if not variable.upper().startswith("COACHIQ_FEATURE_") or variable.upper() in _SETTINGS_VARIABLES:
            continue  # COACHIQ_FEATURES_FILE, COACHIQ_FEATURE_TIMEOUT...: the server's own settings
        name = variable[len("COACHIQ_FEATURE_"):].lower()
        if name in CORE_SERVICE_ALIASES:
            problems.append(core_service_problem(name, f"environment variable {variable}"))
            continue
        if name not in features:
            problems.append(f"environment variable {variable}: unknown feature '{name}' "
                            f"(known: {', '.join(sorted(features))})")
            continue
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            features[name].enabled = True
        elif word in FALSE_WORDS:
            features[name].enabled = False
        else:
            problems.append(f"environment variable {variable}={raw!r}: use true or false")


def _find_cycle(features: Mapping[str, FeatureDefinition]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in features[name].depends_on:
            if dep not in features:
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(features):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def dependency_order(features: Mapping[str, FeatureDefinition]) -> list[str]:
    """Feature names with every dependency before its dependents (ties by name). Assumes no cycle."""
    ordered: list[str] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed:
            return
        for dep in sorted(features[name].depends_on):
            if dep in features:
                place(dep)
        placed.add(name)
        ordered.append(name)

    for name in sorted(features):
        place(name)
    return ordered


def load_class(target: str) -> type[Any]:
    """Import "module:Class"."""
    module_name, _, attr = target.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module_name), attr)
    return cls


def load_feature_config(user_file: Path | None = None, environ: Mapping[str, str] | None = None,
                        shipped: Path = SHIPPED_FLAGS,
                        implementations: Mapping[str, str] = IMPLEMENTATIONS) -> list[FeatureDefinition]:
    """Read the shipped flags, the user file and COACHIQ_FEATURE_* variables; validate everything.

    Returns the definitions in dependency order. Raises ConfigError listing every problem.
    """
    environ = os.environ if environ is None else environ
    if user_file is None and environ.get("COACHIQ_FEATURES_FILE"):
        user_file = Path(environ["COACHIQ_FEATURES_FILE"])
    problems: list[str] = []
    try:
        features = _definitions(load_located(shipped), implementations, problems)
    except YamlFileError as exc:
        raise ConfigError([str(exc)], source="feature flags") from exc
    if user_file is not None:
        try:
            _apply_user_file(load_located(user_file), features, problems)
        except YamlFileError as exc:
            problems.append(str(exc))
    _apply_environment(environ, features, problems)

    for name, feature in sorted(features.items()):
        for dep in feature.depends_on:
            if dep not in features:
                problems.append(f"feature '{name}' depends on '{dep}', which does not exist")
            elif feature.enabled and not features[dep].enabled:
                problems.append(f"feature '{name}' is enabled but depends on '{dep}', which is disabled "
                                f"— enable '{dep}' or disable '{name}'")
        if feature.enabled and not feature.available:
            problems.append(f"feature '{name}' is not available in this version of CoachIQ and cannot be "
                            "enabled — set it to enabled: false")
        if feature.enabled and feature.available:
            try:
                cls = load_class(implementations[name])
                cls.settings_model(**feature.settings)
            except ValidationError as exc:
                for item in exc.errors():
                    key = ".".join(str(p) for p in item["loc"])
                    problems.append(f"feature '{name}' setting '{key}': {item['msg']}")
            except (ImportError, AttributeError) as exc:
                problems.append(f"feature '{name}' cannot be loaded: {exc}")
    cycle = _find_cycle(features)
    if cycle:
        problems.append(f"dependency cycle: {' -> '.join(cycle)}")
    if problems:
        raise ConfigError(problems, source="feature flags")
    return [features[name] for name in dependency_order(features)]


@dataclass
class FeatureRuntime:
    """A feature's run-time state."""

    definition: FeatureDefinition
    status: str = "disabled"
    detail: str = ""
    instance: Feature | None = None
    context: FeatureContext | None = None
    start_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    failures: int = 0  # failed starts in a row
    retry_at: float | None = None  # monotonic time of the next try; None: not to be retried


class FeatureManager:
    """Starts enabled features in dependency order, isolates their failures, stops them in reverse."""

    def __init__(self, definitions: list[FeatureDefinition], core: Any,
                 add_router: Callable[[APIRouter], Callable[[], None]], alerts: AlertManager, metrics: Metrics,
                 timeout: float = 30.0, implementations: Mapping[str, str] = IMPLEMENTATIONS,
                 access: AccessControl | None = None, retry_s: float = 5.0) -> None:
        """`retry_s`: the wait before the first new try of a feature that failed to start."""
        self.core = core
        self.retry_s = retry_s
        self._retry_task: asyncio.Task[None] | None = None
        self._failed = asyncio.Event()
        self.access = access
        self._add_router = add_router
        self.alerts = alerts
        self.metrics = metrics
        self.timeout = timeout
        self.implementations = implementations
        self.features: dict[str, FeatureRuntime] = {}
        for definition in definitions:
            status = "pending" if definition.enabled else ("disabled" if definition.available else "unavailable")
            self.features[definition.name] = FeatureRuntime(definition, status)

    async def start_all(self) -> None:
        """Start every enabled feature in dependency order; failures are isolated and retried."""
        await self._start_ready(("pending",))
        self._retry_task = asyncio.create_task(self._retry_loop(), name="feature-retry")

    async def _start_ready(self, statuses: tuple[str, ...]) -> None:
        """Start, in dependency order, the features in one of `statuses` whose dependencies run."""
        for runtime in self.features.values():
            if runtime.status not in statuses:
                continue
            blocked = [d for d in runtime.definition.depends_on if self.features[d].status != "running"]
            if blocked:
                self._mark(runtime, "skipped", f"not started because {', '.join(blocked)} is not running")
                continue
            await self._start_one(runtime)

    async def _start_one(self, runtime: FeatureRuntime) -> None:
        definition = runtime.definition
        began = time.perf_counter()
        try:
            cls = load_class(self.implementations[definition.name])
            instance: Feature = cls()
            settings: BaseModel = cls.settings_model(**definition.settings)
        except Exception as exc:  # nothing a later try would change
            log.exception("feature %s cannot be set up", definition.name)
            self._fail(runtime, f"cannot be set up: {type(exc).__name__}: {exc}", retry=False)
            return
        runtime.instance = instance
        runtime.context = FeatureContext(self.core, settings, self._add_router, access=self.access)
        try:
            async with asyncio.timeout(self.timeout):
                await instance.start(runtime.context)
        except asyncio.CancelledError:  # the server stops while the feature starts
            runtime.context.release()
            raise
        except TimeoutError:
            await self._undo(runtime)
            self._fail(runtime, f"did not start within {self.timeout:g} s")
            return
        except Exception as exc:
            log.exception("feature %s failed to start", definition.name)
            await self._undo(runtime)
            self._fail(runtime, f"failed to start: {type(exc).__name__}: {exc}")
            return
        runtime.start_ms = (time.perf_counter() - began) * 1000
        runtime.failures, runtime.retry_at = 0, None
        self.alerts.clear(f"feature:{definition.name}")
        self._mark(runtime, "running", f"started in {runtime.start_ms:.0f} ms")
        log.info("feature %s started in %.0f ms", definition.name, runtime.start_ms)

    @staticmethod
    async def _stop(runtime: FeatureRuntime, when: str = "") -> None:
        """Ask the feature to stop within 5 s; a failure is only logged."""
        if runtime.instance is None:
            return
        try:
            async with asyncio.timeout(5.0):
                await runtime.instance.stop()
        except Exception:
            log.exception("feature %s failed to stop%s", runtime.definition.name, when)

    async def _undo(self, runtime: FeatureRuntime) -> None:
        """Let a feature whose start failed end what it had begun."""
        await self._stop(runtime, " after its failed start")

    def _fail(self, runtime: FeatureRuntime, detail: str, retry: bool = True) -> None:
        if runtime.context is not None:
            runtime.context.release()
        runtime.failures += 1
        if retry:
            wait = min(self.retry_s * 2 ** (runtime.failures - 1), RETRY_MAX_S)
            runtime.retry_at = time.monotonic() + wait
            detail = f"{detail}; next try in {wait:g} s"
            self._failed.set()
        else:
            runtime.retry_at = None
        self._mark(runtime, "failed", detail)
        definition = runtime.definition
        self.alerts.raise_alert(f"feature:{definition.name}", definition.alert_priority, definition.name,
                                f"feature '{definition.name}' {detail}")

    async def _retry_loop(self) -> None:
        """Try failed features again when their time comes; start what waited for them once they run."""
        while True:
            due = [r.retry_at for r in self.features.values() if r.status == "failed" and r.retry_at is not None]
            if not due:
                self._failed.clear()
                await self._failed.wait()
                continue
            await asyncio.sleep(max(0.0, min(due) - time.monotonic()))
            now = time.monotonic()
            for runtime in self.features.values():
                if runtime.status == "failed" and runtime.retry_at is not None and runtime.retry_at <= now:
                    log.info("feature %s: trying to start it again", runtime.definition.name)
                    await self._start_one(runtime)
            await self._start_ready(("skipped",))

    def _mark(self, runtime: FeatureRuntime, status: str, detail: str) -> None:
        runtime.status = status
        runtime.detail = detail
        if runtime.definition.enabled:
            self.metrics.feature_up.labels(feature=runtime.definition.name).set(1 if status == "running" else 0)
        if status == "skipped":
            log.warning("feature %s %s", runtime.definition.name, detail)

    async def stop_all(self) -> None:
        """Stop trying failed features, then stop running features in reverse dependency order."""
        if self._retry_task is not None:
            await cancel_all([self._retry_task])
            self._retry_task = None
        for runtime in reversed(list(self.features.values())):
            if runtime.status != "running" or runtime.instance is None:
                continue
            await self._stop(runtime)
            if runtime.context is not None:
                runtime.context.release()
            self._mark(runtime, "stopped", "stopped")

    def health(self) -> dict[str, dict[str, str]]:
        """Every feature's status and detail; a running feature is asked for its own health."""
        report = {}
        for name, runtime in self.features.items():
            status, detail = runtime.status, runtime.detail
            if status == "running" and runtime.instance is not None:
                try:
                    health = runtime.instance.health()
                except Exception as exc:
                    health = Health(Status.UNHEALTHY, f"health check failed: {exc}")
                status = "running" if health.ok else "unhealthy"
                detail = health.detail or detail
                self.metrics.feature_up.labels(feature=name).set(1 if health.ok else 0)
            report[name] = {"status": status, "detail": detail}
        return report

    @property
    def degraded(self) -> bool:
        """True when an enabled feature is not running (failed, skipped, or unhealthy)."""
        return any(r.definition.enabled and r.status not in ("running", "pending", "stopped")
                   for r in self.features.values())
