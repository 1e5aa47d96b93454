"""Erasure (``tenant.erased``): the tenant and housing references of the tenant's requests are
removed from the stored facts, so neither the timeline nor the API shows them any more; the
lifecycle, clocks and alerts are untouched (they never depended on who the tenant is). The tenant
is remembered as erased by a hash (``shared.privacy.erasure_key``), and a request opened later for
them (events of two topics are not ordered) is stripped when it is stored (``strip_erased``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.ticketing.domain.requests import Fact
from services.ticketing.domain.views import split_request_key
from services.ticketing.handlers.context import Ticketing
from shared.events import CloudEvent

TENANT_TYPE = "tenant.erased"


async def erase_tenants(t: Ticketing, events: Sequence[CloudEvent]) -> None:
    """Apply ``tenant.erased`` events (idempotent: erasing twice changes nothing)."""
    for event in events:
        tenant_ref = str(getattr(event.data, "tenant_ref"))  # noqa: B009 - Data is the base type
        await t.requests.erase_tenant(event.officeid, tenant_ref, t.clock())
        t.metrics.facts.labels(TENANT_TYPE, "applied").inc()


def _tenants(facts: Mapping[str, Sequence[Fact]]) -> set[tuple[str, str]]:
    return {
        (split_request_key(key)[0], str(fact.data["tenant_ref"]))
        for key, key_facts in facts.items()
        for fact in key_facts
        if fact.data.get("tenant_ref")
    }


async def strip_erased(t: Ticketing, facts: dict[str, list[Fact]]) -> None:
    """Before storing: drop the tenant fields of facts whose tenant is known to be erased."""
    erased = await t.requests.erased_among(_tenants(facts))
    if not erased:
        return
    for key, key_facts in facts.items():
        office = split_request_key(key)[0]
        for i, fact in enumerate(key_facts):
            if (office, str(fact.data.get("tenant_ref"))) in erased:
                data = {k: v for k, v in fact.data.items() if k not in ("tenant_ref", "housing_ref")}
                key_facts[i] = Fact(fact.id, fact.type, fact.time, {**data, "tenant_erased": True})


async def erase_late(t: Ticketing, facts: Mapping[str, Sequence[Fact]]) -> None:
    """After storing: an erasure that ran while these facts were being stored may have missed them;
    erase again the tenants found erased now (idempotent)."""
    for office, tenant_ref in await t.requests.erased_among(_tenants(facts)):
        await t.requests.erase_tenant(office, tenant_ref, t.clock())
