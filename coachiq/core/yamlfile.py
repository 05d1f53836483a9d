"""YAML loading that remembers where each key came from, so errors can name file and line."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:  # the C loader is much faster where libyaml is available
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the platform's PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

KeyPath = tuple[Hashable, ...]


class YamlFileError(Exception):
    """A file that cannot be read or is not valid YAML; the message names file and line."""


@dataclass
class LocatedYaml:
    """Parsed YAML data plus the line (1-based) of every mapping key and sequence item."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def where(self, *keys: Hashable) -> str:
        """`file:line` of the deepest known prefix of `keys`, for error messages."""
        for end in range(len(keys), 0, -1):
            line = self.lines.get(tuple(keys[:end]))
            if line is not None:
                return f"{self.path}:{line}"
        return str(self.path)


def _walk(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int], loader: Any) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise YamlFileError(f"line {key_node.start_mark.line + 1}: a key must be a plain value")
            lines[(*prefix, key)] = key_node.start_mark.line + 1
            result[key] = _walk(value_node, (*prefix, key), lines, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*prefix, index)] = item.start_mark.line + 1
            items.append(_walk(item, (*prefix, index), lines, loader))
        return items
    return loader.construct_object(node, deep=True)


def load_located(path: Path) -> LocatedYaml:
    """Read a YAML file, keeping line numbers; raise YamlFileError with the position on bad YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read the file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return LocatedYaml(path, None)
        lines: dict[KeyPath, int] = {}
        data = _walk(node, (), lines, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise YamlFileError(f"{where}: not valid YAML ({exc.problem})") from exc
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{path}: not valid YAML ({exc})") from exc
    finally:
        loader.dispose()
    return LocatedYaml(path, data, lines)
