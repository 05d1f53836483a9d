"""The RV-C protocol engine: the DGN database, decode/encode and multi-packet transport.

The database is data (spec.py, loaded and validated by spec_load.py from the YAML files in dgns/);
the codec compiles it. Those modules are pure code: no I/O except reading the packaged DGN files at
load, no asyncio, no module-level state. The RV-C service (service.py, receive.py) sits on the CAN
service and decodes what it receives.
"""

from coachiq.can.ids import CanId, compose_id, dgn_and_source, parse_id
from coachiq.rvc.codec import Codec, Decoded, EncodeError, decoded_to_json
from coachiq.rvc.spec import DgnSpec, FieldSpec, SpecDatabase, SpecError
from coachiq.rvc.spec_load import load_database

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
    "load_database",
    "parse_id",
]
