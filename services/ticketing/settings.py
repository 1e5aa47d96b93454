"""Settings of the ticketing service (``CANOPEE_TICKETING_*``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings


class TicketingSettings(ServiceSettings):
    """Ticketing settings; see docs/ticketing.md."""

    service: ClassVar[str] = "ticketing"
    default_port: ClassVar[int] = 8001
    needs_admin_token: ClassVar[bool] = True

    #: how often the sweeper looks for SLA thresholds that passed (``CANOPEE_TICKETING_SWEEP_SECONDS``)
    sweep_seconds: float = Field(30.0, gt=0, le=3600)
    #: most requests one sweep recomputes (the rest wait for the next tick)
    sweep_batch: int = Field(1000, ge=1, le=100_000)
    #: how often the open-requests gauge is refreshed from the store
    gauge_seconds: float = Field(60.0, gt=0, le=3600)
    #: how long an instance may hold an alert it is publishing before another one takes over
    publish_lease_seconds: float = Field(30.0, gt=0, le=3600)
    #: alerts that newly consumed events reveal are recorded by the sweeper once the request's
    #: events have been quiet this long (a replay or backfill delivers a request's events over
    #: several batches: a clock must not be judged on half of them); 0: recorded at once
    alert_settle_seconds: float = Field(10.0, ge=0, le=3600)
