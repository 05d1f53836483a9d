"""DM1 (PGN 65226, active diagnostic trouble codes): the lamps and every code of a single or BAM message.

Layout (J1939-73 as the DM_1 entry of coachiq/rvc/dgns/j1939.yaml describes it, with the SPNs the
J1939 Digital Annex lists for PGN 65226: 987, 624, 623, 1213 lamps, 3038-3041 flash, 1214 SPN,
1215 FMI, 1216 occurrence count, 1706 conversion method):

    byte 0   lamps, 2 bits each from bit 0: protect, amber warning, red stop, malfunction (0 off, 1 on)
    byte 1   their flash states, same order
    then 4 bytes per code:
      bytes 0-1  SPN bits 0-15, little-endian
      byte 2     bits 0-4 FMI, bits 5-7 SPN bits 16-18
      byte 3     bits 0-6 occurrence count (127: not available), bit 7 SPN conversion method

One code fits a single frame (padded with 0xFF to 8 bytes); more travel by the transport protocol
(BAM), which the RV-C service reassembles. SPN 0 with FMI 0 means "no active code". Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LAMPS", "Dm1", "TroubleCode", "parse_dm1"]

LAMPS = ("protect", "amber_warning", "red_stop", "malfunction")
_LAMP_STATES = {0: "off", 1: "on"}  # 2 error, 3 not available -> None
_NOT_AVAILABLE_COUNT = 127


@dataclass(frozen=True, slots=True)
class TroubleCode:
    """One active code: suspect parameter, failure mode, occurrence count (None: not available)."""

    spn: int
    fmi: int
    occurrences: int | None

    def to_json(self) -> dict[str, int | None]:
        """The entity/API shape."""
        return {"spn": self.spn, "fmi": self.fmi, "occurrences": self.occurrences}


@dataclass(frozen=True, slots=True)
class Dm1:
    """A decoded DM1: lamp states ("on", "off" or None) and the active codes."""

    lamps: dict[str, str | None]
    codes: tuple[TroubleCode, ...]
    errors: tuple[str, ...] = ()


def parse_dm1(payload: bytes) -> Dm1:
    """Decode a DM1 payload (8 bytes, or 2 + 4 per code from a BAM). Never raises: problems go to errors."""
    errors: list[str] = []
    if len(payload) < 2:
        return Dm1(dict.fromkeys(LAMPS), (), (f"DM1 needs at least 2 bytes, got {len(payload)}",))
    lamps = {name: _LAMP_STATES.get((payload[0] >> (2 * i)) & 0x3) for i, name in enumerate(LAMPS)}
    body = payload[2:]
    if len(payload) == 8:
        body = body[:4]  # one code; bytes 6-7 are padding
    elif len(body) % 4:
        errors.append(f"DM1 of {len(payload)} bytes: {len(body) % 4} trailing byte(s) ignored")
        body = body[:len(body) - len(body) % 4]
    codes = []
    for at in range(0, len(body), 4):
        low, high, fmi_byte, count_byte = body[at], body[at + 1], body[at + 2], body[at + 3]
        spn = low | (high << 8) | ((fmi_byte >> 5) << 16)
        fmi = fmi_byte & 0x1F
        if spn == 0 and fmi == 0:
            continue  # "no active code"
        if spn == 0x7FFFF and fmi == 0x1F:
            continue  # all ones: padding / not available
        count = count_byte & 0x7F
        codes.append(TroubleCode(spn, fmi, None if count == _NOT_AVAILABLE_COUNT else count))
    return Dm1(lamps, tuple(codes), tuple(errors))
