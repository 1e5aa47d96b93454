"""HTTP routes: the audit list (bearer auth) and the provider webhooks (HMAC-signed)."""

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.http import Caller, Problem
from shared.observability import mask_personal_data

from .domain.policy import InvalidContact
from .domain.records import AuditEntry
from .handlers import Notifier

SIGNATURE_HEADER = "x-canopee-signature"

#: the statuses the audit list can be filtered by
AuditStatus = Literal["pending", "grouped", "sending", "sent", "delivered", "failed", "suppressed", "awaiting_contact"]


def sign(secret: str, body: bytes) -> str:
    """The signature header value a provider (or a test) sends: ``sha256=<hex HMAC of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


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


async def _signed_body(request: Request, notifier: Notifier) -> dict[str, Any]:
    secret = notifier.settings.webhook_secret
    if secret is None:
        raise Problem(503, "Service Unavailable", "webhooks are disabled: no webhook secret configured")
    body = await request.body()
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(given.encode(), sign(secret.get_secret_value(), body).encode()):
        raise Problem(401, "Unauthorized", f"missing or wrong {SIGNATURE_HEADER} header")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "Bad Request", "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise Problem(400, "Bad Request", "the body must be a JSON object")
    return payload


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
        payload = await _signed_body(request, notifier)
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
        payload = await _signed_body(request, notifier)
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
