"""Settings of the mqtt feature: COACHIQ_MQTT_* variables over the feature's `settings:` in feature_flags.

The broker is one URL, `mqtt://[user:password@]host[:port]` or `mqtts://...` for TLS. The password
never appears in a log line, a health detail or an error message: `MqttSettings.safe_url` leaves it out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_TOPIC_LEVELS = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is and how to sign in."""

    tls: bool
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def safe_url(self) -> str:
        """The URL without the password (for logs and /health)."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """Split a broker URL; ValueError says what is wrong without repeating a password."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"COACHIQ_MQTT_URL is not a valid URL ({exc}); "
                         "write mqtt://host:1883 or mqtts://user:password@host:8883") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"COACHIQ_MQTT_URL must start with mqtt:// or mqtts://, not {parts.scheme or 'nothing'}://")
    if not parts.hostname:
        raise ValueError("COACHIQ_MQTT_URL names no host; write mqtt://host:1883")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("COACHIQ_MQTT_URL must not have a path, query or fragment: mqtt://host:port only")
    if port == 0:
        raise ValueError("COACHIQ_MQTT_URL: port 0 is not a port")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise ValueError("COACHIQ_MQTT_URL has a password but no user name")
    return BrokerAddress(parts.scheme == "mqtts", parts.hostname, port or DEFAULT_PORTS[parts.scheme],
                         username, password)


def _topic_prefix(value: str, name: str) -> str:
    if not _TOPIC_LEVELS.match(value):
        raise ValueError(f"{name} must be one or more topic levels of letters, digits, _ and - separated by /, "
                         f"without wildcards or a leading or trailing /: got {value!r}")
    return value


class MqttSettings(BaseSettings):
    """Settings of the mqtt feature. Environment variables win over the feature file's `settings:`."""

    model_config = SettingsConfigDict(env_prefix="COACHIQ_MQTT_", extra="forbid", env_ignore_empty=True,
                                      validate_default=True)

    url: str = Field(default="mqtt://127.0.0.1:1883", description="Broker: mqtt:// or mqtts://, "
                     "optional user:password@, host and port (1883, or 8883 for mqtts).")
    discovery_prefix: str = Field(default="homeassistant", description="Home Assistant's discovery prefix.")
    topic_prefix: str = Field(default="coachiq", description="First topic levels of everything CoachIQ publishes.")
    node_id: str | None = Field(default=None, description="This coach's id in topics and in Home Assistant; "
                                "default: a random id chosen once and kept in the database.")
    position_critical_commands: bool = Field(default=False, description="Accept extend and retract of slides, "
                                             "awnings, jacks and shades from MQTT (stop is always accepted).")
    motion_duration_s: float = Field(default=10.0, ge=0.5, le=60.0, description="How long one open/close from "
                                     "MQTT moves a device before it stops unless repeated.")
    protocol: Literal["3.1.1", "5"] = Field(default="5", description="MQTT protocol version.")
    ca_file: Path | None = Field(default=None, description="CA certificates (PEM) for mqtts:// when the broker's "
                                 "certificate is not signed by a CA the system trusts.")
    client_id: str | None = Field(default=None, description="MQTT client id; default coachiq-<node id>.")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive interval.")
    queue_size: int = Field(default=1000, ge=10, le=100_000, description="State messages held while the broker "
                            "is gone; beyond this the oldest are dropped (command results never are).")

    @field_validator("url")
    @classmethod
    def _url_is_a_broker(cls, value: str) -> str:
        parse_broker_url(value)
        return value

    @field_validator("discovery_prefix")
    @classmethod
    def _discovery_prefix(cls, value: str) -> str:
        return _topic_prefix(value, "COACHIQ_MQTT_DISCOVERY_PREFIX")

    @field_validator("topic_prefix")
    @classmethod
    def _topic_prefix(cls, value: str) -> str:
        return _topic_prefix(value, "COACHIQ_MQTT_TOPIC_PREFIX")

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, value: str | None) -> str | None:
        if value is not None and not _NODE_ID.match(value):
            raise ValueError(f"COACHIQ_MQTT_NODE_ID must be 1-64 letters, digits, _ or -: got {value!r}")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"COACHIQ_MQTT_CA_FILE {value} is not a file")
        return value

    @property
    def broker(self) -> BrokerAddress:
        """The parsed broker URL."""
        return parse_broker_url(self.url)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """COACHIQ_MQTT_* variables beat the feature file's `settings:` (as COACHIQ_* beat the config file)."""
        return (env_settings, init_settings)
