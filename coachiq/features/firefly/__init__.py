"""The firefly feature: commands shaped the way Firefly (Vegatouch) multiplex systems need them.

What it changes, from the facts in firefly.yaml (sources in docs/firefly.md):
- Load pairs (every motor_pair entity: awnings, shades, slides, jacks on two DC loads): starting one
  direction sends "off" to both loads, waits `settle_s`, then turns the wanted load on. The entity
  manager sends a command's frames as one sequence per entity, so raced commands from several clients
  queue up behind each other and both loads are never on together.
- Dimmers: a brightness is set by a ramp that is finished, `finish_after_s` later, by the two codes the
  module expects; a newer command for the light cancels the pending finish.
- Re-broadcast status: nothing to add; the core drops repeated payloads before decoding. The feature's
  health reports how many DC dimmer status frames were repeats.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field

from coachiq.core.service import Health, Status
from coachiq.entities.commands import Plan, Transmission
from coachiq.entities.mapping import EntityConfig
from coachiq.entities.model import Command, InvalidCommand
from coachiq.features.base import FeatureContext

__all__ = ["FireflyFacts", "FireflyFeature", "FireflySettings", "adapt_plan", "load_facts"]

log = logging.getLogger(__name__)

FACTS_FILE = Path(__file__).with_name("firefly.yaml")
DIMMER_STATUS_DGN = 0x1FEDA


class FireflySettings(BaseModel):
    """Settings of the firefly feature (defaults from the documented behaviour)."""

    model_config = ConfigDict(extra="forbid")

    pair_settle_s: float | None = Field(None, ge=0.0, le=2.0, description="Pause between the offs and the "
                                        "on of a load pair; default from firefly.yaml (0.25 s).")
    ramp_finish_after_s: float | None = Field(None, ge=0.5, le=30.0, description="Delay before a dimmer ramp "
                                              "is finished; default from firefly.yaml (5 s).")


@dataclass(frozen=True, slots=True)
class FireflyFacts:
    """The documented behaviour, from firefly.yaml."""

    ramp_command: str
    finish_commands: tuple[str, ...]
    finish_after_s: float
    off_command: str
    settle_s: float
    forbidden_commands: frozenset[str]
    proprietary_dgns: tuple[dict[str, Any], ...]


def load_facts(path: Path = FACTS_FILE) -> FireflyFacts:
    """Read firefly.yaml; ValueError names what is missing or wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        ramp, pairs = data["dimmer_ramp"], data["load_pairs"]
        facts = FireflyFacts(str(ramp["ramp_command"]), tuple(str(c) for c in ramp["finish_commands"]),
                             float(ramp["finish_after_s"]), str(pairs["off_command"]), float(pairs["settle_s"]),
                             frozenset(str(c) for c in pairs["forbidden_commands"]),
                             tuple(data.get("proprietary_dgns") or ()))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the Firefly facts cannot be read: {exc}") from exc
    return facts


def _frame(config: EntityConfig, instance: int | None, command: str, level: float | None = None,
           duration: int | None = None) -> Transmission:
    values = {"group": 0xFF if config.group is None else config.group, "command": command, "desired_level": level,
              "duration": duration}
    return Transmission("DC_DIMMER_COMMAND_2", values, instance)


def adapt_plan(facts: FireflyFacts, config: EntityConfig, command: str, plan: Plan) -> Plan:
    """The plan a Firefly module needs for `command` (the core's plan otherwise)."""
    if config.device == "motor_pair" and command in (Command.EXTEND, Command.RETRACT):
        run = plan.transmissions[-1]  # the core plans (opposite off, this load on for the duration)
        offs = (_frame(config, config.retract_instance, facts.off_command),
                _frame(config, config.extend_instance, facts.off_command))
        if command == Command.RETRACT:
            offs = offs[::-1]
        return Plan((*offs, run), plan.expect, plan.duration_s, settle_s=facts.settle_s)
    if config.device == "motor_pair" and command == Command.STOP:
        offs = (_frame(config, config.extend_instance, facts.off_command),
                _frame(config, config.retract_instance, facts.off_command))
        return Plan(offs, plan.expect, plan.duration_s)
    if config.device == "dimmer" and command in (Command.SET_BRIGHTNESS, Command.TURN_ON):
        level = plan.transmissions[0].values.get("desired_level")
        if not isinstance(level, int | float) or level <= 0:
            return plan
        ramp = _frame(config, config.instance, facts.ramp_command, float(level))
        finish = tuple(_frame(config, config.instance, code) for code in facts.finish_commands)
        return Plan((ramp,), {"on": True}, settle_s=0.0, followup=finish, followup_after_s=facts.finish_after_s)
    return plan


class FireflyFeature:
    """Installs the Firefly plan adapter on the entity manager while it runs."""

    name: ClassVar[str] = "firefly"
    settings_model: ClassVar[type[BaseModel]] = FireflySettings

    def __init__(self) -> None:
        """Nothing runs until start()."""
        self.facts: FireflyFacts | None = None
        self._ctx: FeatureContext | None = None
        self._remove: Any = None
        self.adapted = 0

    async def start(self, ctx: FeatureContext) -> None:
        """Read the facts and start shaping commands."""
        assert isinstance(ctx.settings, FireflySettings)
        facts = load_facts()
        if ctx.settings.pair_settle_s is not None or ctx.settings.ramp_finish_after_s is not None:
            facts = FireflyFacts(facts.ramp_command, facts.finish_commands,
                                 ctx.settings.ramp_finish_after_s or facts.finish_after_s, facts.off_command,
                                 facts.settle_s if ctx.settings.pair_settle_s is None else ctx.settings.pair_settle_s,
                                 facts.forbidden_commands, facts.proprietary_dgns)
        self.facts = facts
        self._ctx = ctx

        def adapter(config: EntityConfig, command: str, plan: Plan) -> Plan:
            adapted = adapt_plan(facts, config, command, plan)
            if adapted is not plan:
                self.adapted += 1
            for step in adapted.transmissions:
                if config.device == "motor_pair" and step.values.get("command") in facts.forbidden_commands:
                    raise InvalidCommand(f"{config.id}: {step.values.get('command')} must not go to a load pair "
                                         "on a Firefly system")
            return adapted

        self._remove = ctx.core.entities.add_plan_adapter(adapter)

    async def stop(self) -> None:
        """Stop shaping commands."""
        if self._remove is not None:
            self._remove()
            self._remove = None

    def health(self) -> Health:
        """Healthy while the adapter is installed; reports how the re-broadcast status is absorbed."""
        if self._remove is None or self._ctx is None:
            return Health(Status.STOPPED, "not running")
        pipeline = self._ctx.core.rvc.receiver
        decoded = pipeline.dgn_counts.get(DIMMER_STATUS_DGN, 0)
        repeats = sum(link.stats.dropped_repeats for link in self._ctx.core.can.links.values())
        detail = (f"{self.adapted} commands shaped; {decoded} DC dimmer status payloads decoded, "
                  f"{repeats} repeated frames dropped before decoding")
        return Health(Status.HEALTHY, detail, {"adapted": self.adapted, "dimmer_status_decoded": decoded})
