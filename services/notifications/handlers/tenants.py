"""Handlers of the tenant events (``office.tenants``): contact, consent, erasure."""

from __future__ import annotations

from shared.bus import Rejected
from shared.events import Channel, TenantConsentChanged, TenantContactUpdated, TenantErased
from shared.offices import Office

from ..domain.policy import InvalidContact, Policy, Reason, normalise_phone
from ..domain.records import PendingFilter
from .deciding import Cases


async def contact_updated(cases: Cases, event: TenantContactUpdated, office: Office) -> None:
    """A new contact; the tenant's messages that waited for a first contact are decided now."""
    d = event.data
    try:
        phone = normalise_phone(d.phone) if d.phone else None
    except InvalidContact as exc:
        raise Rejected(str(exc)) from None
    store = cases.ctx.store
    await store.update_contact(
        office.id,
        d.tenant_ref,
        event.time,
        phone=phone,
        email=d.email.strip() if d.email else None,
        preferred=d.preferred_channel,
    )
    await cases.decider.decide_awaiting(await store.awaiting_for(office.id, d.tenant_ref))


async def consent_changed(cases: Cases, event: TenantConsentChanged, office: Office) -> None:
    d = event.data
    await cases.ctx.store.update_consent(office.id, d.tenant_ref, d.channel, d.granted, event.time)


async def erased(cases: Cases, event: TenantErased, office: Office) -> None:
    """Forget the tenant's addresses, suppress what still waits for it, mask the log, delete
    its follow-up tasks."""
    tenant = event.data.tenant_ref
    store = cases.ctx.store
    await store.erase_contact(office.id, tenant, event.time)
    await cases.recorder.cancel(PendingFilter(office.id, tenant_ref=tenant), Reason.ERASED)
    for waiting in await store.awaiting_for(office.id, tenant):
        draft = waiting.draft
        nominal = Channel.EMAIL if draft.policy is Policy.EMAIL_FIRST else Channel.SMS
        await cases.recorder.suppress(draft, nominal, Reason.ERASED, cases.ctx.clock())
        await store.forget_awaiting(waiting.key)
    await store.mask_log(office.id, tenant, cases.ctx.clock())
    if cases.recorder.followups is not None:  # who to call and what to tell them: gone too
        await cases.recorder.followups.erase(office.id, tenant)
