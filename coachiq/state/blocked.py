"""Why each kind of moving device may not move now: the safety gate's answer, sent to clients ahead of time.

The page shows this reason on a blocked control instead of working the interlocks out itself; the gate
(`StateManager.check`) stays the authority when a command arrives.
"""

from __future__ import annotations

from collections.abc import Callable

from coachiq.entities.model import EntityType

__all__ = ["GATED_TYPES", "motion_blocked"]

# Entity types whose position-critical devices the gate holds (a shade only when the mapping marks it).
GATED_TYPES = (EntityType.SLIDE, EntityType.AWNING, EntityType.JACK, EntityType.SHADE)


def motion_blocked(refusal: Callable[[EntityType, float], str | None], now: float) -> dict[str, str | None]:
    """Entity type -> why its position-critical devices may not move now, None when they may."""
    return {entity_type.value: refusal(entity_type, now) for entity_type in GATED_TYPES}
