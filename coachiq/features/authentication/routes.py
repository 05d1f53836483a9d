"""/api/v2/auth: sign-in, pairing, sign-out, and (for admins) users, tokens and pairing codes."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from coachiq.api.roles import ADMINISTER
from coachiq.core.access import Principal, Role, principal_of
from coachiq.features.authentication import store
from coachiq.features.authentication.credentials import SESSION_COOKIE
from coachiq.features.authentication.passwords import MAX_PASSWORD_LENGTH, WeakPassword, hash_password

if TYPE_CHECKING:
    from coachiq.features.authentication import AuthenticationFeature

RoleName = Literal["viewer", "operator", "admin"]
ScopeName = Literal["read", "control", "admin"]
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(_Body):
    """A name and password."""

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class Pair(_Body):
    """A pairing code, and optionally a name for the device (shown to admins)."""

    code: str = Field(min_length=1, max_length=16)
    device: str | None = Field(default=None, max_length=64)


class NewUser(_Body):
    """A user an admin adds."""

    name: str = Field(min_length=1, max_length=64)
    role: RoleName
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class NewPassword(_Body):
    """A new password."""

    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class NewToken(_Body):
    """An API token an admin creates."""

    name: str = Field(min_length=1, max_length=64)
    scope: ScopeName


class NewPairingCode(_Body):
    """The role the paired device gets."""

    role: RoleName = "viewer"


class UserOut(BaseModel):
    """A signed-in principal as the page sees it."""

    name: str
    role: RoleName
    kind: Literal["session", "token"]


class SessionOut(BaseModel):
    """Who is signed in, and whether the first admin may be set up from here."""

    authenticated: bool
    user: UserOut | None
    setup_needed: bool


def _user_out(principal: Principal) -> UserOut:
    return UserOut(name=principal.name, role=principal.role.label, kind=principal.kind)  # type: ignore[arg-type]


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _local_and_direct(request: Request) -> bool:
    """True for a client on this machine that is not a reverse proxy forwarding someone else."""
    try:
        loopback = ipaddress.ip_address(_address(request)).is_loopback
    except ValueError:
        return False
    forwarded = any(h in request.headers for h in ("forwarded", "x-forwarded-for", "x-real-ip"))
    return loopback and not forwarded


def build_router(feature: AuthenticationFeature) -> APIRouter:
    """The routes of the authentication feature, bound to the running feature."""
    from coachiq.features.authentication import SignInRefused

    router = APIRouter(prefix="/api/v2/auth", tags=["authentication"])

    def set_cookie(request: Request, response: Response, value: str) -> None:
        secure = feature.settings.secure_cookie
        response.set_cookie(SESSION_COOKIE, value, max_age=int(feature.settings.session_lifetime_s), path="/",
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https" if secure is None else secure)

    def refused(exc: SignInRefused) -> HTTPException:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return HTTPException(exc.status, exc.detail, headers=headers)

    def principal(request: Request) -> Principal:
        found = principal_of(request.scope)
        if found is None:
            raise HTTPException(401, "sign in first")
        return found

    def session_principal(request: Request) -> Principal:
        found = principal(request)
        if found.kind != "session":
            raise HTTPException(400, "this request carries an API token, not a session")
        return found

    @router.get("/session", response_model=SessionOut)
    async def session(request: Request) -> SessionOut:
        """Who is signed in; `setup_needed` when no user exists and the page is opened on this machine."""
        found = principal_of(request.scope)
        return SessionOut(authenticated=found is not None, user=_user_out(found) if found else None,
                          setup_needed=not feature.users and _local_and_direct(request))

    @router.post("/sign-in", response_model=UserOut, responses={401: {}, 429: {}})
    async def sign_in(body: SignIn, request: Request, response: Response) -> UserOut:
        """Check the name and password and start a session (an HttpOnly, SameSite=Strict cookie)."""
        try:
            cookie, signed_in = await feature.sign_in(body.name, body.password, _address(request))
        except SignInRefused as exc:
            raise refused(exc) from None
        set_cookie(request, response, cookie)
        return _user_out(signed_in)

    @router.post("/pair", response_model=UserOut, responses={401: {}, 429: {}})
    async def pair(body: Pair, request: Request, response: Response) -> UserOut:
        """Exchange a one-time pairing code for a session with the role the admin chose."""
        try:
            cookie, paired = await feature.pair(body.code.strip(), body.device, _address(request))
        except SignInRefused as exc:
            raise refused(exc) from None
        except store.AccessError as exc:
            raise HTTPException(422, str(exc)) from None
        set_cookie(request, response, cookie)
        return _user_out(paired)

    @router.post("/setup", response_model=UserOut, responses={403: {}, 409: {}})
    async def setup(body: SignIn, request: Request, response: Response) -> UserOut:
        """Create the first admin: only while no user exists, and only from this machine itself."""
        if not _local_and_direct(request):
            raise HTTPException(403, "the first admin can be set up only from the coach's computer itself "
                                "(or with `coachiq user add NAME --role admin`)")
        if feature.users:
            raise HTTPException(409, "a user exists already; sign in instead")
        try:
            store.check_name(body.name, "user name")
            cookie, created = await feature.set_up_first_admin(body.name, body.password, _address(request))
        except (store.AccessError, WeakPassword) as exc:
            raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from None
        set_cookie(request, response, cookie)
        return _user_out(created)

    @router.post("/sign-out", status_code=204)
    async def sign_out(request: Request, response: Response) -> None:
        """End this session."""
        current = session_principal(request)
        await feature.close_session(current)
        await feature.audit(current.actor, "auth.sign_out", f"user:{current.name}", "done",
                            f"session {current.credential_id}")
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")

    @router.post("/sign-out-everywhere", status_code=204)
    async def sign_out_everywhere(request: Request, response: Response) -> None:
        """End every session of the signed-in user, on every device."""
        current = session_principal(request)
        count = await feature.close_user_sessions(current.name)
        await feature.audit(current.actor, "auth.sign_out_everywhere", f"user:{current.name}", "done",
                            f"{count} sessions")
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")

    # -- admins ---------------------------------------------------------------------------------------

    @router.get("/users", dependencies=[ADMINISTER])
    async def users() -> list[dict[str, Any]]:
        """Every user and their role."""
        return [{"name": u.name, "role": u.role.label, "created_at": u.created_at.isoformat(),
                 "paired": u.password_hash == store.UNUSABLE_PASSWORD} for u in feature.users.values()]

    @router.post("/users", status_code=201, dependencies=[ADMINISTER])
    async def add_user(body: NewUser, request: Request) -> dict[str, str]:
        """Add a user."""
        actor = principal(request)
        role = store.parse_role(body.role)
        try:
            store.check_name(body.name, "user name")
            password_hash = hash_password(body.password)
            await feature.run(lambda c: store.add_user(c, body.name, role, password_hash, datetime.now(UTC)))
        except (store.AccessError, WeakPassword) as exc:
            raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from None
        await feature.reload()
        await feature.audit(actor.actor, "user.add", f"user:{body.name}", "done", f"role {role.label}")
        return {"name": body.name, "role": role.label}

    @router.delete("/users/{name}", status_code=204, dependencies=[ADMINISTER])
    async def remove_user(name: str, request: Request) -> None:
        """Remove a user; their sessions end at once."""
        actor = principal(request)
        try:
            await feature.run(lambda c: store.remove_user(c, name))
        except store.AccessError as exc:
            raise HTTPException(404 if "no user" in str(exc) else 409, str(exc)) from None
        await feature.reload()
        await feature.audit(actor.actor, "user.remove", f"user:{name}", "done", "sessions revoked")

    @router.post("/users/{name}/password", status_code=204, dependencies=[ADMINISTER])
    async def set_password(name: str, body: NewPassword, request: Request) -> None:
        """Set a user's password; their sessions end at once."""
        actor = principal(request)
        try:
            password_hash = hash_password(body.password)
            count = await feature.run(lambda c: store.set_password(c, name, password_hash, datetime.now(UTC)))
        except WeakPassword as exc:
            raise HTTPException(422, str(exc)) from None
        except store.AccessError as exc:
            raise HTTPException(404, str(exc)) from None
        await feature.reload()
        await feature.audit(actor.actor, "user.passwd", f"user:{name}", "done", f"{count} sessions revoked")

    @router.post("/users/{name}/sign-out", status_code=204, dependencies=[ADMINISTER])
    async def sign_out_user(name: str, request: Request) -> None:
        """End every session of a user."""
        actor = principal(request)
        try:
            count = await feature.close_user_sessions(name)
        except store.AccessError as exc:
            raise HTTPException(404, str(exc)) from None
        await feature.audit(actor.actor, "auth.sign_out_everywhere", f"user:{name}", "done", f"{count} sessions")

    @router.get("/tokens", dependencies=[ADMINISTER])
    async def tokens() -> list[dict[str, Any]]:
        """Live API tokens (never the tokens themselves)."""
        rows = await feature.run(store.list_tokens)
        return [{"id": t.id, "name": t.name, "scope": t.scope, "created_at": t.created_at.isoformat(),
                 "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None} for t in rows]

    @router.post("/tokens", status_code=201, dependencies=[ADMINISTER])
    async def create_token(body: NewToken, request: Request) -> dict[str, Any]:
        """Create a token; the answer is the only time it is shown."""
        actor = principal(request)
        token = store.new_token()
        try:
            token_id = await feature.run(lambda c: store.create_token(c, body.name, body.scope,
                                                                      store.digest(token), datetime.now(UTC)))
        except store.AccessError as exc:
            raise HTTPException(422, str(exc)) from None
        await feature.reload()
        await feature.audit(actor.actor, "token.create", f"token:{body.name}", "done",
                            f"id {token_id}, scope {body.scope}")
        return {"id": token_id, "name": body.name, "scope": body.scope, "token": token}

    @router.delete("/tokens/{token_id}", status_code=204, dependencies=[ADMINISTER])
    async def revoke_token(token_id: int, request: Request) -> None:
        """Revoke a token at once."""
        actor = principal(request)
        try:
            revoked = await feature.run(lambda c: store.revoke_token(c, str(token_id)))
        except store.AccessError as exc:
            raise HTTPException(404, str(exc)) from None
        await feature.reload()
        await feature.audit(actor.actor, "token.revoke", f"token:{revoked.name}", "done", f"id {revoked.id}")

    @router.post("/pairing", status_code=201, dependencies=[ADMINISTER])
    async def pairing(body: NewPairingCode, request: Request) -> dict[str, Any]:
        """A one-time six-digit code for a phone, with a QR code of the page's address and the code."""
        import segno

        actor = principal(request)
        role = store.parse_role(body.role)
        code, expires = await feature.create_pairing_code(role, actor)
        # The page's own origin (sent by the browser) makes the QR code open the page ready to pair.
        origin = request.headers.get("origin", "")
        url = f"{origin}/#pair={code}" if _ORIGIN.match(origin) else None
        qr = segno.make(url or code, error="m")
        return {"code": code, "role": role.label, "expires_at": expires.isoformat(), "url": url,
                "qr_svg": qr.svg_data_uri(scale=4, border=2, dark="#000", light="#fff")}

    return router


__all__ = ["Role", "build_router"]
