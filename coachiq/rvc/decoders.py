"""Generated decoders: one Python function per DGN, with its shifts, masks and lookup tables written in.

A DGN's decoder is generated as Python source from its validated spec and compiled once, the first
time the DGN is decoded. Decoding a frame is then one call with no per-field interpretation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from coachiq.rvc.decoded import EMPTY, Decoded
from coachiq.rvc.fields import classify_special, decode_raw, rational, special_threshold
from coachiq.rvc.spec import DgnSpec, FieldSpec

__all__ = ["CompiledDgn", "DecodeFn", "compile_dgn"]

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
                special[field.name] = classify_special((bits >> field.shift) & ((1 << field.width) - 1), field.width)
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
            table = tuple(decode_raw(field, raw) for raw in range(1 << field.width))
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
    p, c, q = rational(field)
    expr = r if p == 1 else f"{r} * {p}"
    if c:
        expr = f"{expr} + {c}" if c > 0 else f"{expr} - {-c}"
    return expr if q == 1 else f"({expr}) / {q}"
