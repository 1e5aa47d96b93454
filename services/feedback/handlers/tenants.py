"""Tenant events: consent per channel, which contact channels exist (never their values), erasure
(personal data deleted, scores kept under an anonymous reference)."""

from __future__ import annotations

from services.feedback.domain.tenants import TenantContact
from services.feedback.ports import Deps
from shared.events import PreferredChannel, TenantConsentChanged, TenantContactUpdated, TenantErased


async def on_consent_changed(deps: Deps, event: TenantConsentChanged) -> None:
    d = event.data
    await deps.store.set_consent(event.officeid, d.tenant_ref, d.channel.value, d.granted)


async def on_contact_updated(deps: Deps, event: TenantContactUpdated) -> None:
    d = event.data
    contact = TenantContact(
        preferred_none=d.preferred_channel is PreferredChannel.NONE,
        has_phone=d.phone is not None,
        has_email=d.email is not None,
    )
    await deps.store.set_contact(event.officeid, d.tenant_ref, contact)


async def on_erased(deps: Deps, event: TenantErased) -> None:
    await deps.store.erase_tenant(event.officeid, event.data.tenant_ref)
