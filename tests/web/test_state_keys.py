"""The page reads entity state and safety by the server's exact keys: every key it reads is one the state
models (or the safety model) define, and it has no helper that tries one key after another."""

from __future__ import annotations

import re

from coachiq.api.v2.models import InterlocksOut, MotionBlockedOut, SafetyOut
from coachiq.entities.states import STATE_MODELS, EntityStateModel
from coachiq.web import WEB_DIR

# A state read: `e.state.level`, `st.level`, `state.level`, or a destructuring of a state.
_READ = re.compile(r"(?:(?<=\w)\.state|(?<![\w./])st|(?<![\w./])state)\??\.([a-z_][a-z0-9_]*)\b")
_DESTRUCTURED = re.compile(r"const \{([^}]*)\} = (?:e\.state|st)\b")
_SAFETY_READ = re.compile(r"store\.safety\??\.([a-z_][a-z0-9_]*)\b")
_S_READ = re.compile(r"\bs\??\.([a-z_][a-z0-9_]*)\b")  # where `s` is the safety payload (state.js, views.js)
_INTERLOCK_READ = re.compile(r"(?:interlocks|\bi)\??\.([a-z_][a-z0-9_]*)\b")


def _fields(model: type[EntityStateModel]) -> set[str]:
    """Every key of a state model, nested models' keys included."""
    keys = set(model.model_fields)
    for field in model.model_fields.values():
        for arg in getattr(field.annotation, "__args__", ()):
            if isinstance(arg, type) and issubclass(arg, EntityStateModel):
                keys |= _fields(arg)
            for inner in getattr(arg, "__args__", ()):
                if isinstance(inner, type) and issubclass(inner, EntityStateModel):
                    keys |= _fields(inner)
    return keys


STATE_KEYS = set().union(*(_fields(model) for model in STATE_MODELS.values()))
CARD_MODULES = ("lights.js", "power.js", "climate.js", "motion.js", "tanks.js", "leveling.js", "chassis.js",
                "views.js", "alerts.js", "scenes.js", "controls.js")


def _code(name: str) -> str:
    text = (WEB_DIR / name).read_text()
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)  # comments may name anything


def test_every_state_key_the_page_reads_is_in_a_state_model() -> None:
    unknown: dict[str, set[str]] = {}
    for name in CARD_MODULES:
        code = _code(name)
        read = set(_READ.findall(code))
        for group in _DESTRUCTURED.findall(code):
            read |= {part.split(":")[0].strip() for part in group.split(",") if part.strip()}
        # Methods of the value read (st.jacks?.[key] aside) are not keys.
        extra = read - STATE_KEYS - {"get", "length", "map", "some", "filter"}
        if extra:
            unknown[name] = extra
    assert not unknown, f"state keys no model defines: {unknown}"


def test_the_page_reads_safety_by_its_model_and_works_out_no_interlock() -> None:
    safety_keys = set(SafetyOut.model_fields) | set(MotionBlockedOut.model_fields)
    for name in ("state.js", "views.js", "motion.js", "leveling.js", "chassis.js"):
        code = _code(name)
        read = set(_SAFETY_READ.findall(code))
        if name in ("state.js", "views.js"):
            read |= set(_S_READ.findall(code))
        assert not read - safety_keys, name
        assert not set(_INTERLOCK_READ.findall(code)) - set(InterlocksOut.model_fields) - {"test"}, name
    # The reason a motion is blocked is the server's; the page has no rule of its own about brakes or engines.
    for name in ("state.js", "motion.js", "leveling.js", "views.js"):
        code = _code(name)
        assert "park_brake_set !==" not in code and "engine_off ===" not in code, name


def test_no_module_guesses_between_keys() -> None:
    for path in WEB_DIR.glob("*.js"):
        code = _code(path.name)
        assert "pick(" not in code, path.name
        # `a.x ?? a.y`: one key, or else another of the same object.
        assert not re.search(r"\b(\w+)\.(\w+) \?\? \1\.(?!\2\b)\w+", code), path.name
