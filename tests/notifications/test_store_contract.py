"""One contract for the notifications store ports, run against the MongoDB store (the local
FerretDB) and its in-memory twin, so use-case tests on the twin stand for the real store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from services.notifications.domain.followups import Followup, FollowupStatus
from services.notifications.domain.messages import AppointmentInfo, RequestInfo
from services.notifications.domain.policy import Contact, Policy
from services.notifications.domain.records import (
    AWAITING_CONTACT,
    ContactRef,
    Draft,
    Message,
    PendingFilter,
    Status,
    Waiting,
)
from services.notifications.ports import FollowupStore, NotificationStore, WebhookIdStore
from services.notifications.store import INDEXES, MongoFollowupStore, WebhookIds
from services.notifications.store import NotificationStore as MongoNotificationStore
from services.notifications.store_memory import MemoryFollowupStore, MemoryNotificationStore, MemoryWebhookIds
from shared.events import Channel, FollowupChannel, FollowupOutcome, PreferredChannel, Recipient
from shared.store import ensure_indexes, make_client
from tests.conftest import MONGO

#: the store keeps milliseconds: the contract's times have no finer part
NOW = datetime(2026, 11, 27, 9, 0, 0, 123000, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[NotificationStore]:
    if request.param == "memory":
        yield MemoryNotificationStore()
        return
    client = make_client(MONGO)
    name = f"contract_{uuid.uuid4().hex[:10]}_notifications"
    try:
        await ensure_indexes(client[name], INDEXES)
        yield MongoNotificationStore(client[name])
    finally:
        await client.drop_database(name)
        await client.close()


def draft(cause: str = "c-1", template: str = "request_opened", **values: object) -> Draft:
    base = Draft(
        office="demo-nord",
        cause_id=cause,
        cause_type="request.opened",
        cause_time=NOW - timedelta(minutes=1),
        subject="REQ-1",
        tenant_ref="T-1",
        request_id="REQ-1",
        appointment_id=None,
        template=template,
        recipient=Recipient.TENANT,
        policy=Policy.PREFERRED,
        context={"office_name": "Office Nord", "urgent": False},
        urgent=False,
    )
    return replace(base, **values)  # type: ignore[arg-type]


def message(nid: str = "n-1", status: Status = Status.PENDING, **values: object) -> Message:
    base = Message(
        id=nid,
        draft=draft(cause=f"cause-{nid}"),
        channel=Channel.SMS,
        status=status,
        send_at=NOW,
        created_at=NOW,
        fallbacks=(Channel.EMAIL,),
        text="Bonjour",
        segments=1,
        encoding="GSM-7",
    )
    return replace(base, **values)  # type: ignore[arg-type]


# --- the notifications log ------------------------------------------------------------------------


async def test_a_message_is_recorded_once_and_read_back_whole(store: NotificationStore) -> None:
    original = message(defer_reason="quiet_hours", subject_line=None)
    assert await store.insert(original) is True
    assert await store.insert(original) is False
    # another id for the same (cause, template, channel): still the same message
    assert await store.insert(replace(original, id="n-other")) is False
    assert await store.get("n-1") == original
    assert await store.get("n-other") is None
    many = await asyncio.gather(*(store.insert(message(f"m-{n}")) for n in range(5)))
    assert many == [True] * 5


async def test_one_claim_wins_and_an_expired_lease_is_taken_over_once(store: NotificationStore) -> None:
    await store.insert(message("n-1"))
    await store.insert(message("n-later", send_at=NOW + timedelta(hours=1)))
    assert await store.claim("n-later", NOW, LEASE) is None  # not due
    assert await store.claim("n-missing", NOW, LEASE) is None
    wins = await asyncio.gather(*(store.claim("n-1", NOW, LEASE) for _ in range(4)))
    [won] = [w for w in wins if w is not None]
    assert (won.status, won.attempts, won.lease_until) == (Status.SENDING, 1, NOW + LEASE)
    assert await store.claim("n-1", NOW + timedelta(seconds=10), LEASE) is None  # held
    later = NOW + LEASE + timedelta(seconds=1)
    wins = await asyncio.gather(*(store.claim("n-1", later, LEASE) for _ in range(4)))
    [again] = [w for w in wins if w is not None]
    assert again.attempts == 2
    # the first holder's outcome no longer counts, the second's does
    assert await store.finish("n-1", 1, Status.SENT, later) is False
    assert await store.finish("n-1", 2, Status.SENT, later, published=True, provider_id="p-1") is True
    assert await store.finish("n-1", 2, Status.SENT, later) is False
    done = await store.get("n-1")
    assert done is not None and (done.status, done.outcome_at, done.published) == (Status.SENT, later, True)
    assert done.provider_id == "p-1"


async def test_the_holder_renews_its_lease_and_a_taken_over_claim_keeps_its_new_holder(
    store: NotificationStore,
) -> None:
    await store.insert(message("n-1"))
    await store.insert(message("n-2"))
    assert await store.claim("n-1", NOW, LEASE) is not None
    await store.renew_leases([("n-1", 1), ("n-2", 1), ("n-missing", 1)], NOW + 2 * LEASE)
    renewed, untouched = await store.get("n-1"), await store.get("n-2")
    assert renewed is not None and renewed.lease_until == NOW + 2 * LEASE
    assert untouched is not None and untouched.status is Status.PENDING  # not claimed: nothing to renew
    later = NOW + LEASE + timedelta(seconds=1)
    assert await store.claim("n-1", later, LEASE) is None  # renewed: still held
    gone = NOW + 2 * LEASE + timedelta(seconds=1)
    again = await store.claim("n-1", gone, LEASE)
    assert again is not None and again.attempts == 2
    await store.renew_leases([("n-1", 1)], gone + 3 * LEASE)  # the old holder's renewal comes late
    kept = await store.get("n-1")
    assert kept is not None and kept.lease_until == gone + LEASE


async def test_due_messages_released_retries_and_the_deferred_backlog(store: NotificationStore) -> None:
    await store.insert(message("n-due"))
    await store.insert(message("n-deferred", send_at=NOW + timedelta(hours=2)))
    await store.insert(message("n-sent", status=Status.SENT))
    assert await store.due(NOW, 10) == ["n-due"]
    assert await store.deferred_backlog(NOW) == 1
    claimed = await store.claim("n-due", NOW, LEASE)
    assert claimed is not None
    assert await store.due(NOW, 10) == []  # held by its lease
    retry_at = NOW + timedelta(minutes=1)
    await store.release("n-due", retry_at, "HTTP 503")
    released = await store.get("n-due")
    assert released is not None
    assert (released.status, released.send_at, released.last_error) == (Status.PENDING, retry_at, "HTTP 503")
    assert await store.deferred_backlog(NOW) == 2
    assert await store.due(retry_at, 10) == ["n-due"]
    assert await store.due(NOW + timedelta(hours=3), 1) in (["n-due"], ["n-deferred"])


async def test_outcomes_not_yet_published_are_listed_until_marked(store: NotificationStore) -> None:
    await store.insert(message("n-1", status=Status.SUPPRESSED, reason="stale", outcome_at=NOW, published=False))
    await store.insert(message("n-2", status=Status.SENDING, attempts=1))
    await store.finish("n-2", 1, Status.FAILED, NOW, published=False, reason="HTTP 400")
    unpublished = {m.id: m for m in await store.unpublished(10)}
    assert set(unpublished) == {"n-1", "n-2"}
    assert unpublished["n-2"].reason == "HTTP 400" and unpublished["n-2"].status is Status.FAILED
    await store.mark_published("n-1", Status.SENT)  # not its status: nothing changes
    await store.mark_published("n-2", Status.FAILED)
    assert [m.id for m in await store.unpublished(10)] == ["n-1"]


async def test_a_receipt_changes_a_sent_message_only(store: NotificationStore) -> None:
    await store.insert(message("n-sent", status=Status.SENT, published=True))
    await store.insert(message("n-sending", status=Status.SENDING))
    failed = await store.receipt("n-sent", Status.FAILED, NOW, "unreachable")
    assert failed is not None
    assert (failed.status, failed.reason, failed.published, failed.outcome_at) == (
        Status.FAILED,
        "unreachable",
        False,
        NOW,
    )
    assert failed.fallbacks == (Channel.EMAIL,)
    assert await store.receipt("n-sending", Status.DELIVERED, NOW, None) is None
    assert await store.receipt("n-missing", Status.DELIVERED, NOW, None) is None


async def test_pending_messages_are_cancelled_by_filter(store: NotificationStore) -> None:
    reminder = "appointment_reminder"
    old = message("n-old", draft=draft("c-old", reminder, appointment_id="A-1"))
    new = message("n-new", draft=draft("c-new", reminder, appointment_id="A-1"))
    other = message("n-other", draft=draft("c-other", reminder, appointment_id="A-2"))
    sent = message("n-sent", status=Status.SENT, draft=draft("c-sent", reminder, appointment_id="A-1"))
    for m in (old, new, other, sent):
        await store.insert(m)
    which = PendingFilter("demo-nord", "REQ-1", "A-1", template=reminder, except_cause="c-new")
    [cancelled] = await store.cancel_pending(which, "cancelled", NOW)
    assert (cancelled.id, cancelled.status, cancelled.reason, cancelled.published) == (
        "n-old",
        Status.SUPPRESSED,
        "cancelled",
        False,
    )
    assert await store.cancel_pending(which, "cancelled", NOW) == []
    by_tenant = await store.cancel_pending(PendingFilter("demo-nord", tenant_ref="T-1"), "erased", NOW)
    assert sorted(m.id for m in by_tenant) == ["n-new", "n-other"]


async def test_the_audit_list_and_the_erasure_mask(store: NotificationStore) -> None:
    first = message("n-1", created_at=NOW, recipient_masked="+33 6 •• •• •• 78", status=Status.SENT)
    second = message("n-2", created_at=NOW + timedelta(seconds=1), draft=draft("c-2", subject="S-2", request_id=None))
    elsewhere = message("n-3", draft=draft("c-3", office="demo-sud", tenant_ref="T-9"))
    for m in (second, first, elsewhere):
        await store.insert(m)
    entries = await store.audit("demo-nord", None, 10)
    assert [e.id for e in entries] == ["n-1", "n-2"]
    assert (entries[0].to, entries[0].status, entries[0].sms_segments, entries[0].channel) == (
        "+33 6 •• •• •• 78",
        "sent",
        1,
        "sms",
    )
    assert [e.id for e in await store.audit(None, "REQ-1", 10)] == ["n-1", "n-3"]
    assert [e.id for e in await store.audit(None, "S-2", 10)] == ["n-2"]
    assert [e.id for e in await store.audit(None, None, 1)] == ["n-1"]
    await store.mask_log("demo-nord", "T-1", NOW)
    masked = await store.get("n-1")
    assert masked is not None
    assert (masked.recipient_masked, masked.draft.tenant_ref, masked.text, masked.draft.context) == (
        "effacé",
        None,
        None,
        {},
    )
    kept = await store.get("n-3")
    assert kept is not None and kept.draft.tenant_ref == "T-9"


def campaign_alert(nid: str, survey: str, comment: str, **values: object) -> Message:
    """A campaign's detractor alert e-mail to the office managers: no request, its subject is the
    survey's, it quotes the tenant's words."""
    office = draft(
        f"alert-{nid}",
        "detractor_alert",
        cause_type="feedback.detractor_alert",
        subject=survey,
        tenant_ref=None,
        request_id=None,
        recipient=Recipient.OFFICE,
        policy=Policy.OFFICE_EMAIL,
        context={"score": 1, "comment": comment, "audience": "manager"},
    )
    text = f"Un locataire a donné la note 1/5. « {comment} »"
    fields: dict[str, object] = {"channel": Channel.EMAIL, "fallbacks": (), "text": text, "html": f"<p>{text}</p>"}
    status = values.pop("status", Status.SENT)
    assert isinstance(status, Status)
    return message(nid, status, draft=office, **(fields | values))


async def test_erasure_blanks_the_campaign_alerts_quoting_the_tenant_and_their_digest(
    store: NotificationStore,
) -> None:
    invited = [
        message("inv-1", draft=draft("inv-1", "campaign_invitation", subject="SRV-C1", request_id=None)),
        message(
            "inv-2", draft=draft("inv-2", "campaign_invitation", subject="SRV-C2", request_id=None, tenant_ref="T-2")
        ),
    ]
    key = "digest/demo-nord/detractor_digest/2026-11-27T09:15Z"
    alerts = [
        campaign_alert("al-1", "SRV-C1", "chauffage en panne depuis un mois"),  # sent at once
        campaign_alert("al-2", "SRV-C1", "personne ne répond", digest=key),  # listed in the digest
        campaign_alert("al-3", "SRV-C2", "ascenseur bloqué", digest=key),  # another tenant's
        # not gone out yet: waiting for the next digest, and waiting for its send
        campaign_alert("al-4", "SRV-C1", "toujours rien", status=Status.GROUPED),
        campaign_alert("al-5", "SRV-C1", "encore rien", status=Status.PENDING),
        campaign_alert("al-6", "SRV-C2", "rien non plus", status=Status.GROUPED),  # another tenant's
    ]
    both = "« personne ne répond » « ascenseur bloqué »"
    listing = draft(
        key,
        "detractor_digest",
        cause_type="digest",
        subject=key,
        tenant_ref=None,
        request_id=None,
        recipient=Recipient.OFFICE,
        policy=Policy.OFFICE_EMAIL,
        context={"items": [{"comment": "personne ne répond"}]},
    )
    digest = message(
        "dg-1",
        Status.SENT,
        draft=listing,
        channel=Channel.EMAIL,
        fallbacks=(),
        text=both,
        digest=key,
        members=("al-2", "al-3"),
    )
    for m in (*invited, *alerts, digest):
        assert await store.insert(m)
    await store.mask_log("demo-nord", "T-1", NOW)
    for nid in ("al-1", "al-2", "dg-1"):
        blanked = await store.get(nid)
        assert blanked is not None and (blanked.text, blanked.html, blanked.draft.context) == (None, None, {}), nid
    for nid in ("al-4", "al-5"):  # blanked, they would tell the office nothing: they never go out
        unsent = await store.get(nid)
        assert unsent is not None and (unsent.status, unsent.reason, unsent.outcome_at) == (
            Status.SUPPRESSED,
            "erased",
            NOW,
        ), nid
        assert unsent.text is None and unsent.published is False
    kept_waiting = await store.get("al-6")
    assert kept_waiting is not None and kept_waiting.status is Status.GROUPED and kept_waiting.text
    other = await store.get("al-3")
    assert other is not None and other.text is not None and "ascenseur bloqué" in other.text
    assert other.draft.context["comment"] == "ascenseur bloqué"
    invitation = await store.get("inv-2")
    assert invitation is not None and invitation.draft.tenant_ref == "T-2"
    # nothing the log keeps says what T-1 wrote or names them
    for m in await store.audit("demo-nord", None, 100):
        kept = await store.get(m.id)
        assert kept is not None
        assert "T-1" not in repr(kept)
        assert "chauffage" not in repr(kept) and "personne ne répond" not in repr(kept)


async def test_the_audit_list_filters_by_status_and_reason(store: NotificationStore) -> None:
    stale = message("n-stale", status=Status.SUPPRESSED, reason="stale", outcome_at=NOW, published=True)
    withdrawn = message("n-stop", status=Status.SUPPRESSED, reason="consent_withdrawn", outcome_at=NOW)
    for m in (stale, withdrawn, message("n-sent", status=Status.SENT)):
        await store.insert(m)
    assert [e.id for e in await store.audit("demo-nord", None, 10, status="suppressed", reason="stale")] == ["n-stale"]
    assert [e.id for e in await store.audit(None, None, 10, reason="stale")] == ["n-stale"]
    assert sorted(e.id for e in await store.audit(None, None, 10, status="suppressed")) == ["n-stale", "n-stop"]
    assert await store.audit("demo-sud", None, 10, reason="stale") == []


def member(nid: str, digest: str, send_at: datetime = NOW, **values: object) -> Message:
    """An office alert waiting for its digest."""
    office = draft(f"cause-{nid}", "sla_at_risk", recipient=Recipient.OFFICE, tenant_ref=None)
    return message(
        nid, Status.GROUPED, draft=office, channel=Channel.EMAIL, send_at=send_at, digest=digest, fallbacks=()
    )


async def test_alerts_wait_for_their_digest_and_take_its_outcome(store: NotificationStore) -> None:
    first, second = "digest/demo-nord/sla_digest/A", "digest/demo-nord/sla_digest/B"
    for m in (member("a-1", first), member("a-2", first), member("a-3", second, NOW + timedelta(minutes=15))):
        assert await store.insert(m) is True
    assert await store.due(NOW, 10) == []  # never sent one by one
    assert await store.deferred_backlog(NOW) == 0
    assert await store.due_digests(NOW - timedelta(seconds=1), 10) == []
    assert await store.due_digests(NOW, 10) == [first]
    assert await store.due_digests(NOW + timedelta(minutes=15), 10) == [first, second]
    assert sorted(m.id for m in await store.grouped(first)) == ["a-1", "a-2"]
    # the digest lists its members: a digest message records them
    digest = message("d-1", Status.SENDING, channel=Channel.EMAIL, digest=first, members=("a-1", "a-2"))
    await store.insert(digest)
    assert await store.get("d-1") == digest
    later = NOW + timedelta(seconds=5)
    done = await store.finish_grouped(["a-1", "a-missing"], Status.SENT, later, recipient_masked="a•••@x.org")
    assert [(m.id, m.status, m.outcome_at, m.published, m.recipient_masked) for m in done] == [
        ("a-1", Status.SENT, later, False, "a•••@x.org")
    ]
    assert await store.finish_grouped(["a-1"], Status.SENT, later) == []  # once
    assert [m.id for m in await store.grouped(first)] == ["a-2"]
    # an alert that missed its digest waits for another window
    await store.regroup(["a-2", "a-1"], second, NOW + timedelta(minutes=15))
    assert sorted(m.id for m in await store.grouped(second)) == ["a-2", "a-3"]
    kept = await store.get("a-1")
    assert kept is not None and (kept.status, kept.digest) == (Status.SENT, first)
    assert await store.due_digests(NOW, 10) == []
    assert [m.id for m in await store.unpublished(10)] == ["a-1"]


async def test_expired_claims_are_purged(store: NotificationStore) -> None:
    await store.insert(message("n-1"))
    await store.insert(message("n-2"))
    await store.claim("n-1", NOW, LEASE)
    await store.claim("n-2", NOW + timedelta(days=1), LEASE)
    assert await store.purge_claims(NOW + timedelta(hours=1)) == 1
    assert await store.purge_claims(NOW + timedelta(hours=1)) == 0


# --- contacts, requests, waiting messages ----------------------------------------------------------


async def test_contacts_follow_the_latest_fact_and_erasure_keeps_older_ones_out(store: NotificationStore) -> None:
    assert await store.get_contact("demo-nord", "T-1") is None
    assert await store.has_contact_record("demo-nord", "T-1") is False
    # a consent alone is a record, not yet a contact
    assert await store.update_consent("demo-nord", "T-1", Channel.SMS, False, NOW) is True
    assert await store.has_contact_record("demo-nord", "T-1") is True
    assert await store.get_contact("demo-nord", "T-1") is None
    contact = {"phone": "+33612345678", "email": "l@example.org", "preferred": PreferredChannel.EMAIL}
    assert await store.update_contact("demo-nord", "T-1", NOW, **contact) is True  # type: ignore[arg-type]
    older = {"phone": "+33699999999", "email": None, "preferred": PreferredChannel.SMS}
    assert await store.update_contact("demo-nord", "T-1", NOW - timedelta(hours=1), **older) is False  # type: ignore[arg-type]
    assert await store.update_consent("demo-nord", "T-1", Channel.SMS, True, NOW - timedelta(hours=1)) is False
    assert await store.get_contact("demo-nord", "T-1") == Contact(
        phone="+33612345678", email="l@example.org", preferred=PreferredChannel.EMAIL, sms_consent=False
    )
    await store.update_contact("demo-sud", "T-7", NOW, **contact)  # type: ignore[arg-type]
    assert sorted(await store.contacts_by_phone("+33612345678"), key=lambda c: c.office) == [
        ContactRef("demo-nord", "T-1"),
        ContactRef("demo-sud", "T-7"),
    ]
    await store.erase_contact("demo-nord", "T-1", NOW + timedelta(minutes=1))
    assert await store.get_contact("demo-nord", "T-1") is None
    assert await store.has_contact_record("demo-nord", "T-1") is True
    assert await store.update_contact("demo-nord", "T-1", NOW, **contact) is False  # type: ignore[arg-type]
    assert await store.contacts_by_phone("+33612345678") == [ContactRef("demo-sud", "T-7")]


async def test_request_details_merge_and_appointments_are_kept(store: NotificationStore) -> None:
    assert await store.get_request("demo-nord", "REQ-1") is None
    await store.save_request("demo-nord", "REQ-1", RequestInfo(contractor="Plomberie Martin"))
    await store.save_request("demo-nord", "REQ-1", RequestInfo("T-1", "repair", "U2"))
    await asyncio.gather(
        *(store.save_request("demo-nord", f"R-{n}", RequestInfo(tenant_ref=f"T-{n}")) for n in range(3))
    )
    assert await store.get_request("demo-nord", "REQ-1") == RequestInfo("T-1", "repair", "U2", "Plomberie Martin")
    assert await store.get_request("demo-nord", "R-2") == RequestInfo(tenant_ref="T-2")
    slot = AppointmentInfo(NOW, NOW + timedelta(hours=2), "Plomberie Martin")
    assert await store.save_appointment("demo-nord", "REQ-1", "A-1", slot, NOW, "c-1") is True
    later = replace(slot, contractor=None)
    assert await store.save_appointment("demo-nord", "REQ-1", "A-1", later, NOW + timedelta(minutes=1), "c-2") is True
    assert await store.get_appointment("demo-nord", "REQ-1", "A-1") == later
    assert await store.get_appointment("demo-nord", "REQ-1", "A-2") is None


async def test_an_appointment_keeps_its_latest_scheduling_by_event_time(store: NotificationStore) -> None:
    """Re-scheduling: an older ``appointment.scheduled`` arriving after a newer one does not win."""
    newer = AppointmentInfo(NOW + timedelta(days=3), NOW + timedelta(days=3, hours=2))
    older = AppointmentInfo(NOW + timedelta(days=1), NOW + timedelta(days=1, hours=2))
    assert await store.save_appointment("demo-nord", "REQ-1", "A-1", newer, NOW, "c-new") is True
    assert await store.save_appointment("demo-nord", "REQ-1", "A-1", older, NOW - timedelta(hours=1), "c-old") is False
    assert await store.get_appointment("demo-nord", "REQ-1", "A-1") == newer
    # the same scheduling again (a redelivery) is still the latest; a tie on time goes by cause id
    assert await store.save_appointment("demo-nord", "REQ-1", "A-1", newer, NOW, "c-new") is True
    assert await store.save_appointment("demo-nord", "REQ-1", "A-1", older, NOW, "c-aaa") is False
    assert await store.save_appointment("demo-nord", "REQ-1", "A-1", older, NOW, "c-zzz") is True
    assert await store.get_appointment("demo-nord", "REQ-1", "A-1") == older


async def test_messages_wait_for_a_first_contact_once(store: NotificationStore) -> None:
    until = NOW + timedelta(minutes=2)
    waiting = Waiting("w-1", draft(), NOW + timedelta(days=1), until, NOW)
    await store.await_contact(waiting)
    await store.await_contact(replace(waiting, until=until + timedelta(hours=1)))  # once only
    await store.await_contact(Waiting("w-2", draft("c-2", tenant_ref="T-2", subject="S-2"), None, until, NOW))
    assert await store.awaiting_for("demo-nord", "T-1") == [waiting]
    assert await store.awaiting_for("demo-sud", "T-1") == []
    assert await store.awaiting_due(NOW, 10) == []
    assert sorted(w.key for w in await store.awaiting_due(until, 10)) == ["w-1", "w-2"]
    [entry] = await store.audit_awaiting("demo-nord", "T-2", 10)
    assert (entry.id, entry.status, entry.channel, entry.send_at, entry.to) == (
        "w-2",
        AWAITING_CONTACT,
        None,
        until,
        None,
    )
    assert len(await store.audit_awaiting(None, None, 1)) == 1
    await store.forget_awaiting("w-1")
    assert await store.awaiting_for("demo-nord", "T-1") == []


# --- webhook ids (replays) ---------------------------------------------------------------------


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def webhook_ids(request: pytest.FixtureRequest) -> AsyncIterator[WebhookIdStore]:
    if request.param == "memory":
        yield MemoryWebhookIds()
        return
    client = make_client(MONGO)
    name = f"contract_{uuid.uuid4().hex[:10]}_webhooks"
    try:
        await ensure_indexes(client[name], INDEXES)
        yield WebhookIds(client[name])
    finally:
        await client.drop_database(name)
        await client.close()


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def followup_store(request: pytest.FixtureRequest) -> AsyncIterator[FollowupStore]:
    if request.param == "memory":
        yield MemoryFollowupStore()
        return
    client = make_client(MONGO)
    name = f"contract_followups_{uuid.uuid4().hex[:10]}"
    try:
        db = client[name]
        await ensure_indexes(db, INDEXES)
        yield MongoFollowupStore(db)
    finally:
        await client.drop_database(name)
        await client.close()


async def test_a_webhook_id_is_accepted_once_until_it_expires_or_is_given_back(webhook_ids: WebhookIdStore) -> None:
    assert await webhook_ids.accept_webhook_id("msg_1", NOW + timedelta(minutes=10)) is True
    assert await webhook_ids.accept_webhook_id("msg_1", NOW + timedelta(minutes=20)) is False  # a replay
    assert await webhook_ids.accept_webhook_id("msg_2", NOW + timedelta(minutes=30)) is True
    await webhook_ids.forget_webhook_id("msg_2")  # its call failed: the sender retries it
    assert await webhook_ids.accept_webhook_id("msg_2", NOW + timedelta(minutes=30)) is True
    assert await webhook_ids.purge_webhook_ids(NOW + timedelta(minutes=10)) == 1
    assert await webhook_ids.purge_webhook_ids(NOW + timedelta(minutes=10)) == 0
    assert await webhook_ids.accept_webhook_id("msg_1", NOW + timedelta(minutes=40)) is True  # expired: forgotten


# --- storage limitation ------------------------------------------------------------------------


async def test_the_retention_purge_drops_old_texts_and_inactive_contacts(store: NotificationStore) -> None:
    old, recent = NOW - timedelta(days=100), NOW - timedelta(days=1)
    await store.insert(message("n-old", created_at=old))
    await store.insert(message("n-new", created_at=recent))
    contact = {"phone": "+33612345678", "email": None, "preferred": PreferredChannel.SMS}
    assert await store.update_contact("demo-nord", "T-OLD", old, **contact)  # type: ignore[arg-type]
    assert await store.update_contact("demo-nord", "T-NEW", recent, **contact)  # type: ignore[arg-type]
    assert await store.purge_personal(NOW - timedelta(days=90), NOW - timedelta(days=90)) == 2
    gone, kept = await store.get("n-old"), await store.get("n-new")
    assert gone is not None and gone.text is None and gone.status is Status.PENDING  # the log stays
    assert kept is not None and kept.text == "Bonjour"
    assert await store.get_contact("demo-nord", "T-OLD") is None
    assert await store.has_contact_record("demo-nord", "T-OLD") is False
    assert (await store.get_contact("demo-nord", "T-NEW")) is not None
    assert await store.purge_personal(NOW - timedelta(days=90), NOW - timedelta(days=90)) == 0


def _task(n: int, office: str = "demo-nord", tenant: str = "T-1") -> Followup:
    return Followup(
        id=f"F-{n}",
        office=office,
        cause_id=f"cause-{n}",
        cause_type="request.opened",
        request_id=f"R-{n}",
        tenant_ref=tenant,
        template="request_opened",
        reason="preference_none",
        text="Nous avons bien reçu votre demande",
        created_at=datetime(2026, 11, 27, 9, n, tzinfo=UTC),
    )


async def test_followups_are_kept_once_listed_by_office_and_status_and_closed_once(
    followup_store: FollowupStore,
) -> None:
    s = followup_store
    assert await s.add_followup(_task(1))
    assert not await s.add_followup(replace(_task(1), text="other"))
    await s.add_followup(_task(2, office="demo-sud"))
    await s.add_followup(_task(3))
    assert [t.id for t in await s.followups("demo-nord", "open", 10)] == ["F-1", "F-3"]
    assert [t.id for t in await s.followups(None, None, 10)] == ["F-1", "F-2", "F-3"]
    assert (await s.get_followup("F-1")) == _task(1)
    done = _task(1).done(FollowupChannel.PHONE, FollowupOutcome.REACHED, datetime(2026, 11, 27, 10, tzinfo=UTC))
    assert await s.finish_followup(done)
    assert not await s.finish_followup(replace(done, channel=FollowupChannel.VISIT))
    stored = await s.get_followup("F-1")
    assert stored is not None and (stored.status, stored.channel, stored.published) == (
        FollowupStatus.DONE,
        FollowupChannel.PHONE,
        False,
    )
    assert [t.id for t in await s.unpublished_followups(10)] == ["F-1"]
    await s.mark_followups_published(["F-1"])
    assert await s.unpublished_followups(10) == []
    assert [t.id for t in await s.followups("demo-nord", "done", 10)] == ["F-1"]


async def test_followups_are_erased_with_their_tenant_and_apologies_have_one_owner(
    followup_store: FollowupStore,
) -> None:
    s = followup_store
    await s.add_followup(_task(1))
    await s.add_followup(_task(2, tenant="T-2"))
    await s.add_followup(_task(3, office="demo-sud"))  # same tenant ref, another office
    assert await s.erase_followups("demo-nord", "T-1") == 1
    assert [t.id for t in await s.followups(None, None, 10)] == ["F-2", "F-3"]
    assert await s.apology_cause("demo-nord|R-1|intervention", "at-risk-1") == "at-risk-1"
    assert await s.apology_cause("demo-nord|R-1|intervention", "breach-1") == "at-risk-1"
    assert await s.apology_cause("demo-nord|R-1|resolution", "breach-1") == "breach-1"


async def test_the_retention_purge_blanks_old_followups_words_and_tenant_only(followup_store: FollowupStore) -> None:
    s = followup_store
    retention = timedelta(days=90)
    now = datetime(2027, 3, 1, 9, tzinfo=UTC)
    await s.add_followup(replace(_task(1), created_at=now - retention - timedelta(hours=1)))  # old, open
    old_done = replace(_task(2, office="demo-sud"), created_at=now - retention - timedelta(days=10))
    await s.add_followup(old_done)
    assert await s.finish_followup(old_done.done(FollowupChannel.VISIT, FollowupOutcome.REACHED, old_done.created_at))
    await s.add_followup(replace(_task(3), created_at=now - retention + timedelta(hours=1)))  # young
    assert await s.purge_followups(now - retention) == 2
    for task_id in ("F-1", "F-2"):
        task = await s.get_followup(task_id)
        assert task is not None and (task.text, task.tenant_ref) == ("", None)
    done = await s.get_followup("F-2")
    assert done is not None and (done.status, done.channel, done.outcome, done.published) == (
        FollowupStatus.DONE,
        FollowupChannel.VISIT,
        FollowupOutcome.REACHED,
        False,  # its followup.done still goes out
    )
    assert [t.id for t in await s.unpublished_followups(10)] == ["F-2"]
    assert await s.get_followup("F-3") == replace(_task(3), created_at=now - retention + timedelta(hours=1))
    assert await s.purge_followups(now - retention) == 0
