"""The SLA sweeper: recompute the requests whose next threshold passed (with no further event),
record and publish the ``sla.at_risk`` / ``sla.breached`` alerts they call for."""

from __future__ import annotations

import time

from services.ticketing.handlers.alerts import publish_pending
from services.ticketing.handlers.context import Ticketing
from services.ticketing.handlers.projections import refresh_requests


async def sweep(t: Ticketing) -> int:
    """One sweep; returns how many requests were recomputed."""
    started = time.perf_counter()
    now = t.clock()
    batch = await t.requests.due(now, t.sweep_batch)
    if batch.keys:
        await refresh_requests(t, batch.keys, now)
    # only once the alerts are recorded and the projections moved on: a crash before this
    # line leaves the slots to be read again
    await t.requests.swept(batch)
    await publish_pending(t)
    t.metrics.swept.inc(len(batch.keys))
    t.metrics.sweep_seconds.observe(time.perf_counter() - started)
    return len(batch.keys)
