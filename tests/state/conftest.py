"""The state tests use the entity tests' simulated coach fixture."""

from tests.entities.conftest import coach

__all__ = ["coach"]
