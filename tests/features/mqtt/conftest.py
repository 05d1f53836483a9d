"""A real Mosquitto on a free loopback port, and an MQTT client that watches it as Home Assistant would."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.conftest import free_port

MOSQUITTO = "/usr/sbin/mosquitto"


def require_mosquitto() -> str:
    """The broker's path; a skip without it, except in CI where it is a failure."""
    path = MOSQUITTO if os.access(MOSQUITTO, os.X_OK) else shutil.which("mosquitto")
    if path is None:
        reason = "Mosquitto is not installed (Debian package mosquitto; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


class Broker:
    """A Mosquitto process listening on 127.0.0.1 only, configured by a file in a temporary folder."""

    def __init__(self, folder: Path, extra_config: str = "", listener: str = "") -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.extra_config = extra_config
        self.listener = listener
        self.process: subprocess.Popen[bytes] | None = None
        self.executable = require_mosquitto()

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        config = self.folder / "mosquitto.conf"
        # Started as root, mosquitto would switch to its own user, who cannot read the test's folder.
        lines = [f"user {getpass.getuser()}", f"listener {self.port} 127.0.0.1", self.listener, "persistence false",
                 "allow_anonymous true" if "password_file" not in self.extra_config else "", self.extra_config,
                 f"log_dest file {self.folder / 'mosquitto.log'}"]
        config.write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")
        self.process = subprocess.Popen([self.executable, "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                errors = self.process.stderr.read().decode() if self.process.stderr else ""
                self.stop()
                raise AssertionError(f"mosquitto exited: {errors}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("mosquitto did not listen within 10 s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the broker by its PID."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    @property
    def url(self) -> str:
        """mqtt://127.0.0.1:<port>."""
        return f"mqtt://127.0.0.1:{self.port}"


@dataclass
class Received:
    """One message as a subscriber got it."""

    topic: str
    payload: bytes
    retain: bool
    at: float

    def json(self) -> Any:
        """The payload as JSON."""
        return json.loads(self.payload)


class Watcher:
    """A paho client subscribed to topics, keeping every message it receives."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("#",), username: str | None = None,
                 password: str | None = None) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_message = self._on_message
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        for topic in topics:
            self._subscribed.clear()
            self.client.subscribe(topic, qos=1)
            if not self._subscribed.wait(5):
                raise AssertionError(f"could not subscribe to {topic}")

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain), time.time()))

    def seen(self, since: int = 0) -> list[Received]:
        """Messages received so far (from index `since`)."""
        with self._lock:
            return list(self.messages[since:])

    def wait(self, predicate: Callable[[Received], bool], timeout: float = 10.0, since: int = 0) -> Received:
        """The first message (from index `since`) for which predicate is true; fail after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.seen(since):
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                topics = sorted({m.topic for m in self.seen(since)})[:20]
                raise AssertionError(f"no matching message within {timeout} s; topics seen: {topics}")
            time.sleep(0.02)

    def mark(self) -> int:
        """The index of the next message: wait(..., since=mark()) sees only newer ones."""
        with self._lock:
            return len(self.messages)

    def latest(self, topic: str) -> Received | None:
        """The newest message on a topic."""
        for message in reversed(self.seen()):
            if message.topic == topic:
                return message
        return None

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Publish at QoS 1 and wait until the broker has it."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A Mosquitto for the module's tests."""
    running = Broker(tmp_path_factory.mktemp("mosquitto"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll check() until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.05)
