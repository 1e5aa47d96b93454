"""Settings of the gateway (``CANOPEE_GATEWAY_*``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Gateway settings; see docs/gateway.md."""

    service: ClassVar[str] = "gateway"
    default_port: ClassVar[int] = 8000
    #: offices authenticate with their own keys; there is no operator API
    needs_admin_token: ClassVar[bool] = False

    #: largest request body accepted (``CANOPEE_GATEWAY_MAX_BODY_BYTES``)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    #: most events in one request
    max_events: int = Field(500, ge=1, le=10_000)
    #: sustained events per second each office may send
    rate_per_second: float = Field(200.0, gt=0, le=1_000_000)
    #: events an office may send at once above the sustained rate
    rate_burst: int = Field(1000, ge=1, le=10_000_000)
    #: how long a request waits for Kafka's acknowledgements before answering 503
    publish_timeout_seconds: float = Field(10.0, gt=0, le=300)
    #: how often the gateway retries connecting to Kafka when it was down at start-up
    reconnect_seconds: float = Field(5.0, gt=0, le=600)
    #: largest single event accepted (Kafka refuses records above its message size)
    max_event_bytes: int = Field(262_144, ge=1024, le=1_000_000)
