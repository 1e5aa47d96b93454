"""Use cases of the ticketing service: apply a batch of request events, sweep for SLA thresholds
that passed, publish recorded alerts. Dependencies are passed in; the clock is injectable.

Exactly-once alerts: an alert is first recorded under its unique key (office, request, stage, kind)
with the event to publish, and only then is the request document written; publishing comes last
and marks the record published. A crash anywhere leaves either nothing (the cause is redelivered
or the sweeper finds the threshold again) or an unpublished record the next sweep publishes. The
event id is derived from the same key, so even a publish repeated after a crash carries the same
id and downstream deduplicates it.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from services.ticketing.calendar import WorkingCalendar
from services.ticketing.domain import Fact, RequestState, fold
from services.ticketing.metrics import TicketingMetrics
from services.ticketing.sla import AlertKind, Evaluation, evaluate
from services.ticketing.store import (
    AlertRecord,
    MongoAlertRepository,
    MongoRequestRepository,
    RequestWrite,
    StoredRequest,
    request_key,
)
from shared.bus import TransientError
from shared.events import CloudEvent, SlaAtRisk, SlaBreached, parse_event, service_event
from shared.offices import Office, Offices

log = logging.getLogger("canopee.ticketing")

Clock = Callable[[], datetime]

SERVICE = "ticketing"


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventPublisher(Protocol):
    async def publish(self, events: Iterable[CloudEvent]) -> None: ...


@dataclass
class Calendars:
    """One working calendar per office (built once: holiday tables and day windows are cached)."""

    offices: Offices
    _cache: dict[str, WorkingCalendar] = field(default_factory=dict)

    def office(self, office_id: str) -> Office:
        office = self.offices.get(office_id)
        if office is None:  # the consumer dead-letters unknown offices before they get here
            raise ValueError(f"unknown office {office_id!r}")
        return office

    def __call__(self, office_id: str) -> WorkingCalendar:
        calendar = self._cache.get(office_id)
        if calendar is None:
            office = self.office(office_id)
            calendar = WorkingCalendar(office.tz, office.sla.day_start, office.sla.day_end)
            self._cache[office_id] = calendar
        return calendar


@dataclass(frozen=True)
class View:
    """A request folded and evaluated at a moment."""

    office: str
    request_id: str
    request: RequestState
    evaluation: Evaluation


def summary_fields(view: View, now: datetime) -> dict[str, Any]:
    """What a request document keeps besides its events, for lists, filters and the sweeper."""
    r = view.request
    return {
        "state": r.state.value,
        "placeholder": not r.opened,
        "category": r.category,
        "urgency": r.urgency,
        "channel": r.channel,
        "opened_at": r.opened_at,
        "last_event_at": r.timeline[-1].fact.time if r.timeline else None,
        "flagged": r.flagged,
        "breached": view.evaluation.breached,
        "at_risk": view.evaluation.at_risk,
        "clocks": [
            {
                "stage": c.stage.value,
                "policy": c.policy,
                "status": c.status.value,
                "due_at": c.due_at,
                "paused": c.paused,
            }
            for c in view.evaluation.clocks
        ],
        "next_check_at": view.evaluation.next_check_at,
        "updated_at": now,
    }


class TicketingService:
    """The ticketing use cases, over repositories, a publisher and a clock."""

    def __init__(
        self,
        *,
        offices: Offices,
        requests: MongoRequestRepository,
        alerts: MongoAlertRepository,
        publisher: EventPublisher,
        metrics: TicketingMetrics,
        clock: Clock = utc_now,
        publish_lease: timedelta = timedelta(seconds=30),
        sweep_batch: int = 1000,
    ) -> None:
        self.calendars = Calendars(offices)
        self.requests = requests
        self.alerts = alerts
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock
        self.publish_lease = publish_lease
        self.sweep_batch = sweep_batch

    # --- pure helpers -------------------------------------------------------------------------

    def view(self, office: str, request_id: str, facts: Iterable[Fact], now: datetime) -> View:
        request = fold(facts)
        targets = self.calendars.office(office).sla
        return View(office, request_id, request, evaluate(request, targets, self.calendars(office), now))

    def alert_records(self, view: View) -> list[AlertRecord]:
        records = []
        for alert in view.evaluation.alerts:
            cls = SlaBreached if alert.kind == AlertKind.BREACHED else SlaAtRisk
            event = service_event(
                cls,
                service=SERVICE,
                officeid=view.office,
                subject=view.request_id,
                time=alert.at,
                data={
                    "request_id": view.request_id,
                    "stage": alert.stage.value,
                    "policy": alert.policy,
                    "due_at": alert.due_at.isoformat(),
                    "category": view.request.category,
                    **({"urgency": view.request.urgency} if view.request.urgency else {}),
                },
                cause=[view.office, view.request_id, alert.stage.value],
            )
            records.append(
                AlertRecord(
                    office=view.office,
                    request_id=view.request_id,
                    stage=alert.stage.value,
                    policy=alert.policy,
                    kind=alert.kind.value,
                    event=event.to_json().decode(),
                )
            )
        return records

    # --- use cases ----------------------------------------------------------------------------

    async def apply(self, events: Sequence[CloudEvent]) -> None:
        """Apply a batch of request events: one read and one bulk write for the whole batch."""
        now = self.clock()
        incoming: dict[str, list[Fact]] = defaultdict(list)
        where: dict[str, tuple[str, str]] = {}
        for event in events:
            key = request_key(event.officeid, event.subject)
            incoming[key].append(Fact.from_event(event))
            where[key] = (event.officeid, event.subject)
        stored = await self.requests.load(incoming)
        pending = dict(incoming)
        counted = False
        for _ in range(5):
            writes: list[RequestWrite] = []
            records: list[AlertRecord] = []
            outcomes: list[tuple[str, str]] = []
            for key, facts in pending.items():
                office, request_id = where[key]
                current = stored.get(key)
                known = {f.id for f in current.facts} if current else set()
                fresh: dict[str, Fact] = {}
                for fact in facts:
                    if fact.id in known or fact.id in fresh:
                        outcomes.append((fact.type, "duplicate"))
                    else:
                        fresh[fact.id] = fact
                if not fresh and current is not None:
                    continue
                all_facts = [*(current.facts if current else ()), *fresh.values()]
                view = self.view(office, request_id, all_facts, now)
                flags = {e.fact.id: e.flag for e in view.request.timeline}
                outcomes += [(f.type, "flagged" if flags.get(i) else "applied") for i, f in fresh.items()]
                writes.append(
                    RequestWrite(
                        key=key,
                        office=office,
                        request_id=request_id,
                        expected_version=current.version if current else None,
                        facts=[e.fact for e in view.request.timeline],
                        fields=summary_fields(view, now),
                    )
                )
                records += self.alert_records(view)
            await self._record(records, now)
            conflicts = await self.requests.save(writes)
            if not counted:
                for kind, outcome in outcomes:
                    self.metrics.facts.labels(kind, outcome).inc()
                counted = True
            if not conflicts:
                break
            # another instance wrote these requests meanwhile (a rebalance): merge with its events
            stored.update(await self.requests.load(conflicts))
            pending = {k: pending[k] for k in conflicts}
        else:
            raise TransientError("requests kept changing under concurrent writers")
        await self.publish_pending()

    async def sweep(self) -> int:
        """Recompute the requests whose next SLA threshold passed; record and publish the alerts
        they call for. Returns how many requests were recomputed."""
        started = time.perf_counter()
        now = self.clock()
        due = await self.requests.due(now, self.sweep_batch)
        records: list[AlertRecord] = []
        updates: list[tuple[str, int, dict[str, Any]]] = []
        for stored in due:
            view = self.view(stored.office, stored.request_id, stored.facts, now)
            records += self.alert_records(view)
            updates.append((stored.key, stored.version, summary_fields(view, now)))
        await self._record(records, now)
        await self.requests.set_checks(updates)
        await self.publish_pending()
        self.metrics.swept.inc(len(due))
        self.metrics.sweep_seconds.observe(time.perf_counter() - started)
        return len(due)

    async def _record(self, records: Sequence[AlertRecord], now: datetime) -> None:
        for record in await self.alerts.record(records, now):
            counter = self.metrics.breaches if record.kind == AlertKind.BREACHED else self.metrics.at_risk
            counter.labels(record.office, record.stage, record.policy).inc()
            log.info(
                "sla.%s recorded for stage %s (%s)",
                record.kind,
                record.stage,
                record.policy,
                extra={"office": record.office},
            )

    async def publish_pending(self) -> int:
        """Publish every recorded alert not published yet (ours, or left by a failed attempt)."""
        owner, docs = await self.alerts.claim(self.clock(), self.publish_lease)
        if not docs:
            return 0
        keys = [str(d["_id"]) for d in docs]
        try:
            await self.publisher.publish([parse_event(str(d["event"])) for d in docs])
        except Exception:
            self.metrics.published.labels("failed").inc(len(docs))
            await self.alerts.release(owner, keys)
            raise
        await self.alerts.mark_published(owner, keys)
        self.metrics.published.labels("ok").inc(len(docs))
        return len(docs)

    async def refresh_gauges(self) -> None:
        """Set the open-requests gauge from the store."""
        counts = await self.requests.count_open()
        self.metrics.open_requests.clear()
        for (office, state), n in counts.items():
            self.metrics.open_requests.labels(office, state).set(n)

    async def find(self, office: str, request_id: str) -> tuple[StoredRequest, View] | None:
        stored = await self.requests.get(office, request_id)
        if stored is None:
            return None
        return stored, self.view(office, request_id, stored.facts, self.clock())
