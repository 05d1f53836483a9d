"""The simulated J1939 engine, transmission and cluster follow the simulated chassis, and every frame they
build encodes with the j1939 feature's definitions."""

from __future__ import annotations

from coachiq.features.j1939 import load_database
from coachiq.features.j1939.dm1 import parse_dm1
from coachiq.rvc import Codec
from coachiq.sim.chassis import Chassis
from coachiq.sim.devices import devices_for
from coachiq.sim.j1939 import CLUSTER_ADDRESS, ENGINE_ADDRESS, TRANSMISSION_ADDRESS, j1939_nodes
from coachiq.sim.model import World

CODEC = Codec(load_database())


def _chassis() -> Chassis:
    spec = next(d for d in devices_for("class_a_diesel") if d.entity_id == "chassis.main")
    return Chassis(spec)


def _decoded(nodes: list, world: World) -> dict[str, dict]:
    frames: dict[str, dict] = {}
    for node in nodes:
        for name, values in node.status():
            if isinstance(values, bytes):
                frames[name] = {"codes": parse_dm1(values).codes}
                continue
            payload = CODEC.encode(name, values, check_limits=False)
            decoded = CODEC.decode(CODEC.spec_for(name).dgn, payload)
            assert decoded.errors == (), name
            frames[name] = dict(decoded.values)
    return frames


def test_parked_then_driving() -> None:
    chassis = _chassis()
    world = World()
    nodes = j1939_nodes(chassis)
    assert [n.spec.source_address for n in nodes] == [ENGINE_ADDRESS, TRANSMISSION_ADDRESS, CLUSTER_ADDRESS]
    parked = _decoded(nodes, world)
    assert parked["CCVS1"]["park_brake_switch"] == "set" and parked["CCVS1"]["wheel_based_speed"] == 0.0
    assert parked["ETC2"]["current_gear"] == "park" and parked["EEC1"]["engine_speed"] == 0.0
    assert parked["DM1"]["codes"] == () and 61 <= parked["DD1"]["fuel_level_1"] <= 63
    assert parked["HOURS"]["engine_total_hours"] == 1234.5
    chassis.set_state(moving=True, park_brake=None)
    for _ in range(100):  # 10 s of driving
        chassis.step(0.1, world)
        for node in nodes:
            node.step(0.1, world)
    driving = _decoded(nodes, world)
    assert driving["CCVS1"]["park_brake_switch"] == "not_set"
    assert abs(driving["CCVS1"]["wheel_based_speed"] - chassis.speed) < 1 / 256
    assert driving["ETC2"]["current_gear"] == "forward_6"
    assert driving["EEC1"]["engine_speed"] == chassis.engine_rpm
    assert driving["LFE1"]["fuel_rate"] > 2.5
    assert nodes[0].coolant_c > 20.0  # warming up

