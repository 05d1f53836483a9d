"""Safety: the state manager (vehicle state, interlocks, safe state, emergency stop) and the motion
supervisor that stops what they no longer allow."""
