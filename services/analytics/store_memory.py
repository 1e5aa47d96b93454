"""The in-memory twin of analytics' stores, for fast use-case tests. The contract tests
(tests/analytics/test_store_contract.py) hold it to what ``store.MongoAnalyticsStore`` does."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime

from services.analytics.domain.records import (
    AlertFact,
    Fact,
    Net,
    NotificationFact,
    RequestFact,
    StoredEvent,
    SurveyFact,
    split_day_key,
)
from services.analytics.domain.rollups import Rollup


class MemoryAnalyticsStore:
    """``AnalyticsStore`` in memory. ``rollups_by_day`` and ``markers`` (office-day → gen) may be
    read and changed by tests; nets are those of the stored rollups."""

    def __init__(self) -> None:
        self.events: dict[str, StoredEvent] = {}
        self.facts_by_id: dict[str, Fact] = {}
        self.fact_days: set[tuple[str, str]] = set()
        self.markers: dict[str, str] = {}
        self.rollups_by_day: dict[str, Rollup] = {}

    async def add_events(self, events: Sequence[StoredEvent]) -> set[str]:
        duplicates: set[str] = set()
        for event in events:
            if event.id in self.events:
                duplicates.add(event.id)
            else:
                self.events[event.id] = copy.deepcopy(event)
        return duplicates

    async def events_of(self, keys: Iterable[str]) -> dict[str, list[StoredEvent]]:
        found: dict[str, list[StoredEvent]] = {k: [] for k in keys}
        for event in self.events.values():
            if event.key in found:
                found[event.key].append(event)
        return found

    async def write_facts(self, facts: Sequence[Fact]) -> None:
        for fact in facts:
            self.facts_by_id[fact.key] = copy.deepcopy(fact)

    async def stale(self, keys: Iterable[str]) -> list[str]:
        counts: dict[str, int] = {}
        for event in self.events.values():
            counts[event.key] = counts.get(event.key, 0) + 1
        written = {k: f.n_events for k, f in self.facts_by_id.items()}
        return [k for k in dict.fromkeys(keys) if written.get(k) != counts.get(k, 0)]

    async def facts(self, offices: Sequence[str]) -> list[Fact]:
        wanted = set(offices)
        return [f for f in self.facts_by_id.values() if f.office in wanted]

    async def days_of(self, keys: Iterable[str]) -> dict[str, list[str]]:
        return {k: list(self.facts_by_id[k].days) for k in keys if k in self.facts_by_id}

    async def add_members(self, members: Sequence[tuple[str, str]]) -> None:
        self.fact_days.update(members)

    async def members(self, days: Iterable[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {d: [] for d in days}
        for day, key in self.fact_days:
            if day in found:
                found[day].append(key)
        return found

    async def facts_by_key(self, keys: Iterable[str]) -> list[Fact]:
        return [self.facts_by_id[k] for k in dict.fromkeys(keys) if k in self.facts_by_id]

    async def opened_by(self, event_ids: Iterable[str]) -> list[RequestFact]:
        wanted = set(event_ids)
        return [f for f in self.facts_by_id.values() if isinstance(f, RequestFact) and f.opened_event in wanted]

    async def acknowledging(self, event_ids: Iterable[str]) -> list[NotificationFact]:
        wanted = set(event_ids)
        return [f for f in self.facts_by_id.values() if isinstance(f, NotificationFact) and f.cause_id in wanted]

    async def surveys_about(self, requests: Iterable[tuple[str, str]]) -> list[SurveyFact]:
        wanted = set(requests)
        return [
            f
            for f in self.facts_by_id.values()
            if isinstance(f, SurveyFact) and f.request_id is not None and (f.office, f.request_id) in wanted
        ]

    async def complaints(self, offices: Sequence[str], start: datetime, end: datetime) -> list[RequestFact]:
        return [
            f
            for f in await self.facts(offices)
            if isinstance(f, RequestFact) and f.complaint and f.opened_at is not None and start <= f.opened_at < end
        ]

    async def alerts(self, offices: Sequence[str]) -> list[AlertFact]:
        return [f for f in await self.facts(offices) if isinstance(f, AlertFact)]

    async def mark_dirty(self, days: Sequence[str], gen: str) -> None:
        self.markers.update(dict.fromkeys(days, gen))

    async def dirty(self, offices: Sequence[str]) -> dict[str, str]:
        wanted = set(offices)
        return {k: gen for k, gen in self.markers.items() if split_day_key(k)[0] in wanted}

    async def dirty_of(self, days: Iterable[str]) -> dict[str, str]:
        return {d: self.markers[d] for d in days if d in self.markers}

    async def write_rollups(self, rollups: Sequence[Rollup]) -> None:
        for r in rollups:
            self.rollups_by_day[r.key] = copy.deepcopy(r)

    async def rollups(self, days: Iterable[str]) -> list[Rollup]:
        return [copy.deepcopy(self.rollups_by_day[d]) for d in dict.fromkeys(days) if d in self.rollups_by_day]

    async def nets(self, offices: Sequence[str]) -> list[Net]:
        wanted = set(offices)
        return [r.as_net() for r in self.rollups_by_day.values() if r.office in wanted]
