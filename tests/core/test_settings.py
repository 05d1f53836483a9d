"""Settings: environment, config file, validation messages, and core services that cannot be disabled."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachiq.core.errors import ConfigError
from coachiq.settings import load_settings
from tests.conftest import clean_env, run_cli


def test_defaults_listen_on_loopback() -> None:
    settings = load_settings(environ={})
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert not settings.listens_beyond_loopback
    assert settings.simulated


def test_environment_beats_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "coachiq.yaml"
    config.write_text("port: 9000\nflush_interval: 2\n")
    monkeypatch.setenv("COACHIQ_PORT", "9100")
    settings = load_settings(config)
    assert settings.port == 9100
    assert settings.flush_interval == 2


def test_bad_value_names_key_value_and_what_is_allowed(tmp_path: Path) -> None:
    config = tmp_path / "coachiq.yaml"
    config.write_text("port: 70000\nlog_level: loud\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    text = str(caught.value)
    assert "'port' = 70000 is not allowed" in text and "less than or equal to 65535" in text
    assert "'log_level' = 'loud'" in text and "'debug', 'info', 'warning' or 'error'" in text


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "coachiq.yaml"
    config.write_text("prot: 8080\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(config, environ={})


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "coachiq.yaml"
    config.write_text("port: 8080\nhost: [unclosed\n")
    with pytest.raises(ConfigError, match="line 3"):
        load_settings(config, environ={})


@pytest.mark.parametrize("content", ["persistence: {enabled: false}", "database:\n  enabled: false",
                                     "can_interface: false", "websocket: {enabled: false}"])
def test_config_file_cannot_disable_a_core_service(tmp_path: Path, content: str) -> None:
    config = tmp_path / "coachiq.yaml"
    config.write_text(content + "\n")
    with pytest.raises(ConfigError, match="core services cannot be disabled"):
        load_settings(config, environ={})


@pytest.mark.parametrize("variable", ["COACHIQ_FEATURE_PERSISTENCE", "COACHIQ_PERSISTENCE_ENABLED",
                                      "COACHIQ_FEATURE_CAN_INTERFACE", "COACHIQ_ENTITY_MANAGER_ENABLED"])
def test_environment_cannot_disable_a_core_service(variable: str) -> None:
    with pytest.raises(ConfigError, match="core services cannot be disabled"):
        load_settings(environ={variable: "false"})


def test_serve_refuses_to_disable_a_core_service_through_the_cli(tmp_path: Path) -> None:
    result = run_cli("serve", env=clean_env(COACHIQ_DATA_DIR=str(tmp_path), COACHIQ_FEATURE_PERSISTENCE="false"))
    assert result.returncode == 2
    assert "'persistence' is a core service" in result.stderr


def test_serve_refuses_network_without_authentication(tmp_path: Path) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", env=clean_env(COACHIQ_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert "--allow-unauthenticated-network" in result.stderr


def test_slcan_is_refused_with_the_kernel_driver_to_use_instead(tmp_path: Path) -> None:
    config = tmp_path / "coachiq.yaml"
    config.write_text("can_interfaces:\n  - {name: house, interface: slcan, channel: /dev/ttyACM0}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    message = str(caught.value)
    assert "slcand" in message and "socketcan" in message and "docs/hardware.md" in message
