"""The realtime hub: entity updates and raw frames streamed to WebSocket clients."""
