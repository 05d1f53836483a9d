"""J1939-81 address claim as a pure state machine: frames in, frames out, time passed in.

The CAN interface service feeds it every received frame and polls it with the current time; it
returns the frames to send. No I/O and no clock of its own, so it is tested without a bus.

Rules implemented:
- Claim the preferred address by sending Address Claimed (DGN 0xEE00 to global) with our NAME.
- A claim for the same address by another node: the lower NAME wins. The winner repeats its claim;
  the loser moves to another free address when it is arbitrary-address capable, otherwise it sends
  Cannot Claim (source address 254) and stays silent.
- A request (DGN 0xEA00) for DGN 0xEE00, global or to our address, is answered with our claim
  (or Cannot Claim when we have none).
- The address counts as ours only 250 ms after our last claim went out without contention.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ADDRESS_CLAIMED_DGN",
    "CLAIM_SETTLE_S",
    "DEFAULT_NAME",
    "NULL_ADDRESS",
    "REQUEST_DGN",
    "AddressClaimer",
    "ClaimState",
    "OutFrame",
    "build_name",
]

ADDRESS_CLAIMED_DGN = 0xEE00
REQUEST_DGN = 0xEA00
NULL_ADDRESS = 254  # the source of Cannot Claim
GLOBAL_ADDRESS = 255
CLAIM_SETTLE_S = 0.250
CLAIM_PRIORITY = 6
# Addresses J1939 sets aside for self-configurable nodes; RV-C devices follow the same convention.
_ARBITRARY_RANGE = range(128, 248)


def build_name(identity: int, manufacturer: int, function: int, *, function_instance: int = 0,
               ecu_instance: int = 0, vehicle_system: int = 0, vehicle_system_instance: int = 0,
               industry_group: int = 0, arbitrary_address_capable: bool = True) -> int:
    """Assemble a 64-bit J1939 NAME from its fields (the lower the NAME, the higher its claim priority)."""
    return ((int(arbitrary_address_capable) << 63) | ((industry_group & 0x7) << 60)
            | ((vehicle_system_instance & 0xF) << 56) | ((vehicle_system & 0x7F) << 49)
            | ((function & 0xFF) << 40) | ((function_instance & 0x1F) << 35) | ((ecu_instance & 0x7) << 32)
            | ((manufacturer & 0x7FF) << 21) | (identity & 0x1FFFFF))


# Arbitrary-address capable, manufacturer code 2047 (reserved for self-built nodes), a fixed identity.
DEFAULT_NAME = build_name(identity=0x0C0A, manufacturer=0x7FF, function=130)


class ClaimState(StrEnum):
    """Where the claim stands."""

    IDLE = "idle"
    CLAIMING = "claiming"
    CLAIMED = "claimed"
    CANNOT_CLAIM = "cannot_claim"


@dataclass(frozen=True, slots=True)
class OutFrame:
    """A frame the claimer wants sent: 29-bit identifier and payload."""

    arbitration_id: int
    data: bytes


def _claim_frame(name: int, source: int) -> OutFrame:
    return OutFrame((CLAIM_PRIORITY << 26) | ((ADDRESS_CLAIMED_DGN | GLOBAL_ADDRESS) << 8) | source,
                    name.to_bytes(8, "little"))


class AddressClaimer:
    """The claim of one node on one bus."""

    def __init__(self, name: int = DEFAULT_NAME, preferred_address: int = 0x8C) -> None:
        """`name` is the 64-bit NAME; `preferred_address` 0-253 is tried first."""
        if not 0 <= name < 1 << 64:
            raise ValueError(f"NAME 0x{name:X} is not a 64-bit value")
        if not 0 <= preferred_address <= 253:
            raise ValueError(f"preferred address {preferred_address} is out of range: allowed 0..253")
        self.name = name
        self.preferred_address = preferred_address
        self.address: int = preferred_address
        self.state = ClaimState.IDLE
        self._claimed_at = 0.0
        self.contentions = 0
        # Addresses other nodes claimed, with their NAMEs: an arbitrary address is picked elsewhere.
        self.others: dict[int, int] = {}

    @property
    def arbitrary_address_capable(self) -> bool:
        """Bit 63 of the NAME: the node may move to another address when it loses."""
        return bool(self.name >> 63)

    def start(self, now: float) -> list[OutFrame]:
        """Begin claiming the preferred address (or restart after a reconnect)."""
        self.address = self.preferred_address
        if self.others.get(self.address, self.name) < self.name:
            return self._lose(now)
        return self._claim(now)

    def _claim(self, now: float) -> list[OutFrame]:
        self.state = ClaimState.CLAIMING
        self._claimed_at = now
        return [_claim_frame(self.name, self.address)]

    def poll(self, now: float) -> None:
        """Let time pass: a claim without contention for 250 ms becomes the node's address."""
        if self.state is ClaimState.CLAIMING and now - self._claimed_at >= CLAIM_SETTLE_S - 1e-9:
            self.state = ClaimState.CLAIMED

    def can_transmit(self, now: float) -> bool:
        """True when frames may go out from `self.address`."""
        self.poll(now)
        return self.state is ClaimState.CLAIMED

    def settle_time(self, now: float) -> float:
        """Seconds until a pending claim settles (0 when not claiming)."""
        if self.state is not ClaimState.CLAIMING:
            return 0.0
        return max(0.0, CLAIM_SETTLE_S - (now - self._claimed_at))

    def on_frame(self, arbitration_id: int, data: bytes, now: float) -> list[OutFrame]:
        """Handle one received frame; returns the frames to send in answer (often none)."""
        pf = (arbitration_id >> 16) & 0xFF
        if pf == 0xEE:
            return self._on_claim(arbitration_id & 0xFF, data, now)
        if pf == 0xEA:
            destination = (arbitration_id >> 8) & 0xFF
            asks_for_claims = len(data) >= 3 and int.from_bytes(data[:3], "little") == ADDRESS_CLAIMED_DGN
            to_us = destination == GLOBAL_ADDRESS or (destination == self.address
                                                      and self.state is not ClaimState.CANNOT_CLAIM)
            if asks_for_claims and to_us:
                return self._answer_request()
        return []

    def _answer_request(self) -> list[OutFrame]:
        if self.state is ClaimState.IDLE:
            return []
        if self.state is ClaimState.CANNOT_CLAIM:
            return [_claim_frame(self.name, NULL_ADDRESS)]
        return [_claim_frame(self.name, self.address)]

    def _on_claim(self, source: int, data: bytes, now: float) -> list[OutFrame]:
        if len(data) < 8 or source == NULL_ADDRESS:
            return []
        other = int.from_bytes(data[:8], "little")
        if other == self.name:
            return []  # our own claim seen on the bus
        self.others[source] = other
        if self.state in (ClaimState.IDLE, ClaimState.CANNOT_CLAIM) or source != self.address:
            return []
        self.contentions += 1
        if self.name < other:
            return self._claim(now) if self.state is ClaimState.CLAIMING else [_claim_frame(self.name, self.address)]
        return self._lose(now)

    def _lose(self, now: float) -> list[OutFrame]:
        if self.arbitrary_address_capable:
            for candidate in _ARBITRARY_RANGE:
                if candidate not in self.others:
                    self.address = candidate
                    return self._claim(now)
        self.state = ClaimState.CANNOT_CLAIM
        self.address = NULL_ADDRESS
        return [_claim_frame(self.name, NULL_ADDRESS)]
