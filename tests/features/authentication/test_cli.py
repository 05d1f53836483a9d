"""`coachiq user` and `coachiq token` against a real database file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import clean_env, run_cli

PASSWORD = "correct horse battery staple"


def _env(tmp_path: Path) -> dict[str, str]:
    return clean_env(COACHIQ_DATA_DIR=str(tmp_path / "data"))


def _user(tmp_path: Path, *args: str, password: str = PASSWORD) -> tuple[int, str, str]:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "coachiq.cli", "user", *args, "--password-stdin"],
                          input=password + "\n", capture_output=True, text=True, timeout=60, env=_env(tmp_path))
    return done.returncode, done.stdout, done.stderr


def _db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "data" / "coachiq.db")


def test_user_add_list_passwd_remove_and_audit(tmp_path: Path) -> None:
    assert _user(tmp_path, "add", "alice", "--role", "admin")[0] == 0
    assert _user(tmp_path, "add", "bob", "--role", "viewer")[0] == 0
    code, _out, err = _user(tmp_path, "add", "bob", "--role", "viewer")
    assert code == 1 and "exists already" in err
    listed = run_cli("user", "list", env=_env(tmp_path))
    assert listed.returncode == 0
    assert [line.split()[:2] for line in listed.stdout.splitlines()] == [["alice", "admin"], ["bob", "viewer"]]
    assert _user(tmp_path, "passwd", "bob", password="another long password")[0] == 0
    removed = run_cli("user", "remove", "bob", env=_env(tmp_path))
    assert removed.returncode == 0
    last_admin = run_cli("user", "remove", "alice", env=_env(tmp_path))
    assert last_admin.returncode == 1 and "only admin" in last_admin.stderr
    with _db(tmp_path) as db:
        assert [r[0] for r in db.execute("SELECT name FROM users")] == ["alice"]
        actions = [tuple(r) for r in db.execute("SELECT actor, action, target FROM audit_log ORDER BY id")]
    assert [a[1:] for a in actions] == [("user.add", "user:alice"), ("user.add", "user:bob"),
                                        ("user.passwd", "user:bob"), ("user.remove", "user:bob")]
    assert all(a[0].startswith("cli:") for a in actions)


def test_password_rules_and_roles_are_checked(tmp_path: Path) -> None:
    code, _out, err = _user(tmp_path, "add", "carol", "--role", "operator", password="short")
    assert code == 1 and "at least 8 characters" in err
    code, _out, err = _user(tmp_path, "add", "bad name!", "--role", "operator")
    assert code == 1 and "not allowed" in err
    bad_role = run_cli("user", "add", "dave", "--role", "root", "--password-stdin", env=_env(tmp_path))
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr


def test_password_is_stored_as_argon2id_only(tmp_path: Path) -> None:
    assert _user(tmp_path, "add", "alice", "--role", "admin")[0] == 0
    raw = (tmp_path / "data" / "coachiq.db").read_bytes()
    wal = tmp_path / "data" / "coachiq.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert PASSWORD.encode() not in raw
    with _db(tmp_path) as db:
        (stored,) = db.execute("SELECT password_hash FROM users").fetchone()
    assert stored.startswith("$argon2id$v=19$m=32768,t=3,p=2$")


def test_token_printed_once_on_the_last_line_and_stored_as_hash(tmp_path: Path) -> None:
    created = run_cli("token", "create", "--name", "homeassistant", "--scope", "control", env=_env(tmp_path))
    assert created.returncode == 0, created.stderr
    token = created.stdout.splitlines()[-1]
    assert token.startswith("ciq_") and " " not in token and len(token) > 40
    listed = run_cli("token", "list", env=_env(tmp_path))
    assert "homeassistant" in listed.stdout and "control" in listed.stdout and token not in listed.stdout
    with _db(tmp_path) as db:
        rows = db.execute("SELECT token_hash FROM api_tokens").fetchall()
    import hashlib

    assert rows == [(hashlib.sha256(token.encode()).hexdigest(),)]
    assert token.encode() not in (tmp_path / "data" / "coachiq.db").read_bytes()
    revoked = run_cli("token", "revoke", "homeassistant", env=_env(tmp_path))
    assert revoked.returncode == 0
    assert "homeassistant" not in run_cli("token", "list", env=_env(tmp_path)).stdout
    again = run_cli("token", "revoke", "homeassistant", env=_env(tmp_path))
    assert again.returncode == 1 and "no live token" in again.stderr
    bad = run_cli("token", "create", "--name", "x", "--scope", "everything", env=_env(tmp_path))
    assert bad.returncode == 2
