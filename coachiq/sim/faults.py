"""Trouble codes the simulated devices report on demand, as DM_RV frames (RV-C 3.2.5.1).

A device with active faults sends one DM_RV per fault with every status broadcast (at most every
3 s, inside the 5 s RV-C asks of an active fault); when its last fault is cleared it sends one DM_RV
with both lamps off, which RV-C reads as "no fault for this DSA" (3.2.5.9).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coachiq.sim.devices import DeviceKind

__all__ = ["DSA_BY_KIND", "FaultTable", "dm_rv_values"]

# The default source address RV-C Table 7.2 gives each kind of device: the DM_RV's DSA byte.
DSA_BY_KIND: Mapping[DeviceKind, int] = {
    DeviceKind.DIMMER: 131, DeviceKind.RELAY_LIGHT: 146, DeviceKind.RELAY: 146, DeviceKind.AC_LOAD: 137,
    DeviceKind.LOCK: 135, DeviceKind.TANK: 72, DeviceKind.BATTERY: 70, DeviceKind.CHARGER: 74,
    DeviceKind.INVERTER: 66, DeviceKind.TRANSFER_SWITCH: 79, DeviceKind.THERMOSTAT: 88, DeviceKind.FURNACE: 94,
    DeviceKind.WATER_HEATER: 101, DeviceKind.WATER_PUMP: 127, DeviceKind.ROOF_FAN: 142,
    DeviceKind.GENERATOR: 64, DeviceKind.SLIDE: 84, DeviceKind.AWNING: 130, DeviceKind.LEVELING: 82,
    DeviceKind.SHADE: 134, DeviceKind.CHASSIS: 252,
}

FMI_LABELS = {0: "above_normal", 1: "below_normal", 2: "erratic", 3: "shorted_high", 4: "shorted_low",
              5: "open_circuit", 6: "grounded_circuit", 7: "mechanical_not_responding", 8: "abnormal_frequency",
              9: "abnormal_update_rate", 10: "abnormal_rate_of_change", 11: "root_cause_unknown",
              12: "bad_device", 13: "out_of_calibration", 14: "special_instructions",
              15: "above_normal_least_severe", 16: "above_normal_moderate", 17: "below_normal_least_severe",
              18: "below_normal_moderate", 19: "network_data_error", 31: "not_available"}


@dataclass(slots=True)
class _Fault:
    red: bool
    occurrences: int


def dm_rv_values(dsa: int, spn: int, fmi: int, *, red: bool, yellow: bool, occurrences: int | None) -> dict[str, Any]:
    """Field values of one DM_RV (the codec builds the payload); SPN split as RV-C Table 3.2.5.5."""
    return {"operating_state": "on", "activity": "active" if (red or yellow) else "standby",
            "yellow_lamp": "on" if yellow else "off", "red_lamp": "on" if red else "off", "dsa": dsa,
            "spn_msb": (spn >> 11) & 0xFF, "spn_isb": (spn >> 3) & 0xFF, "spn_lsb": spn & 0x7,
            "fmi": FMI_LABELS.get(fmi, fmi), "occurrence_count": occurrences, "dsa_extension": None,
            "bank_select": None}


class FaultTable:
    """Active faults by device (entity id), and the "all clear" each device still owes the bus."""

    def __init__(self) -> None:
        """No faults."""
        self._faults: dict[str, dict[tuple[int, int], _Fault]] = {}
        self._counts: dict[tuple[str, int, int], int] = {}
        self._owe_clear: set[str] = set()

    def set(self, entity_id: str, spn: int, fmi: int, active: bool, red: bool = False) -> bool:
        """Raise or clear one fault; True when something changed."""
        if not 0 <= spn <= 0x7FFFF or fmi not in FMI_LABELS:
            raise ValueError(f"SPN must be 0..524287 and FMI one of {sorted(FMI_LABELS)}")
        faults = self._faults.setdefault(entity_id, {})
        if active:
            if (spn, fmi) in faults and faults[(spn, fmi)].red == red:
                return False
            count = self._counts.get((entity_id, spn, fmi), 0) + ((spn, fmi) not in faults)
            self._counts[(entity_id, spn, fmi)] = count
            faults[(spn, fmi)] = _Fault(red, min(count, 126))
            self._owe_clear.discard(entity_id)
            return True
        if faults.pop((spn, fmi), None) is None:
            return False
        if not faults:
            self._owe_clear.add(entity_id)
        return True

    def has_active(self, entity_id: str) -> bool:
        """True while the device has an active fault."""
        return bool(self._faults.get(entity_id))

    def frames(self, entity_id: str, kind: DeviceKind) -> list[tuple[str, dict[str, Any]]]:
        """The DM_RV frames the device sends now (and forget an "all clear" once it is sent)."""
        dsa = DSA_BY_KIND.get(kind, 146)
        faults = self._faults.get(entity_id)
        if faults:
            return [("DM_RV", dm_rv_values(dsa, spn, fmi, red=f.red, yellow=not f.red, occurrences=f.occurrences))
                    for (spn, fmi), f in sorted(faults.items())]
        if entity_id in self._owe_clear:
            self._owe_clear.discard(entity_id)
            return [("DM_RV", dm_rv_values(dsa, 0, 0, red=False, yellow=False, occurrences=None))]
        return []

    def active(self) -> list[dict[str, Any]]:
        """Every active fault, for the API."""
        return [{"entity_id": entity_id, "spn": spn, "fmi": fmi, "red": f.red}
                for entity_id, faults in sorted(self._faults.items()) for (spn, fmi), f in sorted(faults.items())]
