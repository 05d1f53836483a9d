"""The arithmetic of one field: which raw values carry data, which are special, what they mean physically.

Shared by the spec's validation (a field's min/max must lie in its data type's range) and the codec.
RV-C (like J1939) reserves the top of every unsigned field's raw range: all ones is "not available",
the value below it "error", and for fields of a byte or more a few more below those are reserved.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coachiq.rvc.spec import FieldSpec

__all__ = [
    "ERROR",
    "NOT_AVAILABLE",
    "RESERVED",
    "Value",
    "classify_special",
    "decode_raw",
    "format_number",
    "physical_range",
    "rational",
    "raw_range",
    "special_threshold",
]

Value = float | int | str | bytes | None

NOT_AVAILABLE = "not_available"
ERROR = "error"
RESERVED = "reserved"


def special_threshold(width: int) -> int:
    """The smallest raw value that is special for a field of `width` bits (1-bit fields: none)."""
    if width == 1:
        return 2
    if width < 8:
        return (1 << width) - 2
    return 0xFB << (width - 8)


def classify_special(raw: int, width: int) -> str:
    """Which special value `raw` is (raw is at or above the field's special threshold)."""
    if width < 8:
        return NOT_AVAILABLE if raw == (1 << width) - 1 else ERROR
    top = raw >> (width - 8)
    if top == 0xFF:
        return NOT_AVAILABLE
    if top == 0xFE:
        return ERROR
    return RESERVED


def raw_range(field: FieldSpec) -> tuple[int, int]:
    """The raw integers of a numeric field that carry data (special values excluded)."""
    if field.type == "sint":
        half = 1 << (field.width - 1)
        return -half, half - 1
    top = (1 << field.width) - 1
    if field.special:
        top = min(top, special_threshold(field.width) - 1)
    return 0, top


def rational(field: FieldSpec) -> tuple[int, int, int]:
    """(p, c, q) with raw * scale + offset == (raw * p + c) / q exactly, all integers."""
    scale_value, offset_value = field.scale, field.offset
    # Integer scale and offset (enumerations, counts, uint8 temperatures) need no Fraction: validating
    # the database calls this for every field, and Fraction parsing was a third of the load time.
    if type(scale_value) is int and type(offset_value) is int:
        return scale_value, offset_value, 1
    return _rational_of(scale_value, offset_value)


@functools.lru_cache(maxsize=256)
def _rational_of(scale_value: float | int, offset_value: float | int) -> tuple[int, int, int]:
    # Memoised: a database uses a few dozen scale/offset pairs over a thousand fields.
    scale, offset = Fraction(str(scale_value)), Fraction(str(offset_value))
    q = math.lcm(scale.denominator, offset.denominator)
    return int(scale * q), int(offset * q), q


def _to_physical(field: FieldSpec, raw: int) -> float | int:
    # One correctly rounded division gives the double nearest the exact decimal value, which is what
    # rounding to the scale's decimals would give, without the cost of round().
    p, c, q = rational(field)
    return raw * p + c if q == 1 else (raw * p + c) / q


def decode_raw(field: FieldSpec, raw: int) -> Value:
    """The decoded value of one raw integer, None when it is special (used to build lookup tables)."""
    if field.values is not None and raw in field.values:
        return field.values[raw]
    if field.special and raw >= special_threshold(field.width):
        return None
    if field.type == "sint" and raw >= 1 << (field.width - 1):
        raw -= 1 << field.width
    return _to_physical(field, raw)


def physical_range(field: FieldSpec, use_limits: bool = True) -> tuple[float | int, float | int]:
    """The physical values accepted for a numeric field (narrowed by min/max when use_limits)."""
    raw_low, raw_high = raw_range(field)
    low, high = _to_physical(field, raw_low), _to_physical(field, raw_high)
    if use_limits:
        if field.min is not None:
            low = max(low, field.min)
        if field.max is not None:
            high = min(high, field.max)
    return low, high


def format_number(number: float | int) -> str:
    """A number as written in messages: integers without ".0"."""
    return str(int(number)) if float(number).is_integer() else repr(number)
