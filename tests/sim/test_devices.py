"""The simulated coaches' device lists agree with the DGN database and with each other."""

from __future__ import annotations

from collections import Counter

import pytest

from coachiq.rvc import Codec
from coachiq.sim.devices import COACHES, DeviceKind, SimDevice, devices_for

ENTITY_TYPES = {"light", "switch", "lock", "tank", "battery", "thermostat", "furnace", "water_heater", "pump",
                "fan", "generator", "inverter", "charger", "transfer_switch", "slide", "awning", "jack", "shade",
                "chassis"}


@pytest.mark.parametrize("coach", sorted(COACHES))
def test_devices_use_known_dgns_and_unique_addresses(coach: str, codec: Codec) -> None:
    devices = devices_for(coach)
    ids = [d.entity_id for d in devices]
    assert len(ids) == len(set(ids))
    routes: Counter[tuple[str, int | None]] = Counter()
    for device in devices:
        assert device.entity_type in ENTITY_TYPES, device.entity_id
        assert device.entity_id.split(".", 1)[1].isidentifier()
        assert device.source_address < 0x80  # clear of the server's self-configurable range
        for name in device.status_dgns:
            assert codec.spec_for(name).kind == "status"
        if device.command_dgn is not None:
            command = codec.spec_for(device.command_dgn)
            assert command.kind == "command"
            assert command.confirmed_by in device.status_dgns
            if device.kind in (DeviceKind.SLIDE, DeviceKind.FIREFLY_PAIR):
                routes[(device.command_dgn, device.extend_instance)] += 1
                routes[(device.command_dgn, device.retract_instance)] += 1
            else:
                assert (device.instance is None) == (command.instance_field is None), device.entity_id
                routes[(device.command_dgn, device.instance)] += 1
    assert all(count == 1 for count in routes.values()), routes  # one device per (command DGN, instance)


def test_class_a_has_what_the_issue_lists() -> None:
    kinds = Counter(d.kind for d in devices_for("class_a_diesel"))
    assert kinds[DeviceKind.SLIDE] == 4
    assert kinds[DeviceKind.LEVELING] == 1
    assert kinds[DeviceKind.THERMOSTAT] == 2
    assert kinds[DeviceKind.DIMMER] + kinds[DeviceKind.RELAY_LIGHT] == 12
    assert {DeviceKind.AWNING, DeviceKind.GENERATOR, DeviceKind.INVERTER, DeviceKind.CHARGER,
            DeviceKind.TRANSFER_SWITCH, DeviceKind.CHASSIS} <= set(kinds)
    tanks = {d.instance for d in devices_for("class_a_diesel") if d.kind is DeviceKind.TANK}
    assert tanks == {0, 1, 2, 3}
    batteries = {d.instance for d in devices_for("class_a_diesel") if d.kind is DeviceKind.BATTERY}
    assert batteries == {1, 2}


def test_travel_trailer_is_smaller() -> None:
    kinds = Counter(d.kind for d in devices_for("travel_trailer"))
    assert kinds[DeviceKind.SLIDE] == 1
    assert kinds[DeviceKind.AWNING] == 1
    assert kinds[DeviceKind.GENERATOR] == 0
    assert kinds[DeviceKind.DIMMER] + kinds[DeviceKind.RELAY_LIGHT] < 12


def test_motor_pairs_have_both_outputs() -> None:
    pairs = [d for coach in COACHES.values() for d in coach if d.kind is DeviceKind.SLIDE]
    assert pairs
    for device in pairs:
        assert isinstance(device, SimDevice)
        assert device.extend_instance is not None and device.retract_instance is not None
        assert device.extend_instance != device.retract_instance
        assert device.travel_s is not None and device.travel_s > 0


def test_unknown_coach_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="travel_trailer"):
        devices_for("houseboat")
