"""DC dimmer/relay outputs, AC loads and locks, without a bus."""

from __future__ import annotations

from coachiq.sim.devices import DeviceKind, devices_for
from coachiq.sim.loads import AcLoad, DcOutput, Lock
from coachiq.sim.model import World


def run(output: DcOutput, seconds: float, tick: float = 0.1) -> None:
    for _ in range(round(seconds / tick)):
        output.step(tick)


def test_relay_is_on_or_off() -> None:
    relay = DcOutput(20, dimmable=False)
    relay.apply("set_level", 30.0, None, None)
    assert relay.level == 100.0
    relay.apply("ramp_up", None, None, None)
    assert relay.level == 100.0
    relay.apply("stop", None, None, None)
    assert relay.level == 0.0  # stop releases a relay


def test_toggle_returns_to_the_last_level() -> None:
    light = DcOutput(1, dimmable=True)
    light.apply("set_level", 40.0, None, None)
    light.apply("toggle", None, None, None)
    assert light.level == 0.0
    assert light.values()["memory_level"] == 40.0
    light.apply("toggle", None, None, None)
    assert light.level == 40.0


def test_timed_on_and_delayed_on() -> None:
    light = DcOutput(1, dimmable=True)
    light.apply("on_duration", 80.0, 3, None)
    assert light.values()["duration"] == 3
    run(light, 2.9)
    assert light.on
    run(light, 0.2)
    assert not light.on
    light.apply("on_delay", 50.0, 2, None)
    assert not light.on
    run(light, 2.1)
    assert light.level == 50.0
    light.apply("off_delay", None, 1, None)
    run(light, 1.1)
    assert not light.on


def test_lock_blocks_everything_but_unlock() -> None:
    light = DcOutput(1, dimmable=True)
    light.apply("lock", None, None, None)
    light.apply("set_level", 100.0, None, None)
    assert not light.on
    assert light.values()["lock_status"] == "locked"
    light.apply("unlock", None, None, None)
    light.apply("set_level", 100.0, None, None)
    assert light.on


def test_ramp_up_down_cycles_until_stopped() -> None:
    light = DcOutput(1, dimmable=True)
    light.apply("ramp_up_down", None, None, None)
    run(light, 2.0)
    assert light.level == 100.0
    run(light, 1.0)
    assert 0 < light.level < 100.0  # on its way down again
    light.apply("ramp_up_down_toggle", None, None, None)
    level = light.level
    run(light, 0.5)
    assert light.level == level


def test_flash_momentarily_ends_off() -> None:
    light = DcOutput(1, dimmable=True)
    light.apply("flash_momentarily", None, 2, None)
    seen = set()
    for _ in range(25):
        light.step(0.1)
        seen.add(light.on)
    assert seen == {True, False}
    assert not light.on


def test_ac_load_switches_and_reports_current() -> None:
    spec = next(d for d in devices_for("class_a_diesel") if d.kind is DeviceKind.AC_LOAD)
    load = AcLoad(spec)
    world = World()
    load.command("AC_LOAD_COMMAND", spec.instance, {"command": "set_level", "desired_level": 100.0})
    load.step(0.1, world)
    values = load.status()[0][1]
    assert values["operating_level"] == 100.0 and values["present_current"] > 0
    world.shore_connected = False
    assert load.step(0.1, world)  # losing AC power is reported at once
    assert load.status()[0][1]["present_current"] == 0.0


def test_lock_follows_requests() -> None:
    spec = next(d for d in devices_for("travel_trailer") if d.kind is DeviceKind.LOCK)
    lock = Lock(spec)
    lock.command("DOOR_COMMAND", 1, {"lock_request": "unlock", "door_action": None})
    assert lock.status() == [("DOOR_STATUS", {"instance": 1, "lock_status": "unlocked", "motion": None,
                                              "position": None, "voltage": None})]
