"""Batteries, charger, inverter, transfer switch and generator, without a bus."""

from __future__ import annotations

from coachiq.sim.devices import SimDevice, devices_for
from coachiq.sim.model import World
from coachiq.sim.power import Battery, Charger, Generator, Inverter, TransferSwitch


def device(entity_id: str) -> SimDevice:
    return next(d for d in devices_for("class_a_diesel") if d.entity_id == entity_id)


def test_generator_cranks_then_runs_then_cools_down() -> None:
    generator = Generator(device("generator.main"))
    world = World()
    generator.command("GENERATOR_COMMAND", None, {"command": "start"})
    states = []
    for _ in range(40):  # 4 s in 0.1 s steps
        generator.step(0.1, world)
        states.append(generator.state)
    assert states[0] == "preheat" and "cranking" in states
    first_running = states.index("running")
    assert 28 <= first_running <= 31  # after the 3 s start delay
    assert world.generator_running
    generator.command("GENERATOR_COMMAND", None, {"command": "stop"})
    generator.step(0.5, world)
    assert generator.state == "running"  # cool-down
    generator.step(0.6, world)
    assert generator.state == "stopped" and not world.generator_running


def test_stop_while_cranking_stops_at_once() -> None:
    generator = Generator(device("generator.main"))
    generator.command("GENERATOR_COMMAND", None, {"command": "start"})
    generator.step(1.5, World())
    generator.command("GENERATOR_COMMAND", None, {"command": "stop"})
    assert generator.state == "stopped"


def test_charger_charges_the_house_bank_only_with_ac_power() -> None:
    world = World(shore_connected=True, house_load_a=10.0)
    charger = Charger(device("charger.main"))
    battery = Battery(device("battery.house"))
    charger.step(1.0, world)
    battery.step(3600.0, world)
    assert charger.state == "absorption"  # the bank starts at 85 %
    assert battery.current > 0 and battery.soc > 85.0
    charging_voltage = battery.voltage
    world.shore_connected = False
    assert charger.step(1.0, world)
    battery.step(3600.0, world)
    assert battery.current == -10.0
    assert battery.voltage < charging_voltage
    status_2 = dict(battery.status()[1][1])
    assert status_2["time_remaining"] is not None


def test_inverter_inverts_without_ac() -> None:
    inverter = Inverter(device("inverter.main"))
    world = World(shore_connected=True)
    inverter.step(0.1, world)
    assert inverter.mode == "ac_pass_through"
    world.shore_connected = False
    assert inverter.step(0.1, world)
    assert inverter.mode == "inverting" and inverter.dc_load_a() > 0
    inverter.command("INVERTER_COMMAND", 1, {"inverter_enable": "disable"})
    assert inverter.mode == "disabled"


def test_transfer_switch_prefers_the_running_generator() -> None:
    switch = TransferSwitch(device("transfer_switch.main"))
    world = World(shore_connected=True)
    switch.step(0.1, world)
    assert switch.selected == "secondary"
    world.generator_running = True
    assert switch.step(0.1, world)
    output = switch.status()[2][1]
    assert output["direction"] == "output" and output["source"] == "primary" and output["rms_voltage"] == 120.0
    world.shore_connected = world.generator_running = False
    switch.step(0.1, world)
    assert switch.selected is None
    assert all(frame[1]["rms_voltage"] == 0.0 for frame in switch.status())
