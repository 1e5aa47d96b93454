"""Gateway metrics (labels bounded: office, outcome, status)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass(frozen=True)
class GatewayMetrics:
    events: Counter
    requests: Counter
    latency: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> GatewayMetrics:
        return cls(
            events=Counter(
                "canopee_gateway_events_total",
                "Events received, by office and outcome (accepted, invalid, forbidden, service_only, "
                "too_large, unavailable)",
                ["office", "outcome"],
                registry=registry,
            ),
            requests=Counter(
                "canopee_gateway_requests_total",
                "POST /v1/events requests by HTTP status",
                ["status"],
                registry=registry,
            ),
            latency=Histogram(
                "canopee_gateway_request_seconds",
                "Time to answer POST /v1/events (including Kafka's acknowledgements)",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                registry=registry,
            ),
        )
