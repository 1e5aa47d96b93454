"""Ingest use case: a consumed batch of events → kept events → refolded facts → dirty office-days.

Per batch: the events analytics keeps are routed by type (``ROUTES``) to what is kept of them,
stored once, the facts of their keys folded again from all their stored events and written
(again while a concurrent instance left some stale), then the office-days those facts touch are
marked dirty for the rollups (docs/analytics.md, "Facts" and "Daily rollups")."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

from services.analytics.domain.facts import (
    ALERT_TYPES,
    NOTIFICATION_OUTCOMES,
    REQUEST_TYPES,
    SURVEY_TYPES,
    OfficeBook,
    fold,
    keep_alert,
    keep_followup,
    keep_notification,
    keep_request,
    keep_survey,
)
from services.analytics.domain.records import Fact, NotificationFact, RequestFact, StoredEvent, day_key
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.ports import FactStore, RollupStore
from shared.events import CloudEvent, short_type
from shared.projection import Projection, refresh

#: what is kept of an event, by short type (``event`` and its short type → the kept event)
Keeper = Callable[[CloudEvent, str], StoredEvent]

#: the one routing table: event types analytics keeps; any other is counted as ignored
ROUTES: dict[str, Keeper] = {
    **dict.fromkeys(sorted(REQUEST_TYPES), keep_request),
    **dict.fromkeys(sorted(SURVEY_TYPES), keep_survey),
    **dict.fromkeys(sorted(ALERT_TYPES), keep_alert),
    **{f"notification.{outcome}": keep_notification for outcome in NOTIFICATION_OUTCOMES},
    "followup.done": keep_followup,
}

#: recomputations of a fact a concurrent instance overwrote with fewer events, per batch (after
#: the last one the batch goes on: that instance checks its own write too)
STALE_ROUNDS = 3


class FactProjection:
    """Facts as a projection of their stored events (``shared.projection.Projection``), for one
    batch: records the facts written and the office-days they touched before and touch now."""

    def __init__(self, book: OfficeBook, store: FactStore, metrics: AnalyticsMetrics | None) -> None:
        self.book = book
        self.store = store
        self.metrics = metrics
        self.touched: set[str] = set()
        self.written: list[Fact] = []

    async def load(self, keys: Sequence[str]) -> Mapping[str, Sequence[StoredEvent]]:
        return await self.store.events_of(keys)

    def compute(self, key: str, events: Sequence[StoredEvent]) -> Fact | None:
        return fold(key, events, self.book.of_key(key)) if events else None

    async def write(self, projections: Mapping[str, Fact]) -> None:
        facts = list(projections.values())
        before = await self.store.days_of(f.key for f in facts)
        members: list[tuple[str, str]] = []
        for f in facts:
            old = set(before.get(f.key, ()))
            self.touched.update(f"{f.office}|{d}" for d in old | set(f.days))
            # a fact's memberships are written before the fact, so the days a stored fact lists
            # are always recorded: only the new ones need writing
            members.extend((f"{f.office}|{d}", f.key) for d in f.days if d not in old)
        await self.store.add_members(members)
        await self.store.write_facts(facts)
        self.written += facts
        if self.metrics is not None:
            self.metrics.facts_written.inc(len(facts))

    async def stale(self, keys: Sequence[str]) -> Sequence[str]:
        return await self.store.stale(keys)


class Ingest:
    """Keeps what consumed events say (idempotent: a redelivered batch changes nothing)."""

    def __init__(
        self,
        book: OfficeBook,
        facts: FactStore,
        rollups: RollupStore,
        metrics: AnalyticsMetrics | None,
        marked: Callable[[Iterable[str]], None],
    ) -> None:
        self.book = book
        self.facts = facts
        self.rollups = rollups
        self.metrics = metrics
        #: told the office-days each batch marked dirty
        self.marked = marked

    async def apply(self, events: Sequence[CloudEvent]) -> None:
        kept: list[StoredEvent] = []
        for event in events:
            kind = short_type(event.type)
            keeper = ROUTES.get(kind)
            if keeper is None:
                self._count(kind, "ignored")
                continue
            kept.append(keeper(event, kind))
        if not kept:
            return
        unique = list({e.id: e for e in kept}.values())
        duplicates = await self.facts.add_events(unique)
        # facts are recomputed even when every event was a duplicate: a crash may have stored
        # the events and not the facts (nor marked their days)
        projection = FactProjection(self.book, self.facts, self.metrics)
        port: Projection[str, StoredEvent, Fact] = projection
        await refresh(port, [e.key for e in unique], rounds=STALE_ROUNDS + 1, recheck_all=True, check_last=False)
        await self._mark(projection.written, projection.touched)
        self._count_kept(kept, duplicates)

    async def _mark(self, written: Sequence[Fact], touched: set[str]) -> None:
        """Mark the touched office-days dirty, with the day of each request a written
        notification acknowledges (looked up after the notification was written, so either this
        finds the request or the request's own batch, later, finds the notification), and the
        rating day of each survey about a written request (its contractor's ratings; the same
        way round: either this finds the survey or the survey's rollup reads this request)."""
        causes = [f.cause_id for f in written if isinstance(f, NotificationFact) and f.cause_id]
        for request in await self.facts.opened_by(causes):
            if request.opened_at is not None:
                zone = self.book.of_key(request.key).tz
                touched.add(day_key(request.office, request.opened_at.astimezone(zone).date()))
        # a request's attribution only ever goes from none to a contractor (events accumulate):
        # one without a contractor changed no rating's day
        about = [
            (f.office, f.key.split("|", 2)[2])
            for f in written
            if isinstance(f, RequestFact) and f.contractor is not None and not f.placeholder
        ]
        for survey in await self.facts.surveys_about(about):
            if survey.rating is not None:
                zone = self.book.of_key(survey.key).tz
                touched.add(day_key(survey.office, survey.rating.at.astimezone(zone).date()))
        await self.rollups.mark_dirty(sorted(touched), uuid.uuid4().hex)
        self.marked(touched)

    def _count(self, kind: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.events.labels(kind, outcome).inc()

    def _count_kept(self, kept: Sequence[StoredEvent], duplicates: set[str]) -> None:
        if self.metrics is None:
            return
        seen: set[str] = set()
        for e in kept:
            if e.id in duplicates or e.id in seen:
                self.metrics.events.labels(e.type, "duplicate").inc()
                continue
            seen.add(e.id)
            self.metrics.events.labels(e.type, "new").inc()
            if e.type.startswith("notification.") or e.type == "followup.done":
                channel = "unknown" if e.channel is None else e.channel
                self.metrics.notifications.labels(e.office, channel, e.type.removeprefix("notification.")).inc()
