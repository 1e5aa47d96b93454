"""SLA alerts: record each once, then publish what is recorded and not published yet.

Exactly-once alerts: an alert is first recorded under its unique key (office, request, stage, kind)
with the event to publish, and only then is the request's summary written; publishing comes last
and marks the record published. A crash anywhere leaves either nothing (the cause is redelivered
or the sweeper finds the threshold again) or an unpublished record the next sweep publishes. The
event id is derived from the same key, so even a publish repeated after a crash carries the same
id and downstream deduplicates it. Publishing holds a lease on each alert, so that of several
instances one at a time publishes it; a failed publish gives the lease back at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from services.ticketing.domain.sla import AlertKind
from services.ticketing.domain.views import AlertRecord
from services.ticketing.handlers.context import Ticketing
from shared.events import parse_event
from shared.outbox import LeasedRelay

log = logging.getLogger("canopee.ticketing")


async def record_alerts(t: Ticketing, records: Sequence[AlertRecord], now: datetime) -> None:
    """Record the alerts not recorded yet; count and log those this call recorded."""
    for record in await t.alerts.record(records, now):
        counter = t.metrics.breaches if record.kind == AlertKind.BREACHED else t.metrics.at_risk
        counter.labels(record.office, record.stage, record.policy).inc()
        log.info(
            "sla.%s recorded for stage %s (%s)",
            record.kind,
            record.stage,
            record.policy,
            extra={"office": record.office},
        )


async def publish_pending(t: Ticketing) -> int:
    """Publish every recorded alert not published yet (ours, or left by a failed attempt)."""
    relay = LeasedRelay(
        t.alerts,
        t.publisher,
        key=lambda record: record.key,
        event=lambda record: parse_event(record.event),
        lease=t.publish_lease,
        clock=t.clock,
        failed=lambda claimed: t.metrics.published.labels("failed").inc(len(claimed)),
    )
    published = await relay.flush()
    if published:
        t.metrics.published.labels("ok").inc(len(published))
    return len(published)
