"""Thermostat zones, furnaces and roof fans, without a bus."""

from __future__ import annotations

from coachiq.sim.climate import Furnace, RoofFan, Thermostat
from coachiq.sim.devices import SimDevice, devices_for
from coachiq.sim.model import World


def device(entity_id: str) -> SimDevice:
    return next(d for d in devices_for("class_a_diesel") if d.entity_id == entity_id)


def test_air_conditioner_cools_to_the_setpoint_and_cycles() -> None:
    thermostat = Thermostat(device("thermostat.front"))
    world = World(outside_temperature=30.0)
    thermostat.step(1.0, world)
    assert thermostat.compressor  # 25.5 degC against 22
    for _ in range(1000):
        thermostat.step(1.0, world)
    assert 21.0 < thermostat.ambient < 23.0
    thermostat.command("THERMOSTAT_COMMAND_1", 1, {"operating_mode": "off", "cool_setpoint": None})
    assert not thermostat.compressor
    assert thermostat.cool_setpoint == 22.0  # a field left not available keeps its value


def test_furnace_heats_the_zone_that_calls_for_heat() -> None:
    thermostat = Thermostat(device("thermostat.front"))
    furnace = Furnace(device("furnace.main"))
    world = World(outside_temperature=5.0)
    thermostat.command("THERMOSTAT_COMMAND_1", 1, {"operating_mode": "heat", "heat_setpoint": 24.0})
    for _ in range(600):
        thermostat.step(1.0, world)
        furnace.step(1.0, world)
    assert 23.0 < thermostat.ambient < 25.0
    assert world.lpg_draw_l_per_s > 0 or furnace.output == 0
    thermostat.command("THERMOSTAT_COMMAND_1", 1, {"operating_mode": "off"})
    thermostat.step(1.0, world)
    furnace.step(1.0, world)
    assert furnace.output == 0.0 and furnace.status()[0][1]["zone_input"] == "inactive"


def test_roof_fan_follows_commands() -> None:
    fan = RoofFan(device("fan.bathroom"))
    fan.command("ROOF_FAN_COMMAND_1", 1, {"system_status": "on", "fan_speed": 75.0, "dome_position": "open"})
    values = fan.status()[0][1]
    assert values["system_status"] == "on" and values["fan_speed"] == 75.0 and values["dome_position"] == "open"
    fan.command("ROOF_FAN_COMMAND_1", 1, {"dome_position": "stop"})
    assert fan.dome == "open"
    assert fan.dc_load_a() > 0
