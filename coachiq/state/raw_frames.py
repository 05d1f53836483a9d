"""Which raw frames the maintenance tool may put on the bus: an allow-list that refuses by default.

A raw frame goes around the entity manager, and so around the interlocks. It is allowed only when it
cannot move, reset or reconfigure anything:

- status broadcasts (a node telling its state), except the chassis and J1939 ones, which the vehicle
  state and other nodes' interlocks read;
- REQUEST (0xEA00), which only asks a node to send one of its own messages;
- DC_DIMMER_COMMAND_2 to one light output: a single instance (1..250) that the coach mapping knows as
  a light and no moving device uses, not a group command, no interlock bits, and only the commands
  that switch or dim (set level, on, off, stop, toggle, the ramps).

Everything else is refused with the reason: unknown DGNs, a DGN with the reserved (extended data page)
bit set, a destination-specific DGN with a destination in its low byte, transport-protocol frames,
network management (address claim, reset, instance assignment, download, terminal), chassis frames,
and every other command. Facts from the RV-C document (rev 2023-11): section 6.24.6 for the dimmer
command's bytes (instance 0xFF and a group byte other than 0xFF are group commands; interlock in byte 5
bits 0-1; command codes 00h-05h and 11h-16h set, switch and ramp, 21h/22h lock and unlock), 3.2 for
the DGN's bits (reserved, data page, PDU format).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from coachiq.rvc.spec import SpecDatabase

__all__ = ["RawFramePolicy"]

RESERVED_BIT = 0x20000  # bit 17 of a DGN (J1939's extended data page): RV-C never sets it
PDU2_FIRST_PF = 0xF0  # PDU format below this: destination-specific, the low byte is the destination
REQUEST = 0xEA00
TRANSPORT_PF = frozenset({0xEB, 0xEC})  # TP.DT and TP.CM
ADDRESS_CLAIM_PF = 0xEE
NETWORK_MANAGEMENT = {
    0xE800: "ACKNOWLEDGMENT", 0xFED8: "COMMANDED_ADDRESS", 0x17F00: "GENERAL_RESET", 0x17E00: "TERMINAL",
    0x17D00: "DOWNLOAD", 0x17C00: "INSTANCE_ASSIGNMENT", 0x1FED6: "MFG_SPECIFIC_CLAIM_REQUEST",
    0x1FDD1: "DEVICE_STATE_SYNCHRONIZATION",
}
REFUSED_FAMILIES = frozenset({"chassis", "j1939"})
DIMMER_COMMAND_2 = "DC_DIMMER_COMMAND_2"
# set level, on (duration), on (delay), off (delay), stop, toggle; ramp brightness .. ramp up/down toggle
DIMMER_SWITCHING = frozenset({0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16})


@dataclass(frozen=True)
class RawFramePolicy:
    """The allow-list decision for one coach: the DGN database and the light outputs of its mapping."""

    database: SpecDatabase
    light_outputs: frozenset[int]

    @classmethod
    def for_coach(cls, database: SpecDatabase, lights: Iterable[int], other_outputs: Iterable[int]
                  ) -> RawFramePolicy:
        """`lights`: dimmer instances of lights; `other_outputs`: instances anything else drives (motors)."""
        return cls(database, frozenset(lights) - frozenset(other_outputs))

    def refusal(self, dgn: int, data: bytes, destination: int | None) -> str | None:
        """Why this frame must not be sent, or None when the allow-list admits it."""
        if dgn < 0 or dgn & ~0x3FFFF:
            return f"DGN 0x{dgn:X} is not an 18-bit DGN"
        if dgn & RESERVED_BIT:
            return (f"DGN 0x{dgn:05X} has the reserved bit set: some nodes ignore that bit and would act on "
                    f"0x{dgn & ~RESERVED_BIT:05X}; refused")
        pdu_format = (dgn >> 8) & 0xFF
        if pdu_format < PDU2_FIRST_PF and dgn & 0xFF:
            return (f"DGN 0x{dgn:05X} is destination-specific and its low byte must be 0: send "
                    f"0x{dgn & ~0xFF:05X} with destination {dgn & 0xFF}")
        if pdu_format in TRANSPORT_PF:
            return "transport-protocol frames are the server's own (multi-packet transfers); refused"
        if pdu_format == ADDRESS_CLAIM_PF or dgn in NETWORK_MANAGEMENT:
            name = NETWORK_MANAGEMENT.get(dgn, "ADDRESS_CLAIMED")
            return f"{name} is network management (addresses, resets, instances, software): refused"
        if dgn == REQUEST:
            return None if len(data) == 3 else "a REQUEST carries the 3-byte number of the DGN asked for"
        spec = self.database.get(dgn)
        if spec is None:
            return f"DGN 0x{dgn:05X} is not on the allow-list (not in the DGN database)"
        if spec.family in REFUSED_FAMILIES:
            return f"{spec.name} is a chassis frame: the vehicle state and the interlocks depend on them; refused"
        if spec.kind == "status":
            return None
        if spec.name == DIMMER_COMMAND_2:
            return self._dimmer_refusal(data, destination)
        return (f"{spec.name} is a command that may move, reset or reconfigure a device: not on the allow-list; "
                "use the entity's commands, which pass the safety gate")

    def _dimmer_refusal(self, data: bytes, destination: int | None) -> str | None:
        if len(data) < 8:
            return f"{DIMMER_COMMAND_2} is 8 bytes long, got {len(data)}"
        instance, group, command, interlock = data[0], data[1], data[3], data[5] & 0x03
        if instance == 0xFF or group != 0xFF:
            return f"{DIMMER_COMMAND_2} group commands (instance 0xFF or a group byte) are refused"
        if instance not in self.light_outputs:
            return (f"{DIMMER_COMMAND_2} instance {instance} is not a light of this coach's mapping (or a motor "
                    "uses it): refused")
        if command not in DIMMER_SWITCHING:
            return f"{DIMMER_COMMAND_2} command 0x{command:02X} is not one that switches or dims a light: refused"
        if interlock in (0x01, 0x02):
            return f"{DIMMER_COMMAND_2} with an interlock bit set pairs with another node's command: refused"
        return None
