"""Prometheus metrics of the notifications service (bounded labels only)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.observability import MetricFactory


@dataclass(frozen=True)
class NotificationMetrics:
    messages: Counter
    history: Counter
    sms_segments: Counter
    provider_seconds: Histogram
    deferred_backlog: Gauge
    followups: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> NotificationMetrics:
        m = MetricFactory(registry)
        return cls(
            messages=m.counter(
                "canopee_notifications_total",
                "Messages by office, channel, template and outcome (sent, delivered, failed, deferred, "
                "suppressed, retried).",
                "office",
                "channel",
                "template",
                "outcome",
            ),
            history=m.counter(
                "canopee_notifications_history_total",
                "Messages suppressed because their cause is history (older than its office's horizon "
                "when it arrived: backfills, imports, replays), by office and recipient (tenant, office).",
                "office",
                "recipient",
            ),
            sms_segments=m.counter(
                "canopee_sms_segments_total", "SMS segments handed to the provider, by office.", "office"
            ),
            provider_seconds=m.histogram(
                "canopee_provider_seconds",
                "Time a provider took to accept (or refuse) one message, by channel and outcome.",
                "channel",
                "outcome",
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            ),
            deferred_backlog=m.gauge(
                "canopee_notifications_deferred",
                "Messages waiting for their send time (quiet hours, scheduled reminders, retries).",
            ),
            followups=m.counter(
                "canopee_notifications_followups_total",
                "Follow-up tasks for tenants without a digital channel, by office and event (opened, "
                "done_phone, done_counter, done_visit, done_letter).",
                "office",
                "event",
            ),
        )
