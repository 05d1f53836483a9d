"""The motion supervisor cannot exist without something to stop: the types of the composition force it."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

from coachiq.composition import CoreServices
from coachiq.core.metrics import Metrics
from coachiq.entities.manager import EntityManager
from coachiq.settings import Settings
from coachiq.state.manager import StateManager
from coachiq.state.supervisor import MotionActuator, MotionSupervisor


def test_the_supervisor_takes_the_state_and_the_actuator_at_construction() -> None:
    parameters = inspect.signature(MotionSupervisor).parameters
    hints = typing.get_type_hints(MotionSupervisor.__init__)
    assert list(parameters) == ["state", "actuator"]
    assert all(p.default is inspect.Parameter.empty for p in parameters.values()), "no default: both are required"
    assert hints["state"] is StateManager and hints["actuator"] is MotionActuator, "neither may be None"


def test_nothing_is_attached_after_construction() -> None:
    # The emergency stop lives on the supervisor; the state manager has no actuator to be left without.
    for name in ("attach_actuator", "actuator", "emergency_stop", "client_gone"):
        assert not hasattr(StateManager, name), name
    assert "attach_store" not in dir(CoreServices(Settings(data_dir=Path("/nonexistent")), Metrics()).alerts)


def test_the_composition_hands_the_supervisor_the_entity_manager(tmp_path: Path) -> None:
    core = CoreServices(Settings(data_dir=tmp_path), Metrics())
    assert core.motion.actuator is core.entities and isinstance(core.entities, EntityManager)
    assert core.motion.state is core.state
    assert core.motion.motions is core.entities.motions
    assert core.entities.safety is core.state
    names = [s.name for s in core.ordered()]
    assert names.index("motion") > max(names.index("entities"), names.index("state")), names
    assert names.index("motion") < names.index("realtime"), "clients that go away reach a running supervisor"
