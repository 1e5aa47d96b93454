"""Metrics of the feedback service. Labels are bounded: office, outcome, channel, score (1–5);
never tenant, survey or campaign ids."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.observability import MetricFactory

_PREFIX = "canopee_feedback_"


@dataclass(frozen=True)
class FeedbackMetrics:
    surveys: Counter
    reminders: Counter
    answers: Counter
    alerts: Counter
    open_alerts: Gauge
    campaign_invitations: Counter
    campaign_answers: Counter
    voice: Counter
    voice_handled: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> FeedbackMetrics:
        m = MetricFactory(registry)

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return m.counter(f"{_PREFIX}{name}_total", doc, *labels)

        return cls(
            surveys=counter(
                "surveys",
                "Survey decisions by office and outcome (sent, capped, no_consent, history); "
                "sent = response-rate base.",
                "office",
                "outcome",
            ),
            reminders=counter("reminders", "Survey reminders sent, by office.", "office"),
            answers=counter(
                "answers",
                "Answers recorded (first per survey or request), by office, channel and score.",
                "office",
                "channel",
                "score",
            ),
            alerts=counter(
                "detractor_alerts",
                "Detractor alerts recorded (one per answer), by office, origin (rating, campaign) and outcome "
                "(raised; history: older than the office's horizon, sends nothing; acknowledged; overdue: the "
                "48-hour deadline passed unacknowledged).",
                "office",
                "origin",
                "outcome",
            ),
            open_alerts=m.gauge(
                f"{_PREFIX}open_alerts",
                "Live detractor alerts not yet acknowledged, by office (refreshed periodically).",
                "office",
            ),
            campaign_invitations=counter(
                "campaign_invitations",
                "Campaign invitations sent (one per tenant and campaign), by office: campaign response-rate base.",
                "office",
            ),
            campaign_answers=counter(
                "campaign_answers",
                "Campaign answers recorded (first per survey), by office and channel.",
                "office",
                "channel",
            ),
            voice=counter(
                "voice_entries",
                "Tenants' words kept for office staff (comments, free-text SMS replies), by office and kind "
                "(survey, campaign, sms).",
                "office",
                "kind",
            ),
            voice_handled=counter(
                "voice_handled", "Tenants' words marked handled by office staff, by office.", "office"
            ),
        )
