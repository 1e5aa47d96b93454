"""HTTP routes: the tenant survey page ``/s/{token}`` and the operators' detractor alerts.

Alerts need ``Authorization: Bearer <token>``: the admin token sees every office, an office's token
only its own; another office's alert answers 404, exactly as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from services.feedback import domain, page
from services.feedback.handlers import FeedbackService, PageOutcome
from shared.http import Caller, Problem

#: a form body larger than this is refused (a comment is at most 1000 characters)
MAX_FORM_BYTES = 16_384
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)


class AlertOut(BaseModel):
    id: str
    office: str
    survey_id: str | None
    request_id: str | None
    tenant_ref: str
    score: int
    comment: str | None
    follow_up_due_at: datetime
    created_at: datetime
    open: bool
    acknowledged_at: datetime | None


def _alert_out(doc: dict[str, Any]) -> AlertOut:
    return AlertOut(id=doc["_id"], **{k: doc.get(k) for k in AlertOut.model_fields if k != "id"})


def _int(values: dict[str, list[str]], name: str, low: int, high: int) -> int | None:
    raw = values.get(name, [""])[0].strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(name)
    return int(raw)


def router(
    service: Callable[[], FeedbackService],
    auth: Callable[[Request], Awaitable[Caller]],
    secret: str,
    own_origin: str,
) -> APIRouter:
    api = APIRouter()

    @api.get("/s/{token}", response_class=HTMLResponse, tags=["tenant page"])
    async def survey_form(token: str) -> HTMLResponse:
        outcome, _ = await service().open_survey(token)
        if outcome is PageOutcome.INVALID:
            return _html(page.invalid_page(), 404)
        if outcome is PageOutcome.ALREADY:
            return _html(page.already_page())
        return _html(page.form_page(token, domain.form_field(secret, token)))

    @api.post("/s/{token}", response_class=HTMLResponse, tags=["tenant page"])
    async def survey_answer(token: str, request: Request) -> HTMLResponse:
        origin = request.headers.get("origin")
        # a browser names the page that posted: another site's form is refused (no cookies are
        # used, the hidden field bound to the token is the second check). Pages use the
        # same-origin referrer policy: with no-referrer, browsers would send "Origin: null"
        if origin is not None and origin != own_origin:
            return _html(page.forbidden_page(), 403)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _html(page.forbidden_page(), 413)
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if not domain.form_field_ok(secret, token, values.get("form", [""])[0]):
            outcome, _ = await service().open_survey(token)
            if outcome is PageOutcome.INVALID:  # no oracle: an unknown link answers the same everywhere
                return _html(page.invalid_page(), 404)
            return _html(page.forbidden_page(), 403)
        try:
            score = _int(values, "score", 1, 5)
            nps = _int(values, "nps", 0, 10)
        except ValueError:
            score = None
            nps = None
        comment = values.get("comment", [""])[0].strip()[:1000] or None
        if score is None:
            outcome, _ = await service().open_survey(token)
            if outcome is PageOutcome.INVALID:
                return _html(page.invalid_page(), 404)
            if outcome is PageOutcome.ALREADY:
                return _html(page.already_page())
            error = "Merci de choisir une note de 1 à 5."
            return _html(page.form_page(token, domain.form_field(secret, token), error), 422)
        outcome = await service().web_answer(token, score, nps, comment)
        if outcome is PageOutcome.INVALID:
            return _html(page.invalid_page(), 404)
        if outcome is PageOutcome.ALREADY:
            return _html(page.already_page())
        return _html(page.thanks_page())

    @api.get("/v1/alerts", tags=["alerts"])
    async def list_alerts(
        caller: Caller = Depends(auth),
        office: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{2,40}$")] = None,
        open: bool = True,
    ) -> list[AlertOut]:
        """Detractor alerts (the open ones by default), oldest first."""
        if caller.office is not None:
            if office is not None and office != caller.office:
                raise Problem(403, "Forbidden", "an office token sees only its own office")
            office = caller.office
        return [_alert_out(doc) for doc in await service().store.alerts(office, open)]

    @api.post("/v1/alerts/{alert_id}/ack", tags=["alerts"])
    async def ack_alert(alert_id: str, caller: Caller = Depends(auth)) -> AlertOut:
        """Acknowledge (close) a detractor alert: the manager called the tenant back."""
        alert = await service().ack(alert_id, caller.office)
        if alert is None:
            raise Problem(404, "Not Found", "no such alert")
        return _alert_out(alert)

    return api


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
