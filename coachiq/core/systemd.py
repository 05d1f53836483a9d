"""sd_notify without dependencies: READY=1 at start, WATCHDOG=1 while the core is healthy."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Talks to systemd through NOTIFY_SOCKET when it is set; otherwise does nothing."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if address:
            # A leading "@" names an abstract socket.
            self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_interval_s = int(usec) / 1_000_000 / 2 if usec.isdigit() and int(usec) > 0 else None

    @property
    def enabled(self) -> bool:
        """True when running under systemd with notification."""
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send one notification; a failure is logged, never raised."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self.address)
                sock.sendall(message.encode())
        except OSError as exc:
            log.warning("systemd notification %r failed: %s", message, exc)
            return False
        return True
