"""The simulated chassis J1939 bus: an engine, a transmission and an instrument cluster the chassis drives.

They read the simulated chassis (coachiq/sim/chassis.py): road speed, park brake, gear and engine
speed come from it, so the RV-C CHASSIS_MOBILITY_STATUS and the J1939 groups describe the same coach.
The engine adds what a chassis bus has and RV-C does not: coolant warming up while the engine runs,
oil pressure following engine speed, fuel burnt at a rate that grows with speed, engine hours.

Source addresses are the J1939 preferred addresses (engine #1 0x00, transmission #1 0x03, instrument
cluster 0x17). Fast groups (EEC1, CCVS1, ETC2, LFE1) go out with each broadcast, every 0.25 s; slow ones
(ET1, EFL/P1, VEP1, HOURS, DD1 and a DM1 without codes) every fourth. Real controllers send EEC1 every
10-50 ms and CCVS1 every 100 ms; the simulation sends less often so that an idle simulated coach stays
cheap, well inside the j1939 feature's 1 s freshness limit.
"""

from __future__ import annotations

from coachiq.sim.chassis import Chassis
from coachiq.sim.devices import DeviceKind, SimDevice
from coachiq.sim.model import DeviceModel, StatusFrame, World, approach

__all__ = ["CLUSTER_ADDRESS", "DRIVETRAIN_COACHES", "ENGINE_ADDRESS", "TRANSMISSION_ADDRESS", "J1939Node",
           "j1939_nodes"]

DRIVETRAIN_COACHES = frozenset({"class_a_diesel"})  # simulated coaches with an engine of their own
ENGINE_ADDRESS = 0x00
TRANSMISSION_ADDRESS = 0x03
CLUSTER_ADDRESS = 0x17
SLOW_EVERY = 4  # slow groups once a second at the 0.25 s period
AMBIENT_C = 20.0
RUNNING_COOLANT_C = 88.0
WARM_UP_C_PER_S = 0.5
IDLE_FUEL_LPH = 2.5
FUEL_LPH_PER_KPH = 0.3
TANK_L = 380.0
# DM1 with no active code: lamps off, flash states not available, SPN 0 / FMI 0, padding.
DM1_NO_CODES = bytes.fromhex("00FF000000 00FFFF".replace(" ", ""))


class J1939Node(DeviceModel):
    """A J1939 controller of the simulated chassis; its frames are J1939 groups, not RV-C DGNs."""

    period_s = 0.25
    j1939 = True

    def __init__(self, spec: SimDevice, chassis: Chassis) -> None:
        """`chassis` is the simulated chassis the node reads."""
        super().__init__(spec)
        self.chassis = chassis
        self._broadcasts = 0

    def _slow_due(self) -> bool:
        self._broadcasts += 1
        return self._broadcasts % SLOW_EVERY == 1


class J1939Engine(J1939Node):
    """Engine controller: EEC1, CCVS1 (it runs the cruise control), LFE1, ET1, EFL/P1, VEP1, HOURS, DM1."""

    def __init__(self, spec: SimDevice, chassis: Chassis) -> None:
        """A cold engine with 1234.5 hours and a tank 62 % full."""
        super().__init__(spec, chassis)
        self.coolant_c = AMBIENT_C
        self.hours = 1234.5
        self.fuel_l = 0.62 * TANK_L
        self._seen = (0, 0.0, True)

    @property
    def fuel_rate_lph(self) -> float:
        """Fuel burnt now, in L/h."""
        if not self.chassis.engine_running:
            return 0.0
        return IDLE_FUEL_LPH + FUEL_LPH_PER_KPH * self.chassis.speed

    def step(self, dt: float, world: World) -> bool:
        """Warm up or cool down, count hours, burn fuel; True when speed, rpm or park brake changed."""
        chassis = self.chassis
        target = RUNNING_COOLANT_C if chassis.engine_running else AMBIENT_C
        self.coolant_c = approach(self.coolant_c, target, WARM_UP_C_PER_S * dt)
        if chassis.engine_running:
            self.hours += dt / 3600.0
            self.fuel_l = max(0.0, self.fuel_l - self.fuel_rate_lph * dt / 3600.0)
        seen = (chassis.engine_rpm, round(chassis.speed, 1), chassis.park_brake)
        changed = seen != self._seen
        self._seen = seen
        return changed

    @property
    def busy(self) -> bool:
        """While the chassis accelerates or brakes."""
        return self.chassis.busy

    def status(self) -> list[StatusFrame]:
        """The fast groups, and the slow ones every fourth broadcast."""
        chassis = self.chassis
        rpm = chassis.engine_rpm
        running = chassis.engine_running
        frames: list[StatusFrame] = [
            ("EEC1", {"engine_speed": float(rpm), "actual_engine_torque": 25 if running else 0,
                      "drivers_demand_torque": 25 if running else 0}),
            ("CCVS1", {"park_brake_switch": "set" if chassis.park_brake else "not_set",
                       "wheel_based_speed": round(chassis.speed * 256) / 256,
                       "cruise_control_active": "off", "brake_switch": "released" if chassis.moving else "depressed",
                       "cruise_control_set_speed": None, "cruise_control_states": "off"}),
            ("LFE1", {"fuel_rate": round(self.fuel_rate_lph * 20) / 20, "instantaneous_fuel_economy": None,
                      "average_fuel_economy": None, "throttle_position": 30.0 if chassis.moving else 0.0}),
        ]
        if self._slow_due():
            oil_kpa = 0 if not running else min(1000, 140 + rpm // 10 // 4 * 4)
            frames += [
                ("ET1", {"coolant_temperature": round(self.coolant_c), "fuel_temperature": 35,
                         "oil_temperature": round(self.coolant_c * 32) / 32}),
                ("EFL_P1", {"fuel_delivery_pressure": 380 if running else 0, "oil_level": 90.0,
                            "oil_pressure": oil_kpa, "coolant_level": 100.0}),
                ("VEP1", {"battery_net_current": 5 if running else -3, "alternator_current": 40 if running else 0,
                          "charging_system_potential": 14.1 if running else None,
                          "battery_potential": 13.8 if running else 12.6, "key_switch_potential": None}),
                ("HOURS", {"engine_total_hours": round(self.hours * 20) / 20, "engine_total_revolutions": None}),
                ("DM1", DM1_NO_CODES),
            ]
        return frames


class J1939Transmission(J1939Node):
    """Transmission controller: ETC2 with the chassis's gear."""

    def status(self) -> list[StatusFrame]:
        """ETC2."""
        gear = self.chassis.gear
        return [("ETC2", {"selected_gear": gear, "current_gear": gear,
                          "actual_gear_ratio": None if gear in ("park", "neutral") else 1.0})]

    def step(self, dt: float, world: World) -> bool:
        """Broadcast at once when the gear changes."""
        changed = self.chassis.gear != getattr(self, "_gear", None)
        self._gear = self.chassis.gear
        return changed


class J1939Cluster(J1939Node):
    """Instrument cluster: DD1 with the fuel level the engine's tank holds."""

    def __init__(self, spec: SimDevice, chassis: Chassis, engine: J1939Engine) -> None:
        """The cluster shows the engine's fuel tank."""
        super().__init__(spec, chassis)
        self.engine = engine
        self.period_s = 1.0

    def status(self) -> list[StatusFrame]:
        """DD1."""
        level = round(100.0 * self.engine.fuel_l / TANK_L / 0.4) * 0.4
        return [("DD1", {"washer_fluid_level": 80.0, "fuel_level_1": level, "fuel_level_2": None})]


def _spec(slug: str, name: str, address: int) -> SimDevice:
    return SimDevice(DeviceKind.CHASSIS, f"chassis.{slug}", name, "cab", address, None, (), None)


def j1939_nodes(chassis: Chassis) -> list[J1939Node]:
    """The engine, transmission and cluster a simulated chassis drives."""
    engine = J1939Engine(_spec("j1939_engine", "Engine controller", ENGINE_ADDRESS), chassis)
    return [engine,
            J1939Transmission(_spec("j1939_transmission", "Transmission controller", TRANSMISSION_ADDRESS), chassis),
            J1939Cluster(_spec("j1939_cluster", "Instrument cluster", CLUSTER_ADDRESS), chassis, engine)]
