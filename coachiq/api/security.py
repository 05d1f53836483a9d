"""Access checks every request passes, with or without authentication: Host, Origin, body and headers.

One pure ASGI middleware (no per-request task or response object on the way through):

- `Host` must name this server: a loopback name or address, the address it listens on, any IP
  address when it listens on all of them (a DNS-rebinding attack always arrives with the attacker's
  name, never with an address), or a name in `allowed_hosts`. Anything else is answered 421 (a
  WebSocket handshake 403, the one refusal uvicorn can send for it without logging an error).
- `Origin`, when a browser sends one, must be this server's own origin or one in `allowed_origins`
  on every WebSocket and every POST, PUT, PATCH and DELETE; otherwise 403. A request without
  `Origin` goes to `missing_origin_allowed` (below), the one place where authentication decides.
- A state-changing request carries JSON (`application/json`) or no body at all, never a form: the
  bodies a foreign page can send without asking (forms, text/plain) are refused with 415.
- A body is at most `MAX_BODY_BYTES` on every route (nothing CoachIQ serves takes uploads), must
  arrive within `BODY_TIMEOUT_S`, and a JSON body may not nest deeper than `MAX_JSON_DEPTH`.
- Every HTTP response gets the security headers in `SECURITY_HEADERS` unless the route set its own
  (the page and the API documentation send a Content-Security-Policy made for them).

Limits below the application (header size and count, header-read and idle timeouts, connections
per client) are enforced by the HTTP protocol in coachiq/api/connections.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coachiq.core.jsonlimits import MAX_JSON_DEPTH, exceeds_depth

__all__ = ["BODY_TIMEOUT_S", "MAX_BODY_BYTES", "SECURITY_HEADERS", "AccessPolicy", "SecurityMiddleware",
           "missing_origin_allowed"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT_S = 10.0
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

# The API sends JSON and the page loads only its own files: no response needs another source, a frame
# or a referrer. Routes serving HTML set a policy of their own (coachiq/web, the api_docs feature).
DEFAULT_CSP = ("default-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
               "object-src 'none'; form-action 'self'")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", DEFAULT_CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_SECURITY_HEADER_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)


def missing_origin_allowed(scope: Scope) -> bool:
    """Whether a WebSocket or state-changing request that carries no `Origin` header may go on.

    Browsers send `Origin` with every WebSocket handshake and with every cross-origin POST, PUT,
    PATCH and DELETE (fetch, XMLHttpRequest and forms alike), so a foreign page can never leave it
    out; a request without it comes from a program — curl, Home Assistant, a script. While
    authentication is off the server listens on loopback and such programs are let through. The
    authentication feature makes this answer depend on a valid API token in the request.
    """
    return True


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The names and origins this server answers to."""

    host_names: frozenset[str]  # lower-case names and addresses, IPv6 without brackets
    any_address: bool  # listening on every address: any IP literal in Host is one of ours
    origins: frozenset[str]  # extra allowed origins, "scheme://host[:port]", lower-case

    @classmethod
    def for_server(cls, listen_host: str, allowed_hosts: Iterable[str] = (),
                   allowed_origins: Iterable[str] = ()) -> AccessPolicy:
        """The policy of a server listening on `listen_host` with the configured extra names and origins."""
        names = set(LOOPBACK_NAMES) | {listen_host.lower()} | {h.lower() for h in allowed_hosts}
        try:
            any_address = ipaddress.ip_address(listen_host).is_unspecified
        except ValueError:
            any_address = False
        return cls(frozenset(names), any_address, frozenset(o.lower() for o in allowed_origins))

    def host_allowed(self, host: str) -> bool:
        """True when the `Host` header value (name or address, with or without port) is one of ours."""
        name = _host_name(host)
        if name in self.host_names:
            return True
        if not name:
            return False
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        return address.is_loopback or self.any_address

    def origin_allowed(self, origin: str, scheme: str, host: str) -> bool:
        """True when `origin` is this request's own origin (scheme and Host) or a configured one."""
        origin = origin.lower()
        own_scheme = "https" if scheme in ("https", "wss") else "http"
        return origin == f"{own_scheme}://{host.lower()}" or origin in self.origins


def _host_name(host: str) -> str:
    """The name or address in a Host header value, lower-case, IPv6 without brackets, port removed."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else ""
    name, _, _port = host.partition(":")
    return name


class _Refusal(Exception):
    """A request refused before the application sees it."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def _problem_body(refusal: _Refusal) -> bytes:
    return json.dumps({"type": "about:blank", "title": refusal.title, "status": refusal.status,
                       "detail": refusal.detail}, separators=(",", ":")).encode()


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


class SecurityMiddleware:
    """Checks Host, Origin, bodies and content types; adds the security headers (see the module)."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy,
                 missing_origin: Callable[[Scope], bool] = missing_origin_allowed,
                 max_body: int = MAX_BODY_BYTES, body_timeout: float = BODY_TIMEOUT_S) -> None:
        """Wrap `app`; `missing_origin` decides on requests that carry no Origin."""
        self.app = app
        self.policy = policy
        self.missing_origin = missing_origin
        self.max_body = max_body
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request or WebSocket handshake, then hand it on."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _check_origin(self, scope: Scope, origin: str | None, host: str, what: str) -> None:
        if origin is None:
            if not self.missing_origin(scope):
                raise _Refusal(403, "Forbidden", f"{what} without an Origin header needs an API token")
            return
        if not self.policy.origin_allowed(origin, scope["scheme"], host):
            raise _Refusal(403, "Forbidden", f"{what} from the page at {origin[:100]!r} refused: only this "
                           "server's own page, or an origin listed in COACHIQ_ALLOWED_ORIGINS, may do this")

    def _check_host(self, host: str | None) -> str:
        if host is None:
            raise _Refusal(400, "Bad Request", "the request has no Host header")
        if not self.policy.host_allowed(host):
            raise _Refusal(421, "Misdirected Request", f"this server does not answer to the name {host[:100]!r}; "
                           "add it to COACHIQ_ALLOWED_HOSTS if it is one of its names")
        return host

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = origin = content_type = None
        length: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif name == b"transfer-encoding":
                chunked = True
        try:
            host = self._check_host(host)
            if length is not None and length > self.max_body:
                raise _Refusal(413, "Content Too Large", f"the body is larger than {self.max_body} bytes")
            method = scope["method"]
            if method in STATE_CHANGING:
                self._check_origin(scope, origin, host, f"{method} {scope['path']}")
                has_body = chunked or (length is not None and length != 0)
                if content_type is not None and _media_type(content_type) != "application/json":
                    raise _Refusal(415, "Unsupported Media Type", f"the body must be JSON (Content-Type: "
                                   f"application/json) or absent, not {_media_type(content_type)[:60]!r}")
                if has_body and content_type is None:
                    raise _Refusal(415, "Unsupported Media Type", "a body needs Content-Type: application/json")
                if has_body:
                    body = await self._read_body(receive)
                    if exceeds_depth(body):
                        raise _Refusal(400, "Bad Request", f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels "
                                       "of arrays and objects")
                    receive = _replay(body, receive)
        except _Refusal as refusal:
            await _send_refusal(send, refusal, close=refusal.status in (408, 413))
            return
        await self.app(scope, receive, _with_security_headers(send))

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":  # the client went away
                        raise _Refusal(400, "Bad Request", "the client disconnected while sending the body")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body:
                        raise _Refusal(413, "Content Too Large", f"the body is larger than {self.max_body} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise _Refusal(408, "Request Timeout",
                           f"the body did not arrive within {self.body_timeout:g} s") from None

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = origin = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
        try:
            host = self._check_host(host)
            self._check_origin(scope, origin, host, f"WebSocket {scope['path']}")
        except _Refusal as refusal:
            # Closed before accepting: the handshake is answered 403. (A response with a body would say
            # why, but uvicorn then logs an error for every refused handshake.)
            log.info("WebSocket %s refused: %s", scope["path"], refusal.detail)
            await send({"type": "websocket.close", "code": 1008, "reason": refusal.title})
            return
        await self.app(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive function that gives the body already read, then waits on the client as before."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _with_security_headers(send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers} & _SECURITY_HEADER_NAMES
            headers.extend(item for item in SECURITY_HEADERS if item[0] not in present)
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers


async def _send_refusal(send: Send, refusal: _Refusal, close: bool = False) -> None:
    body = _problem_body(refusal)
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
               *SECURITY_HEADERS]
    if close:  # the rest of the body is not read: the connection cannot carry another request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
