"""Use cases of the analytics service: apply consumed events, answer indicator queries, refresh
the business gauges. Dependencies (store, metrics, clock) are passed in."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.analytics.domain.facts import Doc, OfficeRules, event_doc, fold, short_type
from services.analytics.domain.indicators import Period, Query, compute
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.store import FactStore
from shared.events import CloudEvent
from shared.offices import Offices

Clock = Callable[[], datetime]

#: recomputations of a fact a concurrent instance overwrote with fewer events, per batch
STALE_ROUNDS = 3


def utc_now() -> datetime:
    return datetime.now(UTC)


class AnalyticsService:
    """Keeps facts from events and answers indicator queries from them."""

    def __init__(
        self,
        offices: Offices,
        store: FactStore,
        metrics: AnalyticsMetrics | None = None,
        clock: Clock = utc_now,
        gauge_window_days: int = 30,
    ) -> None:
        self.offices = offices
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.gauge_window_days = gauge_window_days
        self.rules = {o.id: OfficeRules.of(o) for o in offices.office}

    async def apply(self, events: Sequence[CloudEvent]) -> None:
        """Keep what the events say (idempotent: a redelivered batch changes nothing)."""
        docs: list[Doc] = []
        for event in events:
            doc = event_doc(event)
            if doc is None:
                self._count(short_type(event.type), "ignored")
                continue
            docs.append(doc)
        if not docs:
            return
        unique = list({d["_id"]: d for d in docs}.values())
        duplicates = await self.store.add_events(unique)
        keys = list(dict.fromkeys(d["key"] for d in unique))
        # facts are recomputed even when every event was a duplicate: a crash may have stored
        # the events and not the facts
        await self._refold(keys)
        for _ in range(STALE_ROUNDS):
            stale = await self.store.stale(keys)
            if not stale:
                break
            await self._refold(stale)
        if self.metrics is not None:
            seen: set[str] = set()
            for d in docs:
                if d["_id"] in duplicates or d["_id"] in seen:
                    self.metrics.events.labels(d["type"], "duplicate").inc()
                    continue
                seen.add(d["_id"])
                self.metrics.events.labels(d["type"], "new").inc()
                if d["type"].startswith("notification."):
                    self.metrics.notifications.labels(
                        d["office"], d["d"].get("channel", "unknown"), d["type"].removeprefix("notification.")
                    ).inc()

    async def _refold(self, keys: Sequence[str]) -> None:
        stored = await self.store.events_of(keys)
        facts = [fold(key, evs, self._rules(key)) for key, evs in stored.items() if evs]
        await self.store.write_facts(facts)
        if self.metrics is not None:
            self.metrics.facts_written.inc(len(facts))

    def _rules(self, key: str) -> OfficeRules:
        office = key.split("|", 2)[1]
        return self.rules.get(office) or OfficeRules()

    def _count(self, kind: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.events.labels(kind, outcome).inc()

    async def indicators(self, offices: Sequence[str], start: date, end: date, period: Period) -> dict[str, Any]:
        """Every indicator of ``offices`` (and their sum, the network) for local dates ``start``..``end``."""
        started = time.perf_counter()
        query = Query(start=start, end=end, period=period, offices=list(offices), tz=self._zones())
        result = compute(query, await self.store.facts(list(offices)))
        if self.metrics is not None:
            self.metrics.query_seconds.observe(time.perf_counter() - started)
        return result

    def _zones(self) -> dict[str, Any]:
        return {o.id: o.tz for o in self.offices.office}

    async def refresh_gauges(self) -> None:
        """Recompute the business gauges of every office (backlog now, rates over the window)."""
        if self.metrics is None:
            return
        now = self.clock()
        ids = self.offices.ids
        facts = await self.store.facts(ids)
        today = now.astimezone(self.offices.office[0].tz).date()
        start = today - timedelta(days=self.gauge_window_days - 1)
        result = compute(
            Query(start=start, end=today, period="month", offices=ids, tz=self._zones()),
            facts,
        )
        open_alerts = dict.fromkeys(ids, 0)
        open_now = dict.fromkeys(ids, 0)
        for f in facts:
            if f.get("kind") == "alert" and f.get("due_at") is not None and f["due_at"] > now >= f["raised_at"]:
                open_alerts[f["office"]] = open_alerts.get(f["office"], 0) + 1
            if f.get("kind") == "request":
                for i in f.get("open_intervals") or ():
                    if i["s"] <= now and (i["e"] is None or i["e"] > now):
                        open_now[f["office"]] = open_now.get(f["office"], 0) + 1
        for office in ids:
            total = result["offices"][office]["total"]
            self.metrics.backlog.labels(office).set(open_now[office])
            self.metrics.open_alerts.labels(office).set(open_alerts[office])
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
