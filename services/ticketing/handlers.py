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
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    request_key,
)
from shared.bus import TransientError
from shared.events import CloudEvent, SlaAtRisk, SlaBreached, parse_event, service_event
from shared.offices import Office, Offices
from shared.projection import refresh

log = logging.getLogger("canopee.ticketing")

Clock = Callable[[], datetime]

SERVICE = "ticketing"
#: computations of a batch's request projections before giving up (concurrent writers)
REFRESH_ROUNDS = 5


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
        "office": view.office,
        "request_id": view.request_id,
        "n_events": len(r.timeline),
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


class RequestProjection:
    """The request projections as ``shared.projection`` recomputes them, at one moment."""

    def __init__(self, service: TicketingService, now: datetime) -> None:
        self.service = service
        self.now = now

    async def load(self, keys: Sequence[str]) -> Mapping[str, Sequence[Fact]]:
        return await self.service.requests.facts_of(keys)

    def compute(self, key: str, facts: Sequence[Fact]) -> View:
        office, request_id = key.split("|", 1)
        return self.service.view(office, request_id, facts, self.now)

    async def write(self, projections: Mapping[str, View]) -> None:
        records = [record for view in projections.values() for record in self.service.alert_records(view)]
        await self.service._record(records, self.now)
        await self.service.requests.write([(key, summary_fields(view, self.now)) for key, view in projections.items()])

    async def stale(self, keys: Sequence[str]) -> Sequence[str]:
        return await self.service.requests.stale(keys)


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
        """Apply a batch of request events: store the new ones, then recompute each touched
        request once, with a handful of bulk round trips for the whole batch."""
        now = self.clock()
        incoming: dict[str, list[Fact]] = defaultdict(list)
        for event in events:
            incoming[request_key(event.officeid, event.subject)].append(Fact.from_event(event))
        fresh: dict[str, list[Fact]] = {}
        outcomes: list[tuple[str, str, str]] = []
        for key, facts in incoming.items():
            seen: set[str] = set()
            for fact in facts:
                if fact.id in seen:
                    outcomes.append((key, fact.id, "duplicate"))
                else:
                    seen.add(fact.id)
                    fresh.setdefault(key, []).append(fact)
        duplicates = await self.requests.add_events(fresh)
        views = await self._refresh(list(incoming), now)
        types = {(k, f.id): f.type for k, facts in incoming.items() for f in facts}
        outcomes += [
            (key, fact.id, "duplicate" if (key, fact.id) in duplicates else self._flag_outcome(views.get(key), fact.id))
            for key, facts in fresh.items()
            for fact in facts
        ]
        for key, event_id, outcome in outcomes:
            self.metrics.facts.labels(types[(key, event_id)], outcome).inc()
        await self.publish_pending()

    @staticmethod
    def _flag_outcome(view: View | None, event_id: str) -> str:
        if view is not None:
            for entry in view.request.timeline:
                if entry.fact.id == event_id:
                    return "flagged" if entry.flag else "applied"
        return "applied"

    async def _refresh(self, keys: Sequence[str], now: datetime) -> dict[str, View]:
        """Recompute the projections of ``keys`` from their stored events and record the alerts
        they call for (before the projection moves ``next_check_at`` past their thresholds);
        another instance may have written an older projection after ours: those are redone."""
        done = await refresh(RequestProjection(self, now), keys, rounds=REFRESH_ROUNDS)
        if done.stale:
            raise TransientError("request projections kept changing under concurrent writers")
        return done.projections

    async def sweep(self) -> int:
        """Recompute the requests whose next SLA threshold passed; record and publish the alerts
        they call for. Returns how many requests were recomputed."""
        started = time.perf_counter()
        now = self.clock()
        batch = await self.requests.due(now, self.sweep_batch)
        if batch.docs:
            await self._refresh([str(doc["_id"]) for doc in batch.docs], now)
        # only once the alerts are recorded and the projections moved on: a crash before this
        # line leaves the slots to be read again
        await self.requests.swept(batch)
        await self.publish_pending()
        self.metrics.swept.inc(len(batch.docs))
        self.metrics.sweep_seconds.observe(time.perf_counter() - started)
        return len(batch.docs)

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

    async def find(self, office: str, request_id: str) -> View | None:
        """A request folded and evaluated now, or None when no event of it is known."""
        facts = await self.requests.get(office, request_id)
        if facts is None:
            return None
        return self.view(office, request_id, facts, self.clock())
