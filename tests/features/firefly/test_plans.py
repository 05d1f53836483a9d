"""The Firefly command plans, frame by frame, against what the public sources describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachiq.entities.commands import plan
from coachiq.entities.mapping import load_coach
from coachiq.features.firefly import adapt_plan, load_facts

FACTS = load_facts()
COACH = load_coach("firefly_coach")


def _commands(entity_id: str, command: str, params: dict[str, object] | None = None) -> list[tuple[int | None, str]]:
    config = COACH.entities[entity_id]
    steps = adapt_plan(FACTS, config, command, plan(config, command, params or {}, {}))
    return [(t.instance, t.values["command"]) for t in steps.transmissions]


def test_the_facts_file_reads_and_lists_no_undocumented_dgn() -> None:
    assert FACTS.settle_s == 0.25 and FACTS.finish_after_s == 5.0
    assert FACTS.finish_commands == ("ramp_up_down", "stop") and FACTS.proprietary_dgns == ()


def test_a_pair_turns_both_loads_off_then_waits_then_drives_one() -> None:
    config = COACH.entities["awning.patio"]
    steps = adapt_plan(FACTS, config, "extend", plan(config, "extend", {"duration_s": 5}, {}))
    assert [(t.instance, t.values["command"]) for t in steps.transmissions] == \
        [(25, "off_delay"), (24, "off_delay"), (24, "on_duration")]
    assert steps.settle_s == 0.25 and steps.transmissions[-1].values["duration"] == 5
    assert _commands("awning.patio", "retract") == [(24, "off_delay"), (25, "off_delay"), (25, "on_duration")]
    assert _commands("shade.windshield", "stop") == [(30, "off_delay"), (31, "off_delay")]


@pytest.mark.parametrize("command", ["extend", "retract", "stop"])
def test_no_pair_ever_gets_the_code_that_pulses_the_motor(command: str) -> None:
    for entity_id in ("awning.patio", "shade.windshield", "shade.living_room"):
        assert all(name not in FACTS.forbidden_commands for _i, name in _commands(entity_id, command))


def test_a_brightness_is_a_ramp_finished_later_and_off_stays_plain() -> None:
    config = COACH.entities["light.galley"]
    steps = adapt_plan(FACTS, config, "set_brightness", plan(config, "set_brightness", {"brightness": 40}, {}))
    assert [(t.values["command"], t.values["desired_level"]) for t in steps.transmissions] == \
        [("ramp_brightness", 40.0)]
    assert [t.values["command"] for t in steps.followup] == ["ramp_up_down", "stop"]
    assert steps.followup_after_s == 5.0
    assert _commands("light.galley", "turn_off") == [(18, "set_level")]


def test_a_broken_facts_file_is_refused_with_its_name(tmp_path: Path) -> None:
    broken = tmp_path / "firefly.yaml"
    broken.write_text("dimmer_ramp: {}\n")
    with pytest.raises(ValueError, match=r"firefly\.yaml"):
        load_facts(broken)
