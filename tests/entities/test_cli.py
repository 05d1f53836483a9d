"""`coachiq unmapped --log` and `coachiq config check` on coach mapping files."""

from __future__ import annotations

import json
from pathlib import Path

from coachiq.can.ids import compose_id
from tests.conftest import clean_env, run_cli


def _line(dgn: int, source: int, payload: str) -> str:
    return f"(1700000000.000000) can0 {compose_id(dgn, source, 6, None):08X}#{payload}\n"


def test_unmapped_from_a_log(tmp_path: Path) -> None:
    log = tmp_path / "coach.log"
    log.write_text(
        _line(0x1FEDA, 0x60, "01FFC8FDFFFFFDFF")     # light 1: mapped in the generic coach
        + _line(0x1FEDA, 0x60, "0CFFC8FDFFFFFDFF")   # light 12: not mapped
        + _line(0x1FEDA, 0x60, "0CFF00FDFFFFF9FF")
        + _line(0x1FFB7, 0x48, "0303080000FFFFFF")   # tank instance 3 (LPG): not in the generic coach
    )
    result = run_cli("unmapped", "--log", str(log), "--coach", "generic", "--json",
                     env=clean_env(COACHIQ_DATA_DIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["name"], r["instance"], r["count"]) for r in rows] == [("DC_DIMMER_STATUS_3", 12, 2),
                                                                     ("TANK_STATUS", 3, 1)]
    assert rows[0]["suggested"]["device"] == "dimmer" and rows[1]["suggested"]["id"] == "tank.tank_3"
    table = run_cli("unmapped", "--log", str(log), "--coach", "generic",
                    env=clean_env(COACHIQ_DATA_DIR=str(tmp_path)))
    assert "TANK_STATUS" in table.stdout and "entities:" in table.stdout


def test_config_check_validates_the_coach_file(tmp_path: Path) -> None:
    broken = tmp_path / "mine.yaml"
    broken.write_text("entities:\n  - id: light.x\n    instance: -4\n")
    result = run_cli("config", "check", env=clean_env(COACHIQ_COACH_FILE=str(broken),
                                                      COACHIQ_DATA_DIR=str(tmp_path)))
    assert result.returncode == 1
    assert f"{broken}:3: instance must be an integer 0..250, got -4" in result.stderr
    unknown = run_cli("config", "check", env=clean_env(COACHIQ_COACH="nope", COACHIQ_DATA_DIR=str(tmp_path)))
    assert unknown.returncode == 1 and "unknown coach 'nope'" in unknown.stderr
    ok = run_cli("config", "check", env=clean_env(COACHIQ_COACH="travel_trailer", COACHIQ_DATA_DIR=str(tmp_path)))
    assert ok.returncode == 0, ok.stderr
