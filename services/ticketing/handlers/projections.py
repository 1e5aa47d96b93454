"""Recompute request summaries from their stored events (``shared.projection``): record the alerts
each evaluation calls for, then write the summaries; redo those a concurrent writer made stale.

Alerts that newly consumed events reveal are not judged on those events alone when the service
waits for requests to settle (``alert_settle``): a replay or backfill delivers one request's events
over several batches, and a clock evaluated in between (its stopping event not delivered yet) would
look breached. The summary then asks the sweeper to look again once the request has been quiet
for that long, and the sweeper records what is still due — the same alerts whatever the batches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from services.ticketing.domain.requests import Fact
from services.ticketing.domain.views import (
    AlertRecord,
    RequestSummary,
    View,
    alert_records,
    project,
    request_key,
    split_request_key,
    summarize,
)
from services.ticketing.handlers.alerts import record_alerts
from services.ticketing.handlers.context import Ticketing
from shared.bus import TransientError
from shared.projection import refresh

#: computations of a batch's request summaries before giving up (concurrent writers)
REFRESH_ROUNDS = 5


def view_of(t: Ticketing, office: str, request_id: str, facts: Iterable[Fact], now: datetime) -> View:
    return project(t.office(office), request_id, facts, now)


class RequestProjection:
    """The request summaries as ``shared.projection.refresh`` recomputes them, at one moment;
    ``settle``: alerts not recorded yet wait for the request to be quiet (consumed events)."""

    def __init__(self, t: Ticketing, now: datetime, *, settle: bool = False) -> None:
        self.t = t
        self.now = now
        self.settle = settle and t.alert_settle.total_seconds() > 0

    async def load(self, keys: Sequence[str]) -> Mapping[str, Sequence[Fact]]:
        return await self.t.requests.facts_of(keys)

    def compute(self, key: str, facts: Sequence[Fact]) -> View:
        office, request_id = split_request_key(key)
        return view_of(self.t, office, request_id, facts, self.now)

    async def write(self, views: Mapping[str, View]) -> None:
        # the alerts first: the summary moves ``next_check_at`` past their thresholds
        records = [
            record for view in views.values() for record in alert_records(view, self.t.office(view.office), self.now)
        ]
        if not self.settle:
            historical = await record_alerts(self.t, records, self.now)
            await self.t.requests.write([summarize(view, self.now, historical) for view in views.values()])
            return
        known = await self.t.alerts.recorded([record.key for record in records])
        historical = {key for key, old in known.items() if old}
        waiting = {_request(record) for record in records if record.key not in known}
        await self.t.requests.write(
            [self._settling(summarize(view, self.now, historical), waiting) for view in views.values()]
        )

    def _settling(self, summary: RequestSummary, waiting: set[str]) -> RequestSummary:
        """The summary of a request whose new alerts wait: the sweeper looks again once settled."""
        if summary.key not in waiting:
            return summary
        settled = self.now + self.t.alert_settle
        return replace(summary, next_check_at=min(summary.next_check_at or settled, settled))

    async def stale(self, keys: Sequence[str]) -> Sequence[str]:
        return await self.t.requests.stale(keys)


def _request(record: AlertRecord) -> str:
    return request_key(record.office, record.request_id)


async def refresh_requests(
    t: Ticketing, keys: Sequence[str], now: datetime, *, settle: bool = False
) -> dict[str, View]:
    """Recompute the summaries of ``keys`` and record the alerts they call for (with ``settle``,
    those not recorded yet wait for the sweeper once the requests are quiet); another instance
    may have written an older summary after ours: those are redone (``TransientError`` if they
    keep changing, so the batch is retried)."""
    done = await refresh(RequestProjection(t, now, settle=settle), keys, rounds=REFRESH_ROUNDS)
    if done.stale:
        raise TransientError("request projections kept changing under concurrent writers")
    return done.projections
