"""The simulated leveling controller: modes, jacks, level sensor and lockouts (RV-C 6.13)."""

from __future__ import annotations

from typing import Any

from coachiq.rvc import Codec
from coachiq.sim.coach import SimulatedCoach
from coachiq.sim.devices import SimDevice, devices_for
from coachiq.sim.leveling import CORNERS, LEVEL_BAND_DEG, STROKE_MM, LevelingController
from coachiq.sim.model import World
from tests.sim.conftest import Listener

_COMMAND = "LEVELING_CONTROL_COMMAND"
_OFF = {f"{c}_{verb}": "off" for c in CORNERS for verb in ("extend", "retract")}


def controller() -> LevelingController:
    spec: SimDevice = next(d for d in devices_for("class_a_diesel") if d.entity_id == "jack.leveling")
    return LevelingController(spec)


def run(model: LevelingController, seconds: float, world: World | None = None, dt: float = 0.1) -> None:
    world = world or World()
    for _ in range(round(seconds / dt)):
        model.step(dt, world)


def frames(model: LevelingController) -> dict[str, dict[str, Any]]:
    return dict(model.status())


def test_automatic_leveling_grounds_every_jack_then_levels() -> None:
    model = controller()
    assert model.pitch < -1 and model.roll < -0.5  # the site: nose low, driver side low
    model.command(_COMMAND, None, {"operating_mode": "automatic_hydraulic_leveling"})
    assert frames(model)["LEVELING_CONTROL_STATUS"]["operating_mode"] == "automatic_hydraulic_leveling"
    run(model, 0.5)  # 25 mm: no jack has reached the ground yet
    status = frames(model)["LEVELING_CONTROL_STATUS"]
    assert all(status[f"{c}_extending"] == "on" for c in CORNERS)
    run(model, 30.0)
    assert model.mode == 0
    assert abs(model.pitch) <= LEVEL_BAND_DEG and abs(model.roll) <= LEVEL_BAND_DEG
    jacks = frames(model)["LEVELING_JACK_STATUS"]
    assert all(jacks[f"{c}_loaded"] == "bearing_weight" and jacks[f"{c}_extended"] == "extended" for c in CORNERS)
    sensor = frames(model)["LEVELING_SENSOR_STATUS"]
    assert {sensor[k] for k in ("front_low", "rear_low", "driver_side_low", "passenger_side_low")} == {
        "at_or_above_level"}


def test_store_retracts_every_jack() -> None:
    model = controller()
    model.command(_COMMAND, None, {"operating_mode": "automatic_hydraulic_leveling"})
    run(model, 30.0)
    model.command(_COMMAND, None, {"operating_mode": "store"})
    assert frames(model)["LEVELING_CONTROL_STATUS"]["operating_mode"] == "store"
    run(model, 1.0)
    assert all(frames(model)["LEVELING_CONTROL_STATUS"][f"{c}_retracting"] == "on" for c in CORNERS)
    run(model, 30.0)
    assert model.mode == 0 and all(model.extension[c] == 0 for c in CORNERS)
    assert all(v == "retracted" for k, v in frames(model)["LEVELING_JACK_STATUS"].items() if k.endswith("_extended"))


def test_manual_moves_one_corner_only_while_renewed() -> None:
    model = controller()
    model.command(_COMMAND, None, {"operating_mode": "manual_hydraulic_four_point", **_OFF,
                                   "left_front_extend": "on"})
    run(model, 0.2)
    assert model.moving == {"left_front": "extending"}
    run(model, 0.2)  # 250 ms after the last command: stopped by itself
    assert model.moving == {} and model.mode == 0
    moved = model.extension["left_front"]
    assert 0 < moved < STROKE_MM and all(model.extension[c] == 0 for c in CORNERS if c != "left_front")


def test_manual_biax_moves_the_pair_on_the_slot() -> None:
    model = controller()
    # Bi-axis: the left-rear bits carry the rear pair (test profile 81C, Table 6.13.14.1b).
    model.command(_COMMAND, None, {"operating_mode": "manual_hydraulic_biax", **_OFF, "left_rear_extend": "on"})
    assert model.moving == {"left_rear": "extending", "right_rear": "extending"}


def test_abort_and_inactive_stop_at_once() -> None:
    for mode in ("abort", "inactive"):
        model = controller()
        model.command(_COMMAND, None, {"operating_mode": "automatic_hydraulic_leveling"})
        run(model, 1.0)
        model.command(_COMMAND, None, {"operating_mode": mode})
        status = frames(model)["LEVELING_CONTROL_STATUS"]
        assert status["operating_mode"] == "inactive"
        assert all(status[f"{c}_extending"] == "off" for c in CORNERS)


def test_park_brake_released_locks_out_and_stops() -> None:
    model = controller()
    released = World(park_brake_set=False)
    model.step(0.1, released)
    model.command(_COMMAND, None, {"operating_mode": "automatic_hydraulic_leveling"})
    status = frames(model)["LEVELING_CONTROL_STATUS"]
    assert status["operating_mode"] == "inactive" and status["park_brake_lockout"] == "blocked"
    run(model, 2.0, released)
    assert all(model.extension[c] == 0 for c in CORNERS)
    # Started while allowed, then the brake comes off: the jacks stop.
    model.command(_COMMAND, None, {"operating_mode": "automatic_hydraulic_leveling"})
    model.step(0.1, World())
    model.command(_COMMAND, None, {"operating_mode": "automatic_hydraulic_leveling"})
    run(model, 0.5)
    extension = dict(model.extension)
    run(model, 1.0, released)
    assert model.extension == extension and model.mode == 0


def test_engine_running_sets_the_ignition_lockout() -> None:
    model = controller()
    model.step(0.1, World(engine_running=True))
    model.command(_COMMAND, None, {"operating_mode": "store"})
    status = frames(model)["LEVELING_CONTROL_STATUS"]
    assert status["ignition_lockout"] == "blocked" and status["operating_mode"] == "inactive"


def test_out_of_stroke_ends_with_the_final_slope_warning() -> None:
    model = controller()
    model.base_pitch = -8.0  # far steeper than 400 mm of stroke over 6 m can correct
    model.command(_COMMAND, None, {"operating_mode": "automatic_hydraulic_leveling"})
    run(model, 30.0)
    status = frames(model)["LEVELING_CONTROL_STATUS"]
    assert model.mode == 0 and status["excessive_slope_final_warning"] == "active"
    model.command(_COMMAND, None, {"operating_mode": "clear_jack_error"})
    assert frames(model)["LEVELING_CONTROL_STATUS"]["excessive_slope_final_warning"] == "inactive"


async def test_on_the_bus_the_echo_and_the_sensor_follow(sim: SimulatedCoach, listener: Listener,
                                                         codec: Codec) -> None:
    listener.send(_COMMAND, {"operating_mode": "automatic_hydraulic_leveling"})
    echo = await listener.wait_for("LEVELING_CONTROL_STATUS",
                                   lambda v: v["operating_mode"] == "automatic_hydraulic_leveling")
    assert echo.source == 0x68
    await listener.wait_for("LEVELING_CONTROL_STATUS", lambda v: v["operating_mode"] == "inactive", timeout=10)
    sensor = await listener.wait_for("LEVELING_SENSOR_STATUS", timeout=3)
    assert abs(sensor.decoded.values["pitch"]) <= 0.15 and abs(sensor.decoded.values["roll"]) <= 0.15
    assert sensor.decoded.values["instance"] is None  # single-sensor system
