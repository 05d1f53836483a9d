"""The RV-C protocol engine: identifiers, the DGN database, decode/encode and multi-packet transport.

Pure code: no I/O except reading the packaged spec files at load, no asyncio, no module-level state.
"""

from coachiq.can.ids import CanId, compose_id, dgn_and_source, parse_id
from coachiq.rvc.codec import Codec, Decoded, EncodeError, decoded_to_json
from coachiq.rvc.spec import DgnSpec, FieldSpec, SpecDatabase, SpecError

__all__ = [
    "CanId",
    "Codec",
    "Decoded",
    "DgnSpec",
    "EncodeError",
    "FieldSpec",
    "SpecDatabase",
    "SpecError",
    "compose_id",
    "decoded_to_json",
    "dgn_and_source",
    "parse_id",
]
