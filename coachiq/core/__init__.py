"""The ground floor: the service protocol and service group, tasks, events, alerts, errors, metrics.

Every other layer may import it; it imports no other layer (tests/test_layers.py holds the order).
"""
