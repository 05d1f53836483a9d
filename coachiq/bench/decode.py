"""The decoder's own speed on one core, without a server.

There is no figure here for the receive path as a whole. A pipeline driven in process with a
subscriber that does nothing measured a path no coach runs (no entities, state, hub or persistence
behind it, frames handed over in batches no reader makes); the cost of a frame at full bus is the
server's CPU on the SocketCAN-shaped path instead (coachiq/bench/realtime.py, full_load_cpu_percent:
reader, repeat filter, decode, entities, state, hub and persistence, in the running server).
"""

from __future__ import annotations

import random
from typing import Any

from coachiq.bench.common import Frame, rates, spread


def every_dgn_frames(per_dgn: int = 200, seed: int = 10) -> list[tuple[int, bytes]]:
    """`per_dgn` random payloads of every DGN of the database, each at the DGN's real length.

    Multi-packet DGNs take the lengths of their samples. Random bytes also hit special values and
    unknown enumeration values, as a real bus does now and then.
    """
    from coachiq.rvc.spec_load import load_database

    rng = random.Random(seed)
    work = []
    for spec in load_database():
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
    from coachiq.rvc.spec_load import load_database

    codec = Codec(load_database())
    work = [((can_id >> 8) & 0x3FFFF, data) for _, can_id, data in frames] + every_dgn_frames()
    random.Random(11).shuffle(work)
    decode = codec.decode

    def run() -> None:
        for dgn, data in work:
            for _value in decode(dgn, data).values.values():
                pass

    return {"decode_fps": spread(rates(run, len(work)), 0), "decode_frames": len(work)}
