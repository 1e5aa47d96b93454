"""Business gauges use case: backlog now, open detractor alerts, and rates over the gauge window,
per office (docs/analytics.md, "Metrics")."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from services.analytics.domain.facts import OfficeBook
from services.analytics.domain.indicators import Query
from services.analytics.domain.records import day_key
from services.analytics.domain.rollups import compute_from_rollups, open_now
from services.analytics.handlers.refresh import RollupRefresh
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.ports import Clock, FactStore
from shared.offices import Offices


class Gauges:
    """Recomputes the business gauges of every office."""

    def __init__(
        self,
        offices: Offices,
        book: OfficeBook,
        facts: FactStore,
        rollups: RollupRefresh,
        metrics: AnalyticsMetrics | None,
        clock: Clock,
        window_days: int,
    ) -> None:
        self.offices = offices
        self.book = book
        self.facts = facts
        self.rollups = rollups
        self.metrics = metrics
        self.clock = clock
        self.window_days = window_days

    async def refresh_gauges(self) -> None:
        """Recompute the business gauges of every office (backlog now, rates over the window)."""
        if self.metrics is None:
            return
        now = self.clock()
        ids = self.offices.ids
        today = now.astimezone(self.offices.office[0].tz).date()
        start = today - timedelta(days=self.window_days - 1)
        query = Query(start=start, end=today, period="month", offices=ids, tz=self.book.zones())
        rollups, before = await self.rollups.fresh(ids, start, today)
        result = compute_from_rollups(query, rollups.values(), before)
        open_alerts = dict.fromkeys(ids, 0)
        overdue_alerts = dict.fromkeys(ids, 0)
        for f in await self.facts.alerts(ids):
            if f.acknowledged_at is not None:
                continue
            if f.overdue:
                overdue_alerts[f.office] = overdue_alerts.get(f.office, 0) + 1
            elif f.due_at is not None and f.due_at > now >= f.raised_at:
                open_alerts[f.office] = open_alerts.get(f.office, 0) + 1
        for office in ids:
            local_today = now.astimezone(self.book.tz(office)).date()
            # the backlog now: every earlier day's net, then today's starts and ends up to now
            earlier = sum(n.net for n in before.get(office, ()))
            earlier += sum(r.net for r in rollups.values() if r.office == office and r.day < local_today)
            self.metrics.backlog.labels(office).set(open_now(now, earlier, rollups.get(day_key(office, local_today))))
            total = result["offices"][office]["total"]
            self.metrics.open_alerts.labels(office).set(open_alerts[office])
            self.metrics.overdue_alerts.labels(office).set(overdue_alerts[office])
            _set_or_remove(self.metrics.closed_loop, (office,), total["closed_loop"]["acknowledged_within_48h_pct"])
            _set_or_remove(self.metrics.csat, (office,), total["csat"]["pct"])
            for cls in ("emergency", "non_emergency"):
                _set_or_remove(self.metrics.within_target, (office, cls), total["within_target"][cls]["pct"])
            for stage, cell in total["sla_breaches"].items():
                _set_or_remove(self.metrics.breach_rate, (office, stage), cell["rate_pct"])


def _set_or_remove(gauge: Any, labels: tuple[str, ...], value: float | None) -> None:
    if value is None:
        with contextlib.suppress(KeyError):
            gauge.remove(*labels)
    else:
        gauge.labels(*labels).set(value)
