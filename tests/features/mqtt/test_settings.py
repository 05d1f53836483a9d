"""The mqtt feature's settings: the broker URL, topic prefixes, and `coachiq config check`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from coachiq.core.errors import ConfigError
from coachiq.features.manager import load_feature_config
from coachiq.features.mqtt.settings import MqttSettings, parse_broker_url
from tests.conftest import clean_env, run_cli


def test_broker_urls() -> None:
    plain = parse_broker_url("mqtt://broker.local")
    assert (plain.tls, plain.host, plain.port, plain.username, plain.password) == (False, "broker.local", 1883,
                                                                                   None, None)
    secure = parse_broker_url("mqtts://ha:s%40cret@10.0.0.2:8884")
    assert (secure.tls, secure.host, secure.port, secure.username, secure.password) == (True, "10.0.0.2", 8884, "ha",
                                                                                        "s@cret")
    assert parse_broker_url("mqtts://ha@host").port == 8883
    assert secure.safe_url == "mqtts://ha@10.0.0.2:8884"  # never the password
    assert parse_broker_url("mqtt://[::1]:1884").safe_url == "mqtt://[::1]:1884"


@pytest.mark.parametrize(("url", "message"), [
    ("http://host", "must start with mqtt:// or mqtts://"),
    ("host:1883", "must start with mqtt://"),
    ("mqtt://", "names no host"),
    ("mqtt://host:99999", "not a valid URL"),
    ("mqtt://host/topic", "must not have a path"),
    ("mqtt://:pw@host", "password but no user name"),
])
def test_bad_broker_urls_say_what_to_write(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_broker_url(url)


def test_environment_beats_the_feature_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACHIQ_MQTT_TOPIC_PREFIX", "fleet/east")
    settings = MqttSettings(topic_prefix="file", discovery_prefix="ha")
    assert settings.topic_prefix == "fleet/east" and settings.discovery_prefix == "ha"
    assert settings.position_critical_commands is False  # off unless the owner turns it on


@pytest.mark.parametrize(("key", "value", "message"), [
    ("discovery_prefix", "home/#", "without wildcards"),
    ("topic_prefix", "/coachiq", "leading or trailing"),
    ("node_id", "my coach", "NODE_ID"),
    ("protocol", "4", "'3.1.1' or '5'"),
    ("motion_duration_s", 600, "less than or equal to 60"),
])
def test_bad_settings_are_refused(key: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttSettings(**{key: value})


def test_config_check_validates_the_mqtt_settings_when_the_feature_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACHIQ_MQTT_URL", "mqtt://user:topsecret@host/path")
    monkeypatch.setenv("COACHIQ_MQTT_NODE_ID", "bad id")
    with pytest.raises(ConfigError) as caught:
        load_feature_config(environ={"COACHIQ_FEATURE_MQTT": "true"})
    text = str(caught.value)
    assert "feature 'mqtt' setting 'url'" in text and "must not have a path" in text
    assert "feature 'mqtt' setting 'node_id'" in text
    assert "topsecret" not in text  # a password never reaches the output
    load_feature_config(environ={})  # the feature off: its settings are not its concern


def test_config_check_cli_reports_a_bad_mqtt_url() -> None:
    bad = run_cli("config", "check", env=clean_env(COACHIQ_FEATURE_MQTT="true", COACHIQ_MQTT_URL="http://host"))
    assert bad.returncode != 0
    assert "feature 'mqtt' setting 'url'" in bad.stderr + bad.stdout
    assert "COACHIQ_MQTT_URL must start with mqtt:// or mqtts://" in bad.stderr + bad.stdout
    good = run_cli("config", "check", env=clean_env(COACHIQ_FEATURE_MQTT="true",
                                                    COACHIQ_MQTT_URL="mqtts://ha:pw@127.0.0.1:8883"))
    assert good.returncode == 0, good.stderr
