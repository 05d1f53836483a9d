"""Golden test: a recorded candump log decodes to exactly the committed JSON lines.

Regenerate the expected file after a deliberate change (and review the diff by hand):

    PYTHONPATH=. python tests/rvc/test_golden.py --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import can

from coachiq.can.ids import compose_id, dgn_and_source, is_pdu1
from coachiq.rvc.codec import Codec, decoded_to_json
from coachiq.rvc.spec_load import load_database
from coachiq.rvc.transport import TransportReceiver

DATA = Path(__file__).parent / "data"
LOG = DATA / "golden.log"
EXPECTED = DATA / "golden.jsonl"


def render_golden(codec: Codec) -> str:
    """Decode golden.log into JSON lines; reassembled multi-packet messages follow their last frame."""
    receiver = TransportReceiver()  # a listener without an address: broadcast transfers only
    lines: list[dict[str, Any]] = []
    for message in can.io.CanutilsLogReader(LOG):
        can_id, data, timestamp = message.arbitration_id, bytes(message.data), round(message.timestamp, 6)
        dgn, _ = dgn_and_source(can_id)
        lines.append(decoded_to_json(codec.decode(dgn, data), can_id, timestamp))
        result = receiver.feed(can_id, data, timestamp)
        if result.message is not None:
            whole = result.message
            destination = whole.destination if is_pdu1(whole.dgn) else None
            whole_id = compose_id(whole.dgn, whole.source_address, 6, destination)
            line = decoded_to_json(codec.decode(whole.dgn, whole.data), whole_id, timestamp)
            line["transport"] = "bam"
            lines.append(line)
    return "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)


def test_golden_log_decodes_to_expected_json(codec: Codec) -> None:
    expected = EXPECTED.read_text()
    actual = render_golden(codec)
    assert actual == expected, (
        "decoding tests/rvc/data/golden.log changed; if the change is intended, regenerate with "
        "`PYTHONPATH=. python tests/rvc/test_golden.py --write` and review the diff"
    )


def test_golden_spot_checks() -> None:
    # Values worked out by hand from the frames, independent of golden.jsonl.
    lines = [json.loads(line) for line in EXPECTED.read_text().splitlines()]
    assert len(lines) == 31
    claim = lines[0]
    assert claim["name"] == "ADDRESS_CLAIMED" and claim["source_address"] == 0x80
    assert claim["values"]["identity_number"] == 0x12345 and claim["values"]["manufacturer_code_high"] == 125
    bam = [line for line in lines if line.get("transport") == "bam"]
    assert len(bam) == 1 and bam[0]["values"] == {"identification": "ACME*RV42*SN12345*"}
    assert bam[0]["name"] == "PRODUCT_IDENTIFICATION" and bam[0]["source_address"] == 0x80
    dimmer = lines[4]
    assert dimmer["name"] == "DC_DIMMER_STATUS_3" and dimmer["instance"] == 1
    assert dimmer["values"]["brightness"] == 100.0 and dimmer["units"]["brightness"] == "%"
    unknown = next(line for line in lines if line["dgn"] == 0x1FABC)
    assert unknown["name"] is None and unknown["errors"] == ["unknown DGN 0x1FABC"]
    short = next(line for line in lines if line["timestamp"] == 1764240000.35)
    assert short["values"] == {"instance": 1, "group": 255, "brightness": 100.0}
    assert short["errors"][0].startswith("payload is 3 bytes, DC_DIMMER_STATUS_3 needs 8; missing: lock_status")
    dm = next(line for line in lines if line["source_address"] == 0x81 and line["dgn"] == 0x1FECA)
    assert dm["values"]["dsa"] is None and dm["raw"]["dsa"] == 0xFF and dm["values"]["fmi"] == "not_available"
    nak = next(line for line in lines if line["name"] == "ACKNOWLEDGMENT")
    assert nak["values"]["control"] == "nak" and nak["values"]["acknowledged_dgn"] == 0x1FEDB
    # RV-C sends every message as 8 bytes, the request for a DGN included (RV-C 3.2.4.3)
    rvc_request = lines[-2]
    assert rvc_request["values"] == {"requested_dgn": 0x1FEDA, "instance": None, "instance_bank": None}
    assert rvc_request["errors"] == []
    j1939_request = lines[1]
    assert j1939_request["values"] == {"requested_dgn": 0xFEEB}
    assert j1939_request["errors"] == ["payload is 3 bytes, REQUEST needs 8; missing: instance, instance_bank"]


if __name__ == "__main__":
    if "--write" not in sys.argv[1:]:
        sys.stdout.write(render_golden(Codec(load_database())))
    else:
        EXPECTED.write_text(render_golden(Codec(load_database())))
