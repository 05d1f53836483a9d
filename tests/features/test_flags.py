"""The schema of feature_flags.yaml and of a user's overrides: every problem of a broken file, with where."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachiq.core.errors import ConfigError
from coachiq.features.base import SafeStateAction, SafetyClass
from coachiq.features.flags import ShippedFeature
from coachiq.features.manager import SHIPPED_FLAGS, load_feature_config
from tests.features.sample_features import IMPLEMENTATIONS


def problems_of(tmp_path: Path, shipped: str, user: str | None = None) -> list[str]:
    """The problems load_feature_config reports for these files (it must refuse them)."""
    flags = tmp_path / "flags.yaml"
    flags.write_text(shipped)
    user_file = None
    if user is not None:
        user_file = tmp_path / "user.yaml"
        user_file.write_text(user)
    with pytest.raises(ConfigError) as caught:
        load_feature_config(user_file, environ={}, shipped=flags, implementations=IMPLEMENTATIONS)
    return [problem.replace(f"{tmp_path}/", "") for problem in caught.value.problems]


def test_the_shipped_file_fits_the_schema() -> None:
    definitions = load_feature_config(environ={})
    assert definitions and all(isinstance(d.safety, SafetyClass) for d in definitions)


def test_defaults_of_an_entry() -> None:
    entry = ShippedFeature.model_validate({})
    assert entry.enabled is False and entry.depends_on == [] and entry.description == ""
    assert entry.safety_classification is SafetyClass.OPERATIONAL
    assert entry.safe_state_action is SafeStateAction.CONTINUE_OPERATION


def test_every_bad_value_is_reported_with_its_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, """features:
  echo:
    enabled: "yes"
    depends_on: hanging
    safety_classification: dangerous
    safe_state_action: panic
    settings: [word]
  hanging:
    enabled: 1
    description: 7
""")
    assert problems == [
        "flags.yaml:3: 'echo.enabled' must be true or false, not 'yes'",
        "flags.yaml:4: 'echo.depends_on' must be a list of names",
        "flags.yaml:5: 'echo.safety_classification' must be one of "
        + ", ".join(s.value for s in SafetyClass),
        "flags.yaml:6: 'echo.safe_state_action' must be one of " + ", ".join(a.value for a in SafeStateAction),
        "flags.yaml:7: 'echo.settings' must be a mapping",
        "flags.yaml:9: 'hanging.enabled' must be true or false, not 1",
        "flags.yaml:10: 'hanging.description': Input should be a valid string",
    ], problems


def test_a_bad_top_level_and_a_bad_entry_are_both_reported(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "features:\n  echo: on\n  hanging: {enabled: true}\nextras: 1\n")
    assert "flags.yaml:4: unknown top-level key 'extras'" in problems
    assert "flags.yaml:2: feature 'echo' must be a mapping such as {enabled: true}" in problems


def test_a_file_without_features_is_refused(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "- just a list\n") == ["flags.yaml: expected a top-level 'features:' mapping"]


def test_a_user_file_may_only_switch_features_and_set_their_settings(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "features:\n  echo: {enabled: false}\n", """features:
  echo:
    enabled: sometimes
    description: mine
  ghost: {enabled: true}
  state: {enabled: false}
""")
    assert len(problems) == 4, problems
    assert "user.yaml:3: 'echo.enabled' must be true or false, not 'sometimes'" in problems
    assert "user.yaml:4: 'echo.description' cannot be set in a user file (allowed: enabled, settings)" in problems
    assert "user.yaml:5: unknown feature 'ghost' (known: echo)" in problems
    assert any(p.startswith("user.yaml:6: 'state' is a core service") for p in problems), problems


def test_an_empty_user_file_changes_nothing(tmp_path: Path) -> None:
    user = tmp_path / "user.yaml"
    user.write_text("")
    assert [d.name for d in load_feature_config(user, environ={})] == \
        [d.name for d in load_feature_config(environ={})]
    assert SHIPPED_FLAGS.is_file()
