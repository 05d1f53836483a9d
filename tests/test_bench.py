"""Helpers of the benchmarks: frame sets, the emulated SLCAN adapter, the API benchmark's clients and bus."""

from __future__ import annotations

from pathlib import Path

from coachiq.bench.decode import bench_decode, every_dgn_frames
from coachiq.rvc.spec_load import load_database


def test_every_dgn_is_in_the_decode_frame_set_at_its_real_length() -> None:
    db = load_database()
    work = every_dgn_frames(per_dgn=2)
    assert {dgn for dgn, _ in work} == {spec.dgn for spec in db}
    for dgn, data in work:
        spec = db.get(dgn)
        assert spec is not None
        if spec.length is not None:
            assert len(data) == spec.length
        else:
            assert len(data) in {len(sample.payload) for sample in spec.samples}


def test_decode_figure_is_a_median_with_its_range() -> None:
    figures = bench_decode([(0.0, 0x19FEDA8E, bytes(8))])
    fps = figures["decode_fps"]
    assert set(fps) == {"median", "min", "max"} and fps["min"] <= fps["median"] <= fps["max"]
    assert figures["decode_frames"] == 1 + len(every_dgn_frames())


def test_slcan_lines_are_read_back_by_python_cans_slcan_interface() -> None:
    import os
    import threading
    import tty

    import can

    from coachiq.bench.slcan import _drain, _play, slcan_line

    assert slcan_line(0x19FEDA8E, bytes.fromhex("01FFC8FCFF0500FF")) == b"T19FEDA8E801FFC8FCFF0500FF\r"
    frames = [(k * 0.001, 0x19FEDA8E + (k << 8), bytes([k, 0xFF, 0, 1, 2, 3, 4, 5])) for k in range(20)]
    master, slave = os.openpty()
    tty.setraw(master)
    stop = threading.Event()
    drain = threading.Thread(target=_drain, args=(master, stop), daemon=True)
    drain.start()
    bus = can.Bus(interface="slcan", channel=os.ttyname(slave), bitrate=250_000, sleep_after_open=0)
    try:
        assert _play(master, frames, stop) == len(frames)
        received = []
        while len(received) < len(frames):
            message = bus.recv(2.0)
            assert message is not None, f"only {len(received)} of {len(frames)} frames arrived"
            received.append((message.arbitration_id, bytes(message.data)))
        assert received == [(can_id, data) for _, can_id, data in frames]
    finally:
        stop.set()
        bus.shutdown()
        drain.join(2)
        os.close(master)
        os.close(slave)


def test_every_planned_command_changes_its_light_and_gaps_are_not_on_a_grid() -> None:
    from coachiq.bench.api import GAP_S, command_plan

    plan = command_plan(200, seed=1)
    last: dict[str, int] = {}
    for entity_id, level, gap in plan:
        assert last.get(entity_id) != level
        last[entity_id] = level
        assert GAP_S[0] <= gap <= GAP_S[1]
    assert len({round(gap, 4) for _, _, gap in plan}) > 150


def test_a_command_not_confirmed_stays_in_the_sample_and_counts_as_a_failure() -> None:
    import time

    from coachiq.bench.api import CLIENT_TIMEOUT_S, CommandSample

    sample = CommandSample()
    now = time.perf_counter()
    sample.add(now, "confirmed")
    sample.add(now, "timed_out")
    sample.add(now, "http 429")
    sample.lost()
    figures = sample.figures()
    assert figures["count"] == 4 and figures["failed"] == 3
    assert figures["failures"] == {"timed_out": 1, "http 429": 1, "no answer": 1}
    assert max(sample.latencies) == CLIENT_TIMEOUT_S * 1000


async def test_the_list_clients_time_every_request_and_tell_bodies_apart() -> None:
    import asyncio
    import itertools

    from coachiq.bench.api import list_clients

    counter = itertools.count()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                body = b'{"n":%d}' % (next(counter) % 3)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        timings, bodies = await list_clients(f"http://127.0.0.1:{port}", 0.2, clients=2)
    assert len(timings) == next(counter) and all(t >= 0 for t in timings)
    assert len(bodies) == 3


def test_the_bus_process_answers_a_dimmer_command_with_its_status_and_reports_what_it_sent(tmp_path: Path) -> None:
    import json
    import select
    import signal
    import socket
    import subprocess
    import sys
    import time

    from coachiq.bench.api import DIMMER_SOURCE
    from coachiq.bench.common import write_log
    from coachiq.can.ids import compose_id, dgn_and_source
    from coachiq.can.reader import CAN_EFF_MASK, CAN_FRAME, pack_frame
    from coachiq.rvc.codec import Codec

    codec = Codec(load_database())
    status_dgn = codec.spec_for("DC_DIMMER_STATUS_3").dgn
    log = write_log(tmp_path / "bus.log", [(k * 0.01, 0x19FFB7AF, bytes([1, k, 0, 0, 0, 0, 0, 0])) for k in range(50)])
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    bus = subprocess.Popen([sys.executable, "-m", "coachiq.bench.api", "--bus", str(theirs.fileno()), "--log",
                            str(log), "--dimmers", "120"], pass_fds=[theirs.fileno()], stdout=subprocess.PIPE,
                           text=True)
    theirs.close()
    try:
        command = codec.encode("DC_DIMMER_COMMAND_2", {"instance": 120, "group": 0xFF, "desired_level": 40.0,
                                                       "command": "set_level", "duration": None})
        ours.send(pack_frame(compose_id(codec.spec_for("DC_DIMMER_COMMAND_2").dgn, 0x8C), command))
        deadline = time.monotonic() + 10
        brightness = None
        while brightness != 40.0:
            assert time.monotonic() < deadline, "no status with the commanded level"
            if not select.select([ours], [], [], 0.5)[0]:
                continue
            can_id, _length, data = CAN_FRAME.unpack(ours.recv(72))
            dgn, source = dgn_and_source(can_id & CAN_EFF_MASK)
            if dgn == status_dgn and source == DIMMER_SOURCE:
                values = codec.decode(dgn, data).values
                assert values["instance"] == 120
                brightness = values["brightness"]
    finally:
        bus.send_signal(signal.SIGTERM)
        out, _ = bus.communicate(timeout=10)
        ours.close()
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["sent"] > 0 and stats["dropped"] == 0 and stats["seconds"] > 0
