"""WebSocket endpoints: /api/v2/ws (entities, commands) and /api/v2/ws/can (raw frames)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from coachiq.api.v2.deps import runtime_of

router = APIRouter()


@router.websocket("/ws")
async def entity_stream(websocket: WebSocket) -> None:
    """Entity snapshots and updates, and commands; the protocol is described in coachiq/realtime/hub.py."""
    await runtime_of(websocket).core.realtime.serve(websocket)


@router.websocket("/ws/can")
async def can_stream(websocket: WebSocket) -> None:
    """Decoded frames as they arrive, filterable by DGN (coachiq/realtime/can_stream.py)."""
    await runtime_of(websocket).core.realtime.can_stream.serve(websocket)
