"""CoachIQ: a control server for recreational vehicles on the RV-C CAN bus."""

__version__ = "0.1.0"
