"""The RV-C protocol service: decode and publish, send through the codec, multi-packet transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import can
import pytest

from coachiq.can.address_claim import ClaimState
from coachiq.can.interface import CanInterfaceService
from coachiq.core.events import EventBus
from coachiq.core.service import ServiceStartError, Status
from coachiq.rvc.codec import EncodeError
from coachiq.rvc.receive import RvcFrame
from coachiq.rvc.service import FRAME, RvcProtocolService
from coachiq.rvc.spec import SpecDatabase
from coachiq.rvc.spec_load import load_database
from coachiq.rvc.transport import bam_frames
from tests.can.conftest import house, received, wait_for

DIMMER = 0x1FEDA
PRODUCT_IDENTIFICATION = 0xFEEB


@pytest.fixture(scope="module")
def db() -> SpecDatabase:
    return load_database()


@pytest.fixture
async def stack(channel: str) -> AsyncIterator[tuple[CanInterfaceService, RvcProtocolService, list[RvcFrame]]]:
    can_service = CanInterfaceService([house(channel)], rate_limit_s=0.0)
    events = EventBus()
    rvc = RvcProtocolService(can_service, events)
    frames: list[RvcFrame] = []
    events.subscribe(FRAME, frames.append)
    await can_service.start()
    await rvc.start()
    yield can_service, rvc, frames
    await rvc.stop()
    await can_service.stop()


async def test_decodes_new_frames_and_publishes_them(
        stack: tuple[CanInterfaceService, RvcProtocolService, list[RvcFrame]], peer: can.BusABC,
        db: SpecDatabase) -> None:
    can_service, rvc, frames = stack
    sample = db.get(DIMMER).samples[0]  # type: ignore[union-attr]
    can_id = (6 << 26) | (DIMMER << 8) | 0x8E
    peer.send(can.Message(arbitration_id=can_id, data=sample.payload))
    peer.send(can.Message(arbitration_id=can_id, data=sample.payload))
    await wait_for(lambda: can_service.link("house").stats.rx_frames == 2)
    incoming = [f for f in frames if not f.own and f.dgn == DIMMER]
    assert len(incoming) == 1  # the repeat was dropped before decoding
    frame = incoming[0]
    assert (frame.can_id, frame.source_address, frame.interface) == (can_id, 0x8E, "house")
    assert frame.decoded.values == dict(sample.values)
    health = await rvc.health()
    assert health.status is Status.HEALTHY
    assert f"database loaded ({len(db)} DGNs)" in health.detail and "0 decode errors" in health.detail


async def test_unknown_dgns_and_decode_errors_are_counted(
        stack: tuple[CanInterfaceService, RvcProtocolService, list[RvcFrame]], peer: can.BusABC) -> None:
    _can, rvc, _frames = stack
    peer.send(can.Message(arbitration_id=(6 << 26) | (0x1F00A << 8) | 0x10, data=b"\x00" * 8))
    peer.send(can.Message(arbitration_id=(6 << 26) | (DIMMER << 8) | 0x8E, data=b"\x01\x02"))  # too short
    await wait_for(lambda: rvc.receiver.decoded_frames == 2)
    health = await rvc.health()
    assert health.data["unknown_dgns"] == {"0x1F00A": 1}
    assert health.data["decode_errors"] == 1


async def test_send_encodes_and_our_frame_comes_back_as_own(
        stack: tuple[CanInterfaceService, RvcProtocolService, list[RvcFrame]], peer: can.BusABC,
        db: SpecDatabase) -> None:
    _can_service, rvc, frames = stack
    sample = db.get(DIMMER).samples[0]  # type: ignore[union-attr]
    values = {k: v for k, v in sample.values.items() if k != "instance"}
    can_id = await rvc.send("DC_DIMMER_STATUS_3", values, instance=1)
    assert can_id == (6 << 26) | (DIMMER << 8) | 0x8C
    on_wire = [m for m in await received(peer, 0.1) if m.arbitration_id == can_id]
    assert bytes(on_wire[0].data) == sample.payload
    own = [f for f in frames if f.own and f.dgn == DIMMER]
    assert own and own[0].decoded.instance == 1
    with pytest.raises(KeyError, match="unknown DGN"):
        await rvc.send("NO_SUCH_DGN", {})
    with pytest.raises(EncodeError):
        await rvc.send(DIMMER, {"brightness": 1000})


async def test_broadcast_multi_packet_message_is_reassembled(
        stack: tuple[CanInterfaceService, RvcProtocolService, list[RvcFrame]], peer: can.BusABC) -> None:
    _can_service, rvc, frames = stack
    text = b"Acme*Coach 40*SN123*42*"
    for frame in bam_frames(PRODUCT_IDENTIFICATION, text, source_address=0x44):
        peer.send(can.Message(arbitration_id=frame.can_id, data=frame.data))
    found = await wait_for(lambda: [f for f in frames if f.dgn == PRODUCT_IDENTIFICATION])
    assert found[0].decoded.payload == text
    assert found[0].decoded.name == "PRODUCT_IDENTIFICATION"
    assert found[0].source_address == 0x44
    assert rvc.transport_messages == 1


async def test_request_to_send_is_answered_with_clear_to_send(
        stack: tuple[CanInterfaceService, RvcProtocolService, list[RvcFrame]], peer: can.BusABC) -> None:
    can_service, _rvc, _frames = stack
    link = can_service.link("house")
    await wait_for(lambda: link.claimer.state is ClaimState.CLAIMED, timeout=2)
    await received(peer, 0.05)  # the address claim
    rts = bytes((16, 20, 0, 3, 0xFF, 0xEB, 0xFE, 0x00))  # 20 bytes of DGN 0xFEEB in 3 packets
    peer.send(can.Message(arbitration_id=(7 << 26) | (0xEC8C << 8) | 0x44, data=rts))
    answers = await received(peer, 0.2, pf=0xEC)
    assert len(answers) == 1
    assert answers[0].arbitration_id == (7 << 26) | (0xEC44 << 8) | 0x8C
    assert answers[0].data[0] == 17 and answers[0].data[2] == 1  # CTS, starting at packet 1


async def test_invalid_database_stops_start_up(channel: str, tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("family: broken\ndgns: [{dgn: 1}]\n", encoding="utf-8")
    can_service = CanInterfaceService([house(channel)])
    rvc = RvcProtocolService(can_service, EventBus(), spec_directory=tmp_path)
    with pytest.raises(ServiceStartError, match="DGN database is invalid"):
        await rvc.start()
    assert (await rvc.health()).status is Status.STOPPED
