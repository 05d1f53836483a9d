"""A real server on the SocketCAN-shaped path: frames one datagram at a time, a real WebSocket client.

The server process gets one end of a socket pair as its `fd` interface; the test is the bus.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from coachiq.bench.common import bench_coach_file, start_server, stop
from coachiq.bench.feed import Feed

DIMMER_ID = (6 << 26) | (0x1FEDA << 8) | 0x8E  # DC_DIMMER_STATUS_3 from 0x8E: light.bench_N is instance N


def dimmer(instance: int, brightness_raw: int) -> bytes:
    # DC_DIMMER_STATUS_3 (RV-C 2023-11, 6.24.3): byte 0 instance, 1 group, 2 brightness in 0.5 % steps.
    return bytes([instance, 0xFF, brightness_raw, 0xFC, 0xFF, 0xFF, 0xFF, 0xFF])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Feed, str]]:
    feed = Feed()
    env = {**feed.env(), "COACHIQ_COACH": "generic", "COACHIQ_COACH_FILE": str(bench_coach_file(tmp_path))}
    process, base, _ready = start_server(tmp_path / "data", env, pass_fds=[feed.server_fd])
    feed.started()
    try:
        yield feed, base
    finally:
        stop(process)
        feed.close()
        assert process.returncode == 0


def metric(base: str, name: str) -> float:
    for line in httpx.get(base + "/metrics").text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


async def test_frames_one_datagram_at_a_time_reach_a_websocket_client(served: tuple[Feed, str]) -> None:
    feed, base = served
    async with websockets.connect(base.replace("http://", "ws://") + "/api/v2/ws") as ws:
        await ws.send(json.dumps({"type": "subscribe", "all": True}))
        assert json.loads(await ws.recv())["type"] == "snapshot"
        sent = {}
        for instance in (3, 4, 5):
            sent[f"light.bench_{instance}"] = feed.send(DIMMER_ID, dimmer(instance, 2 * 20 * instance))
        updates = {}
        deadline = time.monotonic() + 5
        while len(updates) < 3 and time.monotonic() < deadline:
            message = json.loads(await ws.recv())
            if message["type"] == "update" and message["entity_id"] in sent:
                updates[message["entity_id"]] = (time.time(), message)
        assert set(updates) == set(sent)
        for entity_id, (arrived, message) in updates.items():
            instance = int(entity_id.rsplit("_", 1)[1])
            assert message["values"]["brightness"] == 20 * instance
            assert message["source"] == {"dgn": 0x1FEDA, "source_address": 0x8E}
            # The update carries the frame's time from the kernel, which is when it was sent.
            assert sent[entity_id] <= message["timestamp"] < sent[entity_id] + 0.05 <= arrived + 0.05


async def test_malformed_records_are_counted_and_the_server_reads_on(served: tuple[Feed, str]) -> None:
    feed, base = served
    for record in (b"", b"\x01" * 15, b"\x00" * 72, b"\xff" * 16):
        feed.send_record(record)
    feed.send(DIMMER_ID, dimmer(7, 90))
    deadline = time.monotonic() + 5
    while metric(base, "coachiq_can_rx_frames_total") < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert metric(base, "coachiq_can_refused_records_total") == 3
    assert metric(base, "coachiq_can_errors_total") >= 4  # b"\xff" * 16 is an error frame
    answer = httpx.get(base + "/api/v2/entities/light.bench_7").json()
    assert answer["state"]["brightness"] == 45.0


async def test_what_the_server_transmits_comes_back_as_records(served: tuple[Feed, str]) -> None:
    feed, _base = served
    found = feed.receive(2.0)
    # The address claim (PGN 0xEE00) of source 0x8C, to the global address.
    assert any((can_id >> 8) & 0x3FFFF == 0xEEFF and can_id & 0xFF == 0x8C for _, can_id, _ in found)


def test_the_player_sends_each_frame_at_its_own_time(tmp_path: Path) -> None:
    feed = Feed()
    try:
        frames = [(n * 0.002, DIMMER_ID, dimmer(1 + n % 5, n)) for n in range(200)]
        result = feed.play(frames).wait(30)
        assert [(i, d) for _, i, d in result.sent] == [(i, d) for _, i, d in frames]
        assert not result.dropped
        offsets = [when - result.sent[0][0] for when, _, _ in result.sent]
        # Never before its time; behind only by what this shared machine's scheduler adds.
        assert all(offset >= frame[0] - 0.0005 for offset, frame in zip(offsets, frames, strict=True))
        feed.theirs.settimeout(5)
        received = [feed.theirs.recv(72) for _ in range(200)]
        assert all(len(record) == 16 for record in received)
    finally:
        feed.close()
