"""The leveling system entity: one RV-C leveling controller (RV-C 6.13) and its jacks as one entity.

Reading: LEVELING_CONTROL_STATUS gives the mode, which jacks move and the controller's lockouts;
LEVELING_JACK_STATUS which jacks are extended and bear weight; LEVELING_SENSOR_STATUS pitch and roll.
`fold` turns them into the entity's values:

    mode, motion, jacks {left_front: {motion, extended, grounded}, ...}, pitch, roll, level,
    lockouts [park_brake, ignition, low_voltage, other], warnings [...], stored

Commanding, all with LEVELING_CONTROL_COMMAND (`plan`):
- auto_level: mode 8, confirmed when the controller reports an automatic mode;
- retract_all: mode 3 (store), confirmed by the store mode;
- extend / retract with `jack` (left_front, right_front, left_rear, right_rear) or `pair` (front, rear,
  left, right): manual mode 71 or 72 (bi-axis), momentary: the frame is repeated every 100 ms while the
  motion is held (the document's broadcast gap for manual control; the controller stops 250 ms after
  the last one) and the client renews it like any slide motion;
- stop (abort): mode 0 while in a manual mode (stops within 50 ms), else 11 (abort function);
- clear_error: mode 99.
Every command but stop goes through the position-critical safety gate. `ManualHold` does the
repetition; the entity manager starts it for a plan that asks for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from coachiq.core.tasks import cancel_all
from coachiq.entities.commands import Plan, Transmission
from coachiq.entities.commands import _duration as duration
from coachiq.entities.commands import _only as only
from coachiq.entities.mapping import EntityConfig
from coachiq.entities.model import Command, InvalidCommand

__all__ = ["JACKS", "PAIRS", "REPEAT_S", "ManualHold", "fold", "plan"]

log = logging.getLogger(__name__)

COMMAND_DGN = "LEVELING_CONTROL_COMMAND"
JACKS = ("left_front", "right_front", "left_rear", "right_rear")
# Bi-axis mode: each pair is addressed on one corner's bits (RV-C 6.13.14.1, Table 6.13.14.1b).
PAIRS: Mapping[str, str] = {"rear": "left_rear", "front": "right_front", "right": "right_rear",
                            "left": "left_front"}
REPEAT_S = 0.1  # manual control: the command's normal broadcast gap while the user holds it
_MANUAL_FOUR_POINT = "manual_hydraulic_four_point"
_MANUAL_BIAX = "manual_hydraulic_biax"
_AUTOMATIC = frozenset({"automatic_hydraulic_leveling", "automatic_hydraulic_four_point", "automatic_hydraulic_biax",
                        "automatic_hydraulic_three_point", "automatic_hydraulic_multi_point",
                        "automatic_air_leveling", "automatic_air_four_point", "automatic_air_biax",
                        "automatic_air_three_point", "automatic_air_multi_point"})
_MANUAL = frozenset({"manual_air_leveling", "manual_hydraulic_leveling", "manual_air_four_point", "manual_air_biax",
                     "manual_air_three_point", "manual_air_multi_point", _MANUAL_FOUR_POINT, _MANUAL_BIAX,
                     "manual_hydraulic_three_point", "manual_hydraulic_multi_point"})
# Modes in which the controller may move jacks or springs though no movement bit is set this instant.
_RAISING = _AUTOMATIC | {"deploy_kick_down_jacks", "raise_all_air_springs", "automatic_hitch_height",
                         "jack_calibration"}
_LOWERING = frozenset({"store", "dump_all_air_springs", "kneel", "careen_left", "careen_right", "squat"})
_LOCKOUTS = ("park_brake", "ignition", "low_voltage", "other")
_WARNINGS = ("excessive_slope_initial", "excessive_slope_final", "master")


# --- reading ------------------------------------------------------------------------------------

def fold(config: EntityConfig, dgn: str, instance: int | None, v: Mapping[str, Any], state: Mapping[str, Any]
         ) -> dict[str, Any] | None:
    """The entity values one leveling status frame sets."""
    if dgn == "LEVELING_CONTROL_STATUS":
        return _control(v, state)
    if dgn == "LEVELING_JACK_STATUS":
        jacks = _jacks(state)
        for jack in JACKS:
            extended, loaded = v.get(f"{jack}_extended"), v.get(f"{jack}_loaded")
            jacks[jack] = {**jacks[jack], "extended": None if extended is None else extended == "extended",
                           "grounded": None if loaded is None else loaded == "bearing_weight"}
        flags = [jacks[j]["extended"] for j in JACKS if jacks[j]["extended"] is not None]
        return {"jacks": jacks, "stored": None if not flags else not any(flags), "jack_count": v.get("jack_count")}
    if dgn == "LEVELING_SENSOR_STATUS":
        sides = [v.get(k) for k in ("driver_side_low", "front_low", "passenger_side_low", "rear_low")]
        known = [s for s in sides if s is not None]
        level = None if not known else all(s == "at_or_above_level" for s in known)
        return {"pitch": _degrees(v.get("pitch")), "roll": _degrees(v.get("roll")), "level": level}
    return None


def _control(v: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    mode = v.get("operating_mode")
    jacks = _jacks(state)
    directions = []
    for jack in JACKS:
        extending, retracting = v.get(f"{jack}_extending"), v.get(f"{jack}_retracting")
        motion = "extending" if extending == "on" else "retracting" if retracting == "on" else (
            None if extending is None and retracting is None else "stopped")
        jacks[jack] = {**jacks[jack], "motion": motion}
        directions.append(motion)
    if "extending" in directions:
        motion = "extending"
    elif "retracting" in directions:
        motion = "retracting"
    elif mode in _RAISING:
        motion = "extending"  # between two jack movements of an automatic cycle: still under way
    elif mode in _LOWERING:
        motion = "retracting"
    else:
        motion = "stopped"
    lockouts = [name for name in _LOCKOUTS if v.get(f"{name}_lockout") == "blocked"]
    warnings = [name for name in _WARNINGS if v.get(f"{name}_warning") == "active"]
    return {"mode": mode, "motion": motion, "jacks": jacks, "lockouts": lockouts, "warnings": warnings}


def _jacks(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    known = state.get("jacks")
    jacks: dict[str, dict[str, Any]] = {}
    for jack in JACKS:
        previous = known.get(jack) if isinstance(known, Mapping) else None
        jacks[jack] = dict(previous) if isinstance(previous, Mapping) else {
            "motion": None, "extended": None, "grounded": None}
    return jacks


def _degrees(value: Any) -> float | None:
    # 1/128 deg steps: two decimals hold what the sensor says.
    return None if value is None else round(float(value), 2)


# --- commanding ---------------------------------------------------------------------------------

def _frame(mode: str, bits: Mapping[str, str] | None = None) -> Transmission:
    return Transmission(COMMAND_DGN, {"operating_mode": mode, **(bits or {})}, None)


def plan(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    """Validate and plan one leveling command (InvalidCommand says what is wrong)."""
    if command is Command.AUTO_LEVEL:
        only(params, (), command)
        return Plan((_frame("automatic_hydraulic_leveling"),), {"mode": _AUTOMATIC})
    if command is Command.RETRACT_ALL:
        only(params, (), command)
        return Plan((_frame("store"),), {"mode": frozenset({"store"})})
    if command is Command.CLEAR_ERROR:
        only(params, (), command)
        return Plan((_frame("clear_jack_error"),))  # any status after it: the warnings show the result
    if command is Command.STOP:
        only(params, (), command)
        mode = "inactive" if state.get("mode") in _MANUAL else "abort"
        return Plan((_frame(mode),), {"motion": "stopped"})
    if command in (Command.EXTEND, Command.RETRACT):
        return _manual(config, command, params)
    raise InvalidCommand(f"{config.id} does not support {command}", field="command")


def _manual(config: EntityConfig, command: Command, params: Mapping[str, Any]) -> Plan:
    only(params, ("jack", "pair", "duration_s"), command)
    jack, pair = params.get("jack"), params.get("pair")
    if (jack is None) == (pair is None):
        raise InvalidCommand(f"{command} needs `jack` ({', '.join(JACKS)}) or `pair` ({', '.join(PAIRS)}), "
                             "not both", field="jack")
    if jack is not None and jack not in JACKS:
        raise InvalidCommand(f"`jack` must be one of {', '.join(JACKS)}, got {jack!r}", field="jack")
    if pair is not None and pair not in PAIRS:
        raise InvalidCommand(f"`pair` must be one of {', '.join(PAIRS)}, got {pair!r}", field="pair")
    seconds = duration(config, params)
    verb = "extend" if command is Command.EXTEND else "retract"
    slot = str(jack) if jack is not None else PAIRS[str(pair)]
    bits = {f"{j}_{d}": "off" for j in (*JACKS, "left_middle", "right_middle", "tongue")
            for d in ("extend", "retract")}
    bits[f"{slot}_{verb}"] = "on"
    mode = _MANUAL_FOUR_POINT if jack is not None else _MANUAL_BIAX
    motion = "extending" if command is Command.EXTEND else "retracting"
    return Plan((_frame(mode, bits),), {"mode": frozenset({mode}), "motion": motion}, seconds, repeat_s=REPEAT_S)


# --- holding a manual motion --------------------------------------------------------------------

class ManualHold:
    """Repeats a held manual command every `Plan.repeat_s` while `held(entity_id)` says it still holds.

    One repetition per entity: a new hold (a renewal, another jack) replaces the frames being repeated.
    `send` transmits one frame and raises when it cannot; a failed send ends the hold (the motion's
    deadline then stops the device).
    """

    def __init__(self, send: Callable[[str, Transmission], Awaitable[None]], held: Callable[[str], bool]) -> None:
        """`send(entity_id, frame)` one frame; `held(entity_id)`: the motion is still wanted and allowed."""
        self._send = send
        self._held = held
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._frames: dict[str, tuple[Transmission, ...]] = {}
        self._due: dict[str, float] = {}  # loop time of the next repetition
        self._interval: dict[str, float] = {}

    def hold(self, entity_id: str, steps: Plan) -> None:
        """Keep repeating `steps`' frames for `entity_id`, the first one `repeat_s` after now.

        The caller sends the command itself and then calls `sent`, which counts the gap again from there:
        no two frames go out less than the document's minimum gap (100 ms) apart.
        """
        if steps.repeat_s is None:
            return
        loop = asyncio.get_running_loop()
        self._frames[entity_id] = steps.transmissions
        self._interval[entity_id] = steps.repeat_s
        self._due[entity_id] = loop.time() + steps.repeat_s
        task = self._tasks.get(entity_id)
        if task is None or task.done():
            self._tasks[entity_id] = loop.create_task(self._repeat(entity_id, steps.repeat_s),
                                                      name=f"hold-{entity_id}")

    def sent(self, entity_id: str) -> None:
        """The command of `entity_id` just went out by another path: the next repetition waits a full gap."""
        interval = self._interval.get(entity_id)
        if interval is not None and entity_id in self._due:
            self._due[entity_id] = max(self._due[entity_id], asyncio.get_running_loop().time() + interval)

    def holding(self, entity_id: str) -> bool:
        """True while frames are being repeated for `entity_id`."""
        task = self._tasks.get(entity_id)
        return task is not None and not task.done()

    async def _repeat(self, entity_id: str, interval: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                due = self._due[entity_id]
                if loop.time() < due:
                    await asyncio.sleep(due - loop.time())
                    continue  # a renewal may have moved the time on
                if not self._held(entity_id):
                    return
                for step in self._frames.get(entity_id, ()):
                    await self._send(entity_id, step)
                # Counted from the end of this send, not from the schedule: a late tick or a slow queue must
                # not shorten the next gap below 100 ms (the controller waits 250 ms: slack is harmless).
                self._due[entity_id] = max(self._due[entity_id], loop.time() + interval)
        except Exception as exc:  # the transmit path refused or failed: stop repeating, the deadline stops it
            log.warning("repeating the manual command of %s stopped: %s", entity_id, exc)
        finally:
            if self._tasks.get(entity_id) is asyncio.current_task():
                del self._tasks[entity_id]
                self._frames.pop(entity_id, None)
                self._due.pop(entity_id, None)
                self._interval.pop(entity_id, None)

    async def stop(self) -> None:
        """End every repetition."""
        await cancel_all(list(self._tasks.values()))
        self._tasks.clear()
        self._frames.clear()
        self._due.clear()
        self._interval.clear()
