"""Route dependencies that enforce roles when authentication is on (with it off, everything is allowed:
the server then listens on loopback only). The principal comes from the access gate (core/access.py);
every refusal is written to the audit log with who asked for what."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from coachiq.core.access import Role, actor_of_scope, principal_of, refusal

router = APIRouter(prefix="/api/v2", tags=["system"])


class PrincipalOut(BaseModel):
    """The signed-in user or token."""

    name: str
    role: str
    kind: str


class AccessOut(BaseModel):
    """Whether authentication is on, and who is asking."""

    authentication: bool
    user: PrincipalOut | None


@router.get("/access", response_model=AccessOut)
async def access(request: Request) -> AccessOut:
    """Whether the server requires sign-in and, if so, who this request is (answered before sign-in too)."""
    principal = principal_of(request.scope)
    user = PrincipalOut(name=principal.name, role=principal.role.label, kind=principal.kind) if principal else None
    return AccessOut(authentication=request.app.state.runtime.access.required, user=user)


def requires(role: Role, action: str) -> Any:
    """A dependency that answers 401/403 with the reason unless the request's principal has `role`."""

    async def check(connection: HTTPConnection) -> None:
        found = refusal(connection.scope, role, action)
        if found is None:
            return
        status, reason = found
        client = connection.client
        actor = actor_of_scope(connection.scope, f"http:{client.host}" if client else "http")
        await connection.app.state.runtime.core.persistence.audit(
            actor, "access.refused", f"{connection.scope.get('method', 'WS')} {connection.url.path}", "refused",
            reason)
        raise HTTPException(status, reason, headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)

    return Depends(check)


CONTROL = requires(Role.OPERATOR, "control devices")
CLEAR_EMERGENCY_STOP = requires(Role.OPERATOR, "clear the emergency stop")
RAW_CAN = requires(Role.ADMIN, "send raw CAN frames")
ADMINISTER = requires(Role.ADMIN, "manage users, tokens and pairing")
