"""/api/v2/diagnostics: trouble codes, active and past, and clearing the history.

GET answers `{"active": [...], "history": [...], "devices": [...]}`: the codes active now, the
previously active (and, when asked, cleared) ones, and the nodes that reported them with their codes'
ids, for a view grouped by device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from coachiq.api.roles import requires
from coachiq.api.v2.deps import actor_of, runtime_of
from coachiq.core.access import Role

if TYPE_CHECKING:
    from coachiq.features.diagnostics import DiagnosticsFeature

__all__ = ["build_router", "may_clear_history"]

StatusFilter = Literal["active", "previously_active", "cleared", "all"]


class DiagnosticsOut(BaseModel):
    """Trouble codes; each code carries its device (source address, DSA product, NAME, product id)."""

    active: list[dict[str, Any]] = Field(description="Codes active now, most recently seen first.")
    history: list[dict[str, Any]] = Field(description="Codes no longer active, most recently seen first.")
    devices: list[dict[str, Any]] = Field(description="Each reporting node with the ids of its codes.")


class ClearIn(BaseModel):
    """Confirms the request (no options)."""

    model_config = ConfigDict(extra="forbid")


class ClearOut(BaseModel):
    """How many previously active codes were marked cleared."""

    cleared: int


# The one check before clearing history: admins only when authentication is on (with it off the server
# answers only on loopback, and every caller may).
may_clear_history = requires(Role.ADMIN, "clear the diagnostics history")


def build_router(feature: DiagnosticsFeature) -> APIRouter:
    """The routes of a running diagnostics feature."""
    router = APIRouter(prefix="/api/v2/diagnostics", tags=["diagnostics"])

    @router.get("", response_model=DiagnosticsOut)
    async def list_codes(
        status: Annotated[StatusFilter | None, Query(description="Only codes in this state; default: active "
                                                                 "and previously active.")] = None,
        source_address: Annotated[int | None, Query(ge=0, le=255, description="Only codes of this node.")] = None,
        protocol: Annotated[Literal["rvc", "j1939"] | None, Query()] = None,
        spn: Annotated[int | None, Query(ge=0, le=0x7FFFF)] = None,
        fmi: Annotated[int | None, Query(ge=0, le=31)] = None,
        limit: Annotated[int, Query(ge=1, le=2000, description="At most this many history entries.")] = 500,
    ) -> DiagnosticsOut:
        """Trouble codes, filtered."""
        wanted = {"active", "previously_active"} if status is None else \
            {"active", "previously_active", "cleared"} if status == "all" else {status}
        views = []
        for record in feature.tracker.codes.values():
            key = record.key
            if record.status.value not in wanted or (source_address is not None and key.source_address !=
                                                      source_address) \
                    or (protocol is not None and key.protocol.value != protocol) \
                    or (spn is not None and key.spn != spn) or (fmi is not None and key.fmi != fmi):
                continue
            views.append(feature.view(record))
        views.sort(key=lambda v: -v["last_seen"])
        active = [v for v in views if v["status"] == "active"]
        history = [v for v in views if v["status"] != "active"][:limit]
        devices: dict[tuple[str, int], dict[str, Any]] = {}
        for view in active + history:
            device = devices.setdefault((view["protocol"], view["source_address"]),
                                        {**view["device"], "protocol": view["protocol"], "codes": []})
            device["codes"].append(view["id"])
        return DiagnosticsOut(active=active, history=history, devices=list(devices.values()))

    @router.post("/clear-history", response_model=ClearOut, dependencies=[may_clear_history])
    async def clear_history(body: ClearIn, request: Request) -> ClearOut:
        """Mark every previously active code cleared (active codes stay: their nodes still report them)."""
        del body
        cleared = feature.clear_history()
        await runtime_of(request).core.persistence.audit(actor_of(request), "diagnostics.clear_history",
                                                         "diagnostics", "done", f"{cleared} codes cleared")
        return ClearOut(cleared=cleared)

    return router
