"""The pure decision of one message's fate (``domain/policy.decide_message``)."""

from __future__ import annotations

from typing import Any

from services.notifications.domain.policy import Contact, Decision, MessagePlan, Policy, Reason, decide_message
from shared.events import Channel, PreferredChannel, Recipient

TENANT_PLAN = MessagePlan("request_opened", Recipient.TENANT, Policy.PREFERRED)
OFFICE_PLAN = MessagePlan("sla_breached", Recipient.OFFICE, Policy.OFFICE_EMAIL, {"audience": "alert"})
CONTACT = Contact(phone="+33612345678", email="l@example.org", preferred=PreferredChannel.EMAIL)


def decide(plan: MessagePlan = TENANT_PLAN, **changes: Any) -> Decision:
    values: dict[str, Any] = {
        "tenant_ref": "T-1",
        "contact": CONTACT,
        "tenant_known": True,
        "history": False,
        "may_wait": True,
        "office_reachable": True,
        **changes,
    }
    return decide_message(plan, **values)


def test_a_tenant_message_goes_on_the_policys_usable_channels() -> None:
    assert decide() == Decision(channels=(Channel.EMAIL, Channel.SMS))
    withdrawn = Contact(phone="+33612345678", sms_consent=False)
    assert decide(contact=withdrawn) == Decision(suppressed=Reason.CONSENT_WITHDRAWN, nominal=Channel.SMS)


def test_history_and_unknown_request_suppress_before_anything_else() -> None:
    assert decide(tenant_ref=None, contact=None) == Decision(suppressed=Reason.UNKNOWN_REQUEST)
    assert decide(history=True) == Decision(suppressed=Reason.STALE, nominal=Channel.EMAIL)
    assert decide(history=True, contact=None, tenant_known=False) == Decision(suppressed=Reason.STALE)
    # history first: an old cause about a request never seen is counted as history
    assert decide(history=True, tenant_ref=None, contact=None) == Decision(suppressed=Reason.STALE)


def test_history_suppresses_office_messages_too() -> None:
    """Live or history for everything: an old SLA or detractor alert e-mails no office team."""
    office = {"tenant_ref": None, "contact": None, "history": True}
    assert decide(OFFICE_PLAN, **office) == Decision(suppressed=Reason.STALE, nominal=Channel.EMAIL)
    assert decide(OFFICE_PLAN, **office, office_reachable=False) == Decision(
        suppressed=Reason.STALE, nominal=Channel.EMAIL
    )


def test_a_tenant_nothing_is_known_of_makes_the_message_wait_once() -> None:
    assert decide(contact=None, tenant_known=False) == Decision(wait=True)
    # it waited already (or waiting is off): decided without a contact
    assert decide(contact=None, tenant_known=False, may_wait=False) == Decision(suppressed=Reason.NO_CONTACT)
    # an erased tenant (or one known by a consent only) is known: no wait
    assert decide(contact=None, tenant_known=True) == Decision(suppressed=Reason.NO_CONTACT)


def test_office_messages_go_by_email_when_the_office_has_addresses() -> None:
    assert decide(OFFICE_PLAN, tenant_ref=None, contact=None) == Decision(channels=(Channel.EMAIL,))
    assert decide(OFFICE_PLAN, tenant_ref=None, contact=None, office_reachable=False) == Decision(
        suppressed=Reason.NO_OFFICE_ADDRESS, nominal=Channel.EMAIL
    )
