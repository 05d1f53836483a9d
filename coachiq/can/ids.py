"""29-bit RV-C / J1939 CAN identifiers: split into fields and built from them.

Layout of the identifier (most significant bit first)::

    priority (3) | extended data page (1) | data page (1) | PF (8) | PS (8) | source address (8)

When PF < 0xF0 (PDU1) PS is the destination address and the DGN's low byte is 0; when PF >= 0xF0
(PDU2) PS is part of the DGN and the message is broadcast. RV-C never sets the extended data page, but
it is kept as bit 17 of the DGN so that nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GLOBAL_ADDRESS",
    "MAX_DGN",
    "CanId",
    "compose_id",
    "dgn_and_source",
    "is_pdu1",
    "parse_id",
]

GLOBAL_ADDRESS = 0xFF
MAX_DGN = 0x3FFFF
_MAX_ID = (1 << 29) - 1


@dataclass(frozen=True, slots=True)
class CanId:
    """The fields of one 29-bit identifier."""

    priority: int
    data_page: int
    pf: int
    ps: int
    source_address: int
    dgn: int
    destination: int | None

    @property
    def arbitration_id(self) -> int:
        """The 29-bit identifier these fields came from."""
        return (self.priority << 26) | ((self.dgn | (self.destination or 0)) << 8) | self.source_address


def is_pdu1(dgn: int) -> bool:
    """True when the DGN is destination-specific (PF below 0xF0), so its PS byte is an address."""
    return (dgn & 0xFF00) < 0xF000


def parse_id(arbitration_id: int) -> CanId:
    """Split a 29-bit identifier into its fields; raise ValueError when it is not a 29-bit value."""
    if not 0 <= arbitration_id <= _MAX_ID:
        raise ValueError(f"arbitration_id 0x{arbitration_id:X} is not a 29-bit identifier")
    pf = (arbitration_id >> 16) & 0xFF
    ps = (arbitration_id >> 8) & 0xFF
    dgn = (arbitration_id >> 8) & MAX_DGN
    destination: int | None = None
    if pf < 0xF0:
        destination = ps
        dgn &= ~0xFF
    return CanId(
        priority=(arbitration_id >> 26) & 0x7,
        data_page=(arbitration_id >> 24) & 0x1,
        pf=pf,
        ps=ps,
        source_address=arbitration_id & 0xFF,
        dgn=dgn,
        destination=destination,
    )


def dgn_and_source(arbitration_id: int) -> tuple[int, int]:
    """Hot-loop shortcut for parse_id: (dgn, source address) with shifts only and no validation."""
    dgn = (arbitration_id >> 8) & MAX_DGN
    if (dgn & 0xFF00) < 0xF000:
        dgn &= 0x3FF00
    return dgn, arbitration_id & 0xFF


def compose_id(dgn: int, source_address: int, priority: int = 6, destination: int | None = None) -> int:
    """Build a 29-bit identifier.

    For a PDU1 DGN (PF < 0xF0) the low byte of `dgn` must be 0 and `destination` defaults to the global
    address 0xFF; for a PDU2 DGN `destination` must be None. Raises ValueError naming the bad argument.
    """
    if not 0 <= dgn <= MAX_DGN:
        raise ValueError(f"dgn 0x{dgn:X} is out of range: allowed 0x0..0x{MAX_DGN:X}")
    if not 0 <= source_address <= 0xFF:
        raise ValueError(f"source_address {source_address} is out of range: allowed 0..255")
    if not 0 <= priority <= 7:
        raise ValueError(f"priority {priority} is out of range: allowed 0..7")
    if is_pdu1(dgn):
        if dgn & 0xFF:
            raise ValueError(
                f"dgn 0x{dgn:X} is destination-specific (PF < 0xF0): its low byte must be 0, "
                "pass the address as destination"
            )
        if destination is None:
            destination = GLOBAL_ADDRESS
        if not 0 <= destination <= 0xFF:
            raise ValueError(f"destination {destination} is out of range: allowed 0..255")
        return (priority << 26) | ((dgn | destination) << 8) | source_address
    if destination is not None:
        raise ValueError(f"destination must be None for broadcast dgn 0x{dgn:X} (PF >= 0xF0)")
    return (priority << 26) | (dgn << 8) | source_address
