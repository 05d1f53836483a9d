"""The state manager core service: vehicle state, interlocks, safe state and emergency stop."""
