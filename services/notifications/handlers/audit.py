"""The audit list: the notifications log of an office (texts left out, recipients masked),
messages waiting for their tenant's first contact included; filtered by status and reason (e.g.
``suppressed`` / ``stale``: what history sent nobody)."""

from __future__ import annotations

from ..domain.records import AWAITING_CONTACT, AuditEntry
from ..ports import MessageStore, WaitingStore


async def audit_list(
    messages: MessageStore,
    waiting: WaitingStore,
    office: str | None,
    subject: str | None,
    limit: int,
    *,
    status: str | None = None,
    reason: str | None = None,
) -> list[AuditEntry]:
    entries = []
    if status != AWAITING_CONTACT:
        entries += await messages.audit(office, subject, limit, status=status, reason=reason)
    if status in (None, AWAITING_CONTACT) and reason is None:  # a waiting message has no reason yet
        entries += await waiting.audit_awaiting(office, subject, limit)
    entries.sort(key=lambda e: e.created_at)
    return entries[:limit]
