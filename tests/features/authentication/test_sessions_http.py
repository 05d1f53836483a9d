"""Sessions over real HTTP: expiry, revocation, back-off, pairing, the first admin, secrets kept out."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import clean_env, run_cli, start_server
from tests.features.authentication.conftest import AUTH_ENV, PASSWORDS, AuthServer, start_auth_server


def _settings_file(path: Path, **values: float) -> Path:
    lines = "\n".join(f"      {k}: {v}" for k, v in values.items())
    path.write_text(f"features:\n  authentication:\n    settings:\n{lines}\n")
    return path


@pytest.fixture
def quick_server(tmp_path: Path) -> Iterator[AuthServer]:
    """Sessions that last 3 s and a refresh every half second."""
    features = _settings_file(tmp_path / "features.yaml", session_lifetime_s=3, refresh_interval_s=0.5)
    running = start_auth_server(tmp_path / "data", features)
    try:
        yield running
    finally:
        running.server.stop()


def _until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_session_expires(quick_server: AuthServer) -> None:
    with quick_server.client() as viewer:
        before_sign_in = time.monotonic()
        response = viewer.post("/api/v2/auth/sign-in", json={"name": "vic", "password": PASSWORDS["vic"]})
        assert response.status_code == 200
        # The cookie is sent by hand: a client's jar (a browser's too) drops it at Max-Age by itself,
        # and this test is about the server ending the session.
        cookie = {"Cookie": f"coachiq_session={response.cookies['coachiq_session']}"}
        viewer.cookies.clear()
        assert viewer.get("/api/v2/safety", headers=cookie).status_code == 200
        _until(lambda: viewer.get("/api/v2/safety", headers=cookie).status_code == 401)
        assert time.monotonic() - before_sign_in >= 3.0  # not before its 3 s lifetime


def test_sign_out_and_sign_out_everywhere(quick_server: AuthServer) -> None:
    with quick_server.signed_in("otto") as phone, quick_server.signed_in("otto") as tablet, \
            quick_server.signed_in("otto") as laptop:
        assert phone.post("/api/v2/auth/sign-out").status_code == 204
        assert phone.get("/api/v2/safety").status_code == 401
        assert tablet.get("/api/v2/safety").status_code == 200
        browser = {"Cookie": f"coachiq_session={laptop.cookies['coachiq_session']}", "Origin": quick_server.url}
        with connect(quick_server.ws_url, additional_headers=browser) as stream, \
                connect(quick_server.ws_url + "/can", additional_headers=browser) as frames:
            stream.send(json.dumps({"type": "subscribe", "all": True}))
            assert json.loads(stream.recv(timeout=5))["type"] == "snapshot"
            assert tablet.post("/api/v2/auth/sign-out-everywhere").status_code == 204
            assert tablet.get("/api/v2/safety").status_code == 401
            assert laptop.get("/api/v2/safety").status_code == 401
            # The laptop's open streams end too: a signed-out device stops seeing the coach.
            for socket in (stream, frames):
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        socket.recv(timeout=5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    actions = [(e[0].split(" ")[0], e[1]) for e in quick_server.audit()]
    assert ("user:otto", "auth.sign_out") in actions and ("user:otto", "auth.sign_out_everywhere") in actions


def test_revocation_by_admin_and_by_the_command_line_while_running(quick_server: AuthServer) -> None:
    env = clean_env(COACHIQ_DATA_DIR=str(quick_server.data_dir))
    with quick_server.signed_in("ada") as admin, quick_server.signed_in("vic") as viewer:
        assert admin.post("/api/v2/auth/users/vic/sign-out").status_code == 204
        assert viewer.get("/api/v2/safety").status_code == 401
        created = admin.post("/api/v2/auth/tokens", json={"name": "script", "scope": "read"})
        assert created.status_code == 201
        token = created.json()["token"]
        token_id = created.json()["id"]
        with quick_server.client(token) as script:
            assert script.get("/api/v2/safety").status_code == 200
            assert admin.delete(f"/api/v2/auth/tokens/{token_id}").status_code == 204
            assert script.get("/api/v2/safety").status_code == 401
    # A token made by the command line works at once; revoked there, it stops within the refresh interval.
    cli_token = run_cli("token", "create", "--name", "cron", "--scope", "read", env=env).stdout.splitlines()[-1]
    with quick_server.client(cli_token) as cron:
        assert cron.get("/api/v2/safety").status_code == 200
        assert run_cli("token", "revoke", "cron", env=env).returncode == 0
        _until(lambda: cron.get("/api/v2/safety").status_code == 401, timeout=5)


def test_sign_in_back_off_with_retry_after(quick_server: AuthServer) -> None:
    with quick_server.client() as guesser:
        def attempt(password: str) -> httpx.Response:
            return guesser.post("/api/v2/auth/sign-in", json={"name": "ada", "password": password})

        assert [attempt(f"guess-{i}").status_code for i in range(3)] == [401, 401, 401]
        assert attempt("guess-3").status_code == 401  # the fourth failure starts the back-off
        throttled = attempt("guess-4")
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) >= 1
        # Even the right password waits: the password is not looked at during a back-off.
        right = attempt(PASSWORDS["ada"])
        assert right.status_code == 429
        _until(lambda: attempt(PASSWORDS["ada"]).status_code == 200, timeout=5)
    audit = [e for e in quick_server.audit() if e[1] == "auth.sign_in"]
    assert [e[3] for e in audit[:5]] == ["refused", "refused", "refused", "refused", "throttled"]
    assert all(e[0] == "127.0.0.1" and e[2] == "user:ada" for e in audit[:5])
    assert audit[-1][3] == "done" and audit[-1][0].startswith("user:ada (127.0.0.1)")


def test_pairing_code_once_within_its_time_and_only_for_admins(quick_server: AuthServer) -> None:
    with quick_server.signed_in("otto") as operator:
        assert operator.post("/api/v2/auth/pairing", json={"role": "operator"}).status_code == 403
    with quick_server.signed_in("ada") as admin:
        made = admin.post("/api/v2/auth/pairing", json={"role": "operator"}, headers={"Origin": quick_server.url})
        assert made.status_code == 201
        body = made.json()
        assert len(body["code"]) == 6 and body["code"].isdigit() and body["role"] == "operator"
        assert body["url"] == f"{quick_server.url}/#pair={body['code']}"
        assert body["qr_svg"].startswith("data:image/svg+xml")
    with quick_server.client() as phone:
        paired = phone.post("/api/v2/auth/pair", json={"code": body["code"], "device": "annas-phone"})
        assert paired.status_code == 200, paired.text
        assert paired.json() == {"name": "annas-phone", "role": "operator", "kind": "session"}
        assert phone.post("/api/v2/entities/light.galley_ceiling/commands",
                          json={"command": "turn_off"}).status_code == 200
    with quick_server.client() as second:
        again = second.post("/api/v2/auth/pair", json={"code": body["code"]})
        assert again.status_code == 401 and "unknown, used or expired" in again.json()["detail"]
    actions = [(e[1], e[2], e[3]) for e in quick_server.audit()]
    assert ("auth.pairing_code", "role:operator", "done") in actions
    assert ("auth.pair", "user:annas-phone", "done") in actions


def test_first_admin_from_loopback_only_while_no_user_exists(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env=AUTH_ENV)
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert client.get("/api/v2/auth/session").json()["setup_needed"] is True
            proxied = client.post("/api/v2/auth/setup", json={"name": "owner", "password": "owner-password-1"},
                                  headers={"X-Forwarded-For": "192.168.1.20"})
            assert proxied.status_code == 403
            assert client.post("/api/v2/auth/setup", json={"name": "owner", "password": "short"}).status_code == 422
            made = client.post("/api/v2/auth/setup", json={"name": "owner", "password": "owner-password-1"})
            assert made.status_code == 200 and made.json()["role"] == "admin"
            assert client.get("/api/v2/auth/users").status_code == 200  # signed in by the set-up
            with httpx.Client(base_url=server.base_url, timeout=10) as other:
                assert other.get("/api/v2/auth/session").json()["setup_needed"] is False
                second = other.post("/api/v2/auth/setup", json={"name": "mallory", "password": "mallory-pass-1"})
                assert second.status_code == 409
    finally:
        server.stop()


def test_passwords_never_in_logs_or_the_database(quick_server: AuthServer) -> None:
    secret = PASSWORDS["otto"]
    wrong = "a-wrong-password-for-the-log"
    with quick_server.client() as client:
        client.post("/api/v2/auth/sign-in", json={"name": "otto", "password": wrong})
        client.post("/api/v2/auth/sign-in", json={"name": "otto", "password": secret})
        client.post("/api/v2/auth/sign-in", json={"name": wrong, "password": secret})
    with quick_server.signed_in("ada") as admin:
        admin.post("/api/v2/auth/users", json={"name": "newbie", "role": "viewer", "password": "newbie-password-9"})
        admin.post("/api/v2/auth/users/newbie/password", json={"password": "newbie-password-10"})
    quick_server.server.stop()
    files = [p for p in quick_server.data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "coachiq.log" for p in files) and any(p.name == "coachiq.db" for p in files)
    everything = b"".join(p.read_bytes() for p in files)
    everything += (quick_server.server.output + quick_server.server.errors).encode()
    for password in (secret, "newbie-password-9", "newbie-password-10", *PASSWORDS.values()):
        assert password.encode() not in everything, password


def test_secure_cookie_under_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
    data_dir = tmp_path / "data"
    from tests.features.authentication.conftest import add_user

    add_user(data_dir, "ada", "admin", PASSWORDS["ada"])
    server = start_server(data_dir, "--tls-cert", str(cert), "--tls-key", str(key), env=AUTH_ENV, wait_ready=False)
    server.base_url = server.base_url.replace("http://", "https://")
    try:
        with httpx.Client(base_url=server.base_url, verify=False, timeout=10) as client:
            def ready() -> bool:
                try:
                    return client.get("/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            _until(ready, timeout=30)
            response = client.post("/api/v2/auth/sign-in", json={"name": "ada", "password": PASSWORDS["ada"]})
            assert response.status_code == 200
            assert "secure" in response.headers["set-cookie"].lower()
    finally:
        server.stop()
