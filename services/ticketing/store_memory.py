"""In-memory twins of the ticketing stores (``ports.RequestStore``, ``ports.AlertStore``), for fast
use-case tests. The contract tests (tests/ticketing/test_store_contract.py) run the same checks on
these and on ``store.py`` against the real store, so the twins cannot drift from it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from services.ticketing.domain.requests import Fact
from services.ticketing.domain.tracker import TrackerLink
from services.ticketing.domain.views import (
    AlertRecord,
    RequestFilter,
    RequestSummary,
    request_key,
    split_request_key,
)
from services.ticketing.ports import DueBatch
from services.ticketing.store import (
    EPOCH,
    MAX_SLOTS,
    SLOT,
    SLOT_FORMAT,
    SLOT_OVERLAP,
    TENANT_FIELDS,
    slot_name,
    slot_start,
)
from shared.privacy import erasure_key


class MemoryRequestStore:
    """Request events and summaries in dictionaries, with the Mongo store's due-slot reading."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Fact]] = {}
        self.summaries: dict[str, RequestSummary] = {}
        #: the last slot recorded as swept
        self.swept_slot: str | None = None
        #: ``erasure_key`` of the tenants erased
        self.erased: set[str] = set()

    async def add_events(self, facts: Mapping[str, Sequence[Fact]]) -> set[tuple[str, str]]:
        known: set[tuple[str, str]] = set()
        for key, key_facts in facts.items():
            stored = self.events.setdefault(key, {})
            for fact in key_facts:
                if fact.id in stored:
                    known.add((key, fact.id))
                else:
                    stored[fact.id] = fact
        return known

    async def facts_of(self, keys: Iterable[str]) -> dict[str, list[Fact]]:
        return {k: list(self.events.get(k, {}).values()) for k in dict.fromkeys(keys)}

    async def write(self, summaries: Sequence[RequestSummary]) -> None:
        for summary in summaries:
            self.summaries[summary.key] = summary

    async def stale(self, keys: Iterable[str]) -> list[str]:
        stale = []
        for key in dict.fromkeys(keys):
            written = self.summaries.get(key)
            if written is None or written.n_events != len(self.events.get(key, {})):
                stale.append(key)
        return stale

    async def get(self, office: str, request_id: str) -> list[Fact] | None:
        return list(self.events.get(request_key(office, request_id), {}).values()) or None

    async def erase_tenant(self, office: str, tenant_ref: str, at: datetime) -> int:
        self.erased.add(erasure_key(office, tenant_ref))
        touched = set()
        for key, facts in self.events.items():
            if split_request_key(key)[0] != office:
                continue
            for fact_id, fact in list(facts.items()):
                if fact.data.get("tenant_ref") == tenant_ref:
                    data = {k: v for k, v in fact.data.items() if k not in TENANT_FIELDS}
                    facts[fact_id] = replace(fact, data={**data, "tenant_erased": True})
                    touched.add(key)
        return len(touched)

    async def erased_among(self, tenants: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        return {(office, ref) for office, ref in tenants if erasure_key(office, ref) in self.erased}

    async def due(self, now: datetime, limit: int) -> DueBatch:
        current = slot_start(now)
        slots: set[str | None] | None = None
        if self.swept_slot is not None:
            last = datetime.strptime(self.swept_slot, SLOT_FORMAT).replace(tzinfo=UTC)
            first = min(last, current) - SLOT_OVERLAP * SLOT
            n_slots = (current - first) // SLOT + 1
            if n_slots <= MAX_SLOTS:
                slots = {(first + i * SLOT).strftime(SLOT_FORMAT) for i in range(n_slots)}
        due = sorted(
            (
                s
                for s in self.summaries.values()
                if s.next_check_at is not None
                and s.next_check_at <= now
                and (slots is None or slot_name(s.next_check_at) in slots)
            ),
            key=lambda s: (s.next_check_at or EPOCH, s.key),
        )
        keys = [s.key for s in due[: limit + 1]]
        complete = len(keys) <= limit
        return DueBatch(keys[:limit], current.strftime(SLOT_FORMAT) if complete else None)

    async def swept(self, batch: DueBatch) -> None:
        if batch.swept_slot is not None:
            self.swept_slot = batch.swept_slot

    async def page(self, where: RequestFilter, limit: int, after: str | None) -> tuple[list[RequestSummary], bool]:
        found = [
            s
            for key, s in sorted(self.summaries.items())
            if (after is None or key > after)
            and (where.office is None or s.office == where.office)
            and (where.state is None or s.state == where.state)
            and (where.breached is None or s.breached == where.breached)
            and (where.category is None or s.category == where.category)
        ]
        return found[:limit], len(found) > limit

    async def count_open(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for s in self.summaries.values():
            if s.state != "closed":
                counts[(s.office, s.state)] = counts.get((s.office, s.state), 0) + 1
        return counts


@dataclass
class _Alert:
    record: AlertRecord
    published: bool = False
    lease_until: datetime = EPOCH


class MemoryAlertStore:
    """SLA alerts in a dictionary, claimed per lease slot as the Mongo store claims them."""

    def __init__(self) -> None:
        self.alerts: dict[str, _Alert] = {}
        #: (alert key, lease slot) → owner
        self.claims: dict[tuple[str, int], str] = {}

    async def record(self, alerts: Sequence[AlertRecord], now: datetime) -> list[AlertRecord]:
        recorded = []
        for alert in {a.key: a for a in alerts}.values():
            if alert.key not in self.alerts:
                self.alerts[alert.key] = _Alert(alert)
                recorded.append(alert)
        return recorded

    async def recorded(self, keys: Iterable[str]) -> dict[str, bool]:
        return {k: self.alerts[k].record.historical for k in keys if k in self.alerts}

    async def of_request(self, office: str, request_id: str) -> list[AlertRecord]:
        records = (self.alerts[key].record for key in sorted(self.alerts))
        return [r for r in records if r.office == office and r.request_id == request_id]

    async def claim(self, now: datetime, lease: timedelta) -> tuple[str, list[AlertRecord]]:
        owner = uuid.uuid4().hex
        slot = int(now.timestamp() // max(lease.total_seconds(), 0.001))
        won = []
        for key, alert in self.alerts.items():
            if not alert.published and alert.lease_until <= now and (key, slot) not in self.claims:
                self.claims[(key, slot)] = owner
                alert.lease_until = now + lease
                won.append(alert.record)
        return owner, won

    async def mark_published(self, owner: str, keys: Sequence[str]) -> None:
        for key in keys:
            if key in self.alerts:
                self.alerts[key].published = True

    async def release(self, owner: str, keys: Sequence[str]) -> None:
        wanted = set(keys)
        self.claims = {c: o for c, o in self.claims.items() if not (c[0] in wanted and o == owner)}
        for key in wanted:
            alert = self.alerts.get(key)
            if alert is not None and not alert.published:
                alert.lease_until = EPOCH


class MemoryTrackerStore:
    """Tracker links by digest and erased tenants, in dictionaries."""

    def __init__(self) -> None:
        self.links: dict[str, TrackerLink] = {}
        self.erased: set[tuple[str, str]] = set()

    async def record(self, links: Sequence[TrackerLink]) -> int:
        added = 0
        for link in links:
            if link.digest in self.links or (link.tenant_ref and (link.office, link.tenant_ref) in self.erased):
                continue
            self.links[link.digest] = link
            added += 1
        return added

    async def find(self, digest: str) -> TrackerLink | None:
        return self.links.get(digest)

    async def erase(self, office: str, tenant_ref: str) -> int:
        self.erased.add((office, tenant_ref))
        gone = [d for d, link in self.links.items() if link.office == office and link.tenant_ref == tenant_ref]
        for digest in gone:
            del self.links[digest]
        return len(gone)
