"""Shared test helpers: free ports, a real server subprocess, an in-process server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from coachiq.app import create_app
from coachiq.features.manager import IMPLEMENTATIONS, FeatureDefinition
from coachiq.runtime import Runtime
from coachiq.settings import Settings

COACHIQ = [sys.executable, "-m", "coachiq.cli"]


async def wait_for(condition: Callable[[], Any], timeout: float = 5.0, step: float = 0.01) -> Any:
    """Poll `condition` in the event loop until it is truthy and return it; fail after `timeout` s.

    `condition` may be a coroutine function (an async health check, a database query): it is awaited.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any COACHIQ_* variable of the caller, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHIQ_")}
    env.update(extra)
    return env


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `coachiq ARGS` as a subprocess and capture its output."""
    return subprocess.run([*COACHIQ, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(env) if env is not None else clean_env())


@dataclass
class ServerProcess:
    """A `coachiq serve` subprocess on 127.0.0.1."""

    process: subprocess.Popen[str]
    base_url: str
    data_dir: Path
    output: str = ""
    errors: str = ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Stop the server by its PID and return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.output, self.errors = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.output, self.errors = self.process.communicate(timeout=5)
        return self.process.returncode


def start_server(data_dir: Path, *extra_args: str, env: Mapping[str, str] | None = None,
                 wait_ready: bool = True, timeout: float = 30) -> ServerProcess:
    """Start `coachiq serve` on a free port and wait until /readyz answers 200."""
    port = free_port()
    environment = clean_env(COACHIQ_DATA_DIR=str(data_dir), **(dict(env) if env else {}))
    process = subprocess.Popen([*COACHIQ, "serve", "--port", str(port), *extra_args], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server = ServerProcess(process, f"http://127.0.0.1:{port}", data_dir)
    if wait_ready:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                out, err = process.communicate()
                raise AssertionError(f"server exited with {process.returncode}: {err}{out}")
            try:
                if httpx.get(server.base_url + "/readyz", timeout=1).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        server.stop(signal.SIGKILL)
        raise AssertionError("server did not become ready in time")
    return server


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running server subprocess with its own data folder; stopped by PID afterwards."""
    server = start_server(tmp_path / "data")
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def running_server(settings: Settings, features: list[FeatureDefinition],
                         implementations: Mapping[str, str] = IMPLEMENTATIONS) -> AsyncIterator[tuple[str, Runtime]]:
    """Run a full server (core, features, HTTP on 127.0.0.1) inside the test's event loop."""
    runtime = Runtime(settings, features, implementations)
    app = create_app(runtime)
    await runtime.core.start()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None,
                                           access_log=False, ws="websockets-sansio"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        await runtime.start_features()
        yield f"http://127.0.0.1:{port}", runtime
    finally:
        server.should_exit = True
        await task
        await runtime.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh data folder and fast timers."""
    return Settings(data_dir=tmp_path / "data", flush_interval=0.2, health_interval=0.5, feature_timeout=2)
