"""Coach mapping files: the shipped coaches, user overrides, and broken files reported by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachiq.core.errors import ConfigError
from coachiq.entities.mapping import coach_path, load_coach, load_mapping_file, shipped_coaches
from coachiq.entities.model import EntityType
from coachiq.sim.devices import COACHES


def test_shipped_coaches_load() -> None:
    assert shipped_coaches() == ["class_a_diesel", "firefly_coach", "generic", "spartan_k2", "travel_trailer"]
    generic = load_coach("generic")
    assert {"light.light_1", "tank.fresh", "tank.grey", "tank.black", "battery.house", "chassis.main"} \
        <= set(generic.entities)


@pytest.mark.parametrize("coach", sorted(COACHES))
def test_shipped_mapping_matches_the_simulated_coach(coach: str) -> None:
    mapping = load_coach(coach)
    devices = {d.entity_id: d for d in COACHES[coach]}
    assert set(mapping.entities) == set(devices)
    for entity_id, device in devices.items():
        config = mapping.entities[entity_id]
        assert (config.name, config.area, config.source_address) == (device.name, device.area,
                                                                     device.source_address), entity_id
        assert config.status_dgns == device.status_dgns and config.command_dgn == device.command_dgn
        if config.device == "motor_pair":
            assert (config.extend_instance, config.retract_instance) == (device.extend_instance,
                                                                         device.retract_instance)
        else:
            assert config.instance == device.instance, entity_id


def test_class_a_has_four_slides_a_leveling_system_and_an_awning() -> None:
    mapping = load_coach("class_a_diesel")
    kinds = [c.type for c in mapping.entities.values()]
    assert kinds.count(EntityType.SLIDE) == 4 and kinds.count(EntityType.JACK) == 1
    leveling = mapping.entities["jack.leveling"]
    assert leveling.device == "leveling" and leveling.command_dgn == "LEVELING_CONTROL_COMMAND"
    assert leveling.capabilities == {"auto_level", "retract_all", "extend", "retract", "stop", "clear_error"}
    assert kinds.count(EntityType.AWNING) == 1
    slide = mapping.entities["slide.living_room"]
    assert slide.capabilities == {"extend", "retract", "stop"} and slide.max_duration_s == 30


def test_a_user_file_extends_overrides_and_removes(tmp_path: Path) -> None:
    user = tmp_path / "mine.yaml"
    user.write_text(
        "entities:\n"
        "  - {id: light.light_1, name: Couch lamp, area: living_room, device: dimmer, instance: 1, stale_s: 30}\n"
        "  - {id: light.awning_led, name: Awning LEDs, area: exterior, device: relay, instance: 30}\n"
        "  - {id: slide.bunk, device: motor_pair, extend_instance: 60, retract_instance: 61, max_duration_s: 10}\n"
        "remove: [light.light_8]\n")
    mapping = load_coach("generic", user)
    assert mapping.entities["light.light_1"].name == "Couch lamp"
    assert mapping.entities["light.light_1"].stale_s == 30
    assert mapping.entities["light.awning_led"].capabilities == {"turn_on", "turn_off", "toggle"}
    assert mapping.entities["slide.bunk"].name == "Bunk"
    assert "light.light_8" not in mapping.entities
    assert mapping.coach == "generic"


def _problems(tmp_path: Path, text: str, base: str | None = None) -> list[str]:
    path = tmp_path / "coach.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        if base is None:
            load_mapping_file(path)
        else:
            load_coach(base, path)
    return caught.value.problems


def test_broken_files_name_file_line_and_problem(tmp_path: Path) -> None:
    problems = _problems(tmp_path, (
        "coach: test\n"                                                         # 1
        "entities:\n"                                                           # 2
        "  - id: light.ok\n"                                                    # 3
        "    instance: 1\n"                                                     # 4
        "  - id: Light Bad\n"                                                   # 5
        "  - id: light.two\n"                                                   # 6
        "    instance: 999\n"                                                   # 7
        "  - id: slide.half\n"                                                  # 8
        "    extend_instance: 40\n"                                             # 9
        "  - id: tank.fresh\n"                                                  # 10
        "    instance: 0\n"                                                     # 11
        "    capabilities: [turn_on]\n"                                         # 12
        "  - id: light.ok\n"                                                    # 13
        "    instance: 2\n"                                                     # 14
        "  - id: light.clash\n"                                                 # 15
        "    instance: 1\n"                                                     # 16
        "    colour: red\n"                                                     # 17
        "  - id: toaster.one\n"                                                 # 18
        "    instance: 1\n"))                                                   # 19
    where = str(tmp_path / "coach.yaml")
    text = "\n".join(problems)
    assert f"{where}:5: `id` must look like" in text
    assert f"{where}:7: instance must be an integer 0..250, got 999" in text
    assert f"{where}:8: a motor pair needs `retract_instance`" in text
    assert f"{where}:12: a tank cannot do turn_on" in text
    assert f"{where}:13: entity id 'light.ok' is defined twice" in text
    assert f"{where}:17: unknown key 'colour'" in text
    assert f"{where}:18: unknown entity type 'toaster'" in text
    assert len(problems) == 7


def test_two_entities_on_one_output_are_reported(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "coach: t\nentities:\n  - {id: light.a, instance: 1}\n"
                                   "  - {id: switch.b, device: relay, instance: 1}\n")
    assert len(problems) == 1 and "both read DC_DIMMER_STATUS_3 instance 1" in problems[0]


def test_invalid_yaml_and_wrong_shapes(tmp_path: Path) -> None:
    assert "coach.yaml:4: not valid YAML" in _problems(tmp_path, "coach: t\nentities:\n  - id: [unclosed\n")[0]
    assert "expected a mapping" in _problems(tmp_path, "- just\n- a list\n")[0]
    assert "`coach` is missing" in _problems(tmp_path, "entities: []\n")[0]
    problems = _problems(tmp_path, "entities: []\nremove: [light.nope]\n", base="generic")
    assert problems == [f"{tmp_path / 'coach.yaml'}:2: cannot remove 'light.nope': the coach has no such entity"]


def test_unknown_coach_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        coach_path("spaceship")
    assert "class_a_diesel, firefly_coach, generic, spartan_k2, travel_trailer" in caught.value.problems[0]
