"""Recompute request summaries from their stored events (``shared.projection``): record the alerts
each evaluation calls for, then write the summaries; redo those a concurrent writer made stale."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from services.ticketing.domain.requests import Fact
from services.ticketing.domain.views import View, alert_records, project, split_request_key, summarize
from services.ticketing.handlers.alerts import record_alerts
from services.ticketing.handlers.context import Ticketing
from shared.bus import TransientError
from shared.projection import refresh

#: computations of a batch's request summaries before giving up (concurrent writers)
REFRESH_ROUNDS = 5


def view_of(t: Ticketing, office: str, request_id: str, facts: Iterable[Fact], now: datetime) -> View:
    return project(t.office(office), request_id, facts, now)


class RequestProjection:
    """The request summaries as ``shared.projection.refresh`` recomputes them, at one moment."""

    def __init__(self, t: Ticketing, now: datetime) -> None:
        self.t = t
        self.now = now

    async def load(self, keys: Sequence[str]) -> Mapping[str, Sequence[Fact]]:
        return await self.t.requests.facts_of(keys)

    def compute(self, key: str, facts: Sequence[Fact]) -> View:
        office, request_id = split_request_key(key)
        return view_of(self.t, office, request_id, facts, self.now)

    async def write(self, views: Mapping[str, View]) -> None:
        # the alerts first: the summary moves ``next_check_at`` past their thresholds
        await record_alerts(self.t, [record for view in views.values() for record in alert_records(view)], self.now)
        await self.t.requests.write([summarize(view, self.now) for view in views.values()])

    async def stale(self, keys: Sequence[str]) -> Sequence[str]:
        return await self.t.requests.stale(keys)


async def refresh_requests(t: Ticketing, keys: Sequence[str], now: datetime) -> dict[str, View]:
    """Recompute the summaries of ``keys`` and record the alerts they call for; another instance
    may have written an older summary after ours: those are redone (``TransientError`` if they
    keep changing, so the batch is retried)."""
    done = await refresh(RequestProjection(t, now), keys, rounds=REFRESH_ROUNDS)
    if done.stale:
        raise TransientError("request projections kept changing under concurrent writers")
    return done.projections
