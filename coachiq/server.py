"""Run the server: logging, core start, HTTP, features, and an orderly stop on SIGTERM/SIGINT.

Order: the core services start before the HTTP server listens, so a failed core never leaves a
half-started server; features start once HTTP serves. On a signal, HTTP stops accepting, features
stop in reverse order, then the core in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import logging.handlers
import signal
import ssl
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import TextIO

import uvicorn

from coachiq.app import create_app
from coachiq.core.errors import CoreStartError
from coachiq.core.tasks import next_tick
from coachiq.features.manager import IMPLEMENTATIONS, FeatureDefinition
from coachiq.runtime import Runtime
from coachiq.settings import Settings

log = logging.getLogger(__name__)


class _ConsoleFilter(logging.Filter):
    """Keep records marked file_only (details of failures already told in one line) off the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


class _NoTraceback(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text = saved


def configure_logging(settings: Settings, console: TextIO = sys.stderr) -> None:
    """Everything at the configured level to data_dir/logs/coachiq.log; warnings and errors to stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(settings.log_level.upper())
    console_handler = logging.StreamHandler(console)
    console_handler.setLevel(logging.WARNING)
    console_handler.addFilter(_ConsoleFilter())
    console_handler.setFormatter(_NoTraceback("coachiq: %(levelname)s %(name)s: %(message)s"))
    root.addHandler(console_handler)
    logs = settings.data_dir / "logs"
    try:
        logs.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(logs / "coachiq.log", maxBytes=1_000_000,
                                                            backupCount=3, encoding="utf-8")
    except OSError:
        return  # the database service reports an unusable data folder with a clear message
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)


def settle_memory() -> None:
    """Keep what start-up allocated out of the cyclic collector's work and (re-)enable it.

    Modules, routes, the DGN database and the services live until exit: frozen, they are no longer
    walked by every full collection, which keeps those pauses short. No collection first: it would
    hold the event loop for a tenth of a second to free a few hundred start-up objects.
    """
    gc.freeze()
    gc.enable()


async def _start_http(server: uvicorn.Server) -> None:
    """Bind and start accepting, as uvicorn's own serve() does, without its signal handlers or its loop."""
    server.config.load()
    server.lifespan = server.config.lifespan_class(server.config)
    await server.startup()


async def _serve_http(server: uvicorn.Server, stop: asyncio.Event) -> None:
    """Serve until `stop` is set.

    uvicorn's own loop wakes ten times a second to look for a stop request and refresh the Date
    header; here the stop request wakes it directly and the header is refreshed on the shared
    one-second tick, so an idle server is woken once a second for all of its periodic work.
    """
    while not await server.on_tick(0):  # counter 0: refresh the Date header
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(next_tick(1.0)):
                await stop.wait()
        server.should_exit = stop.is_set()


async def serve(settings: Settings, features: list[FeatureDefinition],
                implementations: Mapping[str, str] = IMPLEMENTATIONS, replay: Path | None = None,
                replay_speed: float = 1.0) -> int:
    """Run until SIGTERM/SIGINT; return the process exit status."""
    runtime = Runtime(settings, features, implementations)
    if settings.listens_beyond_loopback and not runtime.access.required:
        log.warning("listening on %s without authentication: anyone on this network can control the coach",
                    settings.host)
    app = create_app(runtime)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stop_requested.set)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            await runtime.core.start()
        except CoreStartError as exc:
            print(f"coachiq: {exc}", file=sys.stderr, flush=True)
            return 1
        if stop_requested.is_set():
            await runtime.core.stop()
            return 0
        if replay is not None:
            runtime.core.rvc.start_replay(replay, replay_speed)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, lifespan="off", log_config=None,
                                access_log=False, ws="websockets-sansio", timeout_graceful_shutdown=2,
                                ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)
        server = uvicorn.Server(config)
        try:
            await _start_http(server)
        except (ssl.SSLError, OSError) as exc:  # a certificate or key that cannot be loaded
            await runtime.core.stop()
            print(f"coachiq: cannot load the TLS certificate {settings.tls_cert} and key {settings.tls_key}: {exc} "
                  "— give a PEM certificate and its unencrypted PEM key", file=sys.stderr, flush=True)
            return 1
        except SystemExit:  # how uvicorn reports a socket it cannot bind (the cause is already logged)
            await runtime.core.stop()
            print(f"coachiq: cannot listen on {settings.host}:{settings.port} — is another server running? "
                  "Choose another port with --port", file=sys.stderr, flush=True)
            return 1
        try:
            await runtime.start_features()
            settle_memory()  # once the core, HTTP and the features are up
            print(f"coachiq: serving on {'https' if settings.tls_cert else 'http'}://{settings.host}:{settings.port}"
                  f"{' (simulated coach)' if settings.simulated else ''}", flush=True)
            await _serve_http(server, stop_requested)
        finally:
            await server.shutdown()  # stop accepting and close the connections, then the services
            await runtime.stop()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
