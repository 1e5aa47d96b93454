"""Office alerts as digests (docs/DOMAIN.md, "Office alerts as digests"): which alerts wait for
their office's digest, the window they go in, and what the digest lists.

At-risk and breach alerts to an office team wait for one e-mail per office and window
(``digest_minutes``, windows aligned on the clock: 10:00, 10:15…); a breach of a ``U1`` request
goes at once. Detractor alerts to managers: a score at or below ``immediate_score`` at once, the
others in the managers' digest. Each listed alert keeps its own message (and outcome)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import Recipient, Urgency
from shared.offices import Office

from .calendar import french_date, french_time
from .messages import ALERT, MANAGER, office_context
from .policy import MessagePlan, Policy
from .records import Draft, Message

#: the digest template of each office team (``office.alert_emails``, ``office.manager_emails``)
DIGEST_TEMPLATES = {ALERT: "sla_digest", MANAGER: "detractor_digest"}
#: how a digest is named in the log (its ``cause_type``)
DIGEST = "digest"
SLA_AT_RISK, SLA_BREACHED, DETRACTOR = "sla_at_risk", "sla_breached", "detractor_alert"


@dataclass(frozen=True)
class DigestRules:
    """``minutes``: the length of a window (0: every alert goes at once); ``immediate_score``:
    detractor alerts with a score at or below it go at once."""

    minutes: int = 15
    immediate_score: int = 1


def goes_in_digest(plan: MessagePlan, rules: DigestRules) -> bool:
    """Whether an office alert waits for its office's digest instead of going at once."""
    if rules.minutes <= 0 or plan.recipient is not Recipient.OFFICE:
        return False
    ctx = plan.context
    if plan.template == SLA_AT_RISK:
        return True
    if plan.template == SLA_BREACHED:
        return not is_u1(ctx)
    if plan.template == DETRACTOR:
        return int(ctx.get("score") or 0) > rules.immediate_score
    return False


def is_u1(context: dict[str, Any]) -> bool:
    """An alert about a ``U1`` request (its urgency, or the deadline policy it ran under)."""
    return Urgency.U1.value in (context.get("urgency"), context.get("policy"))


def window_end(now: datetime, minutes: int) -> datetime:
    """The end of the window ``now`` falls in: windows of ``minutes`` aligned on the clock (UTC)."""
    step = minutes * 60
    end = (math.floor(now.timestamp() / step) + 1) * step
    return datetime.fromtimestamp(end, UTC)


def digest_key(office: str, template: str, end: datetime) -> str:
    """The one digest of an office team and window: its cause id (exactly once per key)."""
    return f"{DIGEST}/{office}/{template}/{end.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def _order(member: Message) -> tuple[int, str, str]:
    ctx = member.draft.context
    # breaches first, then the nearest deadline; detractor alerts: the lowest score first
    rank = {SLA_BREACHED: 0, SLA_AT_RISK: 1}.get(member.template, int(ctx.get("score") or 0))
    return (rank, str(ctx.get("due_at") or ctx.get("follow_up_at") or ""), member.draft.request_id or "")


def _item(member: Message) -> dict[str, Any]:
    ctx = member.draft.context
    keys = (
        *("request_id", "stage_label", "policy", "category_label", "urgency", "due_text"),
        *("score", "comment", "follow_up_text"),
    )
    return {"kind": member.template, **{k: ctx.get(k) for k in keys}}


def digest_draft(
    office: Office, key: str, template: str, end: datetime, minutes: int, members: Sequence[Message]
) -> Draft:
    """The digest of ``members`` (the alerts of one office team and window) as a message to decide."""
    items = [_item(m) for m in sorted(members, key=_order)]
    start = end - timedelta(minutes=minutes)
    audience = next(a for a, t in DIGEST_TEMPLATES.items() if t == template)
    context = {
        **office_context(office),
        "audience": audience,
        "items": items,
        "count": len(items),
        "breached": sum(1 for i in items if i["kind"] == SLA_BREACHED),
        "at_risk": sum(1 for i in items if i["kind"] == SLA_AT_RISK),
        "window_date": french_date(start, office.tz),
        "window_start": french_time(start, office.tz),
        "window_end": french_time(end, office.tz),
    }
    return Draft(
        office=office.id,
        cause_id=key,
        cause_type=DIGEST,
        cause_time=end,
        subject=key,
        tenant_ref=None,
        request_id=None,
        appointment_id=None,
        template=template,
        recipient=Recipient.OFFICE,
        policy=Policy.OFFICE_EMAIL,
        context=context,
    )
