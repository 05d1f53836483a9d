"""The spartan_k2 feature: the Spartan K2 chassis profile on top of the j1939 feature.

The profile (k2.yaml) holds what public sources say about the K2's bus, the standard J1939 groups
CoachIQ expects and the controller (J1939 preferred address) that normally sends each. No public source
documents a K2's own addresses or its proprietary groups, so the feature does not assume: it watches the
chassis interface and reports, per expected group, which addresses it was heard from, at
GET /api/v2/chassis/profile. The decoding itself is the j1939 feature's; nothing K2-proprietary is decoded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coachiq.core.service import Health, Status
from coachiq.entities.topics import FRAME
from coachiq.features.base import FeatureContext
from coachiq.rvc.receive import RvcFrame

__all__ = ["PROFILE_FILE", "ChassisProfile", "ProfileError", "SpartanK2Feature", "SpartanK2Settings", "load_profile"]

PROFILE_FILE = Path(__file__).with_name("k2.yaml")


class ProfileError(Exception):
    """The profile file is not valid; the message names the problem."""


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    source: str


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: str
    pgn: int = Field(ge=0, le=0x3FFFF)
    controller: str
    address: int | None = Field(ge=0, le=253)
    source: str


class ChassisProfile(BaseModel):
    """A chassis profile: sources, the facts they give, the expected groups, what is not documented."""

    model_config = ConfigDict(extra="forbid")
    chassis: str
    sources: dict[str, str]
    facts: list[_Fact]
    groups: list[_Group]
    not_documented: list[str]


def load_profile(path: Path = PROFILE_FILE) -> ChassisProfile:
    """Read and check a profile; every fact and group must cite one of its sources (ProfileError)."""
    try:
        profile = ChassisProfile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    cited = [f.source for f in profile.facts] + [g.source for g in profile.groups]
    unknown = sorted(set(cited) - set(profile.sources))
    if unknown:
        raise ProfileError(f"{path}: cites sources it does not list: {', '.join(unknown)}")
    return profile


class SpartanK2Settings(BaseModel):
    """Settings of the spartan_k2 feature."""

    model_config = ConfigDict(extra="forbid")

    interface: str = Field(default="house", pattern=r"^[a-z][a-z0-9_]*$",
                           description="The CAN interface of the chassis J1939 groups (as j1939.interface).")


@dataclass(slots=True)
class _Heard:
    can_id: int
    last: float
    count: int = 1


class SpartanK2Feature:
    """Checks the K2 profile's expected groups against the chassis bus and serves the result."""

    name: ClassVar[str] = "spartan_k2"
    settings_model: ClassVar[type[BaseModel]] = SpartanK2Settings

    def __init__(self) -> None:
        self.profile: ChassisProfile | None = None
        self.heard: dict[tuple[int, int], _Heard] = {}  # (pgn, source address) -> when and how often
        self._pgns: frozenset[int] = frozenset()
        self._interface = "house"
        self._running = False
        self._last_seen: Any = None

    async def start(self, ctx: FeatureContext) -> None:
        """Load the profile, watch the chassis interface, serve /api/v2/chassis/profile."""
        settings = ctx.settings
        assert isinstance(settings, SpartanK2Settings)
        names = {s.name for s in ctx.core.can.interfaces}
        if settings.interface not in names:
            raise ValueError(f"spartan_k2.interface is '{settings.interface}', but the CAN interfaces are "
                             f"{', '.join(sorted(names))}")
        self.profile = load_profile()
        self._pgns = frozenset(g.pgn for g in self.profile.groups)
        self._interface = settings.interface
        self._last_seen = ctx.core.rvc.receiver.last_seen  # repeats are dropped before decoding
        router = APIRouter(prefix="/api/v2/chassis", tags=["chassis"])

        @router.get("/profile")
        async def profile() -> dict[str, Any]:
            """The chassis profile, its sources, and which expected groups the bus carries from where."""
            return self.report()

        ctx.add_router(router)
        ctx.subscribe(FRAME, self._on_frame)
        ctx.core.rvc.receiver.forget()  # groups that repeat unchanged were dropped before we listened
        self._running = True

    async def stop(self) -> None:
        """Nothing beyond the route and subscription, which the manager removes."""
        self._running = False

    def health(self) -> Health:
        """Healthy while running; the detail counts the expected groups heard from their expected controller."""
        if not self._running or self.profile is None:
            return Health(Status.STOPPED, "not running")
        rows = self.report()["groups"]
        matched = sum(1 for r in rows if r["as_expected"])
        return Health(Status.HEALTHY, f"{self.profile.chassis}: {matched} of {len(rows)} expected groups heard "
                                      "from the expected controller")

    def _on_frame(self, frame: RvcFrame) -> None:
        if frame.interface != self._interface or frame.own or frame.dgn not in self._pgns:
            return
        key = (frame.dgn, frame.source_address)
        entry = self.heard.get(key)
        if entry is None:
            if len(self.heard) < 4 * len(self._pgns) + 64:  # bounded: a bus full of odd senders cannot grow it
                self.heard[key] = _Heard(frame.can_id, frame.timestamp)
        else:
            entry.last = frame.timestamp
            entry.count += 1

    def _seen(self, heard: _Heard) -> float:
        seen = self._last_seen(heard.can_id) if self._last_seen is not None else None
        return heard.last if seen is None else max(seen, heard.last)

    def report(self) -> dict[str, Any]:
        """The profile with, per expected group, the addresses it was heard from."""
        profile = self.profile
        if profile is None:
            return {}
        now = time.time()
        groups = []
        for group in profile.groups:
            senders = sorted(address for pgn, address in self.heard if pgn == group.pgn)
            last = max((self._seen(self.heard[(group.pgn, a)]) for a in senders), default=None)
            expected = group.address
            groups.append({
                "group": group.group, "pgn": group.pgn, "controller": group.controller,
                "expected_address": expected, "source": group.source, "heard_from": senders,
                "last_heard_s_ago": None if last is None else round(max(0.0, now - last), 1),
                "as_expected": bool(senders) and (expected is None or expected in senders)})
        return {"chassis": profile.chassis, "interface": self._interface, "sources": profile.sources,
                "facts": [f.model_dump() for f in profile.facts], "groups": groups,
                "not_documented": profile.not_documented}
