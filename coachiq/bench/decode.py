"""The decoder's and the receive path's own speed on one core, without a server."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from coachiq.bench.common import Frame, rates


def best_rate(run: Callable[[], None], count: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return count / best


def every_dgn_frames(per_dgn: int = 200, seed: int = 10) -> list[tuple[int, bytes]]:
    """`per_dgn` random payloads of every DGN of the database, each at the DGN's real length.

    Multi-packet DGNs take the lengths of their samples. Random bytes also hit special values and
    unknown enumeration values, as a real bus does now and then.
    """
    from coachiq.rvc.spec import SpecDatabase

    rng = random.Random(seed)
    work = []
    for spec in SpecDatabase.load():
        lengths = [spec.length] if spec.length is not None else sorted({len(s.payload) for s in spec.samples})
        for k in range(per_dgn):
            work.append((spec.dgn, rng.randbytes(lengths[k % len(lengths)])))
    return work


def bench_decode(frames: list[Frame]) -> dict[str, Any]:
    """Decode every payload (no repeat filter) and read every field: the decoder's own speed on one core.

    The frame set is the given log (or the generated one) together with random payloads of every DGN of
    the database at its real length, shuffled; the figure is the median of 7 rounds, with min and max.
    """
    from coachiq.rvc.codec import Codec
    from coachiq.rvc.spec import SpecDatabase

    codec = Codec(SpecDatabase.load())
    work = [((can_id >> 8) & 0x3FFFF, data) for _, can_id, data in frames] + every_dgn_frames()
    random.Random(11).shuffle(work)
    decode = codec.decode

    def run() -> None:
        for dgn, data in work:
            for _value in decode(dgn, data).values.values():
                pass

    found = rates(run, len(work))
    return {"decode_fps": round(found[len(found) // 2]), "decode_fps_min": round(found[0]),
            "decode_fps_max": round(found[-1]), "decode_frames": len(work)}


def bench_pipeline(frames: list[Frame]) -> dict[str, Any]:
    """The receive path with decoding and a subscriber: repeat filter, decode, statistics, publish.

    Frames go through in the batches a reader hands over at full bus load (50 ms of traffic, as
    `serve --replay` reads them); pipeline_single_fps is the same path one frame at a time.
    """
    from coachiq.can.pipeline import InterfaceStats, ReceivePipeline, instance_bytes
    from coachiq.rvc.codec import Codec
    from coachiq.rvc.spec import SpecDatabase

    db = SpecDatabase.load()
    codec = Codec(db)
    instances = instance_bytes(db)
    published = [0]

    def publish(_frame: object) -> None:
        published[0] += 1

    batch = 90
    batches = [(frames[i][0], [(can_id, data) for _, can_id, data in frames[i:i + batch]])
               for i in range(0, len(frames), batch)]

    def run_batches() -> None:
        pipeline = ReceivePipeline(codec, instances, publish)
        stats = InterfaceStats("house")
        for timestamp, read in batches:
            pipeline.process_batch(timestamp, read, stats)

    def run_single() -> None:
        pipeline = ReceivePipeline(codec, instances, publish)
        stats = InterfaceStats("house")
        process = pipeline.process
        for timestamp, can_id, data in frames:
            process(timestamp, can_id, data, stats)

    rate = best_rate(run_batches, len(frames))
    bus_fps = 1900
    return {"pipeline_fps": round(rate), "pipeline_full_bus_core_percent": round(100 * bus_fps / rate, 3),
            "pipeline_single_fps": round(best_rate(run_single, len(frames)))}
