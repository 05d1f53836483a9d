"""Commands to entities: plan, safety gate, send, and wait for the device's own status echo.

Commanding: validate -> safety gate -> encode and send once -> wait for the device's status echo to show
the requested state. Our own transmitted frames never count as confirmation. A motion is written into
the motion ledger before its frame goes out, so the motion supervisor stops it when it runs out even if
the echo is lost.

A device may answer a command with the ACKNOWLEDGMENT DGN (RV-C 3.2.4.4, codes in Table 7.5). A positive
answer confirms nothing: only the status echo does. A negative one ends the wait at once with the
device's reason, and a refused motion is followed by a stop, so that a held or repeated motion frame can
never start it later when the device's conditions change. "Needs more time" (code 7) triples the wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from coachiq.can.interface import CanBusyError, CanTransmitError, TransmitRefused
from coachiq.can.transmit import Gate
from coachiq.entities.commands import Plan, Transmission, matches, plan
from coachiq.entities.entity import Entity, Waiter
from coachiq.entities.leveling import ManualHold
from coachiq.entities.mapping import EntityConfig
from coachiq.entities.model import (
    MOTION_COMMANDS,
    SAFETY_ACTOR,
    Command,
    CommandBusy,
    CommandError,
    CommandResult,
    InvalidBatch,
    InvalidCommand,
    Outcome,
    UnknownEntity,
)
from coachiq.entities.motions import MotionLedger, SafetyGate
from coachiq.rvc.codec import EncodeError
from coachiq.rvc.service import RvcProtocolService

__all__ = ["ACKNOWLEDGMENT_DGN", "MOTION_FRAME_MAX_AGE_S", "CommandRunner", "PlanAdapter"]

log = logging.getLogger(__name__)

# Changes the plan of a command (entity config, command name, planned frames) -> the plan to carry out.
PlanAdapter = Callable[[EntityConfig, str, Plan], Plan]
_ECHO_POLL_S = 0.02
ACKNOWLEDGMENT_DGN = 0xE800
_ACK, _MORE_TIME, _NO_INSTANCE = 0, 7, 0xFF
# What each standard negative acknowledgment code says (RV-C Table 7.5); 128-254 are the DGN's own.
_REFUSALS = {
    1: "it will not carry the command out",
    2: "it does not take commands from this server",
    3: "its conditions do not allow it now",
    4: "the command was not formatted as it expects",
    5: "a parameter is outside the range it accepts",
    6: "it needs a password first",
    8: "it was overridden at the device",
}
# A device that answers "needs more time" gets this many command timeouts in all to confirm.
_TIMEOUTS_WITH_MORE_TIME = 3
# A motion frame that waited longer than this in the transmit queue is dropped, not sent late.
MOTION_FRAME_MAX_AGE_S = 0.25


class CommandRunner:
    """Runs commands for the entity manager's entities."""

    def __init__(self, entities: Mapping[str, Entity], rvc: RvcProtocolService, gate: SafetyGate,
                 motions: MotionLedger, command_timeout: float, audit: Callable[[str, str, str, str, str], None],
                 last_heard: Callable[[Entity], float]) -> None:
        """`entities` is the manager's own mapping (filled at its start); `audit(actor, action, target,
        result, reason)` records a command; `last_heard(entity)` says when the device was last heard."""
        self.entities = entities
        self.rvc = rvc
        self.safety = gate
        self.motions = motions
        self.command_timeout = command_timeout
        self._audit = audit
        self._last_heard = last_heard
        self._adapters: list[PlanAdapter] = []
        self.holds = ManualHold(self._send_step, self._still_held)
        # Commands waiting for an answer, by command DGN: (entity, waiter, the instance commanded, command).
        self._answers: dict[int, list[tuple[Entity, Waiter, int | None, str]]] = {}
        self._stops: set[asyncio.Task[CommandResult]] = set()

    def add_plan_adapter(self, adapter: PlanAdapter) -> Callable[[], None]:
        """Let `adapter(config, command, plan)` change every plan from now on (a feature for a family of
        devices that departs from plain RV-C); returns a function that removes it."""
        self._adapters.append(adapter)

        def remove() -> None:
            if adapter in self._adapters:
                self._adapters.remove(adapter)

        return remove

    async def execute(self, entity_id: str, command: str, params: Mapping[str, Any] | None, actor: str,
                      client_id: str | None = None) -> CommandResult:
        """Validate, gate, send once and wait for the echo.

        Raises UnknownEntity or InvalidCommand; returns confirmed (with the confirmed state), timed_out
        or refused (with the reason; safety refusals included).
        """
        return await self._execute(entity_id, command, params, actor, client_id)

    async def _execute(self, entity_id: str, command: str, params: Mapping[str, Any] | None, actor: str,
                       client_id: str | None, note: str = "") -> CommandResult:
        entity = self.entities.get(entity_id)
        if entity is None:
            raise UnknownEntity(entity_id)
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise InvalidCommand("parameters must be an object", field="params")
        try:
            steps = plan(entity.config, command, params, entity.state.values)
            for adapter in list(self._adapters):
                steps = adapter(entity.config, command, steps)
        except InvalidCommand as exc:
            self._audit(actor, command, entity_id, "invalid", exc.message)
            raise
        command_id = uuid.uuid4().hex
        reason = self.safety.check(entity, command)
        if reason is not None:
            self._audit(actor, command, entity_id, Outcome.REFUSED.value, reason)
            return CommandResult(command_id, entity_id, command, Outcome.REFUSED, reason=reason)
        if steps.duration_s is not None:
            # Registered before sending: if the echo is lost the motion is still stopped when it runs out.
            self.motions.started(entity_id, command, steps.duration_s, client_id, actor)
            self.holds.hold(entity_id, steps)
        elif entity.position_critical and command == Command.STOP:
            self.motions.stopped(entity_id)
        try:
            result = await self._run(entity, steps, command_id, command, None if actor == SAFETY_ACTOR
                                     else client_id or actor)
        except CommandBusy as exc:
            self._audit(actor, command, entity_id, "busy", str(exc))
            raise
        detail = result.reason or note
        if steps.duration_s is not None:
            detail = f"{detail}; duration {steps.duration_s:g} s".lstrip("; ")
        self._audit(actor, command, entity_id, result.outcome.value, detail)
        return result

    async def execute_many(self, commands: Sequence[tuple[str, str, Mapping[str, Any] | None]], actor: str,
                           client_id: str | None = None) -> list[CommandResult | CommandError]:
        """Validate every command, then run them at once; each gets its result or its error (CommandBusy).

        InvalidBatch when any command is invalid or names no entity: then none of them runs.
        """
        for index, (entity_id, command, params) in enumerate(commands):
            entity = self.entities.get(entity_id)
            try:
                if entity is None:
                    raise UnknownEntity(entity_id)
                if params is not None and not isinstance(params, Mapping):
                    raise InvalidCommand("parameters must be an object", field="params")
                plan(entity.config, command, params or {}, entity.state.values)
            except CommandError as exc:
                self._audit(actor, command, entity_id, "invalid", f"batch refused: {exc}")
                raise InvalidBatch(index, exc) from None

        async def one(entity_id: str, command: str, params: Mapping[str, Any] | None) -> CommandResult | CommandError:
            try:
                return await self._execute(entity_id, command, params, actor, client_id)
            except CommandError as exc:
                return exc

        return list(await asyncio.gather(*(one(*item) for item in commands)))

    async def stop_motion(self, entity_id: str, actor: str, reason: str) -> CommandResult:
        """Send stop to a position-critical entity (safety: duration ended, client gone, safe state)."""
        return await self._execute(entity_id, Command.STOP.value, {}, actor, None, note=reason)

    def on_acknowledgment(self, interface: str, can_id: int, source_address: int, payload: bytes) -> None:
        """An ACKNOWLEDGMENT frame from another node: a negative answer to one of our commands ends its wait.

        Layout (RV-C 3.2.4.4): byte 0 the code, byte 1 the answering device's instance (0xFF: none), byte 4
        the address whose command is answered, bytes 5-7 that command's DGN (least significant byte first).
        It is sent to our address, or to everyone (0xFF) by older devices.
        """
        if len(payload) < 8 or payload[0] == _ACK or not self._answers:
            return
        waiting = self._answers.get(payload[5] | payload[6] << 8 | payload[7] << 16)
        ours = self.rvc.can.address_on(interface)
        if not waiting or ours is None or payload[4] != ours or (can_id >> 8) & 0xFF not in (ours, 0xFF):
            return
        code, instance = payload[0], payload[1]
        for entity, waiter, commanded, command in waiting:
            if waiter.future.done() or entity.config.source_address not in (None, source_address):
                continue
            if commanded is not None and instance not in (commanded, _NO_INSTANCE):
                continue
            if code == _MORE_TIME:
                waiter.more_time = True
                continue
            why = _REFUSALS.get(code, f"a reason of its own for this command (code {code})" if code >= 128
                                else f"an unknown reason (code {code})")
            waiter.refusal = f"the device refused {command}: {why}"
            waiter.future.set_result(None)

    def _expect_answers(self, entity: Entity, waiter: Waiter, steps: Plan, command: str) -> Callable[[], None]:
        """Register `waiter` for acknowledgments of the plan's frames; returns the function that forgets it."""
        codec = self.rvc.codec
        if codec is None:
            return lambda: None
        keys = []
        for step in steps.transmissions:
            try:
                dgn = codec.spec_for(step.dgn).dgn
            except KeyError:  # sending will say so
                continue
            entry = (entity, waiter, step.instance, command)
            self._answers.setdefault(dgn, []).append(entry)
            keys.append((dgn, entry))

        def forget() -> None:
            for dgn, entry in keys:
                entries = self._answers.get(dgn)
                if entries is not None and entry in entries:
                    entries.remove(entry)
                    if not entries:
                        del self._answers[dgn]

        return forget

    def _stop_refused_motion(self, entity: Entity, command: str) -> None:
        """A device refused a motion: stop it, so that nothing still queued or repeated starts it later."""
        task = asyncio.get_running_loop().create_task(
            self.stop_motion(entity.id, SAFETY_ACTOR, f"the device refused {command}"), name=f"refused-{entity.id}")
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)

    async def _run(self, entity: Entity, steps: Plan, command_id: str, command: str,
                   client: str | None) -> CommandResult:
        loop = asyncio.get_running_loop()
        sent_at = time.time()
        waiter = Waiter(steps.expect, loop.create_future(), sent_at)
        entity.waiters.append(waiter)
        forget_answers = self._expect_answers(entity, waiter, steps, command)  # an answer may beat the send
        # A stop of a moving device goes in the stop lane. A motion frame is gated again when it leaves
        # the queue (the coach may have started to move meanwhile) and dropped if it waited too long.
        urgent = entity.position_critical and command == Command.STOP
        motion = command in MOTION_COMMANDS and entity.position_critical

        def gate() -> str | None:
            return self.safety.check(entity, command)

        sent: list[int] = []
        try:
            try:
                if not await self._send_plan(entity, steps, sent, client=client, urgent=urgent,
                                             gate=gate if motion else None,
                                             max_age_s=MOTION_FRAME_MAX_AGE_S if motion else None):
                    return CommandResult(command_id, entity.id, command, Outcome.REFUSED,
                                         reason="superseded by a newer command for this device before it was sent "
                                                "in full")
            except CanBusyError as exc:
                if not sent:  # nothing went out: the caller may simply try again
                    raise CommandBusy(str(exc), rate_limited=exc.rate_limited) from None
                return CommandResult(command_id, entity.id, command, Outcome.REFUSED,
                                     reason=f"could not transmit: {exc}")
            except TransmitRefused as exc:
                return CommandResult(command_id, entity.id, command, Outcome.REFUSED, reason=exc.reason)
            except (CanTransmitError, EncodeError, ValueError, KeyError) as exc:
                reason = f"could not transmit: {exc}"
                return CommandResult(command_id, entity.id, command, Outcome.REFUSED, reason=reason)
            self.holds.sent(entity.id)  # a held motion repeats its frame a full gap after this send
            began = loop.time()
            deadline = began + self.command_timeout
            while not waiter.future.done():
                if waiter.more_time:  # the device said it needs longer
                    deadline = began + _TIMEOUTS_WITH_MORE_TIME * self.command_timeout
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.wait([waiter.future], timeout=min(_ECHO_POLL_S, remaining))
                # An echo identical to the last status is dropped before decoding; its arrival still counts.
                if not waiter.future.done() and self._last_heard(entity) >= sent_at \
                        and matches(steps.expect, entity.state.values):
                    waiter.future.set_result(None)
        finally:
            entity.waiters.remove(waiter)
            forget_answers()
        if waiter.refusal is not None:
            if steps.duration_s is not None:
                self._stop_refused_motion(entity, command)
            return CommandResult(command_id, entity.id, command, Outcome.REFUSED, reason=waiter.refusal)
        if waiter.future.done():
            return CommandResult(command_id, entity.id, command, Outcome.CONFIRMED, state=dict(entity.state.values))
        return CommandResult(command_id, entity.id, command, Outcome.TIMED_OUT,
                             reason=f"no status from the device confirmed {command} within "
                                    f"{deadline - began:g} s")

    async def _send_plan(self, entity: Entity, steps: Plan, sent: list[int], *, client: str | None = None,
                         urgent: bool = False, gate: Gate | None = None, max_age_s: float | None = None) -> bool:
        """Send the plan's frames in order; False when a newer command for the entity superseded it.

        `sent` collects the identifier of every frame that went out; `client`, `urgent`, `gate` and
        `max_age_s` are the transmit queue's (the client counts once, on the first frame).

        No lock: a stop must never wait behind another command's pause. The check of the generation and
        the queueing of the next frame happen without a suspension in between (the CAN service queues
        synchronously, first in first out within a priority), so a superseded command sends nothing more.
        """
        entity.generation += 1
        mine = entity.generation
        if entity.followup is not None:  # a newer command replaces what the last one still had to send
            entity.followup.cancel()
            entity.followup = None
        last = len(steps.transmissions) - 1
        for index, step in enumerate(steps.transmissions):
            if index == last and index > 0 and steps.settle_s > 0:
                await asyncio.sleep(steps.settle_s)
            if entity.generation != mine:
                return False
            sent.append(await self.rvc.send(step.dgn, step.values, instance=step.instance, client=client,
                                            urgent=urgent, gate=gate, max_age_s=max_age_s))
            client = None  # one command counts once against the client's limit
        if steps.followup and entity.generation == mine:
            entity.followup = asyncio.get_running_loop().create_task(
                self._send_followup(entity, steps, mine), name=f"followup-{entity.id}")
        return True

    async def _send_followup(self, entity: Entity, steps: Plan, generation: int) -> None:
        await asyncio.sleep(steps.followup_after_s)
        for step in steps.followup:
            if entity.generation != generation:
                return
            try:
                await self.rvc.send(step.dgn, step.values, instance=step.instance)
            except (CanTransmitError, EncodeError, ValueError, KeyError) as exc:
                log.warning("%s: could not send the follow-up %s: %s", entity.id, step.values.get("command"), exc)
                return
        if entity.followup is asyncio.current_task():
            entity.followup = None

    # --- held manual motion (leveling) ------------------------------------------------------------

    async def _send_step(self, entity_id: str, step: Transmission) -> None:
        """One repetition of a held command of `entity_id` (ManualHold), gated again when it leaves."""
        entity = self.entities[entity_id]
        motion = self.motions.get(entity_id)
        command = motion.command if motion is not None else Command.STOP.value

        def gate() -> str | None:
            return self.safety.check(entity, command) if entity_id in self.motions else "not held"

        await self.rvc.send(step.dgn, step.values, instance=step.instance, gate=gate,
                            max_age_s=MOTION_FRAME_MAX_AGE_S)

    def _still_held(self, entity_id: str) -> bool:
        """A held motion goes on while it is registered (not stopped, not run out) and still allowed."""
        entity = self.entities.get(entity_id)
        motion = self.motions.get(entity_id)
        return entity is not None and motion is not None and self.safety.check(entity, motion.command) is None
