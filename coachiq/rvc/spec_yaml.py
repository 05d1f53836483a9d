"""Read one DGN database file's YAML into plain dicts, lists, strings and numbers.

Only parsing: coachiq/rvc/spec_validate.py checks what comes out.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from coachiq.rvc.spec import SpecError

__all__ = ["parse_spec_document"]

_PLAIN_TAG = "!coachiq/plain"
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TEXT = re.compile(r"^[-+]?(?:[0-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+)$")
_FLOAT_TEXT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$")
_CONSTANTS: dict[str, Any] = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
}
_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecLoader(_BaseLoader):  # type: ignore[misc]
    """libyaml parser whose scalars are typed by _plain_scalar instead of PyYAML's resolver.

    PyYAML's resolver and constructor are pure Python and cost more than the parsing itself; this
    keeps the whole database load fast. Typing follows YAML 1.2: only true/false are booleans, so
    labels such as on/off/yes/no stay strings (YAML 1.1 would turn them into booleans).
    """

    def resolve(self, kind: type[Any], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _PLAIN_TAG if implicit[0] else _STR_TAG
        return "tag:yaml.org,2002:map" if kind is MappingNode else "tag:yaml.org,2002:seq"


_NUMBER_START = frozenset("0123456789+-.")


def _plain_scalar(text: str) -> Any:
    if text and text[0] not in _NUMBER_START:
        return _CONSTANTS.get(text, text) if text[0] in "nNtTfF~" else text
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    if _INT_TEXT.match(text):
        digits = text.replace("_", "")
        head = digits.lstrip("+-")[:2]
        base = 16 if head == "0x" else 8 if head == "0o" else 10
        sign = -1 if digits.startswith("-") else 1
        return sign * int(digits.lstrip("+-")[2 if base != 10 else 0:], base)
    if _FLOAT_TEXT.match(text):
        return float(text.replace("_", ""))
    return text


_INTERN_MAX = 40


def _to_python(node: Node) -> Any:
    kind = node.__class__
    if kind is ScalarNode:
        value = _plain_scalar(node.value) if node.tag == _PLAIN_TAG else node.value
        # Keys, field names, labels and units repeat across hundreds of DGNs: interned, each is kept
        # once in memory, and marshal (which records interning) keeps them shared when reloaded.
        if value.__class__ is str and len(value) <= _INTERN_MAX:
            return sys.intern(value)
        return value
    if kind is MappingNode:
        return {_to_python(key): _to_python(value) for key, value in node.value}
    if kind is SequenceNode:
        return [_to_python(item) for item in node.value]
    raise TypeError(f"unexpected YAML node {node!r}")  # pragma: no cover - the composer makes no others


def _read_yaml(data: bytes) -> Any:
    loader = _SpecLoader(data)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    return None if node is None else _to_python(node)


def parse_spec_document(data: bytes, file: str) -> Any:
    """Parse one spec file's YAML into plain dicts, lists, strings and numbers (SpecError if not YAML).

    The result is only parsed, not validated: coachiq/rvc/spec_validate.py validates it.
    """
    try:
        return _read_yaml(data)
    except yaml.YAMLError as exc:
        raise SpecError(file, f"is not valid YAML: {exc}") from exc
