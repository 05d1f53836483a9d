"""Errors that stop start-up with a message the user can act on."""

from __future__ import annotations


class CoachIQError(Exception):
    """Base class of CoachIQ's expected errors: the message says what is wrong and what to do."""


class ConfigError(CoachIQError):
    """One or more problems in settings, feature_flags.yaml or coach files.

    Every problem is listed at once, so the user can fix them all in one go.
    """

    def __init__(self, problems: list[str], source: str = "configuration") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source} has {len(self.problems)} problem(s):\n{lines}")


class CoreStartError(CoachIQError):
    """A core service failed to start; the server cannot run without it."""

    def __init__(self, service: str, cause: str, remedy: str = "") -> None:
        self.service = service
        self.cause = cause
        self.remedy = remedy
        message = f"core service '{service}' failed: {cause}"
        if remedy:
            message += f" — {remedy}"
        super().__init__(message)
