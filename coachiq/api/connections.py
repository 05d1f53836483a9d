"""Limits below the application: connections per client, request line and header size, header timeout.

uvicorn bounds the idle time between requests (`timeout_keep_alive`) and WebSocket messages
(`ws_max_size`), but not a connection that never finishes its headers, nor the size of those
headers, nor how many connections one client holds open: each of those pins a file descriptor and
memory for as long as the client likes. The HTTP protocol made here adds those limits:

- at most `ConnectionLimits.per_client` open connections (HTTP and WebSocket) from one address;
  the next one is answered 503 and closed;
- the request line and headers must arrive within `header_timeout` seconds of the connection
  opening or of the request starting; a connection that is still silent then is closed;
- the URL at most `max_url` bytes (414), the request line and headers together at most
  `max_head_bytes` (counted as they arrive, so one endless header line cannot grow the parser's
  buffer) and `max_header_count` lines (431); the connection is then closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["ConnectionLimits", "protocol_classes"]

log = logging.getLogger(__name__)


class _Idler(Protocol):
    def close_if_idle(self) -> bool: ...


@dataclass
class ConnectionLimits:
    """The limits, and the open connections counted against them by client address."""

    per_client: int = 64
    header_timeout: float = 10.0
    max_url: int = 8 * 1024
    max_header_count: int = 64
    max_head_bytes: int = 32 * 1024
    open_by_client: Counter[str] = field(default_factory=Counter)
    refused: int = 0  # connections refused for the per-client limit, since start
    http_connections: set[_Idler] = field(default_factory=set)  # open HTTP (not WebSocket) connections

    def close_idle(self) -> int:
        """Close the HTTP connections that wait for nothing but a next request; return how many.

        Called when the process runs out of file descriptors: the freed ones let new connections,
        an emergency stop among them, in at once rather than when the idle timeout ends.
        """
        return sum(connection.close_if_idle() for connection in list(self.http_connections))

    def open(self, client: str) -> bool:
        """Count a new connection from `client`; False (not counted) when it is over the limit."""
        if self.open_by_client[client] >= self.per_client:
            self.refused += 1
            return False
        self.open_by_client[client] += 1
        return True

    def close(self, client: str) -> None:
        """A counted connection from `client` ended."""
        left = self.open_by_client[client] - 1
        if left > 0:
            self.open_by_client[client] = left
        else:
            del self.open_by_client[client]


def _plain_response(status: int, reason: str, text: str) -> bytes:
    body = text.encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


def protocol_classes(limits: ConnectionLimits) -> tuple[type[HttpToolsProtocol], type[WebSocketsSansIOProtocol]]:
    """The HTTP and WebSocket protocol classes to give uvicorn.Config (`http=`, `ws=`), sharing `limits`."""

    class LimitedWebSocketProtocol(WebSocketsSansIOProtocol):
        """uvicorn's WebSocket protocol; the connection, counted when it opened as HTTP, is released here."""

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            limits.close(self.client[0] if self.client else "")

    class LimitedHttpProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with the limits of this module."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._address = ""
            self._counted = False  # counted against the client's limit (released on close or by the WebSocket)
            self._refused = False  # answered and closing: ignore what the parser still reports
            self._header_timer: asyncio.TimerHandle | None = None  # runs while a request's head is awaited
            self._head_bytes = 0  # bytes received while the head is awaited
            self._header_bytes = 0  # header names and values of the request being parsed

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._address = self.client[0] if self.client else ""
            if not limits.open(self._address):
                if limits.refused == 1 or limits.refused % 1000 == 0:
                    log.warning("%s has %d connections open; refusing more (%d refused since start)",
                                self._address, limits.per_client, limits.refused)
                self._refuse(503, "Service Unavailable", f"more than {limits.per_client} connections from "
                             "your address: close some and try again")
                return
            self._counted = True
            limits.http_connections.add(self)
            self._start_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            limits.http_connections.discard(self)
            if self._counted:
                self._counted = False
                limits.close(self._address)
            super().connection_lost(exc)

        def handle_websocket_upgrade(self) -> None:
            self._counted = False  # the WebSocket protocol takes the connection over, and releases it
            limits.http_connections.discard(self)
            super().handle_websocket_upgrade()

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._header_timer is not None:
                self._head_bytes += len(data)
            super().data_received(data)
            # Still waiting for the end of the head after this data: the parser holds what it has read.
            if self._header_timer is not None and self._head_bytes > limits.max_head_bytes and not self._refused:
                self._refuse(431, "Request Header Fields Too Large",
                             f"the request line and headers are longer than {limits.max_head_bytes} bytes")

        def close_if_idle(self) -> bool:
            """Close the connection if it waits for a next request, or has sent nothing yet."""
            waiting = self.timeout_keep_alive_task is not None or (self._header_timer is not None
                                                                   and self._head_bytes == 0 and self.cycle is None)
            if waiting and not self.transport.is_closing():
                self.transport.close()
                return True
            return False

        def _start_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(limits.header_timeout, self._header_timed_out)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timed_out(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self._refused = True
                self.transport.close()

        def _refuse(self, status: int, reason: str, text: str) -> None:
            self._refused = True
            self._stop_header_timer()
            if not self.transport.is_closing():
                self.transport.write(_plain_response(status, reason, text))
                self.transport.close()

        # Parser callbacks: after a refusal the rest of the data already read is ignored.

        def on_message_begin(self) -> None:
            if self._refused:
                return
            super().on_message_begin()
            self._header_bytes = 0
            self._start_header_timer()

        def on_url(self, url: bytes) -> None:
            if self._refused:
                return
            super().on_url(url)
            if len(self.url) > limits.max_url:
                self._refuse(414, "URI Too Long", f"the URL is longer than {limits.max_url} bytes")

        def on_header(self, name: bytes, value: bytes) -> None:
            if self._refused:
                return
            super().on_header(name, value)
            self._header_bytes += len(name) + len(value)
            if len(self.headers) > limits.max_header_count or self._header_bytes > limits.max_head_bytes:
                self._refuse(431, "Request Header Fields Too Large", f"at most {limits.max_header_count} header "
                             f"lines of {limits.max_head_bytes} bytes in all")

        def on_headers_complete(self) -> None:
            if self._refused:
                return
            self._stop_header_timer()
            self._head_bytes = 0
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if not self._refused:
                super().on_message_complete()

    return LimitedHttpProtocol, LimitedWebSocketProtocol
