"""A started server carries no optional heavy modules it does not use (they cost resident memory).

The server is `coachiq serve` as an owner runs it (command line included), on the simulated coach. A
thread inside its process waits for /readyz, prints which of the watched modules are imported, then
stops the server with SIGTERM.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import clean_env, free_port

HEAVY = ("argon2", "_cffi_backend", "segno", "aiomqtt", "paho", "paho.mqtt.client",
         "coachiq.features.authentication", "coachiq.features.mqtt", "pydantic.v1",
         "alembic", "alembic.runtime.migration",  # migrations run in a child process, even on a first start
         # the entity models: built when the OpenAPI document is first asked for, not at start
         "coachiq.api.v2.entity_models")

SERVE_AND_REPORT = r"""
import json, os, signal, sys, threading, time, urllib.request

port, watched = sys.argv[1], sys.argv[2:]

def report():
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.05)
    else:
        print("REPORT never ready", flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    print("REPORT " + json.dumps([name for name in watched if sys.modules.get(name) is not None]), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=report, daemon=True).start()
from coachiq.cli import main
sys.exit(main(["serve", "--port", port]))
"""


def _loaded_after_start(data_dir: Path, **features: str) -> list[str]:
    env = clean_env(COACHIQ_DATA_DIR=str(data_dir), **features)
    result = subprocess.run([sys.executable, "-c", SERVE_AND_REPORT, str(free_port()), *HEAVY], env=env,
                            capture_output=True, text=True, timeout=120)
    reports = [line[len("REPORT "):] for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert reports, f"no report (exit {result.returncode}): {result.stdout}\n{result.stderr}"
    assert reports[-1] != "never ready", result.stderr
    loaded: list[str] = json.loads(reports[-1])
    return loaded


def test_a_server_with_the_optional_features_off_imports_none_of_their_modules(tmp_path: Path) -> None:
    assert not (tmp_path / "coachiq.db").exists()  # a first start: the database is created
    assert _loaded_after_start(tmp_path) == []


@pytest.mark.parametrize("features", [
    {"COACHIQ_FEATURE_AUTHENTICATION": "true"},
    {"COACHIQ_FEATURE_AUTHENTICATION": "true", "COACHIQ_FEATURE_J1939": "true",
     "COACHIQ_FEATURE_SPARTAN_K2": "true"},
], ids=["authentication", "authentication-j1939-spartan_k2"])
def test_authentication_loads_argon2_and_segno_only_when_used(tmp_path: Path, features: dict[str, str]) -> None:
    # argon2 is imported at the first sign-in (or password change), segno at the first pairing code;
    # mqtt stays off, so neither its client nor the feature's code is imported.
    assert _loaded_after_start(tmp_path, **features) == ["coachiq.features.authentication"]
