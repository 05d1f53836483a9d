"""CoachIQ's settings: one validated model fed by COACHIQ_* variables and an optional YAML file.

Precedence, highest first: keyword arguments (the command line), environment variables, the config
file (`--config` or COACHIQ_CONFIG), the defaults below.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from coachiq.core.errors import ConfigError

# Every name by which someone might try to switch off a core service. Core services are mandatory.
CORE_SERVICE_ALIASES: dict[str, str] = {
    "database": "database",
    "database_manager": "database",
    "persistence": "persistence",
    "can": "can",
    "can_interface": "can",
    "rvc": "rvc",
    "rvc_protocol": "rvc",
    "entities": "entities",
    "entity_manager": "entities",
    "state": "state",
    "state_manager": "state",
    "motion": "motion",
    "motion_supervisor": "motion",
    "realtime": "realtime",
    "websocket": "realtime",
    "api_v2": "api_v2",
    "domain_api": "api_v2",
    "entities_api": "api_v2",
}


def async_driver_problem(url: str) -> str | None:
    """Why a database URL naming an asyncio driver (aiosqlite, asyncpg, ...) cannot be used, else None.

    The database manager runs a synchronous driver on its own thread; an asyncio driver would need
    SQLAlchemy's async extension, which CoachIQ does not load.
    """
    backend, _, driver = url.partition("://")[0].lower().partition("+")
    # SQLAlchemy's asyncio drivers: aiosqlite, aiomysql, aioodbc, asyncpg, asyncmy, psycopg_async, oracledb_async.
    if not (driver.startswith(("aio", "async")) or driver.endswith("_async")):
        return None
    examples = {"sqlite": "sqlite:///<path>", "postgresql": "postgresql+psycopg://user@host/name"}
    example = examples.get(backend, " or ".join(examples.values()))
    return (f"the driver '{driver}' is an asyncio driver; CoachIQ needs a synchronous one "
            f"(it runs database work on its own thread) — write {example}")


class CanInterfaceSettings(BaseModel):
    """One CAN bus: a logical name (house, chassis) mapped to a python-can interface and channel.

    Besides python-can's interfaces, `fd` takes as channel the number of an inherited file descriptor
    of a datagram socket carrying SocketCAN frame records: for tests and benchmarks (coachiq/can/fdbus.py).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="house", pattern=r"^[a-z][a-z0-9_]*$")
    interface: str = Field(default="socketcan", min_length=1)
    channel: str = Field(default="can0", min_length=1)
    bitrate: int = Field(default=250_000, gt=0)
    drain_ms: float = Field(
        default=15.0, ge=0, le=100,  # chosen by the figures of docs/architecture.md (CAN receive path)
        description="socketcan and fd: 0 reads each frame as it arrives; above 0, a busy bus is read every "
                    "this many ms (fewer wake-ups, frames up to this much later).",
    )

    @field_validator("interface")
    @classmethod
    def _no_slcan(cls, value: str) -> str:
        # python-can's slcan reader takes the serial port a byte at a time: about a quarter of a core at
        # full bus on the test machine (coachiq/bench/slcan.py), the whole budget several times over.
        if value == "slcan":
            raise ValueError("an SLCAN adapter is read through the kernel's driver: run `slcand -o -c -s5 "
                             "/dev/ttyACM0 can0` and `ip link set can0 up`, then use interface socketcan, "
                             "channel can0 (docs/hardware.md)")
        return value


class Settings(BaseSettings):
    """Every setting of the server. Unknown keys are errors, so a typo never passes silently."""

    model_config = SettingsConfigDict(
        env_prefix="COACHIQ_",
        extra="forbid",
        validate_default=True,
        env_ignore_empty=True,
    )

    data_dir: Path = Field(default=Path("data"), description="Folder for the database, backups and logs.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL with a synchronous driver; default sqlite:///<data_dir>/coachiq.db.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(default=8080, ge=1, le=65535)
    allow_unauthenticated_network: bool = Field(
        default=False, description="Allow listening beyond loopback while authentication is off."
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate (chain): serve HTTPS instead of HTTP.")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the server answers to besides loopback and its listen address (comma-separated).",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Other origins (scheme://host[:port]) allowed to send commands and open WebSockets.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    flush_interval: float = Field(
        default=5.0, gt=0, le=300, description="Seconds between write-behind flushes of entity state."
    )
    health_interval: float = Field(default=10.0, gt=0, le=3600, description="Seconds between health checks.")
    feature_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds a feature may take to start.")
    feature_retry_s: float = Field(default=5.0, gt=0, le=3600,
                                   description="Seconds before a feature that failed to start is tried again "
                                               "(the wait doubles with each failure, up to 300 s).")
    features_file: Path | None = Field(default=None, description="User overrides of feature_flags.yaml.")
    can_interfaces: list[CanInterfaceSettings] = Field(
        default_factory=list, description="CAN buses; empty means run the simulated coach."
    )
    can_source_address: int = Field(
        default=0x8C, ge=0, le=253, description="Preferred J1939 source address to claim on the bus."
    )
    can_name: int = Field(
        default=0, ge=0, lt=1 << 64,
        description="64-bit J1939 NAME to claim with; 0 uses CoachIQ's built-in NAME.",
    )
    coach: str = Field(
        default="generic", min_length=1,
        description="Coach mapping to load; with no CAN interface the default is the simulated class_a_diesel.",
    )
    coach_file: Path | None = Field(
        default=None, description="Your own coach mapping file: extends or overrides the coach by entity id."
    )
    command_timeout: float = Field(
        default=2.0, gt=0, le=30, description="Seconds a command waits for the device's status echo."
    )
    history_resolution: float = Field(
        default=60.0, ge=0, le=86400, description="At most one persisted history sample per entity per this many s."
    )
    history_ring: int = Field(
        default=120, ge=1, le=10000, description="Recent state samples kept in memory per entity."
    )
    audit_retention_days: float = Field(
        default=180.0, gt=0, le=3650, description="Audit entries older than this many days are deleted."
    )
    audit_max_rows: int = Field(
        default=50_000, ge=100, le=10_000_000, description="At most this many audit entries are kept (newest)."
    )
    history_retention_days: float = Field(
        default=14.0, gt=0, le=3650, description="History samples older than this many days are deleted."
    )
    history_max_rows: int = Field(
        default=500_000, ge=1000, le=100_000_000, description="At most this many history samples are kept (newest)."
    )
    chassis_stale_s: float = Field(
        default=5.0, gt=0, le=300, description="Chassis data older than this makes the vehicle state unknown."
    )

    @model_validator(mode="after")
    def _simulated_coach_by_default(self) -> Settings:
        # Without CAN hardware the server runs the simulated Class A coach; its mapping is the default
        # so that a first start shows a live coach. An explicit COACHIQ_COACH still wins.
        if "coach" not in self.model_fields_set and not self.can_interfaces:
            self.coach = "class_a_diesel"
        return self

    @model_validator(mode="after")
    def _tls_needs_both_files(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both (or neither, for plain HTTP)")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist or is not a file")
        return self

    @field_validator("database_url")
    @classmethod
    def _database_driver_is_synchronous(cls, value: str | None) -> str | None:
        if value is not None and (problem := async_driver_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("host")
    @classmethod
    def _host_is_an_address(cls, value: str) -> str:
        if value == "localhost":
            return value
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise ValueError("must be an IP address such as 127.0.0.1 or 0.0.0.0") from exc
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: object) -> object:
        names = _split_list(value)
        if not isinstance(names, list):
            return names
        for name in names:
            if not isinstance(name, str) or not name or (any(c in name for c in "/:@ *") and not _is_ipv6(name)):
                raise ValueError(f"{name!r} is not a host name: give each name such as coachiq.local, without "
                                 "scheme, port or wildcard")
        return [name.lower().strip("[]") for name in names]

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        origins = _split_list(value)
        if not isinstance(origins, list):
            return origins
        normalised = []
        for origin in origins:
            parts = urlsplit(origin) if isinstance(origin, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
                    or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
                raise ValueError(f"{origin!r} is not an origin: give scheme://host[:port], such as "
                                 "http://coachiq.local:8080")
            normalised.append(f"{parts.scheme}://{parts.netloc.lower()}")
        return normalised

    @property
    def database_path(self) -> Path:
        """The SQLite file used when no other database URL is configured."""
        return self.data_dir / "coachiq.db"

    @property
    def effective_database_url(self) -> str:
        """The database URL in force."""
        return self.database_url or f"sqlite:///{self.database_path}"

    @property
    def simulated(self) -> bool:
        """True when no CAN hardware is configured and the simulated coach runs instead."""
        return not self.can_interfaces

    @property
    def listens_beyond_loopback(self) -> bool:
        """True when the HTTP server would be reachable from other machines."""
        if self.host == "localhost":
            return False
        return not ipaddress.ip_address(self.host).is_loopback

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments beat environment variables; the config file is merged in by load_settings."""
        return (init_settings, env_settings)


def _split_list(value: object) -> object:
    """A comma-separated string (environment variable) as a list; a list (config file) as it is."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _is_ipv6(name: str) -> bool:
    try:
        return ipaddress.ip_address(name.strip("[]")).version == 6
    except ValueError:
        return False


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read {path}: {exc.strerror}; check the path given by --config or COACHIQ_CONFIG"],
                          source=str(path)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}{where}: not valid YAML ({problem})"], source=str(path)) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping of setting names to values"], source=str(path))
    return data


def _core_disable_attempts(file_data: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    problems = []
    for key in file_data:
        service = CORE_SERVICE_ALIASES.get(str(key).lower())
        if service:
            problems.append(
                f"config key '{key}': '{service}' is a core service; core services cannot be disabled "
                "or configured as features — remove the key"
            )
    for name, value in environ.items():
        upper = name.upper()
        if not upper.startswith("COACHIQ_"):
            continue
        rest = upper[len("COACHIQ_"):].lower()
        candidates = [rest.removeprefix("feature_"), rest.removesuffix("_enabled"), rest.removesuffix("__enabled")]
        if rest.startswith("feature_") or rest.endswith("enabled"):
            for candidate in candidates:
                service = CORE_SERVICE_ALIASES.get(candidate)
                if service:
                    problems.append(
                        f"environment variable {name}={value}: '{service}' is a core service; core services "
                        "cannot be disabled — unset the variable"
                    )
                    break
    return problems


def format_validation_error(error: ValidationError, given: Mapping[str, Any]) -> list[str]:
    """Turn a pydantic error into lines naming the key, the value given and what is allowed."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(settings)"
        env_name = "COACHIQ_" + str(item["loc"][0]).upper() if item["loc"] else ""
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown setting '{key}'; see `coachiq config check --help` for the known settings")
            continue
        value = item.get("input")
        allowed = item["msg"]
        if "ctx" in item and "expected" in item["ctx"]:
            allowed = f"expected {item['ctx']['expected']}"
        hint = f" (environment variable {env_name})" if env_name and env_name in os.environ else ""
        problems.append(f"setting '{key}'{hint} = {value!r} is not allowed: {allowed}")
    return problems


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Build the settings from the config file, the environment and the command line.

    Raises ConfigError listing every problem: bad values, unknown keys, attempts to disable a core
    service.
    """
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get("COACHIQ_CONFIG"):
        config_file = Path(environ["COACHIQ_CONFIG"])
    file_data = _read_config_file(config_file) if config_file else {}
    problems = _core_disable_attempts(file_data, environ)
    if problems:
        raise ConfigError(problems, source="settings")
    # The file supplies defaults; environment variables and overrides win over it.
    env_keys = {name.lower().removeprefix("coachiq_") for name in environ if name.upper().startswith("COACHIQ_")}
    merged = {k: v for k, v in file_data.items() if k not in env_keys}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, merged), source=str(config_file or "settings")) from exc
