"""Log replay from a player process: records, pacing, channels, bad lines, and the player's lifetime."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from coachiq.can import replay as replay_module
from coachiq.can.interface import CanInterfaceService
from coachiq.can.replay import RECORD, play, replay_log
from tests.can.conftest import house, wait_for


def test_play_writes_one_record_per_extended_frame_with_its_channel(tmp_path: Path) -> None:
    log = tmp_path / "two.log"
    log.write_text("(1.0) can0 19FEDA8E#0102\n"
                   "(1.1) can1 19FFB7AF#0011223344556677\n"
                   "(1.2) can0 123#00\n"  # an 11-bit frame: RV-C has none, so it is not played
                   "(1.3) other 19FEDA8E#\n", encoding="utf-8")
    read, write = os.pipe()
    try:
        assert play(log, 0, ["can0", "can1"], write) == 3
        os.close(write)
        data = os.read(read, 4096)
    finally:
        os.close(read)
    assert list(RECORD.iter_unpack(data)) == [
        (0x19FEDA8E, 2, 0, b"\x01\x02" + bytes(6)),
        (0x19FFB7AF, 8, 1, bytes.fromhex("0011223344556677")),
        (0x19FEDA8E, 0, 0xFF, bytes(8)),  # a channel the server does not have
    ]


async def test_frames_go_to_the_interface_of_their_channel(tmp_path: Path, channel: str) -> None:
    house_channel, chassis_channel = f"{channel}-h", f"{channel}-c"
    log = tmp_path / "channels.log"
    log.write_text(f"(1.0) {house_channel} 19FEDA8E#0102\n(1.0) {chassis_channel} 19FEDA8E#0102\n"
                   f"(1.0) {chassis_channel} 19FEDA8E#0103\n(1.0) elsewhere 19FEDA8E#0104\n", encoding="utf-8")
    service = CanInterfaceService([house(house_channel), house(chassis_channel, "chassis")])
    await service.start()
    try:
        assert await replay_log(service, log, speed=0) == 4
        assert service.link("house").stats.rx_frames == 2  # its own frame, and the unknown channel's
        assert service.link("chassis").stats.rx_frames == 2
        assert await replay_log(service, log, speed=0, interface="chassis") == 4
        assert service.link("chassis").stats.rx_frames == 6
    finally:
        await service.stop()


async def test_damaged_lines_are_reported_by_the_player_and_skipped(tmp_path: Path, channel: str,
                                                                    capfd: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "damaged.log"
    log.write_text("(1.0) can0 19FEDA8E#0102\nthis line is damaged\n(1.1) can0 19FEDA8E#0103\n", encoding="utf-8")
    service = CanInterfaceService([house(channel)])
    await service.start()
    try:
        assert await replay_log(service, log, speed=0) == 2
    finally:
        await service.stop()
    assert f"{log}:2: skipped: not a candump -L frame" in capfd.readouterr().err


async def test_a_missing_log_ends_the_replay_with_a_warning(tmp_path: Path, channel: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    service = CanInterfaceService([house(channel)])
    await service.start()
    try:
        assert await replay_log(service, tmp_path / "missing.log", speed=0) == 0
    finally:
        await service.stop()
    assert "ended with status 1" in caplog.text


async def test_cancelling_the_replay_stops_the_player(tmp_path: Path, channel: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "long.log"
    log.write_text("".join(f"({n}.0) can0 19FEDA8E#01{n % 256:02X}\n" for n in range(100)), encoding="utf-8")
    players: list[subprocess.Popen[bytes]] = []
    popen = subprocess.Popen

    def recording(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        player = popen(*args, **kwargs)  # type: ignore[call-overload]
        players.append(player)
        return player

    monkeypatch.setattr(replay_module.subprocess, "Popen", recording)
    service = CanInterfaceService([house(channel)])
    await service.start()
    try:
        task = asyncio.create_task(replay_log(service, log, speed=1))  # 100 s of log
        await wait_for(lambda: service.link("house").stats.rx_frames)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await service.stop()
    assert len(players) == 1 and players[0].returncode is not None  # stopped and reaped


def test_the_player_refuses_a_negative_speed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        replay_module.main(["some.log", "--speed", "-1"])
    assert "--speed must be 0" in capsys.readouterr().err
