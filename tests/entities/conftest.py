"""Helpers for entity and safety tests: the core services and the simulated coach on a private virtual bus."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coachiq.composition import CoreServices
from coachiq.core.alerts import AlertManager
from coachiq.core.metrics import Metrics
from coachiq.features.j1939 import load_database
from coachiq.rvc import Codec
from coachiq.settings import CanInterfaceSettings, Settings
from coachiq.sim.coach import SimulatedCoach
from tests.conftest import wait_for as wait_for

_counter = itertools.count()


def unique_channel() -> str:
    """A virtual CAN channel no other test uses."""
    return f"coachiq-entities-{uuid.uuid4().hex[:8]}-{next(_counter)}"


def coach_settings(data_dir: Path, channel: str, **overrides: Any) -> Settings:
    """Settings for a core on `channel` with fast timers."""
    values: dict[str, Any] = {"data_dir": data_dir, "coach": "class_a_diesel", "flush_interval": 0.2,
                              "command_timeout": 1.5,
                              "can_interfaces": [CanInterfaceSettings(name="house", interface="virtual",
                                                                      channel=channel)]}
    values.update(overrides)
    return Settings(**values)


@dataclass
class Coach:
    """A started core and the simulated coach it talks to."""

    core: CoreServices
    sim: SimulatedCoach
    alerts: AlertManager
    channel: str




async def start_coach(data_dir: Path, coach: str = "class_a_diesel", mapping: str | None = None,
                      j1939: bool = False, **overrides: Any) -> Coach:
    """Start the core services and a simulated coach on a fresh channel; wait until the chassis is heard.

    `mapping` is the coach mapping the server loads (default: the simulated coach's own); `j1939`: the
    simulated chassis also sends its J1939 groups on the same bus.
    """
    channel = unique_channel()
    core = CoreServices(coach_settings(data_dir, channel, coach=mapping or coach, **overrides), Metrics())
    await core.start()
    j1939_codec = Codec(load_database()) if j1939 else None
    sim = SimulatedCoach(channel, coach, codec=core.rvc.codec, j1939_channel=channel if j1939 else None,
                         j1939_codec=j1939_codec)
    await sim.start()
    await wait_for(lambda: core.entities.entities["chassis.main"].state.available)
    return Coach(core, sim, core.alerts, channel)


async def stop_sim(sim: SimulatedCoach) -> None:
    """Stop the simulated coach; it must stop within 5 s."""
    async with asyncio.timeout(5):
        await sim.stop()


async def stop_coach(coach: Coach) -> None:
    """Stop the simulated coach, then the core."""
    await stop_sim(coach.sim)
    await coach.core.stop()


@pytest.fixture
async def coach(tmp_path: Path) -> AsyncIterator[Coach]:
    """The class A diesel coach, parked with the park brake set."""
    started = await start_coach(tmp_path / "data")
    try:
        yield started
    finally:
        await stop_coach(started)
