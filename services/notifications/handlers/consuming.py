"""Consuming: a batch of events grouped (each tenant's, then each subject's, in order) and each
event routed to its handler by the one event-type table of the service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.events import (
    AlertOverdue,
    AppointmentMissed,
    AppointmentScheduled,
    CloudEvent,
    DetractorAlert,
    RequestAssigned,
    RequestClosed,
    RequestOpened,
    SlaAtRisk,
    SlaBreached,
    SurveyRequested,
    TenantConsentChanged,
    TenantContactUpdated,
    TenantErased,
)
from shared.offices import Office

from . import requests, tenants
from .deciding import Cases

Handler = Callable[[Cases, Any, Office], Awaitable[None]]

#: the events this service acts on, and the use case of each
HANDLERS: dict[type[CloudEvent], Handler] = {
    RequestOpened: requests.request_opened,
    RequestAssigned: requests.request_assigned,
    AppointmentScheduled: requests.appointment_scheduled,
    AppointmentMissed: requests.appointment_missed,
    RequestClosed: requests.request_closed,
    SlaAtRisk: requests.sla_alert,
    SlaBreached: requests.sla_alert,
    SurveyRequested: requests.about_a_request,
    DetractorAlert: requests.about_a_request,
    AlertOverdue: requests.about_a_request,
    TenantContactUpdated: tenants.contact_updated,
    TenantConsentChanged: tenants.consent_changed,
    TenantErased: tenants.erased,
}
#: applied first, per tenant: a contact must be known before a message is decided
TENANT_EVENTS = (TenantContactUpdated, TenantConsentChanged, TenantErased)


@dataclass
class Consumer:
    cases: Cases

    async def handle_batch(self, events: Sequence[CloudEvent]) -> None:
        """Apply a batch; every effect is idempotent, so a redelivery changes nothing.

        Tenant events go first (a contact must be known before a message is decided), each
        tenant's in order; then each subject's events in order. Different tenants, then different
        subjects, are handled concurrently: their store round trips go in bulk or overlap.
        """
        by_tenant: dict[tuple[str, str], list[CloudEvent]] = {}
        by_subject: dict[tuple[str, str], list[CloudEvent]] = {}
        for event in events:
            if isinstance(event, TENANT_EVENTS):
                by_tenant.setdefault((event.officeid, event.data.tenant_ref), []).append(event)
            else:
                by_subject.setdefault((event.officeid, event.subject), []).append(event)
        await self._apply_groups(list(by_tenant.values()))
        await self._apply_groups(list(by_subject.values()))

    async def _apply_groups(self, groups: list[list[CloudEvent]]) -> None:
        """Each group's events in order, up to ``concurrency`` groups at the same time."""
        if len(groups) <= 1:
            for group in groups:
                for event in group:
                    await self.handle(event)
            return
        limit = asyncio.Semaphore(self.cases.ctx.settings.concurrency)

        async def apply(group: list[CloudEvent]) -> None:
            async with limit:
                for event in group:
                    await self.handle(event)

        await asyncio.gather(*(apply(group) for group in groups))

    async def handle(self, event: CloudEvent) -> None:
        office = self.cases.ctx.office(event.officeid)
        handler = HANDLERS.get(type(event))
        if handler is not None:
            await handler(self.cases, event, office)
