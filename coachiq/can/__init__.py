"""CAN bus access: python-can buses, statistics, transport and logs."""
