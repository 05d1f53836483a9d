"""The api_docs feature: Swagger UI at /docs and ReDoc at /redoc, with their assets served locally.

The assets come from the fastapi-offline package, so the documentation works in a coach with no
internet. /openapi.json itself is part of the core API and always served.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import ClassVar

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from coachiq.core.service import Health, Status
from coachiq.features.base import FeatureContext, NoSettings

ASSETS = Path(fastapi_offline.__file__).parent / "static"
_ASSET_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"}


_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def content_security_policy(page: bytes) -> str:
    """The policy for one documentation page: its own files, plus its inline scripts by their hashes.

    Both viewers insert style elements and set style attributes as they render, hence
    'unsafe-inline' for styles (never for scripts); ReDoc runs its search index in a worker it
    loads from a blob: URL; Swagger's icons are data: images.
    """
    scripts = ["'self'", *(f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
                           for script in _INLINE_SCRIPT.findall(page))]
    return (f"default-src 'self'; script-src {' '.join(scripts)}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = content_security_policy(bytes(page.body))
    return page


class ApiDocsFeature:
    """Serves interactive API documentation while enabled."""

    name: ClassVar[str] = "api_docs"
    settings_model: ClassVar[type[BaseModel]] = NoSettings

    def __init__(self) -> None:
        self._running = False

    async def start(self, ctx: FeatureContext) -> None:
        """Add the documentation routes."""
        missing = [f for f in _ASSET_FILES if not (ASSETS / f).is_file()]
        if missing:
            raise FileNotFoundError(f"documentation assets missing from {ASSETS}: {', '.join(sorted(missing))}")
        router = APIRouter(include_in_schema=False)
        swagger_page = _with_policy(get_swagger_ui_html(
            openapi_url="/openapi.json", title="CoachIQ API", swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css", swagger_favicon_url="/docs-assets/favicon.png"))
        redoc_page = _with_policy(get_redoc_html(
            openapi_url="/openapi.json", title="CoachIQ API", redoc_js_url="/docs-assets/redoc.standalone.js",
            redoc_favicon_url="/docs-assets/favicon.png", with_google_fonts=False))

        @router.get("/docs")
        async def swagger() -> HTMLResponse:
            return swagger_page

        @router.get("/redoc")
        async def redoc() -> HTMLResponse:
            return redoc_page

        @router.get("/docs-assets/{name}")
        async def asset(name: str) -> FileResponse:
            if name not in _ASSET_FILES:
                from fastapi import HTTPException

                raise HTTPException(404, f"no documentation asset named {name!r}")
            return FileResponse(ASSETS / name)

        ctx.add_router(router)
        self._running = True

    async def stop(self) -> None:
        """Nothing to release beyond the routes, which the manager removes."""
        self._running = False

    def health(self) -> Health:
        """Healthy while the assets are on disk."""
        if not self._running:
            return Health(Status.STOPPED, "not running")
        if not (ASSETS / "swagger-ui-bundle.js").is_file():
            return Health(Status.UNHEALTHY, f"assets missing from {ASSETS}")
        return Health(Status.HEALTHY, "serving /docs and /redoc")
