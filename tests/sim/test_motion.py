"""Awning and shades, without a bus (motor pairs are tested on the bus in test_coach.py)."""

from __future__ import annotations

from coachiq.sim.devices import SimDevice, devices_for
from coachiq.sim.model import World
from coachiq.sim.motion import Awning, Shade


def device(entity_id: str) -> SimDevice:
    return next(d for d in devices_for("class_a_diesel") if d.entity_id == entity_id)


def test_awning_travels_and_stops_at_its_end() -> None:
    awning = Awning(device("awning.patio"))
    world = World()
    awning.command("AWNING_COMMAND", 1, {"direction": "extend", "target_position": None})
    assert awning.status()[0][1]["motion"] == "extending"
    changed = [awning.step(1.0, world) for _ in range(20)]
    assert changed.index(True) == 14  # 15 s of travel
    assert awning.position == 100.0 and awning.motion == "stopped"
    awning.command("AWNING_COMMAND", 1, {"direction": "retract", "target_position": 50.0})
    for _ in range(20):
        awning.step(1.0, world)
    assert awning.position == 50.0


def test_awning_stop_holds_position() -> None:
    awning = Awning(device("awning.patio"))
    awning.command("AWNING_COMMAND", 1, {"direction": "extend"})
    awning.step(3.0, World())
    awning.command("AWNING_COMMAND", 1, {"direction": "stop"})
    position = awning.position
    awning.step(3.0, World())
    assert awning.position == position == 20.0


def test_shade_lowers_for_its_duration() -> None:
    shade = Shade(device("shade.windshield"))
    # RV-C: reverse lowers (closes) a shade, forward raises (opens) it.
    shade.command("WINDOW_SHADE_CONTROL_COMMAND", 1, {"command": "reverse", "duration": 2})
    assert shade.status()[0][1]["reverse_status"] == "active"
    shade.step(1.0, World())
    assert shade.step(1.0, World())
    assert shade.position == 20.0 and shade.direction is None
    shade.command("WINDOW_SHADE_CONTROL_COMMAND", 1, {"command": "toggle_reverse"})
    shade.command("WINDOW_SHADE_CONTROL_COMMAND", 1, {"command": "toggle_reverse"})
    assert shade.direction is None
