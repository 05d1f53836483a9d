"""The schema of feature_flags.yaml and of a user's overrides, as pydantic models.

Each feature's entry is validated on its own, so one broken entry does not hide the problems of the
others: every problem is reported at once, each with the file and line it is at.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from coachiq.core.yamlfile import LocatedYaml
from coachiq.features.base import SafeStateAction, SafetyClass
from coachiq.settings import CORE_SERVICE_ALIASES

__all__ = ["ShippedFeature", "UserFeature", "core_service_problem", "parse_shipped", "parse_user"]


class ShippedFeature(BaseModel):
    """One feature as the shipped feature_flags.yaml describes it."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool = False
    depends_on: list[StrictStr] = Field(default_factory=list)
    safety_classification: SafetyClass = SafetyClass.OPERATIONAL
    safe_state_action: SafeStateAction = SafeStateAction.CONTINUE_OPERATION
    description: StrictStr = ""
    settings: dict[str, Any] | None = None


class UserFeature(BaseModel):
    """What a user's override file may change of a feature: whether it runs, and its settings."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool | None = None
    settings: dict[str, Any] | None = None


class _FlagsFile(BaseModel):
    """The top level of either file: one `features:` mapping, nothing else."""

    model_config = ConfigDict(extra="forbid")

    features: dict[str, Any]


class _UserFile(_FlagsFile):
    features: dict[str, Any] = Field(default_factory=dict)


def core_service_problem(name: str, where: str) -> str:
    """The problem of a core service named where a feature is expected (`where`: file and line, or variable)."""
    return (f"{where}: '{name}' is a core service, not a feature; core services cannot be disabled "
            "— remove this entry")


def _entries(doc: LocatedYaml, model: type[_FlagsFile], problems: list[str]) -> dict[str, Any]:
    """The feature entries of a file, minus core-service names; problems of the top level reported."""
    data = {} if doc.data is None and model is _UserFile else doc.data
    try:
        model.model_validate(data)
    except ValidationError as exc:
        for item in exc.errors():
            loc = item["loc"]
            if item["type"] == "extra_forbidden":
                problems.append(f"{doc.where(loc[0])}: unknown top-level key '{loc[0]}'")
            elif len(loc) > 1:
                problems.append(f"{doc.where(*loc[:2])}: a feature name must be text, not {loc[1]!r}")
            else:
                problems.append(f"{doc.path}: expected a top-level 'features:' mapping")
    features = data.get("features") if isinstance(data, dict) else None
    entries: dict[str, Any] = {}
    for name, entry in (features.items() if isinstance(features, dict) else ()):
        if not isinstance(name, str):
            continue
        if name in CORE_SERVICE_ALIASES:
            problems.append(core_service_problem(name, doc.where("features", name)))
        else:
            entries[name] = entry
    return entries


def _problem(doc: LocatedYaml, name: str, item: Any, extra_key: str) -> str:
    """One pydantic error of a feature entry, told with where it is and what is allowed."""
    loc = tuple(item["loc"])
    key = str(loc[0]) if loc else ""
    where = doc.where("features", name, *loc)
    if not loc:
        return f"{where}: feature '{name}' must be a mapping such as {{enabled: true}}"
    if item["type"] == "extra_forbidden":
        return f"{where}: {extra_key.format(name=name, key=key)}"
    if key == "enabled":
        return f"{where}: '{name}.enabled' must be true or false, not {item['input']!r}"
    if key == "depends_on":
        return f"{where}: '{name}.depends_on' must be a list of names"
    if key == "safety_classification":
        return f"{where}: '{name}.safety_classification' must be one of {', '.join(s.value for s in SafetyClass)}"
    if key == "safe_state_action":
        return f"{where}: '{name}.safe_state_action' must be one of {', '.join(a.value for a in SafeStateAction)}"
    if key == "settings":
        return f"{where}: '{name}.settings' must be a mapping"
    return f"{where}: '{name}.{key}': {item['msg']}"


M = TypeVar("M", ShippedFeature, UserFeature)


def _validate(doc: LocatedYaml, name: str, entry: Any, model: type[M], extra_key: str,
              problems: list[str]) -> M | None:
    """One feature's entry as `model`, or None with its problems appended (each told once)."""
    try:
        return model.model_validate(entry)
    except ValidationError as exc:
        problems.extend(dict.fromkeys(_problem(doc, name, item, extra_key) for item in exc.errors()))
        return None


def parse_shipped(doc: LocatedYaml, problems: list[str]) -> dict[str, ShippedFeature]:
    """The valid features of a shipped flags file; every problem appended to `problems`."""
    told = f"feature '{{name}}' has unknown key '{{key}}' (known: {', '.join(sorted(ShippedFeature.model_fields))})"
    result: dict[str, ShippedFeature] = {}
    for name, entry in _entries(doc, _FlagsFile, problems).items():
        if (feature := _validate(doc, name, entry, ShippedFeature, told, problems)) is not None:
            result[name] = feature
    return result


def parse_user(doc: LocatedYaml, known: set[str], problems: list[str]) -> dict[str, UserFeature]:
    """The valid overrides of a user file for the features `known`; every problem appended to `problems`."""
    told = f"'{{name}}.{{key}}' cannot be set in a user file (allowed: {', '.join(sorted(UserFeature.model_fields))})"
    result: dict[str, UserFeature] = {}
    for name, entry in _entries(doc, _UserFile, problems).items():
        if name not in known:
            problems.append(f"{doc.where('features', name)}: unknown feature '{name}' "
                            f"(known: {', '.join(sorted(known))})")
        elif (override := _validate(doc, name, entry, UserFeature, told, problems)) is not None:
            result[name] = override
    return result
