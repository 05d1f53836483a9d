"""A real `coachiq serve` with authentication on, and users and tokens made with the command line."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, clean_env, run_cli, start_server

PASSWORDS = {"ada": "ada-admin-password-1", "otto": "otto-operator-pass-2", "vic": "vic-viewer-password-3"}
ROLES = {"ada": "admin", "otto": "operator", "vic": "viewer"}
AUTH_ENV = {"COACHIQ_FEATURE_AUTHENTICATION": "true", "COACHIQ_FEATURE_CAN_TOOLS": "true",
            "COACHIQ_COACH": "class_a_diesel"}


def add_user(data_dir: Path, name: str, role: str, password: str) -> None:
    """`coachiq user add NAME --role ROLE --password-stdin`."""
    done = subprocess.run([sys.executable, "-m", "coachiq.cli", "user", "add", name, "--role", role,
                           "--password-stdin"], input=password + "\n", capture_output=True, text=True, timeout=60,
                          env=clean_env(COACHIQ_DATA_DIR=str(data_dir)))
    assert done.returncode == 0, done.stderr


def create_token(data_dir: Path, name: str, scope: str) -> str:
    """`coachiq token create`; the token is the last line."""
    done = run_cli("token", "create", "--name", name, "--scope", scope,
                   env=clean_env(COACHIQ_DATA_DIR=str(data_dir)))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


@dataclass
class AuthServer:
    """The server, its data folder, and its tokens by scope."""

    server: ServerProcess
    data_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.base_url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/v2/ws"

    def client(self, token: str | None = None) -> httpx.Client:
        """A token client sends no Origin (a program); any other client sends the page's own, as a browser does."""
        headers = {"Authorization": f"Bearer {token}"} if token else {"Origin": self.url}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    @contextlib.contextmanager
    def signed_in(self, name: str) -> Iterator[httpx.Client]:
        """A client holding a session cookie of `name`."""
        with self.client() as client:
            response = client.post("/api/v2/auth/sign-in", json={"name": name, "password": PASSWORDS[name]})
            assert response.status_code == 200, response.text
            yield client

    def bearer(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def audit(self) -> list[tuple[Any, ...]]:
        """The audit log as (actor, action, target, result, reason), oldest first (read-only)."""
        import sqlite3

        connection = sqlite3.connect(f"file:{self.data_dir / 'coachiq.db'}?mode=ro", uri=True)
        try:
            return [tuple(r) for r in connection.execute(
                "SELECT actor, action, target, result, reason FROM audit_log ORDER BY id")]
        finally:
            connection.close()


def start_auth_server(data_dir: Path, features_file: Path | None = None, *args: str) -> AuthServer:
    """Users ada (admin), otto (operator), vic (viewer) and a token per scope, then the server."""
    tokens = {}
    if not (data_dir / "coachiq.db").exists():
        for name, password in PASSWORDS.items():
            add_user(data_dir, name, ROLES[name], password)
        tokens = {scope: create_token(data_dir, f"{scope}-token", scope) for scope in ("read", "control", "admin")}
    env = dict(AUTH_ENV)
    if features_file is not None:
        env["COACHIQ_FEATURES_FILE"] = str(features_file)
    return AuthServer(start_server(data_dir, *args, env=env), data_dir, tokens)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """One server for the module (the tests do not change its users)."""
    running = start_auth_server(tmp_path_factory.mktemp("auth") / "data")
    try:
        yield running
    finally:
        running.server.stop()
