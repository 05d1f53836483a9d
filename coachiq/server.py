"""Run the server: logging, core start, HTTP, features, and an orderly stop on SIGTERM/SIGINT.

Order: the core services start before the HTTP server listens, so a failed core never leaves a
half-started server; features start once HTTP serves. On a signal, HTTP stops accepting, features
stop in reverse order, then the core in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import logging.handlers
import signal
import ssl
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import uvicorn

from coachiq.api.connections import ConnectionLimits, protocol_classes
from coachiq.app import create_app
from coachiq.core.errors import CoreStartError
from coachiq.core.tasks import next_tick
from coachiq.features.manager import IMPLEMENTATIONS, FeatureDefinition
from coachiq.runtime import Runtime
from coachiq.settings import Settings

log = logging.getLogger(__name__)

# A WebSocket message larger than this closes the socket with 1009 (no client message comes near it).
WS_MAX_MESSAGE_BYTES = 64 * 1024
IDLE_TIMEOUT_S = 5  # an HTTP connection idle this long after a response is closed
# Connections waiting to be accepted. asyncio also tries this many accepts in one go, and on Python
# 3.11 goes on trying (and reporting) after running out of descriptors: uvicorn's 2,048 made that
# thousands of reports a second.
LISTEN_BACKLOG = 128
OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})


class DescriptorExhaustionLog:
    """An asyncio exception handler that reports running out of file descriptors once a minute at most.

    When every descriptor is in use, asyncio fails each accept and reports it with a traceback,
    many times a second; the listening socket is retried a second later. One warning with the
    count says the same, and idle connections are closed so that the retry finds descriptors free.
    Every other report goes to `fallback` (asyncio's default handler).
    """

    def __init__(self, fallback: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object],
                 close_idle: Callable[[], int], interval: float = 60.0) -> None:
        """`fallback` handles everything that is not an exhaustion report; `close_idle` frees descriptors."""
        self.fallback = fallback
        self.close_idle = close_idle
        self.interval = interval
        self.unreported = 0
        self.total = 0
        self.last_report = -float("inf")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Count an exhaustion report, logging at most once per interval; pass anything else on."""
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and exc.errno in OUT_OF_DESCRIPTORS):
            self.fallback(loop, context)
            return
        self.unreported += 1
        self.total += 1
        closed = self.close_idle()
        now = time.monotonic()
        if now - self.last_report >= self.interval:
            log.warning("out of file descriptors (%s): %d accepts failed since the last report, %d in all; %d idle "
                        "connections closed to make room. If this is not an attack, raise LimitNOFILE in the "
                        "systemd unit", exc.strerror, self.unreported, self.total, closed)
            self.last_report = now
            self.unreported = 0


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
    limits = ConnectionLimits()
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(DescriptorExhaustionLog(
        lambda loop, context: loop.default_exception_handler(context), limits.close_idle))
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
        http_protocol, ws_protocol = protocol_classes(limits)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, lifespan="off", log_config=None,
                                access_log=False, http=http_protocol, ws=ws_protocol, ws_max_size=WS_MAX_MESSAGE_BYTES,
                                timeout_keep_alive=IDLE_TIMEOUT_S, backlog=LISTEN_BACKLOG, timeout_graceful_shutdown=2,
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
        loop.set_exception_handler(previous_handler)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
