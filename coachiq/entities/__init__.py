"""Entities: the coach mapping, the entity model, the entity manager core service and its commands, and
the core services' event topics."""
