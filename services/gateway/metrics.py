"""The gateway's metrics (labels bounded: office from the offices file, outcome from a fixed set)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.observability import MetricFactory

#: office label of requests whose key is missing or unknown
UNKNOWN_OFFICE = "unknown"


@dataclass(frozen=True)
class GatewayMetrics:
    #: events by office and outcome: accepted, invalid, forbidden, not_produced, unavailable, rate_limited
    events: Counter
    #: requests by office and outcome: the HTTP status answered (202, 401, 403, 413, 415, 422, 429, 503…)
    requests: Counter
    #: seconds from the request's arrival to the answer, accepted requests only
    request_seconds: Histogram
    #: seconds spent waiting for Kafka's acknowledgements
    produce_seconds: Histogram
    #: 1 when Kafka answered the last readiness check
    ready: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> GatewayMetrics:
        m = MetricFactory(registry)
        buckets = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
        return cls(
            events=m.counter("canopee_gateway_events", "Posted events by outcome", "office", "outcome"),
            requests=m.counter("canopee_gateway_requests", "Requests by answered status", "office", "outcome"),
            request_seconds=m.histogram(
                "canopee_gateway_request_seconds", "Time to answer an accepted request", buckets=buckets
            ),
            produce_seconds=m.histogram(
                "canopee_gateway_produce_seconds", "Time Kafka took to acknowledge", buckets=buckets
            ),
            ready=m.gauge("canopee_gateway_ready", "1 when Kafka is reachable"),
        )
