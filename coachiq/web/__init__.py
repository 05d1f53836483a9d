"""The owner's web page: static files in this folder, served by the app at `/`.

The page is plain HTML, CSS and JavaScript modules with no build step. Each file gets its own route
(rather than a catch-all mount at `/`), so that routes added later, by features at start-up for
example, are never shadowed by the page. Files are read once, kept in memory with a gzip copy, and
served with an ETag and `Cache-Control: no-cache`: a browser revalidates each file with a cheap 304,
and an upgraded server never leaves a stale page mixing old and new modules.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.routing import Route

WEB_DIR = Path(__file__).resolve().parent
_SERVED_SUFFIXES = {".html", ".js", ".css", ".svg", ".ico", ".png", ".webmanifest", ".json"}
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".webmanifest": "application/manifest+json"}
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
    media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    compressed = gzip.compress(body, compresslevel=9, mtime=0)
    # Compression pays only for text of some size; a tiny or binary file goes as it is.
    gzipped = compressed if len(compressed) < len(body) * 0.9 else None
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return StaticFile(body, gzipped, media_type, etag)


def _servable(directory: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in _SERVED_SUFFIXES and "__pycache__" not in path.parts:
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


def _responder(static: StaticFile, is_page: bool) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        headers = {"Cache-Control": "no-cache", "ETag": static.etag, "Vary": "Accept-Encoding",
                   "X-Content-Type-Options": "nosniff"}
        if is_page:
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            headers["Referrer-Policy"] = "no-referrer"
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
