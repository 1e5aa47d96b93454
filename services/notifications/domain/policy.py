"""Who gets which message, on which channel, when: the table of docs/DOMAIN.md (notifications) as pure functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import phonenumbers

from shared.events import Channel, PreferredChannel, Recipient, Resolution, Stage


class Policy(StrEnum):
    """How a message picks its channel."""

    PREFERRED = "preferred"  # the tenant's preferred channel, then the other
    SMS_FIRST = "sms_first"  # surveys: a reply by SMS is the easiest
    EMAIL_FIRST = "email_first"  # closing summaries: e-mail if known, else SMS
    OFFICE_EMAIL = "office_email"  # alerts to an office team


class Reason(StrEnum):
    """Why a message is not sent (``notification.suppressed`` ``reason``)."""

    STALE = "stale"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    PREFERENCE_NONE = "preference_none"
    NO_CONTACT = "no_contact"
    UNKNOWN_REQUEST = "unknown_request"
    NO_OFFICE_ADDRESS = "no_office_address"
    ERASED = "erased"
    CANCELLED = "cancelled"
    #: an appointment's messages when a later fact (by event time) already re-scheduled it
    SUPERSEDED = "superseded"


class InvalidContact(ValueError):
    """A phone number or e-mail address that cannot be used."""


def normalise_phone(raw: str) -> str:
    """E.164 form of a phone number (``+33612345678``); raises ``InvalidContact``."""
    try:
        parsed = phonenumbers.parse(raw, "FR")
    except phonenumbers.NumberParseException:
        raise InvalidContact("data.phone: not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidContact("data.phone: not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Contact:
    """What the service knows to reach a tenant."""

    phone: str | None = None
    email: str | None = None
    preferred: PreferredChannel = PreferredChannel.SMS
    sms_consent: bool = True
    email_consent: bool = True

    def address(self, channel: Channel) -> str | None:
        return self.phone if channel is Channel.SMS else self.email

    def consents(self, channel: Channel) -> bool:
        return self.sms_consent if channel is Channel.SMS else self.email_consent


@dataclass(frozen=True)
class ChannelChoice:
    """Channels to use in order (first, then fallback), or why nothing is sent."""

    channels: tuple[Channel, ...]
    suppressed: Reason | None = None
    #: the channel named in a suppression outcome
    nominal: Channel = Channel.SMS


def _order(policy: Policy, preferred: PreferredChannel) -> tuple[Channel, Channel]:
    if policy is Policy.SMS_FIRST:
        return (Channel.SMS, Channel.EMAIL)
    if policy is Policy.EMAIL_FIRST or policy is Policy.OFFICE_EMAIL:
        return (Channel.EMAIL, Channel.SMS)
    return (Channel.EMAIL, Channel.SMS) if preferred is PreferredChannel.EMAIL else (Channel.SMS, Channel.EMAIL)


def choose_channels(contact: Contact | None, policy: Policy) -> ChannelChoice:
    """The channels a tenant message may use, in order, or a suppression with its reason.

    A channel is usable when its address is known and its consent not withdrawn; a withdrawn
    channel falls back to the other one. ``none`` as preference suppresses every message.
    """
    if contact is None:
        first = Channel.EMAIL if policy is Policy.EMAIL_FIRST else Channel.SMS
        return ChannelChoice((), Reason.NO_CONTACT, first)
    order = _order(policy, contact.preferred)
    if contact.preferred is PreferredChannel.NONE:
        return ChannelChoice((), Reason.PREFERENCE_NONE, order[0])
    usable = tuple(c for c in order if contact.address(c) and contact.consents(c))
    if usable:
        return ChannelChoice(usable, None, usable[0])
    withdrawn = any(contact.address(c) and not contact.consents(c) for c in order)
    return ChannelChoice((), Reason.CONSENT_WITHDRAWN if withdrawn else Reason.NO_CONTACT, order[0])


def unusable(contact: Contact | None, channel: Channel) -> Reason | None:
    """Why a message decided earlier can no longer go to its tenant on ``channel`` (None: it can)."""
    if contact is None:
        return Reason.NO_CONTACT
    if contact.preferred is PreferredChannel.NONE:
        return Reason.PREFERENCE_NONE
    if not contact.address(channel):
        return Reason.NO_CONTACT
    if not contact.consents(channel):
        return Reason.CONSENT_WITHDRAWN
    return None


@dataclass(frozen=True)
class MessagePlan:
    """One message an event calls for, before its channel and time are decided."""

    template: str
    recipient: Recipient
    policy: Policy
    context: dict[str, Any] = field(default_factory=dict)
    #: a scheduled send (e.g. the reminder the day before), else as soon as allowed
    scheduled_at: datetime | None = None
    #: U1 requests: messages bypass the quiet-hours window
    urgent: bool = False


@dataclass(frozen=True)
class Decision:
    """What becomes of one message: sent on ``channels`` (the first, then the fallback), kept
    until its tenant's first contact arrives (``wait``), or suppressed for ``suppressed``
    (``nominal``: the channel its outcome names)."""

    channels: tuple[Channel, ...] = ()
    suppressed: Reason | None = None
    nominal: Channel = Channel.SMS
    wait: bool = False


def decide_message(
    plan: MessagePlan,
    *,
    tenant_ref: str | None,
    contact: Contact | None,
    tenant_known: bool,
    history: bool,
    may_wait: bool,
    office_reachable: bool,
) -> Decision:
    """The fate of one planned message. A cause that is history (older than its office's horizon
    when it arrived) suppresses every message, tenant or office (reason ``stale``). Tenant
    messages: an unknown request suppresses it; a tenant nothing is known of yet
    (``tenant_known`` False: not even an erasure or a consent) makes it wait when ``may_wait``;
    otherwise the policy's usable channels, or why there is none. Office messages go by e-mail
    when the office has addresses for them."""
    if plan.recipient is Recipient.TENANT:
        choice = choose_channels(contact, plan.policy)
        if history:
            return Decision(suppressed=Reason.STALE, nominal=choice.nominal)
        if tenant_ref is None:
            return Decision(suppressed=Reason.UNKNOWN_REQUEST, nominal=Channel.SMS)
        if contact is None and may_wait and not tenant_known:
            return Decision(wait=True)
        if choice.suppressed is not None:
            return Decision(suppressed=choice.suppressed, nominal=choice.nominal)
        return Decision(channels=choice.channels)
    if history:
        return Decision(suppressed=Reason.STALE, nominal=Channel.EMAIL)
    if not office_reachable:
        return Decision(suppressed=Reason.NO_OFFICE_ADDRESS, nominal=Channel.EMAIL)
    return Decision(channels=(Channel.EMAIL,))


#: categories whose requests call for a technical intervention (the others are handled, not repaired)
TECHNICAL_CATEGORIES = frozenset({"repair", "common_areas", "heating_hot_water"})

CATEGORY_LABELS = {
    "repair": "réparation",
    "common_areas": "parties communes",
    "heating_hot_water": "chauffage et eau chaude",
    "neighbourhood": "trouble de voisinage",
    "administrative": "démarche administrative",
    "rent_charges": "loyer et charges",
    "transfer": "demande de mutation",
    "other": "autre demande",
}

RESOLUTION_LABELS = {
    Resolution.RESOLVED: "votre demande a été traitée et résolue",
    Resolution.NOT_JUSTIFIED: "après examen, votre demande n'a pas donné lieu à une intervention",
    Resolution.TENANT_RESPONSIBILITY: "cette réparation est à la charge du locataire",
    Resolution.DUPLICATE: "votre demande faisait doublon avec une autre demande déjà en cours",
    Resolution.WITHDRAWN: "votre demande a été retirée",
}

STAGE_LABELS = {
    Stage.FIRST_RESPONSE: "première réponse",
    Stage.INTERVENTION: "intervention",
    Stage.RESOLUTION: "résolution",
}


def template_for_survey(campaign: bool, reminder: bool) -> str:
    base = "campaign" if campaign else "survey"
    return f"{base}_{'reminder' if reminder else 'invitation'}"
