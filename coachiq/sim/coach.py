"""The simulated coach: every simulated device node on one python-can virtual bus handle.

Two things run while the coach is started:
- a receive thread blocked on the bus (python-can's virtual bus has no file descriptor to wait on) that
  hands command frames to the event loop, where the addressed device applies the command and answers at
  once with its status (the echo a real RV-C node sends);
- one scheduler task that advances every device by the elapsed simulated time each tick, broadcasts a
  device's status when it changes (limit reached, generator running...) and otherwise at its own period.

Payloads are always built by the RV-C codec from field values. `speed` > 1 makes simulated time run
faster (travel, ramps, delays, drift) while broadcast periods stay in real seconds; tests use it.

With `j1939_channel` a coach with a chassis also gets a J1939 engine, transmission and instrument
cluster (coachiq/sim/j1939.py) that the chassis drives; they send J1939 groups, encoded with the codec
the caller builds from the j1939 feature's definitions, on that channel: the coach's own (J1939 on the
RV-C bus) or a second one.

To stay cheap when idle, the scheduler ticks every 0.25 s unless some device is busy (a ramp, a motor,
a generator starting) or a command just arrived, and a status whose values did not change since the
last broadcast reuses its payload instead of being encoded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import can

from coachiq.core.tasks import cancel_all
from coachiq.rvc import Codec, EncodeError, compose_id, dgn_and_source, load_database
from coachiq.sim.chassis import Chassis
from coachiq.sim.climate import Furnace, RoofFan, Thermostat
from coachiq.sim.devices import DeviceKind, SimDevice, devices_for
from coachiq.sim.faults import FaultTable
from coachiq.sim.firefly import FireflyDimmer, FireflyPair
from coachiq.sim.j1939 import J1939Node, j1939_nodes
from coachiq.sim.leveling import LevelingController
from coachiq.sim.loads import AcLoad, DcLoad, Lock
from coachiq.sim.model import DeviceModel, World
from coachiq.sim.motion import Awning, MotorPair, Shade
from coachiq.sim.power import Battery, Charger, Generator, Inverter, TransferSwitch
from coachiq.sim.water import Tank, WaterHeater, WaterPump

log = logging.getLogger(__name__)

__all__ = ["ChassisState", "SimulatedCoach", "build_model"]

TICK_S = 0.1  # while something moves, ramps or starts
IDLE_TICK_S = 0.25  # otherwise: keeps the idle coach well under 1 % of a core
MIN_CHANGE_INTERVAL_S = 0.2  # a ramping dimmer reports at most 5 times a second
_RECV_TIMEOUT_S = 0.25  # how long stop() may wait for the receive thread
_CATCH_UP_S = 0.005

_MODELS: Mapping[DeviceKind, type[DeviceModel]] = {
    DeviceKind.DIMMER: DcLoad, DeviceKind.RELAY_LIGHT: DcLoad, DeviceKind.RELAY: DcLoad,
    DeviceKind.AC_LOAD: AcLoad, DeviceKind.LOCK: Lock, DeviceKind.TANK: Tank, DeviceKind.BATTERY: Battery,
    DeviceKind.CHARGER: Charger, DeviceKind.INVERTER: Inverter, DeviceKind.TRANSFER_SWITCH: TransferSwitch,
    DeviceKind.THERMOSTAT: Thermostat, DeviceKind.FURNACE: Furnace, DeviceKind.WATER_HEATER: WaterHeater,
    DeviceKind.WATER_PUMP: WaterPump, DeviceKind.ROOF_FAN: RoofFan, DeviceKind.GENERATOR: Generator,
    DeviceKind.SLIDE: MotorPair, DeviceKind.LEVELING: LevelingController, DeviceKind.AWNING: Awning,
    DeviceKind.SHADE: Shade, DeviceKind.CHASSIS: Chassis, DeviceKind.FIREFLY_DIMMER: FireflyDimmer,
    DeviceKind.FIREFLY_PAIR: FireflyPair,
}

# Step order within a tick: producers of shared quantities before their consumers (generator before the
# transfer switch, thermostats before furnaces, the pump before the tanks, charger before batteries).
_STEP_ORDER = [DeviceKind.CHASSIS, DeviceKind.GENERATOR, DeviceKind.TRANSFER_SWITCH, DeviceKind.INVERTER,
               DeviceKind.THERMOSTAT, DeviceKind.FURNACE, DeviceKind.WATER_PUMP, DeviceKind.WATER_HEATER]
_LATE = [DeviceKind.CHARGER, DeviceKind.BATTERY, DeviceKind.TANK]


def _rank(model: DeviceModel) -> int:
    kind = model.spec.kind
    if kind in _STEP_ORDER:
        return _STEP_ORDER.index(kind)
    if kind in _LATE:
        return 100 + _LATE.index(kind)
    return 50


def build_model(spec: SimDevice) -> DeviceModel:
    """The model class that plays a device of this kind."""
    return _MODELS[spec.kind](spec)


@dataclass(frozen=True, slots=True)
class ChassisState:
    """What the simulated chassis is doing."""

    moving: bool
    park_brake: bool
    speed_kph: float
    ignition: bool


class SimulatedCoach:
    """A whole simulated coach on the virtual CAN channel `channel`."""

    def __init__(self, channel: str, coach: str = "class_a_diesel", *, speed: float = 1.0,
                 codec: Codec | None = None, j1939_channel: str | None = None,
                 j1939_codec: Codec | None = None) -> None:
        """Build the devices of `coach` (ValueError when unknown); nothing runs until start().

        `codec` may be the server's own (the DGN database is then loaded once); None loads it at start.
        `j1939_codec` encodes the J1939 groups sent on `j1939_channel` (built from the j1939 feature's
        definitions by whoever starts the simulation; required with a `j1939_channel`).
        """
        if speed <= 0:
            raise ValueError(f"speed {speed} must be above 0")
        self.channel = channel
        self.coach = coach
        self.speed = speed
        self.world = World()
        self.devices: dict[str, DeviceModel] = {spec.entity_id: build_model(spec) for spec in devices_for(coach)}
        models = list(self.devices.values())
        self.j1939_channel = j1939_channel
        if j1939_channel is not None:
            if j1939_codec is None:
                raise ValueError("a J1939 channel needs the J1939 codec that encodes its groups")
            chassis = next((m for m in models if isinstance(m, Chassis)), None)
            if chassis is None:
                raise ValueError(f"the simulated coach {coach} has no chassis to drive a J1939 engine")
            models += j1939_nodes(chassis)
        self._models = sorted(models, key=_rank)
        self._j1939_codec = j1939_codec
        self._j1939_bus: can.BusABC | None = None
        self._codec = codec
        self._routes: dict[tuple[int, int | None], DeviceModel] = {}
        self._command_dgns: frozenset[int] = frozenset()
        self._ids: dict[tuple[str, int], int] = {}  # (DGN name, source address) -> arbitration id
        # (id(model), frame index) -> (values, payload) last sent: most broadcasts repeat themselves.
        self._payloads: dict[tuple[int, int], tuple[dict[str, Any], bytes]] = {}
        self._wake = asyncio.Event()
        self._last_tick = 0.0  # monotonic time up to which the devices have been advanced
        self._due: dict[int, float] = {}  # id(model) -> next periodic broadcast (monotonic)
        self._last_sent: dict[int, float] = {}
        self._pending: set[int] = set()  # changed models waiting for MIN_CHANGE_INTERVAL_S
        self._bus: can.BusABC | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.faults = FaultTable()
        self.frames_sent = 0
        self.commands_handled = 0
        self.send_errors = 0

    # --- life cycle -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._task is not None

    async def start(self) -> None:
        """Open the bus, start receiving commands and broadcasting status."""
        if self._task is not None:
            raise RuntimeError("the simulated coach is already running")
        if self._codec is None:
            self._codec = Codec(await asyncio.to_thread(load_database))
        codec = self._codec
        routes: dict[tuple[int, int | None], DeviceModel] = {}
        for model in self._models:
            for dgn_name, instance in model.instances:
                routes[(codec.spec_for(dgn_name).dgn, instance)] = model
        self._routes = routes
        self._command_dgns = frozenset(dgn for dgn, _instance in routes)
        self._bus = can.Bus(interface="virtual", channel=self.channel, receive_own_messages=False)
        if self.j1939_channel is not None:
            self._j1939_bus = self._bus if self.j1939_channel == self.channel else \
                can.Bus(interface="virtual", channel=self.j1939_channel, receive_own_messages=False)
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._receive, args=(self._bus, self._loop),
                                        name=f"sim-{self.coach}-rx", daemon=True)
        self._thread.start()
        now = time.monotonic()
        self._last_tick = now
        # Nodes power up over the first second rather than all in one burst.
        for index, model in enumerate(self._models):
            self._due[id(model)] = now + (index % 10) * 0.1
            self._last_sent[id(model)] = 0.0
        self._task = asyncio.create_task(self._run(), name=f"sim-{self.coach}")
        self._task.add_done_callback(self._scheduler_ended)
        log.info("simulated coach %s started: %d devices on virtual channel %s", self.coach, len(self.devices),
                 self.channel)

    async def stop(self) -> None:
        """Stop the scheduler and the receive thread and shut the bus down. Safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_all([task])
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join)
        bus, self._bus = self._bus, None
        j1939_bus, self._j1939_bus = self._j1939_bus, None
        if j1939_bus is not None and j1939_bus is not bus:
            j1939_bus.shutdown()
        if bus is not None:
            bus.shutdown()
            log.info("simulated coach %s stopped", self.coach)

    def _scheduler_ended(self, task: asyncio.Task[None]) -> None:
        # Only a bug ends the scheduler early; make it visible instead of a coach that silently goes quiet.
        if not task.cancelled() and task.exception() is not None:
            log.error("the simulated coach %s stopped broadcasting", self.coach, exc_info=task.exception())

    # --- controls for people and tests --------------------------------------------------------------

    @property
    def chassis(self) -> Chassis:
        """The chassis model; RuntimeError when the coach has none."""
        for model in self._models:
            if isinstance(model, Chassis):
                return model
        raise RuntimeError(f"the simulated coach {self.coach} has no chassis")

    def chassis_state(self) -> ChassisState:
        """Moving, park brake, speed and ignition as the chassis reports them."""
        chassis = self.chassis
        return ChassisState(moving=chassis.moving, park_brake=chassis.park_brake, speed_kph=round(chassis.speed, 1),
                            ignition=chassis.ignition)

    def set_chassis(self, moving: bool | None = None, park_brake: bool | None = None,
                    ignition: bool | None = None) -> ChassisState:
        """Drive (moving=True) or stop and park (moving=False); set the park brake or ignition.

        None leaves a setting as it is. The new state is broadcast at once when the coach is running.
        """
        chassis = self.chassis
        if self._task is not None:
            self._advance(time.monotonic())
        chassis.set_state(moving, park_brake, ignition)
        self._send_status(chassis, time.monotonic())
        self._wake.set()
        return self.chassis_state()

    def set_fault(self, entity_id: str, spn: int, fmi: int, active: bool, red: bool = False) -> None:
        """Make device `entity_id` report (or stop reporting) a trouble code, at once.

        KeyError for an unknown device, ValueError for an SPN or FMI out of range.
        """
        model = self.devices.get(entity_id)
        if model is None:
            raise KeyError(f"no simulated device {entity_id!r}: choose one of {', '.join(sorted(self.devices))}")
        if self.faults.set(entity_id, spn, fmi, active, red):
            model.faulted = self.faults.has_active(entity_id)
            self._send_status(model, time.monotonic())

    def set_shore_power(self, connected: bool) -> None:
        """Plug in or unplug shore power."""
        self.world.shore_connected = connected

    # --- receiving ------------------------------------------------------------------------------

    def _receive(self, bus: can.BusABC, loop: asyncio.AbstractEventLoop) -> None:
        # Runs in its own thread; only frames of a command DGN the coach answers reach the loop.
        stopping = self._stopping
        while not stopping.is_set():
            try:
                message = bus.recv(timeout=_RECV_TIMEOUT_S)
            except can.CanError as exc:
                log.warning("simulated coach: receive failed: %s", exc)
                return
            if message is None or not message.is_extended_id or message.is_error_frame:
                continue
            dgn, source = dgn_and_source(message.arbitration_id)
            if dgn not in self._command_dgns:
                continue
            try:
                loop.call_soon_threadsafe(self._on_command, dgn, bytes(message.data), source)
            except RuntimeError:
                return  # the loop is closed: the coach is going away

    def _on_command(self, dgn: int, payload: bytes, commander: int) -> None:
        codec = self._codec
        if codec is None or self._task is None:
            return
        decoded = codec.decode(dgn, payload)
        if decoded.errors:
            log.debug("simulated coach ignores a malformed command: %s", decoded.errors)
            return
        model = self._routes.get((dgn, decoded.instance))
        if model is None or decoded.name is None:
            return
        # Bring the coach up to now first, so the command acts at the right simulated moment (a burst of
        # commands within a few milliseconds needs no catching up in between).
        now = time.monotonic()
        if now - self._last_tick >= _CATCH_UP_S:
            self._advance(now)
        if model.command(decoded.name, decoded.instance, decoded.values):
            self.commands_handled += 1
            if model.refused is not None:
                self._refuse(model, dgn, decoded.instance, commander, model.refused)
                model.refused = None
            self._send_status(model, time.monotonic())
            self._wake.set()  # the device may now ramp or move: tick fast from now on

    def _refuse(self, model: DeviceModel, dgn: int, instance: int | None, commander: int, code: int) -> None:
        """Answer a refused command with ACKNOWLEDGMENT (RV-C 3.2.4.4), sent to the node that commanded."""
        bus = self._bus
        if bus is None:
            return
        payload = bytes([code, 0xFF if instance is None else instance, 0xFF, 0xFF, commander,
                         dgn & 0xFF, (dgn >> 8) & 0xFF, dgn >> 16])
        arbitration_id = compose_id(0xE800, model.spec.source_address, priority=6, destination=commander)
        try:
            bus.send(can.Message(arbitration_id=arbitration_id, data=payload, is_extended_id=True))
        except can.CanError as exc:
            self.send_errors += 1
            log.warning("simulated coach cannot send an acknowledgment: %s", exc)
            return
        self.frames_sent += 1

    # --- broadcasting ---------------------------------------------------------------------------

    async def _run(self) -> None:
        busy = False
        while True:
            if busy:
                await asyncio.sleep(TICK_S)
            else:
                self._wake.clear()
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancellation
                # that stop() sends when the event fires at the same moment.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_TICK_S):
                        await self._wake.wait()
            busy = self._advance(time.monotonic())

    def _advance(self, now: float) -> bool:
        dt = (now - self._last_tick) * self.speed
        self._last_tick = now
        return self._tick(now, dt)

    def _tick(self, now: float, dt: float) -> bool:
        """Advance every device and broadcast what is due; True when some device is busy."""
        world = self.world
        world.house_load_a = sum(model.dc_load_a() for model in self._models)
        world.lpg_draw_l_per_s = 0.0
        busy = False
        for model in self._models:
            key = id(model)
            if model.step(dt, world):
                self._pending.add(key)
            changed = key in self._pending and now - self._last_sent[key] >= MIN_CHANGE_INTERVAL_S
            if changed or now >= self._due[key]:
                self._send_status(model, now)
            busy = busy or model.busy
        return busy or bool(self._pending)

    def _send_status(self, model: DeviceModel, now: float) -> None:
        bus = self._bus
        codec = self._codec
        if bus is None or codec is None:
            return
        key = id(model)
        self._pending.discard(key)
        self._last_sent[key] = now
        self._due[key] = now + model.period_s
        source = model.spec.source_address
        if isinstance(model, J1939Node):
            j1939_bus, j1939_codec = self._j1939_bus, self._j1939_codec
            if j1939_bus is None or j1939_codec is None:
                return
            bus, codec = j1939_bus, j1939_codec
        frames = [*model.status(), *self.faults.frames(model.spec.entity_id, model.spec.kind)]
        for index, (dgn_name, values) in enumerate(frames):
            if isinstance(values, bytes):  # a payload built by the model itself (DM1)
                self._send_raw(bus, codec, dgn_name, source, values)
            else:
                self._send(bus, codec, dgn_name, source, values, (key, index))

    def _send_raw(self, bus: can.BusABC, codec: Codec, dgn_name: str, source: int, payload: bytes) -> None:
        dgn = 0xFECA if dgn_name == "DM1" else codec.spec_for(dgn_name).dgn
        try:
            bus.send(can.Message(arbitration_id=compose_id(dgn, source, priority=6), data=payload,
                                 is_extended_id=True))
        except can.CanError as exc:
            self.send_errors += 1
            log.warning("simulated coach cannot send %s: %s", dgn_name, exc)
            return
        self.frames_sent += 1

    def _send(self, bus: can.BusABC, codec: Codec, dgn_name: str, source: int, values: Mapping[str, Any],
              cache_key: tuple[int, int]) -> None:
        arbitration_id = self._ids.get((dgn_name, source))
        if arbitration_id is None:
            spec = codec.spec_for(dgn_name)
            arbitration_id = compose_id(spec.dgn, source, priority=spec.priority)
            self._ids[(dgn_name, source)] = arbitration_id
        cached = self._payloads.get(cache_key)
        if cached is not None and cached[0] == values:
            payload = cached[1]
        else:
            try:
                payload = codec.encode(dgn_name, values, check_limits=False)
            except EncodeError as exc:
                # A simulation bug, not a bus condition: say which device and field, keep the others running.
                log.error("simulated coach cannot encode %s from 0x%02X: %s", dgn_name, source, exc)
                return
            self._payloads[cache_key] = (dict(values), payload)
        try:
            bus.send(can.Message(arbitration_id=arbitration_id, data=payload, is_extended_id=True))
        except can.CanError as exc:
            self.send_errors += 1
            log.warning("simulated coach cannot send %s: %s", dgn_name, exc)
            return
        self.frames_sent += 1
