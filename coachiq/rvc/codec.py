"""Decode RV-C payloads into physical values and encode values back into payloads.

Every DGN gets its own decoder, generated as Python source with the shifts, masks and lookup tables
written in as constants, and compiled once, the first time the DGN is decoded. Decoding a frame is then
one call with no per-field interpretation. Encoding is rarer (commands) and is interpreted from the
field specs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coachiq.rvc.spec import DgnSpec, FieldSpec, SpecDatabase

__all__ = [
    "Codec",
    "CompiledDgn",
    "Decoded",
    "EncodeError",
    "Value",
    "compile_dgn",
    "decoded_to_json",
    "physical_range",
    "raw_range",
    "special_threshold",
]

Value = float | int | str | bytes | None

# Shared by every Decoded without special values or enumerations; read-only so nobody can corrupt it.
EMPTY: Mapping[Any, Any] = MappingProxyType({})

NOT_AVAILABLE = "not_available"
ERROR = "error"
RESERVED = "reserved"


class Decoded:
    """The result of decoding one payload. Never raised from; problems are listed in `errors`.

    values:  field -> physical value (enumerations as labels, special values as None)
    special: field -> "not_available" | "error" | "reserved", only for fields that were special
    raw:     field -> raw integer, for enumeration fields and special-valued fields
    units:   field -> unit, for fields that have one
    """

    __slots__ = ("_compiled", "_found", "_raw", "_special", "dgn", "errors", "instance", "name", "payload",
                 "units", "values")

    def __init__(
        self,
        dgn: int,
        name: str | None,
        instance: int | None,
        values: dict[str, Value],
        special: Mapping[str, str] | None = EMPTY,
        raw: Mapping[str, int] | None = EMPTY,
        errors: tuple[str, ...] = (),
        payload: bytes = b"",
        units: Mapping[str, str] = EMPTY,
        compiled: CompiledDgn | None = None,
        found: int = 0,
    ) -> None:
        self.dgn = dgn
        self.name = name
        self.instance = instance
        self.values = values
        # special and raw may be None: then they are worked out from the payload on first access, so
        # the hot path (most frames are never looked at field by field) skips building them.
        self._special = special
        self._found = found
        self._raw = raw
        self.errors = errors
        self.payload = payload
        self.units = units
        self._compiled = compiled

    @property
    def special(self) -> Mapping[str, str]:
        """Fields whose raw value was special: "not_available", "error" or "reserved"."""
        if self._special is None:
            compiled = self._compiled
            found = self._found
            self._special = compiled.special_of(self.payload, found) if compiled and found else EMPTY
        return self._special

    @property
    def raw(self) -> Mapping[str, int]:
        """Raw integers of enumeration fields and special-valued fields."""
        if self._raw is None:
            compiled = self._compiled
            self._raw = compiled.raw_of(self.payload, self.special) if compiled is not None else EMPTY
        return self._raw

    @property
    def known(self) -> bool:
        """True when the DGN is in the database."""
        return self.name is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (bytes as hex strings)."""
        return {
            "dgn": self.dgn,
            "name": self.name,
            "instance": self.instance,
            "values": _json_values(self.values),
            "special": dict(self.special),
            "raw": dict(self.raw),
            "errors": list(self.errors),
            "payload": self.payload.hex().upper(),
        }

    def __repr__(self) -> str:
        return (f"Decoded(dgn=0x{self.dgn:05X}, name={self.name!r}, instance={self.instance!r}, "
                f"values={self.values!r}, special={dict(self.special)!r}, errors={self.errors!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decoded):
            return NotImplemented
        return all(getattr(self, slot) == getattr(other, slot) for slot in (
            "dgn", "name", "instance", "values", "special", "raw", "errors", "payload"))

    __hash__ = None  # type: ignore[assignment]  # mutable value object


def _json_values(values: Mapping[str, Value]) -> dict[str, Any]:
    return {k: (v.hex().upper() if isinstance(v, bytes) else v) for k, v in values.items()}


def decoded_to_json(decoded: Decoded, can_id: int, timestamp: float) -> dict[str, Any]:
    """One decoded frame as a JSON-ready dict (the shape of `coachiq decode` output lines)."""
    return {
        "timestamp": timestamp,
        "can_id": can_id,
        "priority": (can_id >> 26) & 0x7,
        "source_address": can_id & 0xFF,
        "dgn": decoded.dgn,
        "name": decoded.name,
        "instance": decoded.instance,
        "values": _json_values(decoded.values),
        "units": {k: u for k, u in decoded.units.items() if k in decoded.values},
        "raw": dict(decoded.raw),
        "errors": list(decoded.errors),
    }


class EncodeError(ValueError):
    """A value cannot be encoded; says which field, which value, and what is allowed."""

    def __init__(self, field: str, value: object, allowed: str, reason: str = "is out of range") -> None:
        super().__init__(f"{field}={value!r} {reason}: allowed {allowed}")
        self.field = field
        self.value = value
        self.allowed = allowed


# --- numeric helpers shared with spec validation ------------------------------------------------------


def special_threshold(width: int) -> int:
    """The smallest raw value that is special for a field of `width` bits (1-bit fields: none)."""
    if width == 1:
        return 2
    if width < 8:
        return (1 << width) - 2
    return 0xFB << (width - 8)


def _classify(raw: int, width: int) -> str:
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


def _rational(field: FieldSpec) -> tuple[int, int, int]:
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
    p, c, q = _rational(field)
    return raw * p + c if q == 1 else (raw * p + c) / q


def _decode_raw(field: FieldSpec, raw: int) -> Value:
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


def _fmt(number: float | int) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)


# --- compilation --------------------------------------------------------------------------------------

DecodeFn = Callable[[bytes, bytes], Decoded]


class CompiledDgn:
    """The decoder of one DGN, and what decode/encode need to handle odd lengths.

    The decoder's source is generated and compiled on first use, once: compiling all of them would
    dominate start-up, while a coach's bus carries only a few dozen of the database's DGNs.
    """

    __slots__ = ("_fn", "_raw_fields", "_source", "fixed_end", "length", "spec", "units", "variable_field")

    def __init__(self, spec: DgnSpec) -> None:
        self.spec = spec
        self.units: Mapping[str, str] = MappingProxyType({f.name: f.unit for f in spec.fields if f.unit})
        self.length = spec.length
        variable = None
        if spec.length is None and spec.fields:
            last = spec.fields[-1]
            if last.is_text and last.end_byte == spec.max_length:
                variable = last
        self.variable_field: FieldSpec | None = variable
        fixed = [f.end_byte for f in spec.fields if f is not variable]
        if variable is not None:
            fixed.append(variable.byte)
        self.fixed_end = max(fixed, default=0)
        self._raw_fields = tuple(
            (f.name, f.shift, (1 << f.width) - 1, f.values is not None) for f in spec.fields if not f.is_text
        )
        self._fn: DecodeFn | None = None
        self._source = ""

    @property
    def fn(self) -> DecodeFn:
        """The compiled decoder: fn(data, payload) with len(data) == length (or >= fixed_end)."""
        if self._fn is None:
            self._source, self._fn = _build_decoder(self)
        return self._fn

    @property
    def source(self) -> str:
        """The generated Python source of the decoder (for debugging and docs)."""
        return self._source if self._fn is not None else _build_decoder(self)[0]

    def special_of(self, data: bytes, found: int) -> Mapping[str, str]:
        """Classify the special values of the fields whose bit is set in `found` (bit i = field i)."""
        bits = int.from_bytes(data, "little")
        special = {}
        for index, field in enumerate(self.spec.fields):
            if found >> index & 1:
                special[field.name] = _classify((bits >> field.shift) & ((1 << field.width) - 1), field.width)
        return special

    def raw_of(self, payload: bytes, special: Mapping[str, str]) -> Mapping[str, int]:
        """Raw integers of the enumeration fields and of the fields listed in `special`."""
        bits = int.from_bytes(payload, "little")
        raw = {name: (bits >> shift) & mask for name, shift, mask, enum in self._raw_fields
               if enum or name in special}
        return raw or EMPTY




def _extract(field: FieldSpec, var: bool) -> str:
    """Python expression reading the field's raw bits from `d` (bytes)."""
    byte, bit, width = field.byte, field.bit, field.width
    if field.is_text:
        end = "" if var else str(field.end_byte)
        return f"d[{byte}:{end}]"
    if width <= 8:
        expr = f"d[{byte}]"
        if bit:
            expr = f"({expr} >> {bit})"
        return expr if width == 8 else f"({expr} & {(1 << width) - 1})"
    count = (width + 7) // 8
    if count <= 4:
        parts = [f"d[{byte}]"] + [f"(d[{byte + i}] << {8 * i})" for i in range(1, count)]
        expr = "(" + " | ".join(parts) + ")"
    else:
        expr = f"_fb(d[{byte}:{byte + count}], 'little')"
    return expr if width % 8 == 0 else f"({expr} & {(1 << width) - 1})"


def compile_dgn(spec: DgnSpec) -> CompiledDgn:
    """Prepare the codec of one DGN (its decoder is generated and compiled on first use)."""
    return CompiledDgn(spec)


def _build_decoder(compiled: CompiledDgn) -> tuple[str, DecodeFn]:
    """Generate the Python source of one DGN's decoder and compile it.

    Fields of up to 8 bits are decoded by indexing a precomputed table (label, physical value, or None
    for a special value); wider fields by integer arithmetic with the constants written in.
    """
    spec = compiled.spec
    namespace: dict[str, Any] = {"_D": Decoded, "_EMPTY": EMPTY, "_fb": int.from_bytes,
                                 "_UNITS": compiled.units, "_C": compiled}
    # `sp` collects one bit per special-valued field; they are classified only when there are any.
    lines = ["def _decode(d, payload):", "    sp = 0"]
    value_items: list[str] = []
    instance_expr = "None"
    variable = compiled.variable_field
    for index, field in enumerate(spec.fields):
        r, x = f"r{index}", f"x{index}"
        extract = _extract(field, field is variable)
        if field.type == "ascii":
            strip = "" if field is variable else ".rstrip(b'\\xff')"
            lines.append(f"    {x} = {extract}{strip}.decode('latin-1')")
        elif field.type == "bytes":
            lines.append(f"    {x} = {extract}")
        elif field.width <= 8:
            table = tuple(_decode_raw(field, raw) for raw in range(1 << field.width))
            can_be_special = None in table
            needs_raw = field.name == spec.instance_field and field.values is not None
            if table == tuple(range(1 << field.width)):
                lines.append(f"    {x} = {extract}")  # plain unscaled number: no table needed
            elif needs_raw:
                namespace[f"T{index}"] = table
                lines.append(f"    {r} = {extract}")
                lines.append(f"    {x} = T{index}[{r}]")
            else:
                namespace[f"T{index}"] = table
                lines.append(f"    {x} = T{index}[{extract}]")
            if can_be_special:
                lines.append(f"    if {x} is None:")
                lines.append(f"        sp |= {1 << index}")
        else:
            lines.append(f"    {r} = {extract}")
            value = _value_expr(field, r)
            if field.values is not None:
                namespace[f"L{index}"] = dict(field.values)
                lines.append(f"    {x} = L{index}.get({r})")
                lines.append(f"    if {x} is None:")
                indent = "        "
            else:
                indent = "    "
            if field.special:
                threshold = special_threshold(field.width)
                lines.append(f"{indent}if {r} < {threshold}:")
                lines.append(f"{indent}    {x} = {value}")
                lines.append(f"{indent}else:")
                lines.append(f"{indent}    {x} = None")
                lines.append(f"{indent}    sp |= {1 << index}")
            else:
                lines.append(f"{indent}{x} = {value}")
        if field.name == spec.instance_field:
            instance_expr = r if field.values is not None else x
        value_items.append(f"{field.name!r}: {x}")
    lines.append("    values = {" + ", ".join(value_items) + "}")
    head = f"_D({spec.dgn}, {spec.name!r}, {instance_expr}, values"
    lines.append(f"    return {head}, None, None, (), payload, _UNITS, _C, sp)")
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<decoder {spec.name}>", "exec")
    exec(code, namespace)  # the source is generated above from validated specs only
    function: DecodeFn = namespace["_decode"]
    return source, function


def _value_expr(field: FieldSpec, r: str) -> str:
    if field.type == "sint":
        half = 1 << (field.width - 1)
        r = f"({r} - {1 << field.width} if {r} >= {half} else {r})"
    p, c, q = _rational(field)
    expr = r if p == 1 else f"{r} * {p}"
    if c:
        expr = f"{expr} + {c}" if c > 0 else f"{expr} - {-c}"
    return expr if q == 1 else f"({expr}) / {q}"


# --- the codec ----------------------------------------------------------------------------------------


class Codec:
    """Decode and encode payloads with a loaded SpecDatabase."""

    __slots__ = ("_by_dgn", "_by_name", "_fast")

    def __init__(self, db: SpecDatabase) -> None:
        """Take the database's compiled decoders; nothing is compiled here."""
        compiled = db.compiled()
        self._by_dgn: dict[int, CompiledDgn] = dict(compiled)
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
        raise EncodeError(field.name, value, f"{_fmt(low)}..{_fmt(high)}{unit}")
    raw_value = round((value - field.offset) / field.scale)
    raw_low, raw_high = raw_range(field)
    raw_value = min(max(raw_value, raw_low), raw_high)
    return raw_value & top
