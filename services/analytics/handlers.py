"""Use cases of the analytics service: apply consumed events, answer indicator queries, refresh
the business gauges. Dependencies (store, metrics, clock) are passed in."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.analytics.domain.facts import Doc, OfficeRules, event_doc, fold, short_type
from services.analytics.domain.indicators import Period, Query
from services.analytics.domain.rollups import (
    acknowledged_causes,
    compute_from_rollups,
    day_key,
    fact_days,
    open_now,
    rollup,
    split_day_key,
)
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.store import FactStore
from shared.events import CloudEvent
from shared.offices import Offices

Clock = Callable[[], datetime]

#: recomputations of a fact a concurrent instance overwrote with fewer events, per batch
STALE_ROUNDS = 3
#: office-days whose rollups are computed from one read of their facts
ROLLUP_CHUNK = 16


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
        #: office-days this instance marked dirty and has not computed since
        self.pending: set[str] = set()
        # one rollup computation at a time in an instance (queries and the refresh task)
        self.rollup_lock = asyncio.Lock()

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
        # the events and not the facts (nor marked their days)
        touched: set[str] = set()
        written = await self._refold(keys, touched)
        for _ in range(STALE_ROUNDS):
            stale = await self.store.stale(keys)
            if not stale:
                break
            written += await self._refold(stale, touched)
        await self._mark(written, touched)
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

    async def _refold(self, keys: Sequence[str], touched: set[str]) -> list[Doc]:
        """Fold the facts of ``keys`` again and write them; add to ``touched`` the office-days
        they touched before and touch now."""
        stored = await self.store.events_of(keys)
        facts = []
        for key, evs in stored.items():
            if evs:
                fact = fold(key, evs, self._rules(key))
                fact["days"] = fact_days(fact, self._rules(key).tz)
                facts.append(fact)
        before = await self.store.days_of(f["_id"] for f in facts)
        members: list[tuple[str, str]] = []
        for f in facts:
            old = set(before.get(f["_id"], ()))
            touched.update(f"{f['office']}|{d}" for d in old | set(f["days"]))
            # a fact's memberships are written before the fact, so the days a stored fact lists
            # are always recorded: only the new ones need writing
            members.extend((f"{f['office']}|{d}", f["_id"]) for d in f["days"] if d not in old)
        await self.store.add_members(members)
        await self.store.write_facts(facts)
        if self.metrics is not None:
            self.metrics.facts_written.inc(len(facts))
        return facts

    async def _mark(self, written: Sequence[Doc], touched: set[str]) -> None:
        """Mark the touched office-days dirty, with the day of each request a written
        notification acknowledges (looked up after the notification was written, so either this
        finds the request or the request's own batch, later, finds the notification)."""
        causes = [str(f["cause_id"]) for f in written if f.get("kind") == "notification" and f.get("cause_id")]
        for request in await self.store.opened_by(causes):
            if request.get("opened_at") is not None:
                zone = self._rules(request["_id"]).tz
                touched.add(day_key(request["office"], request["opened_at"].astimezone(zone).date()))
        gen = uuid.uuid4().hex
        await self.store.mark_dirty([{"_id": k, "office": split_day_key(k)[0], "gen": gen} for k in sorted(touched)])
        self.pending.update(touched)

    def _tz(self, office: str) -> ZoneInfo:
        rules = self.rules.get(office)
        return rules.tz if rules is not None else OfficeRules().tz

    def _rules(self, key: str) -> OfficeRules:
        office = key.split("|", 2)[1]
        return self.rules.get(office) or OfficeRules()

    def _count(self, kind: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.events.labels(kind, outcome).inc()

    async def indicators(self, offices: Sequence[str], start: date, end: date, period: Period) -> dict[str, Any]:
        """Every indicator of ``offices`` (and their sum, the network) for local dates ``start``..``end``,
        from the daily rollups (those a batch changed since they were computed are computed first)."""
        started = time.perf_counter()
        query = Query(start=start, end=end, period=period, offices=list(offices), tz=self._zones())
        rollups, nets = await self._load(list(offices), start, end)
        result = compute_from_rollups(query, rollups.values(), nets)
        if self.metrics is not None:
            self.metrics.query_seconds.observe(time.perf_counter() - started)
        return result

    async def _load(self, offices: list[str], start: date, end: date) -> tuple[dict[str, Doc], dict[str, list[Doc]]]:
        """Fresh rollups of the offices' days in ``start``..``end`` and nets of their earlier days."""
        markers = await self.store.dirty(offices)
        in_range = [k for k in markers if start <= split_day_key(k)[1] <= end]
        rollups = {r["_id"]: r for r in await self.store.rollups(in_range)}
        nets = {n["_id"]: n for n in await self.store.nets(offices)}
        stale = [k for k in in_range if rollups.get(k, {}).get("gen") != markers[k]]
        stale += [k for k, gen in markers.items() if split_day_key(k)[1] < start and nets.get(k, {}).get("gen") != gen]
        for r in await self._recompute(stale):
            if r["_id"] in markers and start <= split_day_key(r["_id"])[1] <= end:
                rollups[r["_id"]] = r
            nets[r["_id"]] = r
        before: dict[str, list[Doc]] = {}
        for k, n in nets.items():
            if k in markers and split_day_key(k)[1] < start:
                before.setdefault(str(n["office"]), []).append(n)
        return rollups, before

    async def refresh_rollups(self) -> None:
        """Compute the rollups of the days this instance's batches changed (queries would
        otherwise compute them on demand)."""
        pending, self.pending = self.pending, set()
        try:
            markers = await self.store.dirty_of(pending)
            rollups = {r["_id"]: r.get("gen") for r in await self.store.rollups(pending)}
            await self._recompute([k for k in pending if k in markers and rollups.get(k) != markers[k]])
        except BaseException:
            self.pending |= pending
            raise

    async def _recompute(self, days: Sequence[str]) -> list[Doc]:
        """Compute and store the rollups of these office-days from their facts."""
        if not days:
            return []
        async with self.rollup_lock:
            started = time.perf_counter()
            written: list[Doc] = []
            for i in range(0, len(days), ROLLUP_CHUNK):
                written += await self._recompute_chunk(days[i : i + ROLLUP_CHUNK])
            if self.metrics is not None:
                self.metrics.rollups_written.inc(len(written))
                self.metrics.rollup_seconds.observe(time.perf_counter() - started)
            return written

    async def _recompute_chunk(self, days: Sequence[str]) -> list[Doc]:
        # the marker is read before the facts: a batch that changes a fact after this read
        # writes a new marker after it, so this rollup is seen as stale
        markers = await self.store.dirty_of(days)
        members = await self.store.members(days)
        facts = {f["_id"]: f for f in await self.store.facts_by_key(k for keys in members.values() for k in keys)}
        opened = [
            str(f["opened_event"]) for f in facts.values() if f.get("kind") == "request" and f.get("opened_event")
        ]
        acknowledged = acknowledged_causes(await self.store.acknowledging(opened))
        written = []
        for key in days:
            office, day = split_day_key(key)
            day_facts = [facts[k] for k in members.get(key, ()) if k in facts]
            doc = rollup(office, day, day_facts, acknowledged, self._tz(office))
            doc["gen"] = markers.get(key)
            written.append(doc)
        await self.store.write_rollups(written)
        return written

    def _zones(self) -> dict[str, Any]:
        return {o.id: o.tz for o in self.offices.office}

    async def refresh_gauges(self) -> None:
        """Recompute the business gauges of every office (backlog now, rates over the window)."""
        if self.metrics is None:
            return
        now = self.clock()
        ids = self.offices.ids
        today = now.astimezone(self.offices.office[0].tz).date()
        start = today - timedelta(days=self.gauge_window_days - 1)
        query = Query(start=start, end=today, period="month", offices=ids, tz=self._zones())
        rollups, before = await self._load(ids, start, today)
        result = compute_from_rollups(query, rollups.values(), before)
        open_alerts = dict.fromkeys(ids, 0)
        for f in await self.store.alerts(ids):
            if f.get("due_at") is not None and f["due_at"] > now >= f["raised_at"]:
                open_alerts[f["office"]] = open_alerts.get(f["office"], 0) + 1
        for office in ids:
            local_today = now.astimezone(self._tz(office)).date()
            # the backlog now: every earlier day's net, then today's starts and ends up to now
            earlier = sum(int(n["net"]) for n in before.get(office, ()))
            earlier += sum(
                int(r["net"])
                for r in rollups.values()
                if r["office"] == office and date.fromisoformat(r["day"]) < local_today
            )
            self.metrics.backlog.labels(office).set(open_now(now, earlier, rollups.get(day_key(office, local_today))))
            total = result["offices"][office]["total"]
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
