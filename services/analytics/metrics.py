"""The analytics service's own metrics: events it kept, and business gauges per office.

Labels are bounded: type, outcome, office, channel, class, stage. The shared consumer metrics
(``canopee_events_consumed_total`` …) count the transport side.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.observability import MetricFactory

#: durations of queries and rollup computations, from 10 ms to 30 s
SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(frozen=True)
class AnalyticsMetrics:
    events: Counter
    notifications: Counter
    facts_written: Counter
    backlog: Gauge
    csat: Gauge
    within_target: Gauge
    breach_rate: Gauge
    open_alerts: Gauge
    overdue_alerts: Gauge
    closed_loop: Gauge
    query_seconds: Histogram
    rollups_written: Counter
    rollup_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> AnalyticsMetrics:
        m = MetricFactory(registry)
        return cls(
            events=m.counter(
                "canopee_analytics_events_total",
                "Events processed by analytics, by type and outcome (new, duplicate, ignored).",
                "type",
                "outcome",
            ),
            notifications=m.counter(
                "canopee_analytics_notification_outcomes_total",
                "New notification outcome events, by office, channel and outcome.",
                "office",
                "channel",
                "outcome",
            ),
            facts_written=m.counter(
                "canopee_analytics_facts_written_total",
                "Facts (request, survey, alert, notification) recomputed and written.",
            ),
            backlog=m.gauge("canopee_analytics_backlog", "Requests open now, by office.", "office"),
            csat=m.gauge(
                "canopee_analytics_csat_pct",
                "Share of ratings 4-5 over the gauge window, by office (absent without ratings).",
                "office",
            ),
            within_target=m.gauge(
                "canopee_analytics_within_target_pct",
                "Repairs done within target over the gauge window, by office and class "
                "(emergency U1+U2, non_emergency U3).",
                "office",
                "class",
            ),
            breach_rate=m.gauge(
                "canopee_analytics_sla_breach_rate_pct",
                "Requests opened over the gauge window whose stage deadline was breached, by office and stage.",
                "office",
                "stage",
            ),
            open_alerts=m.gauge(
                "canopee_analytics_open_alerts",
                "Detractor alerts not acknowledged whose 48-hour follow-up deadline has not passed yet, by office.",
                "office",
            ),
            overdue_alerts=m.gauge(
                "canopee_analytics_overdue_alerts",
                "Detractor alerts whose 48-hour follow-up deadline passed unacknowledged "
                "(feedback.alert_overdue, no feedback.alert_acknowledged), by office.",
                "office",
            ),
            closed_loop=m.gauge(
                "canopee_analytics_closed_loop_pct",
                "Detractor alerts raised over the gauge window acknowledged within 48 hours, over those "
                "acknowledged or past their deadline, by office.",
                "office",
            ),
            query_seconds=m.histogram(
                "canopee_analytics_query_seconds", "Time to answer one indicator query.", buckets=SECONDS_BUCKETS
            ),
            rollups_written=m.counter(
                "canopee_analytics_rollups_written_total",
                "Daily rollups (office, day) computed from their facts and written.",
            ),
            rollup_seconds=m.histogram(
                "canopee_analytics_rollup_seconds",
                "Time to compute and write the rollups of one set of changed days.",
                buckets=SECONDS_BUCKETS,
            ),
        )
