"""Diagnostic trouble codes as values: decoding DM_RV, the DM1 hand-over shape, and descriptions.

Pure data and arithmetic (no I/O). Sources of the tables, all checked by hand:
- DM_RV layout, the FMI table (0-22, 31), the standard SPNs 0-13 and the default source addresses
  (DSA) are from the RV-C document, rev. 2023-11: sections 3.2.5.1-3.2.5.9, 7.2, 7.3 and 7.4.
- J1939 DM1 codes use the FMI table of SAE J1939-73 as public lists give it (docs/diagnostics.md); it
  words 0, 1, 3, 4 and 31 differently from RV-C and defines 20 and 21 as data drifted high / low.
Codes no public source defines are shown by number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from coachiq.core.events import Topic

__all__ = [
    "CHASSIS_DSAS",
    "DM1_TOPIC",
    "POSITION_CRITICAL_DSAS",
    "Dm1Code",
    "Dm1Report",
    "FaultReport",
    "Protocol",
    "decode_dm_rv",
    "dsa_name",
    "fmi_description",
    "spn_description",
]

DM_RV_DGN = 0x1FECA
DM1_DGN = 0xFECA
PRODUCT_IDENTIFICATION_DGN = 0xFEEB


class Protocol(StrEnum):
    """Which message family reported the code: the SPN and FMI tables depend on it."""

    RVC = "rvc"
    J1939 = "j1939"


# RV-C Table 3.2.5.8 (repeated as Table 7.4).
RVC_FMI: dict[int, str] = {
    0: "Datum value above normal range",
    1: "Datum value below normal range",
    2: "Datum value erratic or invalid",
    3: "Short circuit to high voltage (or sensor input failure)",
    4: "Short circuit to low voltage (or sensor input failure)",
    5: "Open circuit, or output current below normal",
    6: "Grounded circuit, or output current above normal",
    7: "Mechanical device not responding",
    8: "Error of frequency, pulse width or period",
    9: "Datum not updating at the proper rate",
    10: "Datum fluctuating at an abnormal rate",
    11: "Failure not identifiable",
    12: "Bad intelligent RV-C node",
    13: "Calibration required",
    14: "None of the above",
    15: "Above normal operational range (least severe)",
    16: "Above normal operational range (moderately severe)",
    17: "Below normal operational range (least severe)",
    18: "Below normal operational range (moderately severe)",
    19: "Received invalid network datum",
    20: "Network device not responding",
    21: "Networked device not responding (a second device does not answer)",
    22: "Reverse polarity",
    31: "Failure mode not available",
}

# SAE J1939-73 FMIs as public lists give them: mostly RV-C's codes, with J1939's own severity words for
# 0 and 1, voltage wording for 3 and 4, 20 and 21 "drifted", 22-30 reserved and 31 "condition exists".
J1939_FMI: dict[int, str] = {
    **{k: v for k, v in RVC_FMI.items() if 2 <= k <= 18 and k not in (3, 4)},
    0: "Above normal operational range (most severe)",
    1: "Below normal operational range (most severe)",
    3: "Voltage above normal, or shorted to high source",
    4: "Voltage below normal, or shorted to low source",
    19: "Received network data in error",
    20: "Data drifted high",
    21: "Data drifted low",
    31: "Condition exists",
}

# RV-C Table 7.3: SPNs 0-255 are common to every device type; these are the defined ones.
RVC_STANDARD_SPN: dict[int, str] = {
    0: "Specific point unknown",
    1: "Node microprocessor (or ECM)",
    2: "Node analog-digital converter",
    3: "Node settings or configuration",
    4: "Node RAM",
    5: "Node power supply",
    6: "Node temperature",
    7: "Node clock / timer",
    8: "Node date / time (needs a clock DGN from another node)",
    9: "Node RV-C connection (needs a DGN from another node)",
    10: "Node serial / ID number",
    11: "Node processor supervisor (watchdog)",
    12: "Node firmware",
    13: "Node internal subnetwork communications",
}

# RV-C Table 7.2, default source addresses by product (a DSA range gives every number its product).
_DSA_RANGES: tuple[tuple[int, int, str], ...] = (
    (64, 64, "Generator"), (65, 65, "Genstart controller"), (66, 67, "Inverter"), (68, 68, "Control panel"),
    (69, 69, "Battery state of charge monitor"), (70, 70, "Battery"), (71, 71, "Chassis battery state of charge"),
    (72, 72, "Water/waste tank system"), (73, 73, "LPG tank system"), (74, 75, "Converter"),
    (76, 76, "Charge controller"), (77, 77, "AC load monitor / controller"), (78, 78, "AC fault protection system"),
    (79, 79, "Transfer switch"), (80, 80, "Weather station"), (81, 81, "Leveling system controller"),
    (82, 82, "Hydraulic/electric leveling system"), (83, 83, "Air leveling system"), (84, 87, "Slide room"),
    (88, 88, "Main thermostat"), (89, 89, "Bedroom thermostat"), (90, 93, "Thermostat"), (94, 94, "Main furnace"),
    (95, 96, "Furnace"), (97, 99, "Auxiliary heat"), (100, 100, "Hydronic furnace"), (101, 102, "Water heater"),
    (103, 106, "Air conditioner"), (107, 107, "Refrigerator"), (108, 108, "Auxiliary refrigerator"),
    (109, 109, "Auxiliary freezer"), (110, 110, "Ice maker"), (111, 111, "Stove"),
    (112, 114, "Audio entertainment"), (115, 117, "Video entertainment"), (118, 119, "TV lift"),
    (120, 125, "Gas detector"), (126, 126, "Active air suspension"), (127, 127, "Water pump"),
    (128, 128, "Tank autofill"), (129, 129, "Waste dump"), (130, 130, "Awning"), (131, 131, "DC dimmer"),
    (132, 132, "DC input, keypad"), (133, 133, "Tire monitor"), (134, 134, "Window shade control"),
    (135, 135, "Door control"), (136, 136, "GPS"), (137, 137, "AC load"), (138, 138, "DC motor controller"),
    (139, 139, "DC disconnect"), (140, 140, "Generic AC source"), (141, 141, "Solar charge controller"),
    (142, 142, "Roof fan"), (143, 143, "External interface"), (144, 144, "Generic alarm"),
    (145, 145, "Window control"), (146, 146, "DC load"), (147, 147, "Step control"),
    (148, 148, "Generic plumbing valve"), (149, 149, "Breaker panel"), (150, 150, "Vehicle seat"),
    (249, 249, "Service tool"), (250, 250, "System clock"), (251, 251, "Data logger"),
    (252, 252, "Chassis bridge"), (253, 253, "Network bridge"),
)

# Devices whose faults matter to motion: leveling, slides, awning, door, steps (RV-C DSAs 81-87, 130,
# 135, 147); chassis: active air suspension and the chassis bridge (126, 252).
POSITION_CRITICAL_DSAS = frozenset({81, 82, 83, 84, 85, 86, 87, 130, 135, 147})
CHASSIS_DSAS = frozenset({126, 252})


def dsa_name(dsa: int | None) -> str | None:
    """The product RV-C assigns this default source address to, or None."""
    if dsa is None:
        return None
    for low, high, name in _DSA_RANGES:
        if low <= dsa <= high:
            return name if low == high else f"{name} #{dsa - low + 1}"
    return None


def fmi_description(fmi: int, protocol: Protocol = Protocol.RVC) -> str | None:
    """What the failure mode means, or None when no public table defines it."""
    return (RVC_FMI if protocol is Protocol.RVC else J1939_FMI).get(fmi)


def spn_description(spn: int, protocol: Protocol = Protocol.RVC) -> str | None:
    """What the SPN names, for the RV-C standard SPNs; None for device-specific ones."""
    if protocol is Protocol.RVC:
        return RVC_STANDARD_SPN.get(spn)
    return None


@dataclass(frozen=True, slots=True)
class FaultReport:
    """One DM_RV as sent: the node's lamps and the one code it carries.

    `active` is False when both lamps are off: RV-C 3.2.5.9 reads that as "no fault for this DSA".
    """

    dsa: int | None
    spn: int
    fmi: int
    occurrence_count: int | None
    red_lamp: bool
    yellow_lamp: bool
    operating_status: int
    dsa_extension: int | None
    bank: int | None

    @property
    def active(self) -> bool:
        """True when the message reports a fault (a lamp is on)."""
        return self.red_lamp or self.yellow_lamp

    @property
    def spn_instance(self) -> tuple[int, int] | None:
        """(instance, 11-bit SPN) for a multiple-instance device (RV-C 3.2.5.5), when the MSB is 1-250."""
        msb = self.spn >> 11
        if not 1 <= msb <= 250:
            return None
        return ((self.spn >> 3) & 0xFF, ((msb << 3) | (self.spn & 0x7)))


def decode_dm_rv(payload: bytes) -> FaultReport | None:
    """Decode an 8-byte DM_RV payload (RV-C Table 3.2.5.1b); None when it is too short.

    SPN = byte2 << 11 | byte3 << 3 | byte4 bits 5-7. A lamp is on when its 2-bit field is 01b.
    """
    if len(payload) < 6:
        return None
    b0 = payload[0]
    count = payload[5] & 0x7F
    dsa = payload[1]
    extension = payload[6] if len(payload) > 6 else 0xFF
    bank = payload[7] & 0x0F if len(payload) > 7 else 0x0F
    return FaultReport(
        dsa=None if dsa == 0xFF else dsa,
        spn=(payload[2] << 11) | (payload[3] << 3) | (payload[4] >> 5),
        fmi=payload[4] & 0x1F,
        occurrence_count=None if count == 0x7F else count,
        red_lamp=(b0 >> 6) & 0x3 == 1,
        yellow_lamp=(b0 >> 4) & 0x3 == 1,
        operating_status=b0 & 0x0F,
        dsa_extension=None if extension == 0xFF else extension,
        bank=None if bank == 0x0F else bank,
    )


@dataclass(frozen=True, slots=True)
class Dm1Code:
    """One J1939 diagnostic trouble code (SPN, FMI, occurrence count; None when not available)."""

    spn: int
    fmi: int
    occurrence_count: int | None = None


@dataclass(frozen=True, slots=True)
class Dm1Report:
    """A whole DM1 from one J1939 node: every code it reports active now, and its lamps.

    DM1 lists all active codes at once, so a code missing from a report is no longer active and an
    empty `codes` means none is. Publish one on DM1_TOPIC (or pass it to the feature's `report_dm1`).
    """

    source_address: int
    codes: tuple[Dm1Code, ...]
    timestamp: float
    interface: str = "chassis"
    lamps: dict[str, bool] = field(default_factory=dict)


def parse_dm1(payload: bytes) -> tuple[dict[str, bool], tuple[Dm1Code, ...]]:
    """Lamps and codes of a DM1 payload (bytes 0-1 lamps, then 4 bytes per code, J1939-73 layout).

    SPN = byte2 | byte3 << 8 | (byte4 bits 5-7) << 16; SPN 0 with FMI 0 means "no active fault".
    """
    lamps: dict[str, bool] = {}
    if len(payload) >= 1:
        names = ("protect", "amber_warning", "red_stop", "malfunction")
        lamps = {name: (payload[0] >> (2 * i)) & 0x3 == 1 for i, name in enumerate(names)}
    codes: list[Dm1Code] = []
    for start in range(2, len(payload) - 3, 4):
        chunk = payload[start:start + 4]
        if chunk == b"\xff\xff\xff\xff":
            continue
        spn = chunk[0] | (chunk[1] << 8) | ((chunk[2] >> 5) << 16)
        fmi = chunk[2] & 0x1F
        count = chunk[3] & 0x7F
        if spn == 0 and fmi == 0:
            continue
        codes.append(Dm1Code(spn, fmi, None if count == 0x7F else count))
    return lamps, tuple(codes)


def decode_name(name: int) -> dict[str, int | bool]:
    """The fields of a 64-bit J1939 NAME (J1939-81 layout, as coachiq.can.address_claim builds it)."""
    return {"identity": name & 0x1FFFFF, "manufacturer": (name >> 21) & 0x7FF, "ecu_instance": (name >> 32) & 0x7,
            "function_instance": (name >> 35) & 0x1F, "function": (name >> 40) & 0xFF,
            "vehicle_system": (name >> 49) & 0x7F, "vehicle_system_instance": (name >> 56) & 0xF,
            "industry_group": (name >> 60) & 0x7, "arbitrary_address_capable": bool(name >> 63)}


# The event a J1939 reader publishes on the core event bus with a Dm1Report: the diagnostics feature
# (when enabled) subscribes to it, so neither feature imports the other's running code.
DM1_TOPIC: Topic[Dm1Report] = Topic("j1939.dm1")
