"""Entities: the coach mapping, the entity model and the entity manager core service."""
