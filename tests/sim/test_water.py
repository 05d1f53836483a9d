"""Tanks, the water pump and the water heater, without a bus."""

from __future__ import annotations

from coachiq.sim.devices import SimDevice, devices_for
from coachiq.sim.model import World
from coachiq.sim.water import Tank, WaterHeater, WaterPump


def device(entity_id: str) -> SimDevice:
    return next(d for d in devices_for("class_a_diesel") if d.entity_id == entity_id)


def test_pumping_drains_fresh_into_grey() -> None:
    pump = WaterPump(device("pump.fresh_water"))
    fresh, grey = Tank(device("tank.fresh")), Tank(device("tank.grey"))
    world = World()
    fresh_before, grey_before = fresh.litres, grey.litres
    runs = 0
    for _ in range(600):  # ten minutes
        runs += pump.step(1.0, world) and pump.running
        fresh.step(1.0, world)
        grey.step(1.0, world)
    assert runs >= 15  # a burst every half minute
    assert fresh.litres < fresh_before and grey.litres > grey_before
    values = fresh.status()[0][1]
    assert values["relative_level"] / values["resolution"] == round(fresh.percent) / 100
    pump.command("WATER_PUMP_COMMAND", None, {"command": "disable"})
    level = fresh.litres
    for _ in range(60):
        pump.step(1.0, world)
        fresh.step(1.0, world)
    assert fresh.litres == level


def test_water_heater_heats_to_its_setpoint() -> None:
    heater = WaterHeater(device("water_heater.main"))
    world = World()
    heater.command("WATERHEATER_COMMAND", 1, {"operating_mode": "gas_electric", "setpoint": 50.0})
    assert heater.step(1.0, world)  # burner lit: reported at once
    assert heater.burner and heater.element
    temperatures = []
    for _ in range(1200):
        heater.step(1.0, world)
        temperatures.append(heater.water)
    assert max(temperatures) == 50.0
    assert heater.water >= 47.0  # it cools a little, then heats again 3 degC below the setpoint
    assert heater.status()[0][1]["thermostat_status"] == "setpoint_met"


def test_water_heater_in_automatic_mode_uses_the_element_while_ac_is_present() -> None:
    heater = WaterHeater(device("water_heater.main"))
    world = World(shore_connected=True)
    heater.command("WATERHEATER_COMMAND", 1, {"operating_mode": "automatic", "setpoint": 50.0})
    heater.step(1.0, world)
    assert heater.element and not heater.burner
    world.shore_connected = False
    assert heater.step(1.0, world)  # AC lost: the burner takes over and says so at once
    assert heater.burner and not heater.element
