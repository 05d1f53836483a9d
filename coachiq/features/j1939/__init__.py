"""The j1939 feature: the chassis J1939 bus feeds the vehicle state and a chassis entity.

The chassis bus is either the RV-C bus itself (`interface: house`, where some chassis put their J1939
groups) or a second CAN interface of `can_interfaces` (250 or 500 kbit/s, e.g. `name: chassis`). The
CAN and RV-C core services read it like any bus: repeats are dropped before decoding, multi-packet
transfers (a DM1 with several codes, sent as BAM) are reassembled, and every new payload is published
as an `rvc.frame`. This feature takes the frames of its interface whose group it knows, decodes them
with its own database (pgns/*.yaml, the public J1939 definitions, same format as the RV-C one) and

- gives the state manager a vehicle source (CCVS1 speed and park brake, ETC2 gear, EEC1 engine
  speed), preferred over RV-C while fresh (coachiq/state/vehicle_sources.py decides). The source is
  read at every safety check, so it always answers with the last frame; and a frame that changes what
  the interlocks ask (rolling, park brake, gear out of park or neutral, engine running) tells the state
  manager at once, so a motion that may no longer go on is stopped before the next frame is read;
- keeps an entity (default `chassis.engine`) with engine and road speed, gear, coolant, oil pressure,
  fuel level and rate, engine hours, battery, cruise control and the active DM1 codes and lamps.
  Entity changes are published at most four times a second: a running engine changes speed at every
  EEC1 frame, and no display needs more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from coachiq.core.service import Health, Status
from coachiq.core.tasks import cancel_all
from coachiq.entities.mapping import EntityConfig
from coachiq.entities.model import EntityType, Source
from coachiq.entities.topics import FRAME
from coachiq.features.j1939.chassis import ChassisState
from coachiq.features.j1939.dm1 import parse_dm1
from coachiq.rvc import spec_load
from coachiq.rvc.codec import Codec
from coachiq.rvc.receive import RvcFrame
from coachiq.rvc.spec import SpecDatabase
from coachiq.state.vehicle_sources import J1939_RANK, Reading

if TYPE_CHECKING:
    from coachiq.features.base import FeatureContext
    from coachiq.rvc.receive import RvcReceiver

log = logging.getLogger(__name__)

__all__ = ["DM1_PGN", "PGN_DIRECTORY", "J1939Feature", "J1939Settings", "load_database"]

PGN_DIRECTORY = Path(__file__).with_name("pgns")
DM1_PGN = 0xFECA
BITRATES = (250_000, 500_000)
REPORT_INTERVAL_S = 0.25
# The groups the vehicle state reads: speed and park brake, gear, engine speed.
_READING_GROUPS = frozenset({"CCVS1", "ETC2", "EEC1"})


class J1939Settings(BaseModel):
    """Settings of the j1939 feature."""

    model_config = ConfigDict(extra="forbid")

    interface: str = Field(default="house", pattern=r"^[a-z][a-z0-9_]*$",
                           description="CAN interface carrying the chassis J1939 groups: 'house' (the RV-C bus) "
                                       "or the name of a second interface in can_interfaces.")
    stale_s: float = Field(default=1.0, gt=0, le=30,
                           description="CCVS1 older than this (it comes every 100 ms) is not used for the "
                                       "vehicle state.")
    entity_id: str = Field(default="chassis.engine", pattern=r"^chassis\.[a-z0-9][a-z0-9_]*$")
    entity_name: str = Field(default="Engine and transmission", min_length=1, max_length=80)


def load_database(directory: Path = PGN_DIRECTORY, keep_samples_and_notes: bool = False) -> SpecDatabase:
    """The J1939 chassis groups (SpecError when a definition is invalid)."""
    return spec_load.load_database(directory, keep_samples_and_notes=keep_samples_and_notes)


class _J1939Source:
    """The chassis bus as a vehicle source."""

    name = "j1939"

    def __init__(self, chassis: ChassisState, ids: dict[str, int], pipeline: RvcReceiver) -> None:
        self._chassis = chassis
        self._ids = ids
        self._pipeline = pipeline

    def reading(self, now: float) -> Reading:
        """Speed, park brake, gear, engine speed; heard when CCVS1 (speed, brake) was last on the bus."""
        chassis = self._chassis
        heard = chassis.heard.get("CCVS1")
        can_id = self._ids.get("CCVS1")
        if can_id is not None:
            seen = self._pipeline.last_seen(can_id)  # repeats are dropped before decoding
            if seen is not None and (heard is None or seen > heard):
                heard = chassis.heard["CCVS1"] = seen
        speed, brake, gear, rpm = chassis.reading_values()
        return Reading(heard, speed, brake, gear, rpm)


class J1939Feature:
    """Reads the chassis J1939 bus into the vehicle state and a chassis entity."""

    name: ClassVar[str] = "j1939"
    settings_model: ClassVar[type[BaseModel]] = J1939Settings

    def __init__(self) -> None:
        self.settings = J1939Settings()
        self.chassis = ChassisState()
        self.frames = 0
        self.dm1_messages = 0
        self.errors = 0
        self._codec: Codec | None = None
        self._names: dict[int, str] = {}
        self._ids: dict[str, int] = {}  # group -> identifier of its last frame
        self._interface = ""
        self._controllers: set[int] = set()  # source addresses that sent a chassis group
        self._interlock_inputs = self.chassis.interlock_inputs()
        self._on_interlock_input: Callable[[], None] | None = None  # the state manager's, while running
        self._removers: list[Callable[[], None]] = []
        self._ctx: FeatureContext | None = None
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False

    async def start(self, ctx: FeatureContext) -> None:
        """Check the interface, load the definitions, then register the source, entity and subscription."""
        settings = ctx.settings
        assert isinstance(settings, J1939Settings)
        self.settings = settings
        configured = {s.name: s for s in ctx.core.can.interfaces}
        chosen = configured.get(settings.interface)
        if chosen is None:
            raise ValueError(f"j1939.interface is '{settings.interface}', but the CAN interfaces are "
                             f"{', '.join(sorted(configured)) or 'none'}: add it to can_interfaces or choose one "
                             "of those")
        if chosen.bitrate not in BITRATES:
            raise ValueError(f"CAN interface '{chosen.name}' runs at {chosen.bitrate} bit/s; a J1939 chassis bus "
                             "runs at 250000 or 500000")
        self.use(await asyncio.to_thread(load_database), settings.interface)
        self._ctx = ctx
        entities = ctx.core.entities
        config = EntityConfig(id=settings.entity_id, name=settings.entity_name, type=EntityType.CHASSIS, area="cab",
                              device="j1939_chassis", instance=None, status_dgns=(), command_dgn=None,
                              capabilities=frozenset(), stale_s=max(5.0, 5 * settings.stale_s),
                              origin="j1939 feature")
        self._removers.append(entities.add_entity(config))
        try:
            source = _J1939Source(self.chassis, self._ids, ctx.core.rvc.receiver)
            self._removers.append(ctx.core.state.vehicle.add(source, J1939_RANK, settings.stale_s))
            self._on_interlock_input = ctx.core.state.vehicle_input_changed
            ctx.subscribe(FRAME, self._on_frame)
            # Unchanged payloads are dropped before decoding: those sent before we listened must be decoded once.
            ctx.core.rvc.receiver.forget()
            self._tasks.append(asyncio.create_task(self._report_loop(), name="j1939-report"))
        except BaseException:
            self._release()
            raise
        self._running = True
        log.info("j1939: reading the chassis groups on '%s' (%s bit/s)", chosen.name, chosen.bitrate)

    def use(self, db: SpecDatabase, interface: str) -> None:
        """Decode the groups of `db` from frames of `interface` (start does this; the benchmark too)."""
        self._codec = Codec(db)
        self._names = {spec.dgn: spec.name for spec in db}
        self._interface = interface

    def on_frame(self, frame: RvcFrame) -> None:
        """Take one published frame (the handler subscribed to rvc.frame)."""
        self._on_frame(frame)

    async def stop(self) -> None:
        """Stop reporting; remove the source and the entity (the manager removes the subscription)."""
        self._running = False
        await cancel_all(self._tasks)
        self._tasks.clear()
        self._release()

    def _release(self) -> None:
        self._on_interlock_input = None
        while self._removers:
            self._removers.pop()()

    def health(self) -> Health:
        """Healthy while chassis data arrives; degraded when none has been heard recently."""
        if not self._running:
            return Health(Status.STOPPED, "not running")
        if any(t.done() for t in self._tasks):
            return Health(Status.UNHEALTHY, "the entity reporter stopped")
        heard = self.chassis.heard.get("CCVS1")
        detail = (f"interface '{self._interface}': {self.frames} frames decoded, {self.dm1_messages} DM1, "
                  f"{self.errors} malformed")
        data = {"interface": self._interface, "frames": self.frames, "dm1": self.dm1_messages, "errors": self.errors}
        if heard is None or time.time() - heard > max(10.0, 10 * self.settings.stale_s):
            return Health(Status.DEGRADED, f"no vehicle speed (CCVS1) heard; {detail}", data)
        return Health(Status.HEALTHY, detail, data)

    # --- receiving (runs in the CAN receive path: quick, never raises) ---------------------------

    def _on_frame(self, frame: RvcFrame) -> None:
        if frame.interface != self._interface or frame.own:
            return
        dgn = frame.dgn
        name = self._names.get(dgn)
        if name is not None:
            codec = self._codec
            if codec is None:
                return
            decoded = codec.decode(dgn, frame.decoded.payload)
            self.frames += 1
            if decoded.errors:
                self.errors += 1
                return
            self._ids[name] = frame.can_id
            self._controllers.add(frame.source_address)
            chassis = self.chassis
            if chassis.apply(name, decoded.values, frame.timestamp):
                self._dirty.set()
            if name in _READING_GROUPS:
                inputs = chassis.interlock_inputs()
                if inputs != self._interlock_inputs:
                    self._interlock_inputs = inputs
                    if self._on_interlock_input is not None:
                        self._on_interlock_input()
        elif dgn == DM1_PGN and frame.source_address in self._controllers:
            # Only from controllers that send chassis groups: on the RV-C bus, house nodes send DM1 too.
            dm1 = parse_dm1(frame.decoded.payload)
            self.dm1_messages += 1
            if dm1.errors:
                self.errors += 1
            if self.chassis.apply_dm1(frame.source_address, dm1, frame.timestamp):
                self._dirty.set()

    async def _report_loop(self) -> None:
        ctx = self._ctx
        assert ctx is not None
        entities = ctx.core.entities
        entity_id = self.settings.entity_id
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            values: dict[str, Any] = dict(self.chassis.values)
            heard = max(self.chassis.heard.values(), default=time.time())
            source_id = self._ids.get("CCVS1") or next(iter(self._ids.values()), None)
            source = None if source_id is None else Source(self._dgn_of(source_id), source_id & 0xFF)
            entities.report(entity_id, values, source, heard, self._ids.values())
            await asyncio.sleep(REPORT_INTERVAL_S)

    @staticmethod
    def _dgn_of(can_id: int) -> int:
        return (can_id >> 8) & 0x3FFFF
