"""The owner's web page: static files in this folder, served by the app at `/`.

The page is plain HTML, CSS and JavaScript modules with no build step. Each file gets its own route
(rather than a catch-all mount at `/`), so that routes added later, by features at start-up for
example, are never shadowed by the page. Files are read once, kept in memory with a gzip copy, and
served with an ETag and `Cache-Control: no-cache`: a browser revalidates each file with a cheap 304,
and an upgraded server never leaves a stale page mixing old and new modules.

The page itself (index.html) carries the coach's entity list as it is at the moment of the request, in a
JSON data block, so that the owner sees values one round trip sooner on a slow link; and, in another,
the answer of GET /api/v2/access (is sign-in needed, who is asking), so that the page knows whether to
show the coach or the sign-in view without a request. Both are taken by requests through the whole
application with the caller's own cookies and authorization, so the list is embedded only when the
caller could have read it anyway: with authentication on, never before sign-in.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.routing import Route
from starlette.types import Message

from coachiq.web.trim import trim_css, trim_js

ENTITY_LIST_PATH = "/api/v2/entities"
ACCESS_PATH = "/api/v2/access"
SNAPSHOT_MARK = b"</body>"
_FORWARDED_HEADERS = {b"cookie", b"authorization"}
_SNAPSHOT_MAX_BYTES = 512 * 1024

WEB_DIR = Path(__file__).resolve().parent
# One media type per served suffix (the standard library's table would cost 0.4 MiB for six entries).
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".webmanifest": "application/manifest+json",
          ".png": "image/png", ".ico": "image/vnd.microsoft.icon", ".json": "application/json"}
# The page loads only its own files and talks only to its own server ('self' covers its WebSocket:
# CSP Level 3 matches ws:/wss: to the page's http:/https: origin, as Chromium and Firefox do).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                           "form-action 'self'")


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file of the page, ready to send."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def _load(path: Path) -> StaticFile:
    body = path.read_bytes()
    # What the browser needs of a script or style sheet: comments and indentation are a fifth of what
    # would be sent of the first view, even gzipped (the files in this folder keep them for readers).
    if path.suffix == ".js":
        body = trim_js(body.decode()).encode()
    elif path.suffix == ".css":
        body = trim_css(body.decode()).encode()
    media_type = _TYPES[path.suffix]
    compressed = gzip.compress(body, compresslevel=9, mtime=0)
    # Compression pays only for text of some size; a tiny or binary file goes as it is.
    gzipped = compressed if len(compressed) < len(body) * 0.9 else None
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return StaticFile(body, gzipped, media_type, etag)


def _servable(directory: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in _TYPES and "__pycache__" not in path.parts:
            found["/" + path.relative_to(directory).as_posix()] = path
    if "/index.html" in found:
        found["/"] = found["/index.html"]
    return found


def page_paths(directory: Path = WEB_DIR) -> set[str]:
    """The URL paths of the page's files: the shell that loads before sign-in."""
    return set(_servable(directory))


def load_files(directory: Path = WEB_DIR) -> dict[str, StaticFile]:
    """Every servable file under `directory`, keyed by its URL path ("/" for index.html)."""
    loaded = {path: _load(path) for path in set(_servable(directory).values())}
    return {url: loaded[path] for url, path in _servable(directory).items()}


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


async def _get_as_caller(request: Request, path: str) -> bytes | None:
    """GET `path` through the whole app as the caller; the JSON body, or None if not 200."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k, v) for k, v in request.scope.get("headers", []) if k in _FORWARDED_HEADERS]
        + [(b"accept", b"application/json"), (b"host", request.headers.get("host", "coach").encode())],
        "client": request.scope.get("client"), "server": request.scope.get("server"),
        "app": request.app, "state": {},
    }
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await request.app(scope, receive, send)
    body = b"".join(chunks)
    if status != 200 or len(body) > _SNAPSHOT_MAX_BYTES:
        return None
    return body


def _signed_out(access: bytes) -> bool:
    """Whether an answer of GET /api/v2/access says sign-in is needed and the caller is not signed in."""
    try:
        answer = json.loads(access)
    except ValueError:
        return True
    return not isinstance(answer, dict) or (answer.get("authentication") is not False and not answer.get("user"))


def _data_block(block_id: str, data: bytes) -> bytes:
    # "</" inside the data block would end it early; JSON allows "<\/" for it.
    return (b'<script type="application/json" id="' + block_id.encode() + b'">' + data.replace(b"</", b"<\\/")
            + b"</script>\n")


def _with_snapshot(page: bytes, access: bytes | None, snapshot: bytes | None) -> bytes:
    blocks = b""
    if access is not None:
        blocks += _data_block("access-snapshot", access)
    if snapshot is not None:
        blocks += _data_block("entity-snapshot", snapshot)
    return page.replace(SNAPSHOT_MARK, blocks + SNAPSHOT_MARK, 1)


def _responder(static: StaticFile, is_page: bool) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        headers = {"Cache-Control": "no-cache", "ETag": static.etag, "Vary": "Accept-Encoding",
                   "X-Content-Type-Options": "nosniff"}
        if is_page:
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            headers["Referrer-Policy"] = "no-referrer"
        carried = is_page and request.method == "GET"
        access = await _get_as_caller(request, ACCESS_PATH) if carried else None
        # Not signed in: the list would be refused anyway (the request is still made as the caller
        # otherwise, so that the access gate alone decides).
        signed_out = access is not None and _signed_out(access)
        snapshot = await _get_as_caller(request, ENTITY_LIST_PATH) if carried and not signed_out else None
        if access is not None or snapshot is not None:
            # A page with live values is new every time: no validator, and compressed as it goes out.
            del headers["ETag"]
            body = _with_snapshot(static.body, access, snapshot)
            if "gzip" in request.headers.get("accept-encoding", ""):
                headers["Content-Encoding"] = "gzip"
                body = gzip.compress(body, compresslevel=6, mtime=0)
            return Response(body, media_type=static.media_type, headers=headers)
        if _etag_matches(request.headers.get("if-none-match"), static.etag):
            return Response(status_code=304, headers=headers)
        body = static.body
        if static.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            body = static.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=static.media_type, headers=headers)

    return serve


def mount_web(app: FastAPI, directory: Path = WEB_DIR) -> list[str]:
    """Serve the page's files at `/` (index.html) and `/<file>`; returns the URL paths served."""
    files = load_files(directory)
    for url, static in files.items():
        is_page = static.media_type.startswith("text/html")
        app.router.routes.append(Route(url, _responder(static, is_page), methods=["GET", "HEAD"],
                                       include_in_schema=False))
    return list(files)
