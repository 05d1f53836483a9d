"""The decode benchmark's frame set: every DGN of the database, each at its real length."""

from __future__ import annotations

from coachiq.bench.decode import bench_decode, every_dgn_frames
from coachiq.rvc.spec import SpecDatabase


def test_every_dgn_is_in_the_decode_frame_set_at_its_real_length() -> None:
    db = SpecDatabase.load()
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
    assert figures["decode_fps_min"] <= figures["decode_fps"] <= figures["decode_fps_max"]
    assert figures["decode_frames"] == 1 + len(every_dgn_frames())
