"""The feature contract: small, typed, and handed a narrow context instead of the whole server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from coachiq.core.access import AccessControl
from coachiq.core.events import Topic
from coachiq.core.service import Health

if TYPE_CHECKING:
    from coachiq.composition import CoreServices

P = TypeVar("P")


class SafetyClass(StrEnum):
    """How much a feature matters to the coach's safety; decides the priority of its alerts."""

    CRITICAL = "critical"
    SAFETY_RELATED = "safety_related"
    POSITION_CRITICAL = "position_critical"
    OPERATIONAL = "operational"
    MAINTENANCE = "maintenance"


class SafeStateAction(StrEnum):
    """What a feature does when the coach enters its safe state."""

    CONTINUE_OPERATION = "continue_operation"
    MAINTAIN_POSITION = "maintain_position"
    STOP_MOTION = "stop_motion"
    DISABLE = "disable"


class NoSettings(BaseModel):
    """Settings model of a feature that has none."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class FeatureContext:
    """What a running feature may use: the core services, its own settings, routes and events."""

    core: CoreServices
    settings: BaseModel
    _add_router: Callable[[APIRouter], Callable[[], None]]
    _removers: list[Callable[[], None]] = field(default_factory=list)
    access: AccessControl | None = None  # the access gate, for the authentication feature

    def add_router(self, router: APIRouter) -> None:
        """Serve `router`'s routes while the feature runs."""
        self._removers.append(self._add_router(router))

    def subscribe(self, topic: Topic[P], handler: Callable[[P], None]) -> None:
        """Receive events on `topic` while the feature runs."""
        self._removers.append(self.core.events.subscribe(topic, handler))

    def release(self) -> None:
        """Remove the feature's routes and subscriptions (on stop or failure)."""
        while self._removers:
            self._removers.pop()()


class Feature(Protocol):
    """An optional feature. Implementations are plain classes constructed without arguments."""

    name: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]]

    async def start(self, ctx: FeatureContext) -> None:
        """Start using the context; raise to report failure."""

    async def stop(self) -> None:
        """Stop and release everything."""

    def health(self) -> Health:
        """The feature's own view of its health."""
