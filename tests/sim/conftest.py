"""Helpers for the simulated coach tests: a listener on the virtual bus that decodes like the server."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import can
import pytest

from coachiq.rvc import Codec, Decoded, compose_id, dgn_and_source, load_database
from coachiq.sim.coach import SimulatedCoach

SERVER_ADDRESS = 0x8C
_channels = itertools.count()


@dataclass
class Heard:
    """One decoded frame and who sent it."""

    at: float
    source: int
    decoded: Decoded


class Listener:
    """A second handle on the sim's virtual channel: it sends commands and decodes what comes back."""

    def __init__(self, channel: str, codec: Codec) -> None:
        self.bus = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
        self.codec = codec
        self.heard: list[Heard] = []

    def send(self, name: str, values: Mapping[str, Any]) -> None:
        """Send a command as the server would (from 0x8C), encoded by the codec."""
        spec = self.codec.spec_for(name)
        payload = self.codec.encode(name, values)
        self.bus.send(can.Message(arbitration_id=compose_id(spec.dgn, SERVER_ADDRESS, spec.priority),
                                  data=payload, is_extended_id=True))

    def drain(self) -> None:
        """Decode everything received so far into `heard`."""
        while (message := self.bus.recv(timeout=0)) is not None:
            dgn, source = dgn_and_source(message.arbitration_id)
            self.heard.append(Heard(time.monotonic(), source, self.codec.decode(dgn, bytes(message.data))))

    async def wait_for(self, name: str, match: Callable[[Mapping[str, Any]], bool] = lambda v: True,
                       timeout: float = 3.0, since: float | None = None) -> Heard:
        """The first frame of DGN `name` whose values satisfy `match`, received from now on (or `since`)."""
        start = len(self.heard) if since is None else next(
            (i for i, heard in enumerate(self.heard) if heard.at >= since), len(self.heard))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain()
            for heard in self.heard[start:]:
                if heard.decoded.name == name and match(heard.decoded.values):
                    return heard
            start = len(self.heard)
            await asyncio.sleep(0.005)
        raise AssertionError(f"no {name} frame matching within {timeout} s")

    def shutdown(self) -> None:
        self.bus.shutdown()


@pytest.fixture(scope="session")
def codec() -> Codec:
    return Codec(load_database())


@pytest.fixture
def channel() -> str:
    return f"coachiq-sim-test-{next(_channels)}"


@pytest.fixture
async def sim(channel: str, codec: Codec) -> AsyncIterator[SimulatedCoach]:
    """A class A coach running ten times faster than real time."""
    coach = SimulatedCoach(channel, speed=10.0, codec=codec)
    await coach.start()
    try:
        yield coach
    finally:
        await coach.stop()


@pytest.fixture
def listener(channel: str, codec: Codec) -> Iterator[Listener]:
    heard = Listener(channel, codec)
    yield heard
    heard.shutdown()


@pytest.fixture
async def real_time_sim(channel: str, codec: Codec) -> AsyncIterator[SimulatedCoach]:
    """A class A coach in real time, for timings finer than the scheduler's tick at ten times speed."""
    coach = SimulatedCoach(channel, codec=codec)
    await coach.start()
    try:
        yield coach
    finally:
        await coach.stop()
