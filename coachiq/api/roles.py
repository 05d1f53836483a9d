"""Route dependencies that enforce roles when authentication is on (with it off, everything is allowed:
the server then listens on loopback only). The principal comes from the access gate (core/access.py);
every refusal is written to the audit log with who asked for what."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from coachiq.core.access import Role, actor_of_scope, refusal


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
