"""SLA alerts: record each once, then publish what is recorded and not published yet.

Exactly-once alerts: an alert is first recorded under its unique key (office, request, stage, kind)
with the event to publish, and only then is the request's summary written; publishing comes last
and marks the record published. A crash anywhere leaves either nothing (the cause is redelivered
or the sweeper finds the threshold again) or an unpublished record the next sweep publishes. The
event id is derived from the same key, so even a publish repeated after a crash carries the same
id and downstream deduplicates it. Publishing holds a lease on each alert, so that of several
instances one at a time publishes it; a failed publish gives the lease back at once.

An alert found after the office's horizon is recorded as historical and counted: its event is
published all the same (a fact; analytics counts breaches), timed when the threshold was crossed,
so that notifications, applying the same horizon, sends it to nobody.
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


async def record_alerts(t: Ticketing, records: Sequence[AlertRecord], now: datetime) -> set[str]:
    """Record the alerts not recorded yet; count and log those this call recorded. Returns the
    keys of ``records`` recorded as historical (by this call or before)."""
    recorded = await t.alerts.record(records, now)
    for record in recorded:
        counter = t.metrics.breaches if record.kind == AlertKind.BREACHED else t.metrics.at_risk
        counter.labels(record.office, record.stage, record.policy).inc()
        if record.historical:
            t.metrics.historical.labels(record.office, record.stage, record.kind).inc()
        log.info(
            "sla.%s recorded for stage %s (%s)%s",
            record.kind,
            record.stage,
            record.policy,
            " as historical: found after the office's horizon, acted on towards nobody" if record.historical else "",
            extra={"office": record.office},
        )
    new = {record.key for record in recorded}
    earlier = await t.alerts.recorded([record.key for record in records if record.key not in new])
    return {record.key for record in recorded if record.historical} | {k for k, old in earlier.items() if old}


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
