"""What feedback knows of a tenant: reachability and consent, never contact details."""

from __future__ import annotations

from dataclasses import dataclass

#: the tenant reference left on scores after a tenant's erasure
ANONYMOUS = "anonymised"


@dataclass(frozen=True)
class TenantState:
    """What feedback knows of a tenant's reachability (no contact details are needed here)."""

    sms_consent: bool = True
    email_consent: bool = True
    preferred_none: bool = False
    erased: bool = False
    has_phone: bool = False
    has_email: bool = False

    @property
    def reachable(self) -> bool:
        """May be surveyed after a request: unknown contact details count as reachable
        (notifications knows them and applies its own consent rules)."""
        return not self.erased and not self.preferred_none and (self.sms_consent or self.email_consent)

    @property
    def known_consented_channel(self) -> bool:
        """A channel known from tenant events and consented: a campaign's "all tenants" selection."""
        if self.erased or self.preferred_none:
            return False
        return (self.has_phone and self.sms_consent) or (self.has_email and self.email_consent)


@dataclass(frozen=True)
class TenantContact:
    """What a ``tenant.contact_updated`` tells feedback: which channels exist, not their values."""

    preferred_none: bool
    has_phone: bool
    has_email: bool
