"""HTTP routes: the audit list (bearer auth) and the provider webhooks (signed per Standard
Webhooks, ``shared/webhooks.py``: a tolerance window, replays refused, two secrets during a rotation)."""

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.http import Caller, Problem
from shared.observability import mask_personal_data
from shared.webhooks import Refusal, parse_secrets, signed_headers, verify

from .domain.policy import InvalidContact
from .domain.records import AuditEntry
from .handlers import Notifier

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
