"""Read one DGN database file's YAML into plain dicts, lists, strings and numbers.

PyYAML's safe loader (libyaml's parser where installed), with two of its YAML 1.1 readings turned off:
only true and false are booleans, so labels such as on/off/yes/no stay strings, and dates stay strings.
Only parsing: coachiq/rvc/spec_validate.py checks what comes out. A hand-written scalar reader was
faster on a load without the parsed-file cache, but not by enough to keep (docs/architecture.md).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml

from coachiq.rvc.spec import SpecError

__all__ = ["parse_spec_document"]

_BOOL = "tag:yaml.org,2002:bool"
_DROPPED = {_BOOL, "tag:yaml.org,2002:timestamp"}
_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecLoader(_BaseLoader):  # type: ignore[misc]
    """The safe loader with YAML 1.2's booleans (true/false only) and no timestamps."""

    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]]] = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag not in _DROPPED]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }


_SpecLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def parse_spec_document(data: bytes, file: str) -> Any:
    """Parse one spec file's YAML into plain dicts, lists, strings and numbers (SpecError if not YAML).

    The result is only parsed, not validated: coachiq/rvc/spec_validate.py validates it.
    """
    try:
        return yaml.load(data, Loader=_SpecLoader)
    except yaml.YAMLError as exc:
        raise SpecError(file, f"is not valid YAML: {exc}") from exc
