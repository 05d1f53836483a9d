"""AccessPolicy: which Host and Origin values name this server."""

from __future__ import annotations

import pytest

from coachiq.api.security import AccessPolicy

LOOPBACK = AccessPolicy.for_server("127.0.0.1", ["coachiq.local"], ["http://tablet.lan:9000"])
EVERYWHERE = AccessPolicy.for_server("0.0.0.0")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8080", "localhost", "LocalHost:8080", "[::1]", "[::1]:8080",
                                  "127.0.0.53", "coachiq.local", "coachiq.local:8080"])
def test_own_hosts(host: str) -> None:
    assert LOOPBACK.host_allowed(host)


@pytest.mark.parametrize("host", ["", ":8080", "evil.example", "coachiq.local.evil.example", "localhost.evil",
                                  "192.168.1.20", "[fe80::1]", "[::1", "127.0.0.1.nip.io", "0x7f.1"])
def test_foreign_hosts(host: str) -> None:
    assert not LOOPBACK.host_allowed(host)


def test_listening_everywhere_answers_any_address_but_no_other_name() -> None:
    assert EVERYWHERE.host_allowed("192.168.1.20:8080") and EVERYWHERE.host_allowed("[fd00::5]:8080")
    assert not EVERYWHERE.host_allowed("coach.attacker.example")


def test_origins() -> None:
    assert LOOPBACK.origin_allowed("http://127.0.0.1:8080", "http", "127.0.0.1:8080")
    assert LOOPBACK.origin_allowed("http://localhost:8080", "ws", "localhost:8080")
    assert LOOPBACK.origin_allowed("https://coachiq.local", "wss", "coachiq.local")
    assert LOOPBACK.origin_allowed("http://tablet.lan:9000", "http", "127.0.0.1:8080")
    assert not LOOPBACK.origin_allowed("http://127.0.0.1:8081", "http", "127.0.0.1:8080")  # another port
    assert not LOOPBACK.origin_allowed("https://127.0.0.1:8080", "http", "127.0.0.1:8080")  # another scheme
    assert not LOOPBACK.origin_allowed("null", "http", "127.0.0.1:8080")
    assert not LOOPBACK.origin_allowed("http://evil.example", "http", "127.0.0.1:8080")
