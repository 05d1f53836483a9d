"""Decode RV-C payloads into physical values and encode values back into payloads.

The codec compiles the DGN database (coachiq/rvc/spec.py, pure data) into one decoder per DGN
(coachiq/rvc/decoders.py). Encoding is rarer (commands) and is interpreted from the field specs.
"""

from __future__ import annotations

from collections.abc import Mapping

from coachiq.rvc.decoded import EMPTY, Decoded, decoded_to_json
from coachiq.rvc.decoders import CompiledDgn, DecodeFn, compile_dgn
from coachiq.rvc.fields import Value, format_number, physical_range, raw_range
from coachiq.rvc.spec import DgnSpec, FieldSpec, SpecDatabase

__all__ = ["Codec", "Decoded", "EncodeError", "Value", "decoded_to_json"]


class EncodeError(ValueError):
    """A value cannot be encoded; says which field, which value, and what is allowed."""

    def __init__(self, field: str, value: object, allowed: str, reason: str = "is out of range") -> None:
        super().__init__(f"{field}={value!r} {reason}: allowed {allowed}")
        self.field = field
        self.value = value
        self.allowed = allowed


class Codec:
    """Decode and encode payloads with a loaded SpecDatabase."""

    __slots__ = ("_by_dgn", "_by_name", "_fast")

    def __init__(self, db: SpecDatabase) -> None:
        """Prepare a decoder per DGN of the database; each is generated and compiled on first use."""
        compiled = {spec.dgn: compile_dgn(spec) for spec in db}
        self._by_dgn: dict[int, CompiledDgn] = compiled
        self._by_name: dict[str, CompiledDgn] = {c.spec.name: c for c in compiled.values()}
        # (length, decoder) per DGN seen so far: the hot path needs nothing else.
        self._fast: dict[int, tuple[int | None, DecodeFn]] = {}

    def decode(self, dgn: int, payload: bytes) -> Decoded:
        """Decode one payload. Never raises: problems (unknown DGN, wrong length) go to `errors`."""
        if type(payload) is not bytes:
            payload = bytes(payload)
        entry = self._fast.get(dgn)
        if entry is not None and len(payload) == entry[0]:
            return entry[1](payload, payload)
        compiled = self._by_dgn.get(dgn)
        if compiled is None:
            return Decoded(dgn, None, None, {}, EMPTY, EMPTY, (f"unknown DGN 0x{dgn:05X}",), payload)
        if entry is None:
            self._fast[dgn] = (compiled.length, compiled.fn)
            if len(payload) == compiled.length:
                return compiled.fn(payload, payload)
        return _decode_odd_length(compiled, payload)

    def spec_for(self, dgn_or_name: int | str) -> DgnSpec:
        """The spec of a DGN given by number or name; raises KeyError when unknown."""
        return self._lookup(dgn_or_name).spec

    def _lookup(self, dgn_or_name: int | str) -> CompiledDgn:
        compiled = (self._by_name.get(dgn_or_name) if isinstance(dgn_or_name, str)
                    else self._by_dgn.get(dgn_or_name))
        if compiled is None:
            shown = dgn_or_name if isinstance(dgn_or_name, str) else f"0x{dgn_or_name:05X}"
            raise KeyError(f"unknown DGN {shown}: not in the DGN database")
        return compiled

    def encode(self, dgn_or_name: int | str, values: Mapping[str, object], base: bytes | None = None,
               raw: Mapping[str, int] | None = None, *, check_limits: bool = True) -> bytes:
        """Build a payload.

        Fields missing from `values` keep `base`'s bits (default: all 1s, RV-C's "not available");
        None encodes "not available"; enumeration fields take a label or a raw int; `raw` gives raw
        integers for fields (e.g. an "error" special value). With check_limits=False a field's `min`
        and `max` are not enforced (the data type's range still is), so readings reported outside the
        commandable range still encode. Raises EncodeError for a bad value, KeyError for an unknown DGN.
        """
        compiled = self._lookup(dgn_or_name)
        spec = compiled.spec
        known = {f.name for f in spec.fields}
        for name in list(values) + list(raw or ()):
            if name not in known:
                raise EncodeError(name, values.get(name, (raw or {}).get(name)), ", ".join(sorted(known)),
                                  reason=f"is not a field of {spec.name}")
        variable = compiled.variable_field
        if spec.length is not None:
            size = spec.length
        elif variable is not None:
            size = variable.byte
        else:
            size = min(max(compiled.fixed_end, len(base or b"")), spec.max_length)
        start = (base or b"")[:size]
        buffer = bytearray(start + b"\xff" * (size - len(start)))
        bits = int.from_bytes(buffer, "little")
        texts: list[tuple[FieldSpec, bytes]] = []
        for field in spec.fields:
            if raw is not None and field.name in raw:
                encoded_raw: int | bytes = _check_raw(field, raw[field.name])
            elif field.name in values:
                encoded_raw = _encode_value(field, values[field.name], field is variable, check_limits)
            else:
                continue
            if isinstance(encoded_raw, bytes):
                texts.append((field, encoded_raw))
                continue
            mask = ((1 << field.width) - 1) << field.shift
            bits = (bits & ~mask) | (encoded_raw << field.shift)
        out = bytearray(bits.to_bytes(size, "little"))
        for field, data in texts:
            if field is not variable:
                out[field.byte:field.byte + len(data)] = data
        if variable is not None:
            if variable.name in values or (raw is not None and variable.name in raw):
                tail = next(data for field, data in texts if field is variable)
            else:
                tail = (base or b"")[variable.byte:spec.max_length]
            out += tail
        return bytes(out)

    def encode_decoded(self, decoded: Decoded) -> bytes:
        """Encode a Decoded back into its payload (special-valued fields keep their raw bits)."""
        plain = {k: v for k, v in decoded.values.items() if k not in decoded.special}
        return self.encode(decoded.dgn, plain, base=decoded.payload, check_limits=False)


def _decode_odd_length(compiled: CompiledDgn, payload: bytes) -> Decoded:
    spec = compiled.spec
    size = len(payload)
    variable = compiled.variable_field
    if spec.length is not None:
        needed, limit = spec.length, spec.length
    else:
        needed, limit = compiled.fixed_end, spec.max_length
    if size > limit:
        decoded = compiled.fn(payload[:limit], payload)
        extra = f"payload is {size} bytes, {spec.name} has {limit} ({size - limit} extra)"
        decoded.errors = (extra,)
        return decoded
    if size >= needed:  # a variable-length DGN with its fixed part present
        return compiled.fn(payload, payload)
    decoded = compiled.fn(payload + b"\xff" * (needed - size), payload)
    missing = [f.name for f in spec.fields
               if (f.byte >= size if f is variable else f.end_byte > size)]
    values = {k: v for k, v in decoded.values.items() if k not in missing}
    special = {k: v for k, v in decoded.special.items() if k not in missing} if decoded.special else EMPTY
    raw = {k: v for k, v in decoded.raw.items() if k not in missing} if decoded.raw else EMPTY
    instance = decoded.instance if spec.instance_field not in missing else None
    message = f"payload is {size} bytes, {spec.name} needs {needed}"
    if missing:
        message += "; missing: " + ", ".join(missing)
    return Decoded(spec.dgn, spec.name, instance, values, special or EMPTY, raw or EMPTY, (message,), payload,
                   compiled.units)


def _check_raw(field: FieldSpec, value: int) -> int | bytes:
    if field.is_text:
        raise EncodeError(field.name, value, "str or bytes in values", reason="cannot be given as raw")
    top = (1 << field.width) - 1
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise EncodeError(field.name, value, f"raw 0..{top}")
    return value


def _encode_value(field: FieldSpec, value: object, variable: bool, check_limits: bool) -> int | bytes:
    top = (1 << field.width) - 1
    size = field.width // 8
    if field.is_text:
        if value is None:
            return b"" if variable else b"\xff" * size
        if field.type == "ascii" and isinstance(value, str):
            try:
                data = value.encode("latin-1")
            except UnicodeEncodeError:
                raise EncodeError(field.name, value, "single-byte characters", reason="cannot be encoded"
                                  ) from None
        elif isinstance(value, bytes | bytearray):
            data = bytes(value)
        elif field.type == "bytes" and isinstance(value, str):
            try:
                data = bytes.fromhex(value)
            except ValueError:
                raise EncodeError(field.name, value, "bytes or a hex string", reason="is not valid") from None
        else:
            raise EncodeError(field.name, value, "str or bytes", reason="has the wrong type")
        if len(data) > size:
            raise EncodeError(field.name, value, f"at most {size} bytes", reason="is too long")
        return data if variable else data + b"\xff" * (size - len(data))
    if value is None:
        return top
    if field.values is not None:
        if isinstance(value, str):
            for raw_value, label in field.values.items():
                if label == value:
                    return raw_value
            raise EncodeError(field.name, value, ", ".join(field.values.values()), reason="is not a label")
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value <= top:
                return value
            raise EncodeError(field.name, value, f"a label or raw 0..{top}")
        raise EncodeError(field.name, value, ", ".join(field.values.values()), reason="is not a label")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EncodeError(field.name, value, "a number", reason="has the wrong type")
    low, high = physical_range(field, use_limits=check_limits)
    if not low <= value <= high:
        unit = f" {field.unit}" if field.unit else ""
        raise EncodeError(field.name, value, f"{format_number(low)}..{format_number(high)}{unit}")
    raw_value = round((value - field.offset) / field.scale)
    raw_low, raw_high = raw_range(field)
    raw_value = min(max(raw_value, raw_low), raw_high)
    return raw_value & top
