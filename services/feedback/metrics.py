"""Metrics of the feedback service. Labels are bounded: office, outcome, channel, score (1–5);
never tenant, survey or campaign ids."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass(frozen=True)
class FeedbackMetrics:
    surveys: Counter
    reminders: Counter
    answers: Counter
    open_alerts: Gauge
    campaign_invitations: Counter
    campaign_answers: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> FeedbackMetrics:
        return cls(
            surveys=Counter(
                "canopee_feedback_surveys_total",
                "Survey decisions by office and outcome (sent, capped, no_consent); sent = response-rate base.",
                ["office", "outcome"],
                registry=registry,
            ),
            reminders=Counter(
                "canopee_feedback_reminders_total", "Survey reminders sent, by office.", ["office"], registry=registry
            ),
            answers=Counter(
                "canopee_feedback_answers_total",
                "Answers recorded (first per survey or request), by office, channel and score.",
                ["office", "channel", "score"],
                registry=registry,
            ),
            open_alerts=Gauge(
                "canopee_feedback_open_alerts",
                "Detractor alerts not yet acknowledged, by office (refreshed periodically).",
                ["office"],
                registry=registry,
            ),
            campaign_invitations=Counter(
                "canopee_feedback_campaign_invitations_total",
                "Campaign invitations sent (one per tenant and campaign), by office: campaign response-rate base.",
                ["office"],
                registry=registry,
            ),
            campaign_answers=Counter(
                "canopee_feedback_campaign_answers_total",
                "Campaign answers recorded (first per survey), by office and channel.",
                ["office", "channel"],
                registry=registry,
            ),
        )
