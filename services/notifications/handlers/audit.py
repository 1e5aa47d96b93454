"""The audit list: the notifications log of an office (texts left out, recipients masked),
messages waiting for their tenant's first contact included."""

from __future__ import annotations

from ..domain.records import AuditEntry
from ..ports import MessageStore, WaitingStore


async def audit_list(
    messages: MessageStore, waiting: WaitingStore, office: str | None, subject: str | None, limit: int
) -> list[AuditEntry]:
    entries = [
        *await messages.audit(office, subject, limit),
        *await waiting.audit_awaiting(office, subject, limit),
    ]
    entries.sort(key=lambda e: e.created_at)
    return entries[:limit]
