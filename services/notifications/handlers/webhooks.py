"""The provider webhooks: delivery receipts of sent SMS, and SMS tenants send (``STOP``
withdraws SMS consent, anything else goes out as ``sms.replied``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shared.events import Channel, CloudEvent, SmsReplied, TenantConsentChanged, service_event

from ..domain.outcomes import SERVICE
from ..domain.policy import normalise_phone
from ..domain.records import Status
from .context import Context
from .recording import Recorder

#: A delivery receipt for a message still being handed to the provider is tried this many times,
#: this far apart, before the provider is asked to send it again later.
RECEIPT_ATTEMPTS = 10
RECEIPT_WAIT_SECONDS = 0.2


@dataclass
class Webhooks:
    ctx: Context
    recorder: Recorder

    async def delivery_receipt(self, reference: str, delivered: bool, reason: str | None) -> str:
        """A provider's delivery receipt for a sent SMS; a failure falls back to the other channel."""
        store = self.ctx.store
        status = Status.DELIVERED if delivered else Status.FAILED
        # A fast provider can report delivery before this service has recorded the message as sent
        # (the send is still in flight): wait briefly for that, then ask the provider to retry.
        for attempt in range(RECEIPT_ATTEMPTS):
            now = self.ctx.clock()
            message = await store.receipt(reference, status, now, reason)
            if message is not None:
                break
            existing = await store.get(reference)
            if existing is None:
                return "unknown"
            if existing.status is Status.SENT:
                continue  # recorded as sent between the two reads: apply the receipt now
            if existing.status is not Status.SENDING:
                return "ignored"
            if attempt + 1 < RECEIPT_ATTEMPTS:
                await asyncio.sleep(RECEIPT_WAIT_SECONDS)
        else:
            return "in_flight"
        self.ctx.count(message, status.value)
        await self.ctx.publish_outcome(message)
        if not delivered:
            await self.recorder.fallback(message, now)
        return status.value

    async def inbound_sms(self, sender: str, text: str, message_id: str) -> str:
        """An SMS a tenant sent: ``STOP`` withdraws SMS consent (and says so on office.tenants);
        anything else goes out as ``sms.replied`` for the tenant the number belongs to."""
        phone = normalise_phone(sender)
        contacts = await self.ctx.store.contacts_by_phone(phone)
        if not contacts:
            return "unknown_sender"
        now = self.ctx.clock()
        events: list[CloudEvent] = []
        stop = text.strip().upper() == "STOP"
        for contact in contacts:
            office, tenant = contact.office, contact.tenant_ref
            if stop:
                await self.ctx.store.update_consent(office, tenant, Channel.SMS, False, now)
                events.append(
                    service_event(
                        TenantConsentChanged,
                        service=SERVICE,
                        officeid=office,
                        subject=tenant,
                        time=now,
                        data={"tenant_ref": tenant, "channel": "sms", "granted": False, "via": "stop_keyword"},
                        cause=[message_id, office, tenant],
                    )
                )
            else:
                events.append(
                    service_event(
                        SmsReplied,
                        service=SERVICE,
                        officeid=office,
                        subject=tenant,
                        time=now,
                        data={"tenant_ref": tenant, "text": text.strip()[:320]},
                        cause=[message_id, office, tenant],
                    )
                )
        await self.ctx.publisher.publish(events)
        return "consent_withdrawn" if stop else "replied"
