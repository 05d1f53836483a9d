"""The entity model: what a device in the coach is, what it can do, and the one update shape.

An entity is one thing an RV owner sees and controls (a light, a tank, a slide). Its configuration comes
from a coach mapping file; its state comes from decoded RV-C frames. Every change is published as one
`EntityUpdate` — the same shape on the WebSocket, in persistence and for features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EntityType(StrEnum):
    """Kinds of device CoachIQ models."""

    LIGHT = "light"
    SWITCH = "switch"
    LOCK = "lock"
    TANK = "tank"
    BATTERY = "battery"
    THERMOSTAT = "thermostat"
    FURNACE = "furnace"
    WATER_HEATER = "water_heater"
    PUMP = "pump"
    FAN = "fan"
    GENERATOR = "generator"
    INVERTER = "inverter"
    CHARGER = "charger"
    TRANSFER_SWITCH = "transfer_switch"
    SLIDE = "slide"
    AWNING = "awning"
    JACK = "jack"
    SHADE = "shade"
    CHASSIS = "chassis"


# Devices that move parts of the coach: they obey interlocks and the safe state.
POSITION_CRITICAL_TYPES = frozenset({EntityType.SLIDE, EntityType.AWNING, EntityType.JACK})


class Command(StrEnum):
    """Commands an entity may accept, by capability."""

    TURN_ON = "turn_on"
    TURN_OFF = "turn_off"
    TOGGLE = "toggle"
    SET_BRIGHTNESS = "set_brightness"
    RAMP_UP = "ramp_up"
    RAMP_DOWN = "ramp_down"
    STOP = "stop"
    LOCK = "lock"
    UNLOCK = "unlock"
    SET_MODE = "set_mode"
    SET_SETPOINT = "set_setpoint"
    SET_FAN = "set_fan"
    START = "start"
    ENABLE = "enable"
    DISABLE = "disable"
    EXTEND = "extend"
    RETRACT = "retract"
    AUTO_LEVEL = "auto_level"
    RETRACT_ALL = "retract_all"
    CLEAR_ERROR = "clear_error"


# Commands that can set a position-critical device moving (clearing a leveling error lets the controller
# act again): they pass the interlocks. Stop never does.
MOTION_COMMANDS = frozenset({Command.EXTEND, Command.RETRACT, Command.AUTO_LEVEL, Command.RETRACT_ALL,
                             Command.CLEAR_ERROR})

SAFETY_ACTOR = "safety"  # who the state manager's stops are sent as (never rate limited)


class Outcome(StrEnum):
    """How a command ended."""

    CONFIRMED = "confirmed"
    TIMED_OUT = "timed_out"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a state change came from on the bus."""

    dgn: int
    source_address: int


@dataclass(frozen=True, slots=True)
class EntityUpdate:
    """One change of one entity: published on the event bus topic "entity.update"."""

    entity_id: str
    values: dict[str, Any]
    source: Source | None
    timestamp: float

    def to_json(self) -> dict[str, Any]:
        """The WebSocket/MQTT/persistence shape."""
        source = None if self.source is None else {"dgn": self.source.dgn,
                                                   "source_address": self.source.source_address}
        return {"type": "update", "entity_id": self.entity_id, "values": self.values, "source": source,
                "timestamp": self.timestamp}


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The outcome of one command: confirmed with the confirmed state, timed out, or refused with a reason."""

    command_id: str
    entity_id: str
    command: str
    outcome: Outcome
    state: dict[str, Any] | None = None
    reason: str = ""


@dataclass(slots=True)
class EntityState:
    """An entity's live state. `values` has every key of its device family's state model (states.py), null
    until heard; `available` is False when the device has not been heard from in time."""

    values: dict[str, Any] = field(default_factory=dict)
    updated_at: float | None = None
    available: bool = False
    restored: bool = False  # loaded from the database and not yet confirmed by the bus


class CommandError(Exception):
    """A command that cannot be carried out as asked (the API answers 404 or 422)."""


class UnknownEntity(CommandError):
    """No entity has this id."""

    def __init__(self, entity_id: str) -> None:
        super().__init__(f"no entity {entity_id!r}: GET /api/v2/entities lists the known ones")
        self.entity_id = entity_id


class CommandBusy(CommandError):
    """Nothing was sent: the caller's rate limit (429) or the transmit queue (503) is full; try again shortly."""

    def __init__(self, message: str, *, rate_limited: bool) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited


class InvalidBatch(CommandError):
    """One command of a batch is invalid or names no entity: none of the batch was run."""

    def __init__(self, index: int, error: CommandError) -> None:
        field = getattr(error, "field", None)
        self.index = index
        self.error = error
        self.field = f"commands[{index}]" + (f".{field}" if field else "")
        super().__init__(f"commands[{index}]: {error}; nothing of the batch was run")


class InvalidCommand(CommandError):
    """The command or one of its parameters is not valid for the entity; `field` names the parameter."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
