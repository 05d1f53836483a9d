"""A simulated coach: RV-C device nodes on a python-can virtual bus, for trying CoachIQ and for tests."""
