"""The command line as a user runs it: database maintenance and configuration checks."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from coachiq.db.manager import Revisions
from tests.conftest import clean_env, run_cli, start_server

HEAD = Revisions.scan().head


def test_db_upgrade_current_and_backup(tmp_path: Path) -> None:
    env = clean_env(COACHIQ_DATA_DIR=str(tmp_path / "data"))
    current = run_cli("db", "current", env=env)
    assert current.returncode == 0 and "none (no schema yet)" in current.stdout
    upgrade = run_cli("db", "upgrade", env=env)
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"database at revision {HEAD}" in upgrade.stdout
    current = run_cli("db", "current", env=env)
    assert f"revision {HEAD} (up to date)" in current.stdout
    backup = run_cli("db", "backup", str(tmp_path / "copy.db"), env=env)
    assert backup.returncode == 0, backup.stderr
    with sqlite3.connect(tmp_path / "copy.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)
    again = run_cli("db", "backup", str(tmp_path / "copy.db"), env=env)
    assert again.returncode == 1 and "choose a new file name" in again.stderr


def test_db_current_on_a_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "coachiq.db").write_bytes(b"garbage" * 50)
    result = run_cli("db", "current", env=clean_env(COACHIQ_DATA_DIR=str(tmp_path)))
    assert result.returncode == 1 and "not an SQLite database" in result.stderr


def test_config_check_lists_every_problem_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "coachiq.yaml"
    config.write_text("port: -1\n")
    features = tmp_path / "features.yaml"
    features.write_text("features:\n  api_docs: {enabled: true}\n  mqtt:\n    enabled: yes please\n")
    env = clean_env(COACHIQ_FEATURES_FILE=str(features))
    result = run_cli("config", "check", "--config", str(config), env=env)
    assert result.returncode == 1
    assert "'port' = -1 is not allowed" in result.stderr
    assert f"{features}:4: 'mqtt.enabled' must be true or false" in result.stderr
    assert "2 problem(s) found" in result.stderr


def test_config_check_passes_on_defaults(tmp_path: Path) -> None:
    result = run_cli("config", "check", env=clean_env(COACHIQ_DATA_DIR=str(tmp_path)))
    assert result.returncode == 0 and "configuration OK" in result.stdout


def test_systemd_ready_and_watchdog(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(20)
        server = start_server(tmp_path / "data", env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"})
        try:
            messages = set()
            while not {"READY=1", "WATCHDOG=1"} <= messages:
                messages.add(sock.recv(100).decode())
        finally:
            assert server.stop() == 0


def test_serve_refused_in_process_leaves_the_collector_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from coachiq.cli import EXIT_CONFIG, main

    # serve switches the cyclic collector off while it starts; a start that stops early (here: a
    # --replay file that does not exist) must switch it on again.
    monkeypatch.setenv("COACHIQ_DATA_DIR", str(tmp_path / "data"))
    assert main(["serve", "--replay", str(tmp_path / "missing.log")]) == EXIT_CONFIG
    assert gc.isenabled()
