"""The core services layer: the mandatory services and their lifecycle."""
