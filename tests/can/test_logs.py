"""CAN logs: candump parsing, `coachiq decode`, `coachiq spec`, and replay through the receive path."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

import can
import pytest

from coachiq.can.interface import CanInterfaceService
from coachiq.can.logs import LogError, LogFrame, parse_candump_line, read_log
from coachiq.can.pipeline import ReceivePipeline
from coachiq.can.replay import BATCH_S, replay_log
from coachiq.cli import main
from coachiq.rvc.receive import RvcReceiver
from coachiq.rvc.spec_load import load_database
from tests.can.conftest import house

DIMMER = 0x1FEDA


@pytest.fixture(scope="module")
def dimmer_payload() -> bytes:
    spec = load_database().get(DIMMER)
    assert spec is not None
    return spec.samples[0].payload


def test_parse_candump_line() -> None:
    frame = parse_candump_line("(1700000000.000556) can0 19FEDA8E#02C6E9BBE814A2E2\n")
    assert frame == LogFrame(1700000000.000556, "can0", 0x19FEDA8E, bytes.fromhex("02C6E9BBE814A2E2"))
    assert parse_candump_line("(1.5) vcan0 123#").extended is False
    assert parse_candump_line("(1.5) can0 19FEDA8E#").data == b""


@pytest.mark.parametrize(("line", "reason"), [
    ("garbage", "not a candump -L frame"),
    ("(1.0) can0 19FEDA8E#0102030", "odd number of hex digits"),
    ("(1.0) can0 19FEDA8E#010203040506070809", "at most 8"),
    ("(1.0) can0 3FFFFFFF#00", "wider than 29 bits"),
    ("(1.0) can0 19FEDA8E##1000102", "CAN FD"),
    ("(1.0) can0 19FEDA8E#R", "not a candump -L frame"),
])
def test_bad_candump_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_candump_line(line)


def write_log(path: Path, payload: bytes) -> Path:
    path.write_text(
        f"(1700000000.000000) can0 19FEDA8E#{payload.hex().upper()}\n"
        "this line is damaged\n"
        "\n"
        f"(1700000000.100000) can0 19FEDA8E#{payload.hex().upper()}\n"
        "(1700000000.2) can0 19FEDA8E#01FF\n"
        "(1700000000.300000) can0 19FEDA8E#0102030\n"
        "(1700000000.400000) can0 19F00A10#0000000000000000\n",
        encoding="utf-8")
    return path


def test_read_log_reports_bad_lines_and_keeps_going(tmp_path: Path, dimmer_payload: bytes) -> None:
    items = list(read_log(write_log(tmp_path / "coach.log", dimmer_payload)))
    assert [type(i).__name__ for i in items] == ["LogFrame", "LogError", "LogFrame", "LogFrame", "LogError",
                                                 "LogFrame"]
    errors = [i for i in items if isinstance(i, LogError)]
    assert [e.line for e in errors] == [2, 6]


def test_decode_cli_prints_json_lines_and_reports_bad_lines(tmp_path: Path, dimmer_payload: bytes,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["decode", str(write_log(tmp_path / "coach.log", dimmer_payload))])
    out, err = capsys.readouterr()
    assert status == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 4
    first = lines[0]
    assert {"timestamp", "can_id", "priority", "source_address", "dgn", "name", "instance", "values",
            "errors"} <= set(first)
    assert (first["can_id"], first["dgn"], first["priority"], first["source_address"]) == (
        0x19FEDA8E, DIMMER, 6, 0x8E)
    assert first["name"] == "DC_DIMMER_STATUS_3" and first["instance"] == 1
    assert first["values"]["brightness"] == 100.0 and first["errors"] == []
    assert lines[2]["errors"]  # the 2-byte payload is reported, not fatal
    assert lines[3]["name"] is None and lines[3]["errors"]
    assert "coach.log:2:" in err and "coach.log:6:" in err and "odd number" in err
    assert "2 line(s)" in err


def test_decode_cli_reads_other_formats_through_python_can(tmp_path: Path, dimmer_payload: bytes,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "coach.asc"
    with can.ASCWriter(path) as writer:
        writer.on_message_received(can.Message(timestamp=1.0, arbitration_id=0x19FEDA8E, data=dimmer_payload))
    assert main(["decode", str(path)]) == 0
    out, _err = capsys.readouterr()
    assert json.loads(out.splitlines()[0])["name"] == "DC_DIMMER_STATUS_3"


def test_decode_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", str(tmp_path / "nope.log")]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("typed", ["1FEDA", "0x1FEDA", "0x1feda", str(DIMMER), "DC_DIMMER_STATUS_3",
                                   "dc_dimmer_status_3"])
def test_spec_show_accepts_hex_decimal_and_names(typed: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "show", typed]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["dgn"] == DIMMER and shown["name"] == "DC_DIMMER_STATUS_3"


def test_spec_list_docs_and_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(entry["dgn"] == DIMMER for entry in listed)
    assert main(["spec", "list"]) == 0
    assert "0x1FEDA  DC_DIMMER_STATUS_3" in capsys.readouterr().out
    assert main(["spec", "docs"]) == 0
    assert "DC_DIMMER_STATUS_3" in capsys.readouterr().out
    assert main(["spec", "show", "NOPE"]) == 1
    assert "unknown DGN NOPE" in capsys.readouterr().err


async def test_replay_feeds_the_receive_path(channel: str, tmp_path: Path, dimmer_payload: bytes) -> None:
    log = write_log(tmp_path / "coach.log", dimmer_payload)
    service = CanInterfaceService([house(channel)], pipeline=ReceivePipeline(RvcReceiver()))
    await service.start()
    try:
        stats = service.link("house").stats
        before = time.time()
        assert await replay_log(service, log, speed=0) == 4
        assert stats.rx_frames == 4
        assert stats.dropped_repeats == 1  # the same payload twice, dropped by the RV-C receiver
        assert stats.last_rx_time is not None and stats.last_rx_time >= before  # stamped now, not in 2023
        with pytest.raises(KeyError, match="no CAN interface"):
            await replay_log(service, log, speed=0, interface="chassis")
        with pytest.raises(ValueError, match="speed"):
            await replay_log(service, log, speed=-1)
    finally:
        await service.stop()


async def test_replay_keeps_the_log_timing_scaled_by_speed(channel: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "timed.log"
    log.write_text("".join(f"(100.{n}00000) can0 19FEDA8E#0{n}FFFFFFFFFFFFFF\n" for n in range(4)), encoding="utf-8")
    service = CanInterfaceService([house(channel)])
    await service.start()
    received: list[float] = []
    inject = service.inject_batch

    def timed(interface: str, timestamp: float, frames: Iterable[tuple[int, bytes]]) -> None:
        frames = list(frames)
        received.extend(timestamp for _ in frames)
        inject(interface, timestamp, frames)

    monkeypatch.setattr(service, "inject_batch", timed)
    try:
        assert await replay_log(service, log, speed=2.0) == 4  # 0.3 s of log at double speed
        # Handed over on the player's batch grid, so each frame may be up to one batch late; a busy machine
        # can make the player later still, but never early: the lower bound is tight, the upper one loose.
        assert len(received) == 4
        spread = received[-1] - received[0]
        assert 0.15 - BATCH_S - 0.02 <= spread < 0.15 + BATCH_S + 0.5, spread
    finally:
        await service.stop()


def test_read_log_repeated_lines_keep_their_own_time_and_bad_times_are_reported(tmp_path: Path) -> None:
    log = tmp_path / "repeats.log"
    log.write_text("(1.5) can0 19FEDA8E#01FF\n(2.25) can0 19FEDA8E#01FF\n(.5) can0 19FEDA8E#01FF\n"
                   "(3.) can0 19FEDA8E#01FF\n(x) can0 19FEDA8E#01FF\n  (4) can0 19FEDA8E#01FF  \n", encoding="utf-8")
    items = list(read_log(log))
    frames = [i for i in items if isinstance(i, LogFrame)]
    assert [f.timestamp for f in frames] == [1.5, 2.25, 4.0]
    assert all(f.arbitration_id == 0x19FEDA8E and f.data == b"\x01\xff" and f.channel == "can0" for f in frames)
    assert [i.line for i in items if isinstance(i, LogError)] == [3, 4, 5]
