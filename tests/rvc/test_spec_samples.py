"""Every sample of every DGN in the packaged database decodes to its values and encodes back.

Parametrized over the database as loaded, so a new YAML file in coachiq/rvc/dgns/ is picked up.
"""

from __future__ import annotations

from typing import Any

import pytest

from coachiq.rvc.codec import Codec
from coachiq.rvc.spec import DgnSpec, Sample
from coachiq.rvc.spec_load import load_database

_DB = load_database()
_CASES = [
    pytest.param(spec, sample, id=f"{spec.name}-{index + 1}")
    for spec in _DB
    for index, sample in enumerate(spec.samples)
]


def _comparable(value: Any) -> Any:
    # bytes fields are written in samples as hex text
    return value.hex().upper() if isinstance(value, bytes) else value


def _expected(value: Any) -> Any:
    return value.replace(" ", "").upper() if isinstance(value, str) and _is_hex_bytes(value) else value


def _is_hex_bytes(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def sample_codec() -> Codec:
    return Codec(_DB)


@pytest.mark.parametrize(("spec", "sample"), _CASES)
def test_sample_decodes_to_its_values(sample_codec: Codec, spec: DgnSpec, sample: Sample) -> None:
    decoded = sample_codec.decode(spec.dgn, sample.payload)
    assert decoded.errors == ()
    assert decoded.name == spec.name
    for field in spec.fields:
        got = decoded.values[field.name]
        want = sample.values[field.name]
        if field.type == "bytes":
            got, want = _comparable(got), _expected(want)
        if isinstance(want, float) or isinstance(got, float):
            assert got == pytest.approx(want, abs=1e-9), f"{spec.name}.{field.name}"
        else:
            assert got == want, f"{spec.name}.{field.name}"
        assert (got is None) == (field.name in decoded.special), f"{spec.name}.{field.name}"


@pytest.mark.parametrize(("spec", "sample"), _CASES)
def test_sample_encodes_back(sample_codec: Codec, spec: DgnSpec, sample: Sample) -> None:
    decoded = sample_codec.decode(spec.dgn, sample.payload)
    assert sample_codec.encode_decoded(decoded) == sample.payload
    # Without a base, bits no field covers must come out as 1s, as the sample's payload has them.
    plain = {k: v for k, v in decoded.values.items() if k not in decoded.special}
    special_raw = {k: decoded.raw[k] for k in decoded.special}
    rebuilt = sample_codec.encode(spec.dgn, plain, raw=special_raw, check_limits=False)
    assert rebuilt == sample.payload, "uncovered bits of the sample payload must be 1s"
