"""HTTP routes: the audit list (bearer auth), the provider webhooks (signed per Standard Webhooks,
``shared/webhooks.py``: a tolerance window, replays refused, two secrets during a rotation), and the
office's follow-up tasks (bearer auth, or the page's login like the analytics dashboard's)."""

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.events import FollowupChannel, FollowupOutcome
from shared.http import Caller, Problem
from shared.observability import mask_personal_data
from shared.sessions import sign_in, sign_out
from shared.webhooks import Refusal, parse_secrets, signed_headers, verify

from .domain.followups import Followup, FollowupStatus
from .domain.policy import InvalidContact
from .domain.records import AuditEntry
from .followups_page import SESSION_COOKIE as FOLLOWUPS_COOKIE
from .followups_page import Sessions, login_page, worklist_page
from .handlers import Notifier
from .handlers.followups import AlreadyDone, Followups

log = logging.getLogger(__name__)

#: the statuses the audit list can be filtered by
AuditStatus = Literal["pending", "grouped", "sending", "sent", "delivered", "failed", "suppressed", "awaiting_contact"]


def sign(secret: str, body: bytes) -> dict[str, str]:
    """The headers a provider (or a test, or the demo's tenants) sends with a webhook call."""
    return signed_headers(secret, body)


class InboundSms(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
    sender: Annotated[str, Field(alias="from", min_length=3, max_length=32)]
    text: Annotated[str, Field(max_length=1600)]


class DeliveryReceipt(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reference: Annotated[str, Field(min_length=1, max_length=64)]
    status: Literal["delivered", "failed"]
    reason: Annotated[str, Field(max_length=200)] | None = None


class NotificationView(AuditEntry):
    """One entry of the notifications log, recipient masked."""


def _notifier(request: Request) -> Notifier:
    notifier: Notifier | None = getattr(request.app.state, "notifier", None)
    if notifier is None:
        raise Problem(503, "Service Unavailable", "the service is starting")
    return notifier


@asynccontextmanager
async def _signed_body(request: Request, notifier: Notifier) -> AsyncIterator[dict[str, Any]]:
    """The JSON body of a verified call; its id is recorded (a replay is refused with 409) and
    given back when the call fails, so the sender may retry it."""
    secret = notifier.settings.webhook_secret
    if secret is None:
        raise Problem(503, "Service Unavailable", "webhooks are disabled: no webhook secret configured")
    body = await request.body()
    try:
        verified = verify(
            parse_secrets(secret.get_secret_value()),
            request.headers,
            body,
            # wall time, as the sender's timestamp (the service's clock may be a test's)
            tolerance=notifier.settings.webhook_tolerance_seconds,
        )
    except Refusal as exc:
        log.warning("webhook %s refused: %s", request.url.path, exc.detail)
        raise Problem(exc.status, "Unauthorized", exc.detail) from None
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "Bad Request", "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise Problem(400, "Bad Request", "the body must be a JSON object")
    if not await notifier.accept_webhook_id(verified.msg_id):
        log.warning("webhook %s refused: replayed webhook-id", request.url.path)
        raise Problem(409, "Conflict", "this webhook-id was already received (a replay)")
    try:
        yield payload
    except BaseException as exc:
        if not (isinstance(exc, Problem) and exc.status < 500):
            await notifier.forget_webhook_id(verified.msg_id)
        raise


def _invalid(exc: ValidationError) -> Problem:
    errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
    return Problem(422, "Invalid request", "the body breaks the webhook's schema", errors=errors)


def build_router(auth: Callable[[Request], Awaitable[Caller]]) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/notifications", response_model=list[NotificationView], tags=["audit"])
    async def list_notifications(
        request: Request,
        caller: Annotated[Caller, Depends(auth)],
        office: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{2,40}$")] = None,
        subject: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = None,
        status: Annotated[AuditStatus | None, Query()] = None,
        reason: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[NotificationView]:
        """The notifications log of an office (the admin may omit ``office``), optionally about one
        subject (a request, a survey or a tenant), with one status and/or one reason (e.g.
        ``status=suppressed&reason=stale``: what history sent nobody); recipients are masked."""
        office = office or caller.office
        if office is not None and not caller.can_see(office):
            raise Problem(403, "Forbidden", "this token cannot see that office")
        entries = await _notifier(request).audit(office, subject, limit, status=status, reason=reason)
        return [NotificationView.model_validate(entry, from_attributes=True) for entry in entries]

    @router.post("/v1/webhooks/sms/inbound", tags=["webhooks"])
    async def inbound_sms(request: Request) -> dict[str, str]:
        """An SMS sent by a tenant, forwarded by the provider (signed with the webhook secret)."""
        notifier = _notifier(request)
        async with _signed_body(request, notifier) as payload:
            try:
                message = InboundSms.model_validate(payload)
            except ValidationError as exc:
                raise _invalid(exc) from None
            try:
                outcome = await notifier.inbound_sms(message.sender, message.text, message.id)
            except InvalidContact:
                raise Problem(422, "Invalid request", "from: not a valid phone number") from None
            return {"status": outcome}

    @router.post("/v1/webhooks/sms/receipts", tags=["webhooks"])
    async def delivery_receipt(request: Request) -> dict[str, str]:
        """A delivery receipt for an SMS we sent (``reference`` = the notification id)."""
        notifier = _notifier(request)
        async with _signed_body(request, notifier) as payload:
            try:
                receipt = DeliveryReceipt.model_validate(payload)
            except ValidationError as exc:
                raise _invalid(exc) from None
            reason = mask_personal_data(receipt.reason) if receipt.reason else None
            outcome = await notifier.delivery_receipt(receipt.reference, receipt.status == "delivered", reason)
            if outcome == "unknown":
                raise Problem(404, "Not Found", "no message with that reference")
            if outcome == "in_flight":
                raise Problem(
                    503,
                    "Service Unavailable",
                    "the message is still being handed to the provider: send the receipt again later",
                    headers={"Retry-After": "5"},
                )
            return {"status": outcome}

    return router


class FollowupOut(BaseModel):
    """A follow-up task: a tenant no digital message reached, and what to tell them (the
    tenant's phone is shown on the office's page only)."""

    id: str
    office: str
    cause_id: str
    cause_type: str
    request_id: str | None
    tenant_ref: str | None
    template: str
    reason: str
    text: str
    created_at: datetime
    status: FollowupStatus
    channel: FollowupChannel | None
    outcome: FollowupOutcome | None
    done_at: datetime | None


class FollowupDoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: FollowupChannel
    outcome: FollowupOutcome


def may_handle(caller: Caller, office: str) -> bool:
    """The one check of who may list and close an office's follow-ups: the admin token, or that
    office's own token (whatever scopes a token may carry, decided here only)."""
    return caller.can_see(office)


def _followups(request: Request) -> Followups:
    followups = _notifier(request).followups
    if followups is None:
        raise Problem(503, "Service Unavailable", "follow-up tasks are not set up")
    return followups


def _out(task: Followup) -> FollowupOut:
    return FollowupOut.model_validate(task, from_attributes=True)


def followups_router(
    auth: Callable[[Request], Awaitable[Caller]], sessions: Sessions, secure_cookie: bool = False
) -> APIRouter:
    """``/v1/followups`` (bearer) and the office's French page ``/followups`` (login form)."""
    router = APIRouter()

    async def caller_of(request: Request) -> Caller:
        """The bearer token if given, else a valid session cookie, else 401."""
        if request.headers.get("authorization"):
            return await auth(request)
        cookie = request.cookies.get(FOLLOWUPS_COOKIE)
        caller = sessions.read(cookie) if cookie else None
        if caller is None:
            raise Problem(401, "Unauthorized", "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        return caller

    async def visible_task(request: Request, caller: Caller, task_id: str) -> Followup:
        task = await _followups(request).get(task_id)
        if task is None or not may_handle(caller, task.office):
            raise Problem(404, "Not Found", "no such follow-up")
        return task

    @router.get("/v1/followups", response_model=list[FollowupOut], tags=["followups"])
    async def list_followups(
        request: Request,
        caller: Annotated[Caller, Depends(caller_of)],
        office: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{2,40}$")] = None,
        status: FollowupStatus | None = FollowupStatus.OPEN,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[FollowupOut]:
        """An office's follow-up tasks (open ones by default), oldest first; an office token sees
        its own office only, the admin token every office unless ``office`` is given."""
        office = office or caller.office
        if office is not None and not may_handle(caller, office):
            raise Problem(403, "Forbidden", "this token cannot see that office")
        return [_out(t) for t in await _followups(request).worklist(office, status, limit)]

    @router.post("/v1/followups/{task_id}/done", response_model=FollowupOut, tags=["followups"])
    async def close_followup(
        request: Request, task_id: str, body: FollowupDoneIn, caller: Annotated[Caller, Depends(caller_of)]
    ) -> FollowupOut:
        """Record how the tenant was followed up; emits ``followup.done`` once (409 afterwards)."""
        caller.require_operator("closing a follow-up")
        task = await visible_task(request, caller, task_id)
        try:
            return _out(await _followups(request).close(task, body.channel, body.outcome))
        except AlreadyDone as done:
            raise Problem(409, "Conflict", f"this follow-up was already done ({done.task.channel})") from None

    @router.get("/followups", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> Response:
        try:
            caller = await caller_of(request)
        except Problem:
            return HTMLResponse(login_page())
        followups = _followups(request)
        tasks = await followups.worklist(caller.office, FollowupStatus.OPEN, 500)
        items = [(t, await followups.phone_of(t)) for t in tasks if may_handle(caller, t.office)]
        offices = _notifier(request).offices
        names = {o: office.name for o in offices.ids if (office := offices.get(o)) is not None}
        return HTMLResponse(worklist_page(items, names), headers={"Cache-Control": "no-store"})

    @router.post("/followups/login", include_in_schema=False)
    async def login(request: Request, token: Annotated[str, Form()] = "") -> Response:
        signed = await sign_in(
            request, token, auth, sessions, cookie=FOLLOWUPS_COOKIE, location="/followups", secure=secure_cookie
        )
        return signed if signed is not None else HTMLResponse(login_page(error=True), status_code=401)

    @router.post("/followups/logout", include_in_schema=False)
    async def logout() -> Response:
        return sign_out(cookie=FOLLOWUPS_COOKIE, location="/followups")

    @router.post("/followups/{task_id}/done", include_in_schema=False)
    async def close_from_page(
        request: Request,
        task_id: str,
        channel: Annotated[FollowupChannel, Form()],
        outcome: Annotated[FollowupOutcome, Form()],
    ) -> Response:
        caller = await caller_of(request)
        caller.require_operator("closing a follow-up")
        task = await visible_task(request, caller, task_id)
        with contextlib.suppress(AlreadyDone):  # done meanwhile by a colleague: the list says so
            await _followups(request).close(task, channel, outcome)
        return RedirectResponse("/followups", status_code=303)

    return router
