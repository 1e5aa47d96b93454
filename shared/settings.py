"""Settings building blocks: the shared ``CANOPEE_*`` names and a loader that stops start-up
with a message naming the setting at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, FilePath, SecretStr, ValidationError, ValidationInfo, field_validator

from shared.offices import DEMO_OFFICES_FILE, Offices, load_offices

_PLACEHOLDERS = {"changeme", "change-me", "secret", "password", "admin", "token", "placeholder", "xxx", "todo"}


class ConfigError(SystemExit):
    """Invalid configuration: the process stops and the message names the setting."""

    def __init__(self, message: str) -> None:
        super().__init__(f"configuration error: {message}")
        self.message = message


class CommonSettings(BaseModel):
    """Settings with the same name in every service (``CANOPEE_*``); see ``load_settings``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: service name, e.g. "ticketing"; sets the ``CANOPEE_<SERVICE>_*`` names below
    service: ClassVar[str] = ""
    default_port: ClassVar[int] = 0
    #: True for services with an operator API (the admin token is then required)
    needs_admin_token: ClassVar[bool] = False
    #: settings that are not SecretStr but may hold credentials: also readable from <NAME>_FILE
    file_settings: ClassVar[frozenset[str]] = frozenset({"mongo_url", "kafka_sasl_username"})

    kafka_bootstrap: str = "127.0.0.1:9092"
    #: how every client (services, gateway, tools, lag reader) talks to the brokers
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = Field(None, validate_default=True)
    #: CA certificate(s) the brokers' certificates are checked against (PEM); unset: the system's
    kafka_ca_file: FilePath | None = None
    #: a client certificate and its key (PEM), for brokers that require mutual TLS
    kafka_cert_file: FilePath | None = None
    kafka_key_file: FilePath | None = None
    #: static group membership (KIP-345): a name unique to this instance and stable across its
    #: restarts (e.g. the pod name of a StatefulSet); the consumer group member is then
    #: ``<group>-<this>``, and a restart within ``kafka_session_timeout_seconds`` moves no partition
    kafka_group_instance_id: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,100}$")
    #: how long the group waits for a silent member before giving its partitions to the others
    kafka_session_timeout_seconds: float = Field(10.0, ge=6, le=1800)
    mongo_url: str = "mongodb://127.0.0.1:27017"
    offices_file: Path = DEMO_OFFICES_FILE
    admin_token: SecretStr | None = None
    #: prefix of every topic and consumer group (isolates test runs or networks on one cluster)
    topic_prefix: str = Field("", pattern=r"^[a-z0-9._-]{0,40}$")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    #: how many times a transient failure (store or broker unreachable) is retried in a row
    retry_attempts: int = Field(5, ge=1, le=100)
    retry_base_seconds: float = Field(0.2, gt=0, le=60)
    #: secret from which ticketing and notifications both derive each request's tracker link
    #: (``shared/tracker.py``); unset: no tracker links are sent nor served
    tracker_secret: SecretStr | None = None
    #: public address of the tracker pages (ticketing's HTTP server, e.g. behind a reverse proxy)
    tracker_base_url: str = Field("http://127.0.0.1:8001", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("expected host:port[,host:port...]")
        return value

    @field_validator("kafka_sasl_password")
    @classmethod
    def _sasl(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        protocol = info.data.get("kafka_security_protocol", "PLAINTEXT")
        if protocol.startswith("SASL_") and (value is None or not info.data.get("kafka_sasl_username")):
            raise ValueError(f"{protocol} needs a user name (..._KAFKA_SASL_USERNAME) and this password")
        return value

    @field_validator("mongo_url")
    @classmethod
    def _mongo(cls, value: str) -> str:
        if not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("expected a mongodb:// or mongodb+srv:// URL")
        return value

    @field_validator("admin_token", "tracker_secret")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if len(secret) < 16 or secret.lower() in _PLACEHOLDERS:
            raise ValueError("must be a real secret of at least 16 characters (no placeholder)")
        return value

    @property
    def group(self) -> str:
        """This service's Kafka consumer group (its dead letters go to ``dlq.{group}``)."""
        return f"{self.topic_prefix}{self.service}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


class ServiceSettings(CommonSettings):
    """Base of a service's settings: adds ``CANOPEE_<SERVICE>_PORT`` and ``_MONGO_DB``."""

    port: int = Field(0, ge=0, le=65535)
    #: when set (``CANOPEE_<SERVICE>_ADMIN_PORT``), /metrics, the operator API and the API
    #: documents answer on this port only, the public pages and webhooks on ``port`` only
    admin_port: int = Field(0, ge=0, le=65535)
    host: str = "127.0.0.1"
    mongo_db: str = Field("", pattern=r"^[A-Za-z0-9_-]{0,60}$")

    @property
    def database(self) -> str:
        return self.mongo_db or f"canopee_{self.service}"

    @property
    def http_port(self) -> int:
        return self.port or self.default_port


S = TypeVar("S", bound=CommonSettings)

#: service-specific names: CANOPEE_<SERVICE>_<FIELD>; every other field is shared (CANOPEE_<FIELD>)
_SHARED_FIELDS = set(CommonSettings.model_fields)


def env_name(cls: type[CommonSettings], field: str) -> str:
    if field in _SHARED_FIELDS or not cls.service:
        return f"CANOPEE_{field.upper()}"
    return f"CANOPEE_{cls.service.upper()}_{field.upper()}"


def _types(annotation: Any) -> tuple[Any, ...]:
    return (annotation, *getattr(annotation, "__args__", ()))


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Read ``cls`` from the environment; a bad value raises ``ConfigError`` naming the variable.
    A secret may also come from a file named by ``<NAME>_FILE`` (e.g. ``CANOPEE_ADMIN_TOKEN_FILE``)."""
    import os

    values: dict[str, Any] = {}
    for field, info in cls.model_fields.items():
        name = env_name(cls, field)
        if name in os.environ:
            values[field] = os.environ[name]
        elif f"{name}_FILE" in os.environ and (SecretStr in _types(info.annotation) or field in cls.file_settings):
            # a secret mounted as a file (Docker and Kubernetes secrets): its content, trailing newline dropped
            path = Path(os.environ[f"{name}_FILE"])
            try:
                values[field] = path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(f"{name}_FILE: cannot read {path} ({exc.strerror})") from None
    values.update(overrides)
    try:
        settings = cls.model_validate(values)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        name = env_name(cls, field) if field else cls.__name__
        raise ConfigError(f"{name}: {error['msg'].removeprefix('Value error, ')}") from None
    if cls.needs_admin_token and settings.admin_token is None:
        raise ConfigError("CANOPEE_ADMIN_TOKEN: required by this service (no default is accepted)")
    return settings


def load_offices_from(settings: CommonSettings) -> Offices:
    """The offices file named by ``CANOPEE_OFFICES_FILE``, or ``ConfigError`` naming it."""
    path = settings.offices_file
    try:
        return load_offices(path)
    except FileNotFoundError:
        raise ConfigError(f"CANOPEE_OFFICES_FILE: no such file {path}") from None
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"CANOPEE_OFFICES_FILE: {path.name}: {where}: {error['msg']}") from None
    except ValueError as exc:  # TOML syntax
        raise ConfigError(f"CANOPEE_OFFICES_FILE: {path.name}: {exc}") from None
