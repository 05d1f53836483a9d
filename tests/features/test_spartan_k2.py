"""The Spartan K2 profile: every fact and group cites a listed source, and the profile check reports
which controllers the expected groups were heard from on the simulated chassis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from coachiq.features.base import FeatureContext
from coachiq.features.j1939 import load_database
from coachiq.features.spartan_k2 import ProfileError, SpartanK2Feature, SpartanK2Settings, load_profile
from tests.entities.conftest import start_coach, stop_coach, wait_for


def _no_routes(_router: APIRouter) -> Callable[[], None]:
    return lambda: None


def test_profile_cites_its_sources_and_expects_only_defined_groups() -> None:
    profile = load_profile()
    assert profile.chassis == "Spartan K2" and profile.not_documented
    defined = {spec.name: spec.dgn for spec in load_database()} | {"DM1": 0xFECA}
    for group in profile.groups:
        assert defined[group.group] == group.pgn, group.group
        assert group.source in profile.sources
    assert all(fact.source in profile.sources for fact in profile.facts)


def test_a_profile_citing_an_unlisted_source_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("chassis: X\nsources: {a: A}\nfacts: [{text: t, source: b}]\ngroups: []\nnot_documented: []\n")
    with pytest.raises(ProfileError, match="cites sources it does not list: b"):
        load_profile(bad)


async def test_the_profile_check_sees_the_simulated_controllers(tmp_path: Path) -> None:
    coach = await start_coach(tmp_path / "data", j1939=True)
    feature = SpartanK2Feature()
    ctx = FeatureContext(coach.core, SpartanK2Settings(), _no_routes)
    try:
        await feature.start(ctx)
        rows = await wait_for(lambda: (r := {g["group"]: g for g in feature.report()["groups"]})
                              and all(g["heard_from"] for name, g in r.items() if name != "DM1")
                              and r["DM1"]["heard_from"] and r, timeout=5)
        assert rows["EEC1"]["heard_from"] == [0x00] and rows["EEC1"]["as_expected"]
        assert rows["ETC2"]["heard_from"] == [0x03] and rows["DD1"]["heard_from"] == [0x17]
        assert rows["CCVS1"]["expected_address"] is None and rows["CCVS1"]["as_expected"]
        assert feature.health().ok and "10 of 10" in feature.health().detail
    finally:
        await feature.stop()
        ctx.release()
        await stop_coach(coach)


def test_profile_served_by_a_real_server(tmp_path: Path) -> None:
    from tests.conftest import start_server

    server = start_server(tmp_path / "data", env={"COACHIQ_COACH": "class_a_diesel", "COACHIQ_FEATURE_J1939": "true",
                                                  "COACHIQ_FEATURE_SPARTAN_K2": "true"})
    try:
        health = httpx.get(server.base_url + "/health").json()
        assert health["features"]["spartan_k2"]["status"] == "running"
        profile = httpx.get(server.base_url + "/api/v2/chassis/profile").json()
        assert profile["chassis"] == "Spartan K2" and profile["not_documented"]
        assert {g["group"] for g in profile["groups"]} >= {"EEC1", "CCVS1", "ETC2", "DM1"}
    finally:
        server.stop()
