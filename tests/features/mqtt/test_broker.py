"""End to end against a real Mosquitto: a `coachiq serve` process with the mqtt feature on, and a client
subscribed as Home Assistant would be."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coachiq.entities.mapping import load_coach
from coachiq.features.mqtt.discovery import Discovery, Topics
from tests.conftest import ServerProcess, start_server
from tests.e2e.conftest import parked, require_simulated_coach
from tests.features.mqtt.conftest import Broker, Watcher, wait_until
from tests.features.mqtt.ha_schema import problems, render

NODE = "testcoach"
BASE = f"coachiq/{NODE}"
TOPICS = Topics("homeassistant", "coachiq", NODE)


def server_env(broker: Broker, **extra: str) -> dict[str, str]:
    """Environment of a server on the simulated Class A coach with the mqtt feature on."""
    return {"COACHIQ_COACH": "class_a_diesel", "COACHIQ_FLUSH_INTERVAL": "0.2", "COACHIQ_FEATURE_MQTT": "true",
            "COACHIQ_MQTT_URL": broker.url, "COACHIQ_MQTT_NODE_ID": NODE, **extra}


def expected_configs() -> dict[str, Any]:
    """Every config topic the simulated coach should announce, with its announcement."""
    mapping = load_coach("class_a_diesel")
    discovery = Discovery(TOPICS, mapping.coach, mapping.description, "x")
    return {discovery.config_topic(a): a for a in discovery.all(mapping.entities.values())}


def mqtt_health(server: ServerProcess) -> dict[str, str]:
    """The mqtt feature's entry in /health."""
    feature: dict[str, str] = httpx.get(server.base_url + "/health").json()["features"]["mqtt"]
    return feature


def connected(server: ServerProcess) -> bool:
    """True once /health shows the broker connected."""
    return mqtt_health(server)["detail"].startswith("connected to")


@pytest.fixture(scope="module")
def server(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with position-critical commands from MQTT allowed, parked with the park brake set."""
    running = start_server(tmp_path_factory.mktemp("mqtt-e2e") / "data",
                           env=server_env(broker, COACHIQ_MQTT_POSITION_CRITICAL_COMMANDS="true"))
    try:
        require_simulated_coach(running)
        wait_until(lambda: parked(running))
        wait_until(lambda: connected(running))
        yield running
    finally:
        running.stop()


@pytest.fixture
def ha(broker: Broker) -> Iterator[Watcher]:
    """A client subscribed to discovery and to CoachIQ's topics."""
    watcher = Watcher(broker.port, ("homeassistant/#", "coachiq/#"))
    try:
        yield watcher
    finally:
        watcher.close()


def result_on(ha: Watcher, entity_path: str, since: int, timeout: float = 10.0) -> dict[str, Any]:
    """The next command result of an entity."""
    message = ha.wait(lambda m: m.topic == f"{BASE}/{entity_path}/result", timeout, since)
    data: dict[str, Any] = message.json()
    return data


def test_home_assistant_discovers_every_entity_with_valid_configs_and_states(server: ServerProcess, ha: Watcher,
                                                                              broker: Broker) -> None:
    expected = expected_configs()
    state_topics = {TOPICS.state(e) for e in load_coach("class_a_diesel").entities} | {f"{BASE}/safety/state"}
    wait_until(lambda: expected.keys() | state_topics <= {m.topic for m in ha.seen()})
    status = ha.latest(f"{BASE}/status")
    assert status is not None and status.payload == b"online" and status.retain
    # Someone subscribing now (Home Assistant starting later) gets every config and state retained.
    late = Watcher(broker.port, ("homeassistant/#", f"{BASE}/#"))
    try:
        wait_until(lambda: expected.keys() | state_topics <= {m.topic for m in late.seen() if m.retain})
        retained = {m.topic: m for m in late.seen()}
    finally:
        late.close()
    configs = {t: m for t, m in retained.items() if t.endswith("/config")}
    assert configs.keys() == expected.keys()
    for topic, message in configs.items():
        config = message.json()
        component = topic.split("/")[1]
        assert problems(component, config) == [], (topic, config)
        assert config["unique_id"] == expected[topic].config["unique_id"]
        assert config["device"]["identifiers"] == [f"coachiq_{NODE}"]
    # Every template renders on the real retained state to a value Home Assistant accepts.
    for topic, message in configs.items():
        config = message.json()
        if not _state_topic(config):
            continue  # the emergency stop button
        component = topic.split("/")[1]
        state = retained[_state_topic(config)]
        for key, template in config.items():
            if not key.endswith("template"):
                continue
            try:
                value = render(template, state.payload)
            except Exception as exc:
                raise AssertionError((topic, key, state.payload)) from exc
            if key == "json_attributes_template":
                assert isinstance(json.loads(value), dict), (topic, value)
                continue
            allowed = _allowed(component, key, config)
            if allowed is not None:
                assert value in allowed, (topic, key, value)
        for entry in config["availability"][1:]:
            assert render(entry["value_template"], state.payload) in ("online", "offline")


def _state_topic(config: dict[str, Any]) -> str:
    topic: str = config.get("state_topic") or config.get("mode_state_topic") or ""
    return topic


def _allowed(component: str, key: str, config: dict[str, Any]) -> set[str] | None:
    if key == "mode_state_template":
        return set(config["modes"])
    if key == "fan_mode_state_template":
        return {*config["fan_modes"], "None"}
    if component in ("switch", "binary_sensor") or (component == "fan" and key == "state_value_template"):
        return {"ON", "OFF", "None"}
    if component == "lock":
        return {"LOCKED", "UNLOCKED", "None"}
    if component == "cover" and key == "value_template":
        return {"opening", "closing", "stopped", "None"}
    return None


def test_light_command_is_confirmed_by_the_echo_and_published_back(server: ServerProcess, ha: Watcher) -> None:
    mark = ha.mark()
    ha.publish(f"{BASE}/light/bedroom_ceiling/set", json.dumps({"state": "ON", "brightness": 35}))
    result = result_on(ha, "light/bedroom_ceiling", mark)
    assert result["status"] == "confirmed" and result["command"] == "set_brightness", result
    assert result["state"]["on"] is True and result["state"]["brightness"] == 35.0
    state = ha.wait(lambda m: m.topic == f"{BASE}/light/bedroom_ceiling/state" and m.json()["state"] == "ON",
                    since=mark).json()
    assert state["brightness"] == 35.0 and state["available"] is True and state["color_mode"] == "brightness"
    entity = httpx.get(server.base_url + "/api/v2/entities/light.bedroom_ceiling").json()
    assert entity["state"]["on"] is True
    # The generic command topic, with an id to match the answer.
    mark = ha.mark()
    ha.publish(f"{BASE}/light/bedroom_ceiling/command", json.dumps({"command": "turn_off", "id": "a1"}))
    result = result_on(ha, "light/bedroom_ceiling", mark)
    assert result["id"] == "a1" and result["status"] == "confirmed" and result["state"]["on"] is False


def test_slide_command_while_driving_is_refused_and_reported(server: ServerProcess, ha: Watcher) -> None:
    base = server.base_url
    try:
        assert httpx.post(base + "/api/v2/sim/chassis", json={"moving": True, "park_brake": False}).is_success
        wait_until(lambda: httpx.get(base + "/api/v2/safety").json()["vehicle_state"] == "moving")
        safety = ha.wait(lambda m: m.topic == f"{BASE}/safety/state" and m.json()["vehicle_state"] == "moving")
        assert safety.json()["interlocks"]["slides_awnings_allowed"] is False
        mark = ha.mark()
        ha.publish(f"{BASE}/slide/galley/set", "OPEN")
        result = result_on(ha, "slide/galley", mark)
        assert result["status"] == "refused" and "moving" in result["reason"], result
        assert httpx.get(base + "/api/v2/entities/slide.galley").json()["state"].get("motion") in (None, "stopped")
    finally:
        httpx.post(base + "/api/v2/sim/chassis", json={"moving": False, "park_brake": True})
        wait_until(lambda: parked(server), timeout=30)


def test_malformed_and_oversized_payloads_are_rejected_and_change_nothing(server: ServerProcess,
                                                                          ha: Watcher) -> None:
    before = httpx.get(server.base_url + "/api/v2/entities/light.galley_ceiling").json()["state"]
    mark = ha.mark()
    bad = [("light/galley_ceiling/set", b"{not json"),
           ("light/galley_ceiling/set", json.dumps({"state": "ON", "brightness": 20, "pad": "x" * 8000}).encode()),
           ("light/galley_ceiling/command", b'{"command": "turn_on", "params": "bright"}'),
           ("light/galley_ceiling/set", b'{"state": "ON", "brightness": -5}')]
    for path, payload in bad:
        ha.publish(f"{BASE}/{path}", payload)
    topic = f"{BASE}/light/galley_ceiling/result"
    wait_until(lambda: len([m for m in ha.seen(mark) if m.topic == topic]) >= len(bad))
    results = [m.json() for m in ha.seen(mark) if m.topic == topic]
    assert [r["status"] for r in results] == ["rejected"] * 4
    reasons = [r["reason"] for r in results]
    assert "not valid JSON" in reasons[0] and "over the limit of 4096 bytes" in reasons[1]
    assert "`params`" in reasons[2] and "0..100" in reasons[3]
    log = server.data_dir / "logs" / "coachiq.log"
    wait_until(lambda: "MQTT message on coachiq/testcoach/light/galley_ceiling/set rejected: the payload is not "
                       "valid JSON" in log.read_text())
    assert httpx.get(server.base_url + "/api/v2/entities/light.galley_ceiling").json()["state"] == before
    assert httpx.get(server.base_url + "/healthz").status_code == 200


def test_emergency_stop_button_sets_the_stop_and_the_safe_state_is_published(server: ServerProcess,
                                                                             ha: Watcher) -> None:
    mark = ha.mark()
    try:
        ha.publish(f"{BASE}/safety/emergency_stop/set", "PRESS")
        result = ha.wait(lambda m: m.topic == f"{BASE}/safety/result", since=mark).json()
        assert result["status"] == "confirmed"
        state = ha.wait(lambda m: m.topic == f"{BASE}/safety/state" and m.json()["emergency_stop"], since=mark)
        assert state.json()["safe_state"] is True and state.retain is False
        mark = ha.mark()
        ha.publish(f"{BASE}/awning/patio/set", "OPEN")
        refused = result_on(ha, "awning/patio", mark)
        assert refused["status"] == "refused" and "emergency" in refused["reason"]
    finally:
        assert httpx.post(server.base_url + "/api/v2/safety/emergency-stop/clear").json()["emergency_stop"] is False
    ha.wait(lambda m: m.topic == f"{BASE}/safety/state" and not m.json()["emergency_stop"], since=mark)


def test_health_shows_the_broker_connection(server: ServerProcess, broker: Broker) -> None:
    feature = mqtt_health(server)
    assert feature["status"] == "running"
    assert feature["detail"].startswith(f"connected to mqtt://127.0.0.1:{broker.port} as coachiq-{NODE} (MQTT 5)")


# --- broker restarts, the last will, entities removed, and the default refusal of motion ----------

@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of the test's own, which the test may restart."""
    running = Broker(tmp_path / "mosquitto")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_broker_restart_reconnects_and_configs_are_sent_again_on_home_assistant_birth(
        own_broker: Broker, tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env=server_env(own_broker))
    try:
        wait_until(lambda: connected(server))
        own_broker.stop()
        wait_until(lambda: not connected(server))
        report = httpx.get(server.base_url + "/health").json()
        assert report["status"] == "degraded" and report["features"]["mqtt"]["status"] == "unhealthy"
        assert "not connected to" in report["features"]["mqtt"]["detail"]
        own_broker.start()  # same port, nothing retained: everything must be published again
        wait_until(lambda: connected(server), timeout=40)
        ha = Watcher(own_broker.port, ("homeassistant/#", "coachiq/#"))
        try:
            expected = expected_configs()
            wait_until(lambda: expected.keys() <= {m.topic for m in ha.seen()})
            status = ha.latest(f"{BASE}/status")
            assert status is not None and status.payload == b"online"
            mark = ha.mark()
            ha.publish("homeassistant/status", "online")  # Home Assistant restarted
            wait_until(lambda: expected.keys() <= {m.topic for m in ha.seen(mark)})
        finally:
            ha.close()
    finally:
        server.stop()


def test_last_will_marks_coachiq_offline_when_the_server_is_killed(own_broker: Broker, tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env=server_env(own_broker))
    ha = Watcher(own_broker.port, (f"{BASE}/status",))
    try:
        ha.wait(lambda m: m.payload == b"online")
        mark = ha.mark()
        server.stop(signal.SIGKILL)
        offline = ha.wait(lambda m: m.payload == b"offline", since=mark)
        assert offline.topic == f"{BASE}/status"
    finally:
        ha.close()
        server.stop()
    late = Watcher(own_broker.port, (f"{BASE}/status",))  # someone arriving later sees it retained
    try:
        assert late.wait(lambda m: m.retain).payload == b"offline"
    finally:
        late.close()


def test_removed_entities_are_cleared_and_motion_is_off_by_default(own_broker: Broker, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data, env=server_env(own_broker))
    porch = "homeassistant/light/testcoach/light_porch/config"
    try:
        wait_until(lambda: connected(first))
    finally:
        assert first.stop() == 0
    coach_file = tmp_path / "coach.yaml"
    coach_file.write_text("remove: [light.porch]\n", encoding="utf-8")
    ha = Watcher(own_broker.port, ("homeassistant/light/#", f"{BASE}/slide/#"))
    try:
        assert ha.wait(lambda m: m.topic == porch).payload  # retained from the first run
        mark = ha.mark()
        second = start_server(data, env=server_env(own_broker, COACHIQ_COACH_FILE=str(coach_file)))
        try:
            cleared = ha.wait(lambda m: m.topic == porch, since=mark)
            assert cleared.payload == b"" and cleared.retain is False  # a live delivery of the deletion
            mark = ha.mark()
            ha.publish(f"{BASE}/slide/galley/set", "OPEN")
            result = ha.wait(lambda m: m.topic == f"{BASE}/slide/galley/result", since=mark).json()
            assert result["status"] == "refused"
            assert "COACHIQ_MQTT_POSITION_CRITICAL_COMMANDS" in result["reason"]
            mark = ha.mark()
            ha.publish(f"{BASE}/slide/galley/set", "STOP")  # stopping is always allowed
            assert ha.wait(lambda m: m.topic == f"{BASE}/slide/galley/result", since=mark).json()["status"] \
                in ("confirmed", "timed_out")
        finally:
            second.stop()
    finally:
        ha.close()
    fresh = Watcher(own_broker.port, ("homeassistant/light/#",))
    try:
        fresh.wait(lambda m: m.topic.endswith("light_galley_ceiling/config"))
        assert porch not in {m.topic for m in fresh.seen()}
    finally:
        fresh.close()


def test_username_password_and_mqtt_3_1_1(tmp_path: Path) -> None:
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "coach", "s3cret"], check=True,
                   capture_output=True)
    secured = Broker(tmp_path / "mosquitto", extra_config=f"allow_anonymous false\npassword_file {passwords}")
    secured.start()
    try:
        wrong = start_server(tmp_path / "a", env=server_env(
            secured, COACHIQ_MQTT_URL=f"mqtt://coach:nope@127.0.0.1:{secured.port}"))
        try:
            wait_until(lambda: "authori" in mqtt_health(wrong)["detail"].lower())
            detail = mqtt_health(wrong)["detail"]
            assert "nope" not in detail and "s3cret" not in detail and "not connected to" in detail
        finally:
            wrong.stop()
        right = start_server(tmp_path / "b", env=server_env(
            secured, COACHIQ_MQTT_URL=f"mqtt://coach:s3cret@127.0.0.1:{secured.port}", COACHIQ_MQTT_PROTOCOL="3.1.1"))
        try:
            wait_until(lambda: connected(right))
            assert "(MQTT 3.1.1)" in mqtt_health(right)["detail"]
            ha = Watcher(secured.port, (f"{BASE}/light/#",), username="coach", password="s3cret")
            try:
                ha.wait(lambda m: m.topic.endswith("/state"))
            finally:
                ha.close()
        finally:
            right.stop()
    finally:
        secured.stop()


def test_tls_with_a_private_ca(tmp_path: Path) -> None:
    ca_key, ca, key, csr, cert = (tmp_path / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    extensions = tmp_path / "ext.cnf"
    extensions.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n", encoding="ascii")
    for command in (
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=CoachIQ test CA"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", extensions],
    ):
        subprocess.run([str(c) for c in command], check=True, capture_output=True)
    secure = Broker(tmp_path / "mosquitto", extra_config=f"cafile {ca}\ncertfile {cert}\nkeyfile {key}")
    secure.start()
    try:
        server = start_server(tmp_path / "data", env=server_env(
            secure, COACHIQ_MQTT_URL=f"mqtts://localhost:{secure.port}", COACHIQ_MQTT_CA_FILE=str(ca)))
        try:
            wait_until(lambda: connected(server))
            assert mqtt_health(server)["detail"].startswith(f"connected to mqtts://localhost:{secure.port}")
        finally:
            server.stop()
    finally:
        secure.stop()


def test_motion_started_over_mqtt_stops_when_the_broker_connection_is_lost(own_broker: Broker,
                                                                           tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env=server_env(own_broker, COACHIQ_MQTT_POSITION_CRITICAL_COMMANDS="true",
                                                            COACHIQ_MQTT_MOTION_DURATION_S="30"))
    ha = Watcher(own_broker.port, (f"{BASE}/slide/#",))
    try:
        require_simulated_coach(server)
        wait_until(lambda: parked(server))
        wait_until(lambda: connected(server))
        mark = ha.mark()
        ha.publish(f"{BASE}/slide/bedroom/set", "OPEN")
        result = ha.wait(lambda m: m.topic == f"{BASE}/slide/bedroom/result", since=mark).json()
        assert result["status"] == "confirmed", result

        def motion() -> str | None:
            value: str | None = httpx.get(server.base_url + "/api/v2/entities/slide.bedroom").json()["state"].get(
                "motion")
            return value

        assert motion() == "extending"
        ha.close()
        own_broker.stop()  # the controlling client is gone: the slide must not run on for 30 s
        wait_until(lambda: motion() == "stopped", timeout=10)
    finally:
        server.stop()
