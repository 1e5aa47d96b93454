"""Settings of the gateway (``CANOPEE_GATEWAY_*``)."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Gateway settings; see docs/gateway.md."""

    service: ClassVar[str] = "gateway"
    default_port: ClassVar[int] = 8000
    needs_admin_token: ClassVar[bool] = False

    #: most events in one request (``CANOPEE_GATEWAY_MAX_EVENTS``)
    max_events: int = Field(500, ge=1, le=10_000)
    #: largest request body accepted, in bytes (``CANOPEE_GATEWAY_MAX_BODY_BYTES``)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    #: sustained events per second each office may post (token bucket refill rate)
    rate_per_second: float = Field(200.0, gt=0, le=1_000_000)
    #: events an office may post in a burst (bucket size); at least ``max_events``
    rate_burst: int = Field(2000, ge=1, le=10_000_000)
    #: how long a request waits for Kafka's acknowledgements before answering 503
    produce_timeout_seconds: float = Field(10.0, gt=0, le=120)
    #: after Kafka was unreachable, how long the gateway answers 503 before trying to connect again
    reconnect_seconds: float = Field(1.0, ge=0, le=60)

    @model_validator(mode="after")
    def _burst_holds_a_batch(self) -> Self:
        if self.rate_burst < self.max_events:
            raise ValueError("rate_burst: must be at least max_events (a full batch must fit in the bucket)")
        return self
