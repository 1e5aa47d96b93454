"""The event contract (EVENTS.md): valid events round-trip, every rule rejects what breaks it."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from shared.events import (
    CONTENT_TYPE,
    EVENT_CLASSES,
    EVENT_TYPES,
    InvalidEvent,
    RequestOpened,
    from_record,
    full_type,
    parse_event,
    short_type,
    to_record,
    type_name,
)
from tests.support.samples import SAMPLES, sample

EXAMPLE = """{"specversion":"1.0","id":"opac-oise-ikos-000000042","source":"/offices/opac-oise/ikos",
 "type":"fr.canopee.request.opened.v1","subject":"REQ-2026-000042",
 "time":"2026-11-27T08:14:05+01:00","officeid":"opac-oise","datacontenttype":"application/json",
 "data":{"request_id":"REQ-2026-000042","tenant_ref":"T-88412","category":"heating_hot_water",
         "urgency":"U2","channel":"phone","summary":"Plus d'eau chaude depuis hier soir"}}"""


def test_the_example_of_the_contract_is_valid_and_round_trips() -> None:
    event = parse_event(EXAMPLE)
    assert isinstance(event, RequestOpened)
    key, value, headers = to_record(event)
    assert key == b"REQ-2026-000042"
    assert headers == [("content-type", CONTENT_TYPE.encode())]
    again = from_record(value, headers)
    assert again == event
    assert json.loads(value) == json.loads(EXAMPLE)


def test_every_type_of_the_contract_has_a_sample() -> None:
    assert {f"fr.canopee.{k}.v1" for k in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_one_valid_event_of_every_type_round_trips(kind: str) -> None:
    raw = sample(kind)
    event = parse_event(json.dumps(raw))
    assert event.type == raw["type"]
    assert type(event).topic
    key, value, headers = to_record(event)
    assert key == raw["subject"].encode()
    assert from_record(value, headers) == event
    assert json.loads(value) == raw


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = event
        for part in parents:
            target = target[part]
        target[last] = value

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = event
        for part in parents:
            target = target[part]
        del target[last]

    return mutate


# (sample kind, mutation, text the reason must contain)
ENVELOPE_CASES: list[tuple[str, str, Mutation, str]] = [
    ("request.opened", "specversion 0.3", _set("specversion", "0.3"), "specversion"),
    ("request.opened", "specversion missing", _drop("specversion"), "specversion"),
    ("request.opened", "id missing", _drop("id"), "id"),
    ("request.opened", "id empty", _set("id", ""), "id"),
    ("request.opened", "id with a space", _set("id", "a b"), "id"),
    ("request.opened", "id too long", _set("id", "x" * 129), "id"),
    ("request.opened", "id not ascii", _set("id", "réq-1"), "id"),
    ("request.opened", "source missing", _drop("source"), "source"),
    ("request.opened", "source not a path", _set("source", "ikos"), "source"),
    ("request.opened", "source system uppercase", _set("source", "/offices/demo-nord/IKOS"), "source"),
    ("request.opened", "source system too long", _set("source", "/offices/demo-nord/" + "a" * 41), "source"),
    ("request.opened", "officeid differs from source", _set("officeid", "demo-sud"), "officeid"),
    ("request.opened", "officeid bad pattern", _set("officeid", "Demo_Nord"), "officeid"),
    ("request.opened", "officeid missing", _drop("officeid"), "officeid"),
    ("request.opened", "type unknown", _set("type", "fr.canopee.request.teleported.v1"), "type"),
    ("request.opened", "type missing", _drop("type"), "type"),
    ("request.opened", "subject missing", _drop("subject"), "subject"),
    ("request.opened", "subject bad chars", _set("subject", "REQ 42"), "subject"),
    ("request.opened", "subject too long", _set("subject", "R" * 65), "subject"),
    ("request.opened", "subject differs from request_id", _set("subject", "REQ-OTHER"), "subject"),
    ("request.opened", "time naive", _set("time", "2026-11-27T08:14:05"), "time"),
    ("request.opened", "time date only", _set("time", "2026-11-27"), "time"),
    ("request.opened", "time not a date", _set("time", "yesterday"), "time"),
    ("request.opened", "time impossible", _set("time", "2026-02-30T08:00:00Z"), "time"),
    ("request.opened", "time as a number", _set("time", 1764230045), "time"),
    ("request.opened", "time as digits", _set("time", "1764230045"), "time"),
    ("request.opened", "time offset without colon", _set("time", "2026-11-27T08:14:05+0100"), "time"),
    ("request.opened", "time without seconds", _set("time", "2026-11-27T08:14+01:00"), "time"),
    ("request.opened", "time missing", _drop("time"), "time"),
    ("request.opened", "datacontenttype other", _set("datacontenttype", "text/plain"), "datacontenttype"),
    ("request.opened", "data missing", _drop("data"), "data"),
    ("request.opened", "data not an object", _set("data", "x"), "data"),
    ("sla.breached", "service type from an office source", _set("source", "/offices/demo-nord/ikos"), "source"),
    ("sla.breached", "service source malformed", _set("source", "/services/"), "source"),
]


@pytest.mark.parametrize(("kind", "case", "mutate", "named"), ENVELOPE_CASES, ids=[c[1] for c in ENVELOPE_CASES])
def test_every_envelope_rule_is_enforced(kind: str, case: str, mutate: Mutation, named: str) -> None:
    event = sample(kind)
    mutate(event)
    with pytest.raises(InvalidEvent) as caught:
        parse_event(json.dumps(event))
    assert caught.value.reason.split(":")[0].split(".")[0] == named, caught.value.reason


DATA_CASES: list[tuple[str, str, Mutation, str]] = [
    # request.opened
    ("request.opened", "request_id missing", _drop("data.request_id"), "data.request_id"),
    ("request.opened", "request_id bad", _set("data.request_id", "a/b"), "data.request_id"),
    ("request.opened", "tenant_ref missing", _drop("data.tenant_ref"), "data.tenant_ref"),
    ("request.opened", "tenant_ref too long", _set("data.tenant_ref", "T" * 65), "data.tenant_ref"),
    ("request.opened", "housing_ref bad", _set("data.housing_ref", "LOG 12"), "data.housing_ref"),
    ("request.opened", "category unknown", _set("data.category", "plumbing"), "data.category"),
    ("request.opened", "category missing", _drop("data.category"), "data.category"),
    ("request.opened", "urgency unknown", _set("data.urgency", "U4"), "data.urgency"),
    ("request.opened", "channel unknown", _set("data.channel", "fax"), "data.channel"),
    ("request.opened", "summary too long", _set("data.summary", "x" * 501), "data.summary"),
    ("request.opened", "summary not text", _set("data.summary", 42), "data.summary"),
    # request.assigned
    ("request.assigned", "assignee_kind unknown", _set("data.assignee_kind", "robot"), "data.assignee_kind"),
    ("request.assigned", "assignee_ref missing", _drop("data.assignee_ref"), "data.assignee_ref"),
    ("request.assigned", "assignee_name too long", _set("data.assignee_name", "n" * 81), "data.assignee_name"),
    # appointment.scheduled
    ("appointment.scheduled", "appointment_id missing", _drop("data.appointment_id"), "data.appointment_id"),
    ("appointment.scheduled", "slot_start naive", _set("data.slot_start", "2026-11-30T08:00:00"), "data.slot_start"),
    (
        "appointment.scheduled",
        "slot_end before start",
        _set("data.slot_end", "2026-11-30T07:00:00+01:00"),
        "data.slot_end",
    ),
    (
        "appointment.scheduled",
        "slot_end equal start",
        _set("data.slot_end", "2026-11-30T08:00:00+01:00"),
        "data.slot_end",
    ),
    (
        "appointment.scheduled",
        "contractor_name too long",
        _set("data.contractor_name", "c" * 81),
        "data.contractor_name",
    ),
    # appointment.missed
    ("appointment.missed", "missed_by unknown", _set("data.missed_by", "weather"), "data.missed_by"),
    ("appointment.missed", "appointment_id missing", _drop("data.appointment_id"), "data.appointment_id"),
    # request.on_hold
    ("request.on_hold", "reason unknown", _set("data.reason", "lunch"), "data.reason"),
    ("request.on_hold", "reason missing", _drop("data.reason"), "data.reason"),
    # request.resumed
    ("request.resumed", "request_id missing", _drop("data.request_id"), "data.request_id"),
    # repair.done
    ("repair.done", "completed_by too long", _set("data.completed_by", "c" * 81), "data.completed_by"),
    ("repair.done", "first_visit not boolean", _set("data.first_visit", "yes"), "data.first_visit"),
    # request.closed
    ("request.closed", "resolution unknown", _set("data.resolution", "fixed"), "data.resolution"),
    ("request.closed", "resolution missing", _drop("data.resolution"), "data.resolution"),
    # request.reopened
    ("request.reopened", "reason too long", _set("data.reason", "r" * 301), "data.reason"),
    # satisfaction.rated
    ("satisfaction.rated", "score 0", _set("data.score", 0), "data.score"),
    ("satisfaction.rated", "score 6", _set("data.score", 6), "data.score"),
    ("satisfaction.rated", "score as text", _set("data.score", "4"), "data.score"),
    ("satisfaction.rated", "score decimal", _set("data.score", 4.5), "data.score"),
    ("satisfaction.rated", "nps 11", _set("data.nps", 11), "data.nps"),
    ("satisfaction.rated", "nps negative", _set("data.nps", -1), "data.nps"),
    ("satisfaction.rated", "comment too long", _set("data.comment", "c" * 1001), "data.comment"),
    ("satisfaction.rated", "channel unknown", _set("data.channel", "pigeon"), "data.channel"),
    ("satisfaction.rated", "tenant_ref missing", _drop("data.tenant_ref"), "data.tenant_ref"),
    # tenant.contact_updated
    ("tenant.contact_updated", "phone not E.164", _set("data.phone", "0612345678"), "data.phone"),
    ("tenant.contact_updated", "phone too short", _set("data.phone", "+3361234"), "data.phone"),
    ("tenant.contact_updated", "phone invalid for France", _set("data.phone", "+33012345678"), "data.phone"),
    ("tenant.contact_updated", "email malformed", _set("data.email", "not-an-address"), "data.email"),
    (
        "tenant.contact_updated",
        "preferred_channel unknown",
        _set("data.preferred_channel", "fax"),
        "data.preferred_channel",
    ),
    ("tenant.contact_updated", "preferred_channel missing", _drop("data.preferred_channel"), "data.preferred_channel"),
    ("tenant.contact_updated", "subject differs from tenant_ref", _set("subject", "T-1"), "subject"),
    # tenant.consent_changed
    ("tenant.consent_changed", "channel unknown", _set("data.channel", "none"), "data.channel"),
    ("tenant.consent_changed", "granted not boolean", _set("data.granted", "no"), "data.granted"),
    ("tenant.consent_changed", "via unknown", _set("data.via", "letter"), "data.via"),
    # tenant.erased
    ("tenant.erased", "tenant_ref missing", _drop("data.tenant_ref"), "data.tenant_ref"),
    # sla.*
    ("sla.at_risk", "stage unknown", _set("data.stage", "closing"), "data.stage"),
    ("sla.at_risk", "policy too long", _set("data.policy", "p" * 41), "data.policy"),
    ("sla.at_risk", "due_at naive", _set("data.due_at", "2026-11-28T08:14:05"), "data.due_at"),
    ("sla.breached", "category missing", _drop("data.category"), "data.category"),
    ("sla.breached", "urgency unknown", _set("data.urgency", "U0"), "data.urgency"),
    # survey.requested
    ("survey.requested", "both request and campaign", _set("data.campaign_id", "CMP-1"), "data"),
    ("survey.requested", "url not http", _set("data.url", "ftp://x"), "data.url"),
    ("survey.requested", "expires_at missing", _drop("data.expires_at"), "data.expires_at"),
    ("survey.requested", "reminder not boolean", _set("data.reminder", 0), "data.reminder"),
    ("survey.requested", "subject differs from survey_id", _set("subject", "SRV-2"), "subject"),
    # campaign.answered
    ("campaign.answered", "axis unknown", _set("data.axes", {"speed": 3}), "data.axes"),
    ("campaign.answered", "axes empty", _set("data.axes", {}), "data.axes"),
    ("campaign.answered", "axis score 6", _set("data.axes", {"keys": 6}), "data.axes"),
    ("campaign.answered", "campaign_id missing", _drop("data.campaign_id"), "data.campaign_id"),
    ("campaign.answered", "nps 12", _set("data.nps", 12), "data.nps"),
    # feedback.detractor_alert
    ("feedback.detractor_alert", "score 9", _set("data.score", 9), "data.score"),
    ("feedback.detractor_alert", "follow_up_due_at missing", _drop("data.follow_up_due_at"), "data.follow_up_due_at"),
    ("feedback.detractor_alert", "comment too long", _set("data.comment", "c" * 1001), "data.comment"),
    # feedback.alert_acknowledged, feedback.alert_overdue
    ("feedback.alert_acknowledged", "alert_id missing", _drop("data.alert_id"), "data.alert_id"),
    ("feedback.alert_acknowledged", "within_deadline missing", _drop("data.within_deadline"), "data.within_deadline"),
    (
        "feedback.alert_acknowledged",
        "within_deadline as text",
        _set("data.within_deadline", "yes"),
        "data.within_deadline",
    ),
    (
        "feedback.alert_acknowledged",
        "acknowledged_at naive",
        _set("data.acknowledged_at", "2026-11-28T10:02:00"),
        "data.acknowledged_at",
    ),
    ("feedback.alert_acknowledged", "action too long", _set("data.action", "a" * 301), "data.action"),
    ("feedback.alert_overdue", "follow_up_due_at missing", _drop("data.follow_up_due_at"), "data.follow_up_due_at"),
    ("feedback.alert_overdue", "alert_id with a space", _set("data.alert_id", "a b"), "data.alert_id"),
    # notification.*
    ("notification.sent", "channel unknown", _set("data.channel", "pigeon"), "data.channel"),
    ("notification.sent", "template too long", _set("data.template", "t" * 61), "data.template"),
    ("notification.sent", "recipient unknown", _set("data.recipient", "neighbour"), "data.recipient"),
    ("notification.failed", "reason too long", _set("data.reason", "r" * 201), "data.reason"),
    ("notification.deferred", "send_at naive", _set("data.send_at", "2026-11-30T08:00:00"), "data.send_at"),
    ("notification.sent", "sms_segments negative", _set("data.sms_segments", -1), "data.sms_segments"),
    ("notification.sent", "cause_id missing", _drop("data.cause_id"), "data.cause_id"),
    # sms.replied
    ("sms.replied", "text too long", _set("data.text", "x" * 321), "data.text"),
    ("sms.replied", "tenant_ref missing", _drop("data.tenant_ref"), "data.tenant_ref"),
    # followup.done
    ("followup.done", "channel unknown", _set("data.channel", "sms"), "data.channel"),
    ("followup.done", "outcome unknown", _set("data.outcome", "maybe"), "data.outcome"),
    ("followup.done", "done_at naive", _set("data.done_at", "2026-11-27T10:30:00"), "data.done_at"),
    ("followup.done", "cause_id missing", _drop("data.cause_id"), "data.cause_id"),
    ("followup.done", "subject differs from followup_id", _set("subject", "FUP-2"), "subject"),
]


@pytest.mark.parametrize(("kind", "case", "mutate", "named"), DATA_CASES, ids=[f"{c[0]}: {c[1]}" for c in DATA_CASES])
def test_every_data_rule_is_enforced(kind: str, case: str, mutate: Mutation, named: str) -> None:
    event = sample(kind)
    mutate(event)
    with pytest.raises(InvalidEvent) as caught:
        parse_event(json.dumps(event))
    assert caught.value.reason.startswith(named), caught.value.reason


def test_satisfaction_needs_a_request_or_a_survey_and_takes_the_right_subject() -> None:
    event = sample("satisfaction.rated")
    event["subject"] = event["data"]["request_id"]
    with pytest.raises(InvalidEvent, match="subject"):
        parse_event(json.dumps(event))  # a survey id is given: the subject must be it
    event["subject"] = event["data"]["survey_id"]
    del event["data"]["survey_id"]
    with pytest.raises(InvalidEvent, match="subject"):
        parse_event(json.dumps(event))  # subject is still the survey id
    event["subject"] = event["data"]["request_id"]
    assert parse_event(json.dumps(event)).subject == event["data"]["request_id"]
    del event["data"]["request_id"]
    with pytest.raises(InvalidEvent, match="request_id and survey_id"):
        parse_event(json.dumps(event))


def test_tolerant_reader_unknown_data_fields_and_extensions_are_accepted() -> None:
    event = sample("request.opened", colour="blue")
    event["traceparent"] = "00-abc"
    parsed = parse_event(json.dumps(event))
    assert parsed.model_extra == {"traceparent": "00-abc"}
    assert not hasattr(parsed.data, "colour")


def test_a_record_with_another_content_type_is_invalid() -> None:
    with pytest.raises(InvalidEvent, match="content-type"):
        from_record(json.dumps(sample("request.opened")).encode(), [("content-type", b"text/plain")])


def test_a_copy_of_a_sample_is_not_the_same_event_id() -> None:
    first, second = sample("repair.done"), sample("repair.done")
    assert first["id"] != second["id"]
    assert copy.deepcopy(first) == first


def test_one_registry_builds_the_lookup_table_and_the_union() -> None:
    assert len(EVENT_CLASSES) == len(SAMPLES) == len(set(EVENT_CLASSES))
    assert list(EVENT_TYPES.values()) == list(EVENT_CLASSES)
    assert [type_name(cls) for cls in EVENT_CLASSES] == list(EVENT_TYPES)
    for kind in SAMPLES:  # every registered class is reachable through parse_event's union
        assert type(parse_event(json.dumps(sample(kind)))) is EVENT_TYPES[full_type(kind)]


def test_short_and_full_type_names_convert_both_ways() -> None:
    assert short_type("fr.canopee.repair.done.v1") == "repair.done"
    assert full_type("repair.done") == "fr.canopee.repair.done.v1"
    assert full_type("repair.done", version=2) == "fr.canopee.repair.done.v2"
    assert {full_type(short_type(name)) for name in EVENT_TYPES} == set(EVENT_TYPES)


def test_a_record_may_carry_the_json_already_serialized() -> None:
    event = parse_event(EXAMPLE)
    key, value, headers = to_record(event, EXAMPLE.encode())
    assert (key, value, headers) == (b"REQ-2026-000042", EXAMPLE.encode(), [("content-type", CONTENT_TYPE.encode())])


@pytest.mark.parametrize(
    "header",
    [
        b"application/cloudevents+json",
        b"application/cloudevents+json; charset=UTF-8",
        b"Application/CloudEvents+JSON;charset=utf-8",
        b"application/json",
        b"application/json; charset=utf-8",
    ],
)
def test_content_type_as_the_kafka_binding_writes_it(header: bytes) -> None:
    event = sample("request.opened")
    assert from_record(json.dumps(event).encode(), [("content-type", header)]).id == event["id"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"application/cloudevents+avro", "only application/cloudevents+json is supported"),
        (b"application/cloudevents-batch+json", "only application/cloudevents+json is supported"),
        (b"text/plain; charset=utf-8", "content-type: expected application/cloudevents+json"),
    ],
)
def test_other_content_types_are_refused_naming_the_header(header: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=re.escape(reason)):
        from_record(json.dumps(sample("request.opened")).encode(), [("Content-Type", header)])
