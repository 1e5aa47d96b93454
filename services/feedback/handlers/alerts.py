"""Detractor alerts for operators: the list, the acknowledgement (the manager called the tenant
back), the open-alerts gauge. Alerts are raised with their answer (``handlers.answers``)."""

from __future__ import annotations

from services.feedback.domain.alerts import Alert
from services.feedback.ports import Deps


async def list_alerts(deps: Deps, office: str | None, open_only: bool) -> list[Alert]:
    """Alerts of one office (or all), the open ones only or all, oldest first."""
    return await deps.store.alerts(office, open_only)


async def acknowledge(deps: Deps, alert_id: str, office: str | None) -> Alert | None:
    """Acknowledge an alert; None when it does not exist or belongs to another office."""
    alert = await deps.store.alert(alert_id)
    if alert is None or (office is not None and alert.office != office):
        return None
    if alert.open:
        await deps.store.acknowledge(alert_id, deps.clock())
        alert = await deps.store.alert(alert_id)
    return alert


async def refresh_gauges(deps: Deps) -> None:
    counts = await deps.store.open_alert_counts()
    deps.metrics.open_alerts.clear()
    for office, n in counts.items():
        deps.metrics.open_alerts.labels(office).set(n)
