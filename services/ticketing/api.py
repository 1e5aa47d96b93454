"""HTTP API: where a request stands (state, timeline, SLA clocks) and filtered request lists.

``Authorization: Bearer <token>``: the admin token sees every office, an office's token only its
own; another office's request answers 404, exactly as a request that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from services.ticketing.domain.requests import State
from services.ticketing.domain.sla import Clock
from services.ticketing.domain.views import RequestFilter
from services.ticketing.handlers import TicketingService
from services.ticketing.handlers.queries import InvalidCursor
from services.ticketing.page import not_found_html, tracker_html
from shared.events import Category
from shared.http import Caller, Problem
from shared.web_security import PUBLIC_PAGE_HEADERS


class TargetOut(BaseModel):
    amount: float
    unit: str  # "working_days" or "hours"


class ClockOut(BaseModel):
    stage: str
    policy: str
    target: TargetOut
    started_at: datetime
    stopped_at: datetime | None
    due_at: datetime | None
    at_risk_at: datetime | None
    elapsed_seconds: float
    paused: bool
    #: ok, at_risk, breached, met, or not_applicable (an intervention clock of a request closed
    #: with no repair before its target passed)
    status: str


class AlertOut(BaseModel):
    stage: str
    policy: str
    kind: str  # at_risk or breached
    #: when the threshold was crossed (the time of the ``sla.*`` event)
    at: datetime
    due_at: datetime | None
    #: found after the office's history horizon: recorded and published, nobody alerted
    historical: bool


class TimelineEntryOut(BaseModel):
    id: str
    type: str
    time: datetime
    data: dict[str, Any]
    flagged: bool
    flag: str | None


class RequestOut(BaseModel):
    office: str
    request_id: str
    state: str
    placeholder: bool
    category: str | None
    urgency: str | None
    channel: str | None
    tenant_ref: str | None
    resolution: str | None
    opened_at: datetime | None
    paused: bool
    flagged: int
    clocks: list[ClockOut]
    #: the SLA alerts recorded for the request, live or historical
    alerts: list[AlertOut]
    timeline: list[TimelineEntryOut]


class ClockSummaryOut(BaseModel):
    stage: str
    policy: str
    status: str
    due_at: datetime | None
    paused: bool
    #: the clock's current alert was recorded as historical (nobody was alerted)
    historical: bool


class RequestSummaryOut(BaseModel):
    office: str
    request_id: str
    state: str
    placeholder: bool
    category: str | None
    urgency: str | None
    opened_at: datetime | None
    last_event_at: datetime | None
    breached: bool
    at_risk: bool
    flagged: int
    clocks: list[ClockSummaryOut]
    updated_at: datetime | None


class RequestPageOut(BaseModel):
    items: list[RequestSummaryOut]
    #: pass as ``cursor`` to get the next page; null on the last page
    next_cursor: str | None


def _clock_out(clock: Clock) -> ClockOut:
    return ClockOut(
        stage=clock.stage.value,
        policy=clock.policy,
        target=TargetOut(amount=clock.target.amount, unit=clock.target.unit),
        started_at=clock.started_at,
        stopped_at=clock.stopped_at,
        due_at=clock.due_at,
        at_risk_at=clock.at_risk_at,
        elapsed_seconds=clock.elapsed.total_seconds(),
        paused=clock.paused,
        status=clock.status.value,
    )


def router(service: Callable[[], TicketingService], auth: Callable[..., Awaitable[Caller]]) -> APIRouter:
    """The request API; ``service`` gives the running service (built in the app's lifespan)."""
    api = APIRouter(prefix="/v1", tags=["requests"])

    @api.get("/requests/{office}/{request_id}", response_model=RequestOut)
    async def get_request(office: str, request_id: str, caller: Caller = Depends(auth)) -> RequestOut:
        """A request's state, full timeline (flagged events included), every SLA clock and the
        SLA alerts recorded for it (historical ones marked)."""
        view = await service().find(office, request_id) if caller.can_see(office) else None
        if view is None:
            raise Problem(404, "Not Found", f"no request {request_id} in office {office}")
        alerts = await service().alerts(office, request_id)
        r = view.request
        return RequestOut(
            office=office,
            request_id=request_id,
            state=r.state.value,
            placeholder=not r.opened,
            category=r.category,
            urgency=r.urgency,
            channel=r.channel,
            tenant_ref=r.tenant_ref,
            resolution=r.resolution,
            opened_at=r.opened_at,
            paused=r.paused,
            flagged=r.flagged,
            clocks=[_clock_out(c) for c in view.evaluation.clocks],
            alerts=[
                AlertOut(stage=a.stage, policy=a.policy, kind=a.kind, at=a.at, due_at=a.due_at, historical=a.historical)
                for a in alerts
            ],
            timeline=[
                TimelineEntryOut(
                    id=e.fact.id,
                    type=e.fact.type,
                    time=e.fact.time,
                    data=dict(e.fact.data),
                    flagged=e.flag is not None,
                    flag=e.flag,
                )
                for e in r.timeline
            ],
        )

    @api.get("/requests", response_model=RequestPageOut)
    async def list_requests(
        caller: Caller = Depends(auth),
        office: str | None = None,
        state: State | None = None,
        breached: bool | None = None,
        category: Category | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> RequestPageOut:
        """Requests ordered by office and id, filtered; an office token lists its own office only."""
        if caller.office is not None:
            if office is not None and office != caller.office:
                raise Problem(403, "Forbidden", "this token may only list its own office")
            office = caller.office
        where = RequestFilter(
            office=office,
            state=state.value if state else None,
            breached=breached,
            category=category.value if category else None,
        )
        try:
            items, next_cursor = await service().list_requests(where, limit, cursor)
        except InvalidCursor as exc:
            raise Problem(400, "Bad Request", str(exc)) from None
        return RequestPageOut(
            items=[
                RequestSummaryOut.model_validate(
                    {k: v for k, v in asdict(s).items() if k in RequestSummaryOut.model_fields}
                )
                for s in items
            ],
            next_cursor=next_cursor,
        )

    return api


#: a tracker page is personal: never kept by a shared cache, never indexed
#: the strict headers of every public page (no script, no framing, no referrer), not cached nor indexed
_TRACKER_HEADERS = {**PUBLIC_PAGE_HEADERS, "Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def tracker_router(service: Callable[[], TicketingService]) -> APIRouter:
    """The tenant's tracker page ``/t/{token}`` (no login: the token is the key)."""
    api = APIRouter(tags=["tracker"])

    @api.get("/t/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def tracker(token: str) -> HTMLResponse:
        page = await service().tracker(token)
        if page is None:
            return HTMLResponse(not_found_html(), status_code=404, headers=_TRACKER_HEADERS)
        return HTMLResponse(tracker_html(page), headers=_TRACKER_HEADERS)

    return api
