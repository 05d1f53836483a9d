"""The v2 API: entities, safety, CAN diagnostics, system, lighting scenes, and the WebSocket streams, under /api/v2."""

from __future__ import annotations

from fastapi import APIRouter

from coachiq.api.v2 import can, entities, safety, scenes, system, ws

__all__ = ["router"]

router = APIRouter(prefix="/api/v2")
router.include_router(entities.router)
router.include_router(safety.router)
router.include_router(can.router)
router.include_router(system.router)
router.include_router(scenes.router)
router.include_router(ws.router)
