"""Request and response models of the v2 API, so the OpenAPI document says exactly what goes over the wire."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from coachiq.api.problems import PROBLEM_JSON

MAX_BATCH = 50


class Problem(BaseModel):
    """RFC 9457 problem details; `reason` says why a command was refused."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    reason: str | None = None
    command_id: str | None = None
    field: str | None = None


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting problem+json answers with these status codes."""
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {code: {"model": Problem, "content": content} for code in codes}


# --- entities ------------------------------------------------------------------------------------
# The entity models (one per type and device family) are in entity_models.py, built only for the OpenAPI
# document and the tests.


class HistorySampleOut(BaseModel):
    """The entity's state at one time."""

    ts: float
    values: dict[str, Any]


class HistoryOut(BaseModel):
    """An entity's recent states, oldest first."""

    entity_id: str
    samples: list[HistorySampleOut]


class CommandRequest(BaseModel):
    """A command and its parameters, given either in `params` or beside `command`."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "examples": [{"command": "turn_on"}, {"command": "set_brightness", "brightness": 40},
                     {"command": "extend", "duration_s": 5}]})

    command: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)

    def all_params(self) -> dict[str, Any]:
        """`params` merged with the extra keys beside `command`."""
        return {**(self.model_extra or {}), **self.params}


class CommandConfirmed(BaseModel):
    """A command the device confirmed, with the state it confirmed."""

    command_id: str
    status: Literal["confirmed"]
    state: dict[str, Any]


class BatchCommand(CommandRequest):
    """One command of a batch."""

    entity_id: str = Field(min_length=1, max_length=128)


class BatchRequest(BaseModel):
    """Several commands, run together."""

    commands: list[BatchCommand] = Field(min_length=1, max_length=MAX_BATCH)


class BatchResult(BaseModel):
    """The outcome of one command of a batch."""

    entity_id: str
    command: str
    status: Literal["confirmed", "timed_out", "refused", "busy", "error"]
    command_id: str | None = None
    state: dict[str, Any] | None = None
    reason: str | None = None


class BatchResponse(BaseModel):
    """Outcomes in the order of the request."""

    results: list[BatchResult]


class SuggestedEntry(BaseModel):
    """A coach mapping entry to start from (docs/coach-mapping.md)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    area: str
    device: str
    source_address: int
    instance: int | None = Field(default=None, description="Absent for device families whose DGN has none.")


class UnmappedOut(BaseModel):
    """Traffic seen on the bus that no mapping entry covers."""

    model_config = ConfigDict(extra="forbid")

    dgn: int
    name: str | None = Field(description="The DGN's name; null for one the DGN database does not know.")
    instance: int | None
    source_address: int
    count: int
    last_values: dict[str, Any] = Field(description="The last decoded values, as the DGN database names them.")
    suggested: SuggestedEntry | None = Field(description="A mapping entry that would cover it; null when no "
                                                         "device family reads this DGN.")


class UnmappedList(BaseModel):
    """Every unmapped (DGN, instance, source address) seen."""

    unmapped: list[UnmappedOut]


# --- safety --------------------------------------------------------------------------------------


class InterlocksOut(BaseModel):
    """Each interlock condition (null: not known, the chassis is not heard) and whether motion is allowed."""

    model_config = ConfigDict(extra="forbid")

    parked: bool
    park_brake_set: bool | None
    engine_off: bool | None
    speed_kmh: float | None
    gear: str | int | None
    source: str | None = Field(description="The chassis source the vehicle state comes from (rvc, j1939).")
    moving_reason: str | None = Field(description="Why the coach counts as moving.")
    slides_awnings_allowed: bool
    jacks_allowed: bool


class MotionBlockedOut(BaseModel):
    """Entity type -> why its position-critical devices may not move now; null when they may."""

    model_config = ConfigDict(extra="forbid")

    slide: str | None
    awning: str | None
    jack: str | None
    shade: str | None


class SafetyOut(BaseModel):
    """Vehicle state, safe state and interlocks as the safety gate sees them now (the WebSocket's "safety"
    message has the same fields)."""

    model_config = ConfigDict(extra="forbid")

    vehicle_state: Literal["parked", "moving", "unknown"]
    safe_state: bool
    reasons: list[str] = Field(description="Why the coach is in its safe state; empty when it is not.")
    emergency_stop: bool
    interlocks: InterlocksOut
    motion_blocked: MotionBlockedOut


# --- CAN -----------------------------------------------------------------------------------------


class InterfaceOut(BaseModel):
    """One CAN interface."""

    name: str
    interface: str
    channel: str
    bitrate: int
    state: str
    last_error: str
    source_address: int
    address_claim: str
    reconnects: int


class InterfaceList(BaseModel):
    """The configured CAN interfaces."""

    interfaces: list[InterfaceOut]


class InterfaceStatsOut(BaseModel):
    """Counters of one interface."""

    rx_frames: int
    tx_frames: int
    errors: int
    dropped_repeats: int
    bus_load_percent: float
    last_frame_time: float | None


class StatisticsOut(BaseModel):
    """Counters of every interface and of the decoder."""

    interfaces: dict[str, InterfaceStatsOut]
    decoded_frames: int
    decode_errors: int
    unknown_dgns: dict[str, int]
    transport_messages: int


class FrameOut(BaseModel):
    """One decoded frame."""

    type: Literal["frame"]
    timestamp: float
    interface: str
    can_id: int
    dgn: int
    name: str | None
    source_address: int
    instance: int | None
    own: bool
    values: dict[str, Any]
    data: str


class FrameList(BaseModel):
    """Recent frames with a new payload, oldest first."""

    frames: list[FrameOut]


class RawFrameIn(BaseModel):
    """A raw frame to send: DGN as a number, "0x..." or a name; data as hex."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"dgn": "DC_DIMMER_STATUS_3", "data": "01 FF C8 FD FF FF FF FF"}]})

    interface: str = Field(default="house", pattern=r"^[a-z][a-z0-9_]*$", max_length=32)
    dgn: int | str
    data: str = Field(max_length=32, description="Up to 8 bytes in hex; spaces allowed.")
    priority: int = Field(default=6, ge=0, le=7)
    destination: int | None = Field(default=None, ge=0, le=255)


class RawFrameSent(BaseModel):
    """The frame as it went out."""

    can_id: int
    dgn: int
    data: str


# --- system --------------------------------------------------------------------------------------


class SystemOut(BaseModel):
    """What is running."""

    version: str
    coach: str
    simulated: bool
    uptime_s: float
    started_at: float
