"""Properties over every DGN of the packaged database: decode never raises, and decode/encode round-trip."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coachiq.rvc.codec import Codec
from coachiq.rvc.spec import DgnSpec
from coachiq.rvc.spec_load import load_database

_DB = load_database()
_CODEC = Codec(_DB)
_SPECS = list(_DB)
_FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _declared_length_payloads(draw: st.DrawFn) -> tuple[DgnSpec, bytes]:
    spec = draw(st.sampled_from(_SPECS))
    if spec.length is not None:
        size = spec.length
    else:
        fixed = max((f.byte for f in spec.fields), default=0)
        size = draw(st.integers(min_value=fixed, max_value=min(spec.max_length, 64)))
    return spec, draw(st.binary(min_size=size, max_size=size))


@_FAST
@given(dgn=st.one_of(st.sampled_from([s.dgn for s in _SPECS]), st.integers(0, 0x3FFFF)),
       payload=st.binary(max_size=64))
def test_decode_never_raises(dgn: int, payload: bytes) -> None:
    decoded = _CODEC.decode(dgn, payload)
    assert decoded.payload == payload
    for name in decoded.special:
        assert decoded.values[name] is None
        assert name in decoded.raw
    spec = _DB.get(dgn)
    if spec is None:
        assert decoded.errors == (f"unknown DGN 0x{dgn:05X}",)
    elif spec.length is not None and len(payload) == spec.length:
        assert decoded.errors == ()
        assert set(decoded.values) == {f.name for f in spec.fields}


@_FAST
@given(case=_declared_length_payloads())
def test_encode_decoded_round_trips(case: tuple[DgnSpec, bytes]) -> None:
    spec, payload = case
    decoded = _CODEC.decode(spec.dgn, payload)
    assert _CODEC.encode_decoded(decoded) == payload


@_FAST
@given(case=_declared_length_payloads())
def test_values_alone_rebuild_the_covered_bits(case: tuple[DgnSpec, bytes]) -> None:
    # Without a base only the bits no field covers may differ (they come out as 1s).
    spec, payload = case
    decoded = _CODEC.decode(spec.dgn, payload)
    plain = {k: v for k, v in decoded.values.items() if k not in decoded.special}
    raw = {k: decoded.raw[k] for k in decoded.special}
    rebuilt = _CODEC.encode(spec.dgn, plain, raw=raw, check_limits=False)
    assert _CODEC.decode(spec.dgn, rebuilt).values == decoded.values
