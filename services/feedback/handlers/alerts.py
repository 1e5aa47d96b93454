"""Detractor alerts for operators: the list, the acknowledgement (the manager called the tenant
back: ``feedback.alert_acknowledged``), the overdue sweep (``feedback.alert_overdue`` once per
alert whose 48-hour deadline passed unacknowledged), the open-alerts gauge. Alerts are raised with
their answer (``handlers.answers``)."""

from __future__ import annotations

from services.feedback.domain.alerts import Alert, is_overdue, plan_acknowledgement, plan_overdue
from services.feedback.ports import Deps


def _origin(alert: Alert) -> str:
    return "campaign" if alert.campaign_id else "rating"


async def list_alerts(deps: Deps, office: str | None, open_only: bool) -> list[Alert]:
    """Alerts of one office (or all), the open ones only or all, oldest first."""
    return await deps.store.alerts(office, open_only)


async def acknowledge(deps: Deps, alert_id: str, office: str | None, action: str | None = None) -> Alert | None:
    """Acknowledge an alert with what the manager did; None when it does not exist or belongs to
    another office. Its ``feedback.alert_acknowledged`` goes through the outbox first (its id
    derives from the alert: a repeated or concurrent call records nothing more, and a crash before
    the alert is closed loses no event), then the alert is closed once."""
    alert = await deps.store.alert(alert_id)
    if alert is None or (office is not None and alert.office != office):
        return None
    if alert.open:
        acknowledged, event = plan_acknowledgement(alert, deps.clock(), action)
        assert acknowledged.acknowledged_at is not None
        await deps.outbox.emit([event])
        if await deps.store.acknowledge(alert_id, acknowledged.acknowledged_at, acknowledged.action):
            deps.metrics.alerts.labels(alert.office, _origin(alert), "acknowledged").inc()
        alert = await deps.store.alert(alert_id)
    return alert


async def report_overdue(deps: Deps) -> int:
    """Publish ``feedback.alert_overdue`` for every live alert past its deadline and still open, once
    each: recorded in the outbox first (its id derives from the alert, so a sweep that crashed
    before marking the alert re-emits nothing new), then the alert is marked (claimed once).
    Returns how many this sweep marked."""
    now = deps.clock()
    reported = 0
    for alert in await deps.store.overdue_alerts(now):
        if not is_overdue(alert, now):
            continue
        await deps.outbox.emit([plan_overdue(alert)])
        if await deps.store.mark_overdue(alert.id, now):
            deps.metrics.alerts.labels(alert.office, _origin(alert), "overdue").inc()
            reported += 1
    return reported


async def refresh_gauges(deps: Deps) -> None:
    counts = await deps.store.open_alert_counts()
    deps.metrics.open_alerts.clear()
    for office, n in counts.items():
        deps.metrics.open_alerts.labels(office).set(n)
