"""The ticketing service's own metrics (the shared consumer metrics count events, dead letters,
retries and handler latency). Labels are bounded: type, outcome, office, state, stage, policy, kind."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.observability import MetricFactory


@dataclass(frozen=True)
class TicketingMetrics:
    facts: Counter
    breaches: Counter
    at_risk: Counter
    historical: Counter
    open_requests: Gauge
    sweep_seconds: Histogram
    swept: Counter
    published: Counter
    tracker: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> TicketingMetrics:
        m = MetricFactory(registry)
        return cls(
            facts=m.counter(
                "canopee_ticketing_events_total",
                "Request events applied, by type and outcome (applied, duplicate, flagged).",
                "type",
                "outcome",
            ),
            breaches=m.counter(
                "canopee_ticketing_sla_breaches_total",
                "SLA breaches recorded (each request and stage once), by office, stage and policy.",
                "office",
                "stage",
                "policy",
            ),
            at_risk=m.counter(
                "canopee_ticketing_sla_at_risk_total",
                "SLA at-risk warnings recorded (each request and stage once), by office, stage and policy.",
                "office",
                "stage",
                "policy",
            ),
            historical=m.counter(
                "canopee_ticketing_sla_alerts_historical_total",
                "SLA alerts recorded as historical (their threshold crossed before the office's history "
                "horizon when found: published, acted on towards nobody), by office, stage and kind.",
                "office",
                "stage",
                "kind",
            ),
            open_requests=m.gauge(
                "canopee_ticketing_open_requests",
                "Requests not closed, by office and state (refreshed periodically from the store).",
                "office",
                "state",
            ),
            sweep_seconds=m.histogram(
                "canopee_ticketing_sweep_seconds",
                "Time of one SLA sweep.",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            ),
            swept=m.counter(
                "canopee_ticketing_swept_requests_total",
                "Requests whose clocks the sweeper recomputed because a threshold passed.",
            ),
            published=m.counter(
                "canopee_ticketing_sla_events_published_total",
                "sla.* events published to Kafka, by outcome (ok, failed).",
                "outcome",
            ),
            tracker=m.counter(
                "canopee_ticketing_tracker_pages_total",
                "Tenant tracker pages asked for, by outcome (shown, not_found).",
                "outcome",
            ),
        )
