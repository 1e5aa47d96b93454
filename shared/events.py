"""The event contract (v1): CloudEvents 1.0 envelopes and the data of every event type.

Every model validates strictly, as docs/EVENTS.md (the contract) says: closed enums, bounded
lengths, timestamps with an offset. Unknown fields inside ``data`` are ignored (tolerant reader);
unknown extension attributes on the envelope are kept and ignored.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, Union, get_args

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "fr.canopee."


def short_type(full: str) -> str:
    """``fr.canopee.repair.done.v1`` → ``repair.done`` (the name without prefix and version)."""
    return full.removeprefix(TYPE_PREFIX).rsplit(".", 1)[0]


def full_type(short: str, version: int = 1) -> str:
    """``repair.done`` → ``fr.canopee.repair.done.v1``."""
    return f"{TYPE_PREFIX}{short}.v{version}"


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# /offices/{officeid}/{system} for office events, /services/{service} for ours
_SOURCE_PATTERN = r"^(/offices/[a-z0-9-]{2,40}/[a-z0-9-]{1,40}|/services/[a-z][a-z0-9-]{0,39})$"


def _rfc3339(value: Any) -> Any:
    if value.__class__ is not str:
        return value
    match = _RFC3339.match(value)
    if not match:
        raise ValueError("must be an RFC 3339 timestamp with an offset or Z")
    fraction = match[1]
    if fraction and len(fraction) > 7:  # Python keeps microseconds: drop the extra digits
        value = value.replace(fraction, fraction[:7], 1)
    try:
        return datetime.fromisoformat(value.upper() if "t" in value or "z" in value else value)
    except ValueError as exc:
        raise ValueError(f"not a real date or time ({exc})") from None


def _e164(value: str) -> str:
    if not re.fullmatch(r"\+[0-9]{8,15}", value):
        raise ValueError("must be E.164: '+' then 8 to 15 digits")
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a valid phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number for its country")
    return value


def _email(value: str) -> str:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError("not a valid e-mail address") from exc
    return value


Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
EventId = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,128}$")]
OfficeId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,40}$")]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
Phone = Annotated[str, StringConstraints(max_length=16), AfterValidator(_e164)]
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]


# text(n) of the contract: a string of at most n characters
Text40 = Annotated[str, StringConstraints(max_length=40)]
Text60 = Annotated[str, StringConstraints(max_length=60)]
Text80 = Annotated[str, StringConstraints(max_length=80)]
Text200 = Annotated[str, StringConstraints(max_length=200)]
Text300 = Annotated[str, StringConstraints(max_length=300)]
Text320 = Annotated[str, StringConstraints(max_length=320)]
Text500 = Annotated[str, StringConstraints(max_length=500)]
Text1000 = Annotated[str, StringConstraints(max_length=1000)]
Score = Annotated[int, Field(ge=1, le=5)]
Nps = Annotated[int, Field(ge=0, le=10)]


class Category(StrEnum):
    REPAIR = "repair"
    COMMON_AREAS = "common_areas"
    HEATING_HOT_WATER = "heating_hot_water"
    NEIGHBOURHOOD = "neighbourhood"
    ADMINISTRATIVE = "administrative"
    RENT_CHARGES = "rent_charges"
    TRANSFER = "transfer"
    OTHER = "other"


class Urgency(StrEnum):
    U1 = "U1"
    U2 = "U2"
    U3 = "U3"


class RequestChannel(StrEnum):
    PHONE = "phone"
    COUNTER = "counter"
    EMAIL = "email"
    WEB = "web"
    APP = "app"
    CHATBOT = "chatbot"
    LETTER = "letter"
    VISIT = "visit"


class AssigneeKind(StrEnum):
    AGENT = "agent"
    TEAM = "team"
    CONTRACTOR = "contractor"


class MissedBy(StrEnum):
    CONTRACTOR = "contractor"
    TENANT = "tenant"


class HoldReason(StrEnum):
    TENANT_UNAVAILABLE = "tenant_unavailable"
    ACCESS_NEEDED = "access_needed"
    PARTS_ORDERED = "parts_ordered"
    THIRD_PARTY = "third_party"
    OTHER = "other"


class Resolution(StrEnum):
    RESOLVED = "resolved"
    NOT_JUSTIFIED = "not_justified"
    TENANT_RESPONSIBILITY = "tenant_responsibility"
    DUPLICATE = "duplicate"
    WITHDRAWN = "withdrawn"


class RatingChannel(StrEnum):
    WEB = "web"
    SMS = "sms"
    PHONE = "phone"
    EMAIL = "email"
    PAPER = "paper"
    COUNTER = "counter"


class PreferredChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    NONE = "none"


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class ConsentVia(StrEnum):
    STOP_KEYWORD = "stop_keyword"
    OFFICE = "office"
    WEB = "web"


class Stage(StrEnum):
    FIRST_RESPONSE = "first_response"
    INTERVENTION = "intervention"
    RESOLUTION = "resolution"


class Recipient(StrEnum):
    TENANT = "tenant"
    OFFICE = "office"


class Axis(StrEnum):
    KEYS = "keys"
    POSTURE = "posture"
    TEAM = "team"
    MISSION = "mission"


class Data(BaseModel):
    """Base of every event's ``data``: strict on listed fields, tolerant of unknown ones."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, use_enum_values=False)


# --- office events: office.requests ------------------------------------------------------------


class RequestOpenedData(Data):
    request_id: Ref
    tenant_ref: Ref
    housing_ref: Ref | None = None
    category: Category
    urgency: Urgency | None = None
    channel: RequestChannel
    summary: Text500 | None = None
    #: the tenant's request is a complaint (réclamation) about the office's service, whatever
    #: its category; absent = not a complaint
    complaint: bool | None = None


class RequestAssignedData(Data):
    request_id: Ref
    assignee_kind: AssigneeKind
    assignee_ref: Ref
    assignee_name: Text80 | None = None


class AppointmentScheduledData(Data):
    request_id: Ref
    appointment_id: Ref
    slot_start: Timestamp
    slot_end: Timestamp
    contractor_name: Text80 | None = None

    @model_validator(mode="after")
    def _slot_order(self) -> Self:
        if self.slot_end <= self.slot_start:
            raise ValueError("slot_end: must be strictly after slot_start")
        return self


class AppointmentMissedData(Data):
    request_id: Ref
    appointment_id: Ref
    missed_by: MissedBy


class RequestOnHoldData(Data):
    request_id: Ref
    reason: HoldReason


class RequestResumedData(Data):
    request_id: Ref


class RepairDoneData(Data):
    request_id: Ref
    completed_by: Text80 | None = None
    first_visit: bool | None = None


class RequestClosedData(Data):
    request_id: Ref
    resolution: Resolution


class RequestReopenedData(Data):
    request_id: Ref
    reason: Text300 | None = None


class SatisfactionRatedData(Data):
    request_id: Ref | None = None
    survey_id: Ref | None = None
    tenant_ref: Ref
    score: Score
    nps: Nps | None = None
    comment: Text1000 | None = None
    channel: RatingChannel

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.request_id is None and self.survey_id is None:
            raise ValueError("at least one of request_id and survey_id is required")
        return self


# --- tenant events: office.tenants -------------------------------------------------------------


class TenantContactUpdatedData(Data):
    tenant_ref: Ref
    phone: Phone | None = None
    email: Email | None = None
    preferred_channel: PreferredChannel
    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")] = "fr"


class TenantConsentChangedData(Data):
    tenant_ref: Ref
    channel: Channel
    granted: bool
    via: ConsentVia


class TenantErasedData(Data):
    tenant_ref: Ref


# --- service events ----------------------------------------------------------------------------


class SlaData(Data):
    request_id: Ref
    stage: Stage
    policy: Text40
    due_at: Timestamp
    category: Category
    urgency: Urgency | None = None


class SurveyRequestedData(Data):
    survey_id: Ref
    request_id: Ref | None = None
    campaign_id: Ref | None = None
    tenant_ref: Ref
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)]
    expires_at: Timestamp
    reminder: bool

    @model_validator(mode="after")
    def _exactly_one_origin(self) -> Self:
        if (self.request_id is None) == (self.campaign_id is None):
            raise ValueError("exactly one of request_id and campaign_id is required")
        return self


class AxesScores(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    keys: Score | None = None
    posture: Score | None = None
    team: Score | None = None
    mission: Score | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if all(v is None for v in (self.keys, self.posture, self.team, self.mission)):
            raise ValueError("at least one charter axis (keys, posture, team, mission) is required")
        return self


class CampaignAnsweredData(Data):
    campaign_id: Ref
    survey_id: Ref
    tenant_ref: Ref
    axes: AxesScores
    nps: Nps | None = None
    comment: Text1000 | None = None
    channel: RatingChannel


class DetractorAlertData(Data):
    request_id: Ref | None = None
    survey_id: Ref | None = None
    tenant_ref: Ref
    score: Score
    comment: Text1000 | None = None
    follow_up_due_at: Timestamp

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.request_id is None and self.survey_id is None:
            raise ValueError("at least one of request_id and survey_id is required")
        return self


class AlertAcknowledgedData(Data):
    alert_id: EventId
    request_id: Ref | None = None
    survey_id: Ref | None = None
    acknowledged_at: Timestamp
    within_deadline: bool
    action: Text300 | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.request_id is None and self.survey_id is None:
            raise ValueError("at least one of request_id and survey_id is required")
        return self


class AlertOverdueData(Data):
    alert_id: EventId
    request_id: Ref | None = None
    survey_id: Ref | None = None
    follow_up_due_at: Timestamp

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.request_id is None and self.survey_id is None:
            raise ValueError("at least one of request_id and survey_id is required")
        return self


class NotificationData(Data):
    notification_id: Ref
    cause_id: EventId
    channel: Channel
    template: Text60
    recipient: Recipient
    reason: Text200 | None = None
    sms_segments: Annotated[int, Field(ge=0)] | None = None
    send_at: Timestamp | None = None


class SmsRepliedData(Data):
    tenant_ref: Ref
    text: Text320


class FollowupChannel(StrEnum):
    """How an office agent followed a tenant up in person (``followup.done``)."""

    PHONE = "phone"
    COUNTER = "counter"
    VISIT = "visit"
    LETTER = "letter"


class FollowupOutcome(StrEnum):
    REACHED = "reached"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"


class FollowupDoneData(Data):
    followup_id: Ref
    cause_id: EventId
    request_id: Ref | None = None
    channel: FollowupChannel
    outcome: FollowupOutcome
    done_at: Timestamp


# --- the envelope -------------------------------------------------------------------------------


class CloudEvent(BaseModel):
    """CloudEvents 1.0 envelope, structured JSON mode. Subclassed once per event type."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    #: the topic this type travels on
    topic: ClassVar[str]
    #: the ``data`` field that must equal ``subject`` (None: checked by ``_subject_rule``)
    subject_field: ClassVar[str | None] = "request_id"
    #: True for types only our services emit (source must be /services/...)
    service_only: ClassVar[bool] = False

    specversion: Literal["1.0"]
    id: EventId
    source: Annotated[str, StringConstraints(pattern=_SOURCE_PATTERN)]
    type: str
    subject: Ref
    time: Timestamp
    officeid: OfficeId
    datacontenttype: Literal["application/json"] | None = None
    data: Data

    @model_validator(mode="after")
    def _envelope_rules(self) -> Self:
        # the source's shape is checked by its pattern; here only what crosses fields
        source = self.source
        if source[1] == "o":  # /offices/{officeid}/{system}
            if self.service_only:
                raise ValueError(f"source: {self.type} is emitted by services, source must be /services/{{service}}")
            if source[9 : 9 + len(self.officeid) + 1] != self.officeid + "/":
                raise ValueError("officeid: must equal the office in source /offices/{officeid}/{system}")
        field = self.subject_field
        if field is None or getattr(self.data, field) != self.subject:
            names = self._subject_names()
            if not any(getattr(self.data, name) == self.subject for name in names):
                raise ValueError(f"subject: must equal data.{' or '.join(names)}")
        return self

    def _subject_names(self) -> list[str]:
        return [self.subject_field] if self.subject_field else []

    @property
    def office_source(self) -> bool:
        return self.source.startswith("/offices/")

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class Topics:
    """Kafka topics of the contract, and the dead-letter topic of a consumer group."""

    OFFICE_REQUESTS = "office.requests"
    OFFICE_TENANTS = "office.tenants"
    FEEDBACK_RATINGS = "feedback.ratings"
    TICKETING_SLA = "ticketing.sla"
    FEEDBACK_SURVEYS = "feedback.surveys"
    NOTIFICATIONS_OUTCOMES = "notifications.outcomes"

    ALL: ClassVar[tuple[str, ...]] = (
        OFFICE_REQUESTS,
        OFFICE_TENANTS,
        FEEDBACK_RATINGS,
        TICKETING_SLA,
        FEEDBACK_SURVEYS,
        NOTIFICATIONS_OUTCOMES,
    )

    @staticmethod
    def dlq(group: str) -> str:
        return f"dlq.{group}"


class _ServiceEvent(CloudEvent):
    service_only = True


class _NotificationEvent(_ServiceEvent):
    subject_field = "notification_id"


class _RatingSubject(CloudEvent):
    """satisfaction.rated: subject is survey_id if present, else request_id."""

    subject_field = None

    def _subject_names(self) -> list[str]:
        return ["survey_id"] if getattr(self.data, "survey_id", None) is not None else ["request_id"]


class _EitherSubject(_ServiceEvent):
    """feedback.detractor_alert: subject is the survey_id or the request_id."""

    subject_field = None

    def _subject_names(self) -> list[str]:
        return [n for n in ("survey_id", "request_id") if getattr(self.data, n, None) is not None]


class RequestOpened(CloudEvent):
    topic = Topics.OFFICE_REQUESTS
    type: Literal["fr.canopee.request.opened.v1"]
    data: RequestOpenedData


class RequestAssigned(CloudEvent):
    topic = Topics.OFFICE_REQUESTS
    type: Literal["fr.canopee.request.assigned.v1"]
    data: RequestAssignedData


class AppointmentScheduled(CloudEvent):
    topic = Topics.OFFICE_REQUESTS
    type: Literal["fr.canopee.appointment.scheduled.v1"]
    data: AppointmentScheduledData


class AppointmentMissed(CloudEvent):
    topic = Topics.OFFICE_REQUESTS
    type: Literal["fr.canopee.appointment.missed.v1"]
    data: AppointmentMissedData


class RequestOnHold(CloudEvent):
    topic = Topics.OFFICE_REQUESTS
    type: Literal["fr.canopee.request.on_hold.v1"]
    data: RequestOnHoldData


class RequestResumed(CloudEvent):
    topic = Topics.OFFICE_REQUESTS
    type: Literal["fr.canopee.request.resumed.v1"]
    data: RequestResumedData


class RepairDone(CloudEvent):
    topic = Topics.OFFICE_REQUESTS
    type: Literal["fr.canopee.repair.done.v1"]
    data: RepairDoneData


class RequestClosed(CloudEvent):
    topic = Topics.OFFICE_REQUESTS
    type: Literal["fr.canopee.request.closed.v1"]
    data: RequestClosedData


class RequestReopened(CloudEvent):
    topic = Topics.OFFICE_REQUESTS
    type: Literal["fr.canopee.request.reopened.v1"]
    data: RequestReopenedData


class SatisfactionRated(_RatingSubject):
    topic = Topics.FEEDBACK_RATINGS
    type: Literal["fr.canopee.satisfaction.rated.v1"]
    data: SatisfactionRatedData


class TenantContactUpdated(CloudEvent):
    topic = Topics.OFFICE_TENANTS
    subject_field = "tenant_ref"
    type: Literal["fr.canopee.tenant.contact_updated.v1"]
    data: TenantContactUpdatedData


class TenantConsentChanged(CloudEvent):
    topic = Topics.OFFICE_TENANTS
    subject_field = "tenant_ref"
    type: Literal["fr.canopee.tenant.consent_changed.v1"]
    data: TenantConsentChangedData


class TenantErased(CloudEvent):
    topic = Topics.OFFICE_TENANTS
    subject_field = "tenant_ref"
    type: Literal["fr.canopee.tenant.erased.v1"]
    data: TenantErasedData


class SlaAtRisk(_ServiceEvent):
    topic = Topics.TICKETING_SLA
    type: Literal["fr.canopee.sla.at_risk.v1"]
    data: SlaData


class SlaBreached(_ServiceEvent):
    topic = Topics.TICKETING_SLA
    type: Literal["fr.canopee.sla.breached.v1"]
    data: SlaData


class SurveyRequested(_ServiceEvent):
    topic = Topics.FEEDBACK_SURVEYS
    subject_field = "survey_id"
    type: Literal["fr.canopee.survey.requested.v1"]
    data: SurveyRequestedData


class CampaignAnswered(_ServiceEvent):
    topic = Topics.FEEDBACK_RATINGS
    subject_field = "survey_id"
    type: Literal["fr.canopee.campaign.answered.v1"]
    data: CampaignAnsweredData


class DetractorAlert(_EitherSubject):
    topic = Topics.FEEDBACK_SURVEYS
    type: Literal["fr.canopee.feedback.detractor_alert.v1"]
    data: DetractorAlertData


class AlertAcknowledged(_EitherSubject):
    """A manager acknowledged a detractor alert (called the tenant back): the loop is closed."""

    topic = Topics.FEEDBACK_SURVEYS
    type: Literal["fr.canopee.feedback.alert_acknowledged.v1"]
    data: AlertAcknowledgedData


class AlertOverdue(_EitherSubject):
    """A detractor alert's follow-up deadline passed unacknowledged (emitted once per alert)."""

    topic = Topics.FEEDBACK_SURVEYS
    type: Literal["fr.canopee.feedback.alert_overdue.v1"]
    data: AlertOverdueData


class NotificationSent(_NotificationEvent):
    topic = Topics.NOTIFICATIONS_OUTCOMES
    type: Literal["fr.canopee.notification.sent.v1"]
    data: NotificationData


class NotificationDelivered(_NotificationEvent):
    topic = Topics.NOTIFICATIONS_OUTCOMES
    type: Literal["fr.canopee.notification.delivered.v1"]
    data: NotificationData


class NotificationFailed(_NotificationEvent):
    topic = Topics.NOTIFICATIONS_OUTCOMES
    type: Literal["fr.canopee.notification.failed.v1"]
    data: NotificationData


class NotificationDeferred(_NotificationEvent):
    topic = Topics.NOTIFICATIONS_OUTCOMES
    type: Literal["fr.canopee.notification.deferred.v1"]
    data: NotificationData


class NotificationSuppressed(_NotificationEvent):
    topic = Topics.NOTIFICATIONS_OUTCOMES
    type: Literal["fr.canopee.notification.suppressed.v1"]
    data: NotificationData


class SmsReplied(_ServiceEvent):
    topic = Topics.NOTIFICATIONS_OUTCOMES
    subject_field = "tenant_ref"
    type: Literal["fr.canopee.sms.replied.v1"]
    data: SmsRepliedData


class FollowupDone(_ServiceEvent):
    topic = Topics.NOTIFICATIONS_OUTCOMES
    subject_field = "followup_id"
    type: Literal["fr.canopee.followup.done.v1"]
    data: FollowupDoneData


#: the registry: every event type of the contract, once. The lookup table and the discriminated
#: union that ``parse_event`` validates against are both built from it.
EVENT_CLASSES: tuple[type[CloudEvent], ...] = (
    RequestOpened,
    RequestAssigned,
    AppointmentScheduled,
    AppointmentMissed,
    RequestOnHold,
    RequestResumed,
    RepairDone,
    RequestClosed,
    RequestReopened,
    SatisfactionRated,
    TenantContactUpdated,
    TenantConsentChanged,
    TenantErased,
    SlaAtRisk,
    SlaBreached,
    SurveyRequested,
    CampaignAnswered,
    DetractorAlert,
    AlertAcknowledged,
    AlertOverdue,
    NotificationSent,
    NotificationDelivered,
    NotificationFailed,
    NotificationDeferred,
    NotificationSuppressed,
    SmsReplied,
    FollowupDone,
)


def type_name(cls: type[CloudEvent]) -> str:
    """The ``type`` attribute an event class accepts, e.g. ``fr.canopee.repair.done.v1``."""
    name: str = get_args(cls.model_fields["type"].annotation)[0]
    return name


EVENT_TYPES: dict[str, type[CloudEvent]] = {type_name(cls): cls for cls in EVENT_CLASSES}

#: any event of the registry, told apart by its ``type``
AnyEvent: Any = Annotated[Union[EVENT_CLASSES], Field(discriminator="type")]

_ADAPTER: TypeAdapter[CloudEvent] = TypeAdapter(AnyEvent)


class InvalidEvent(ValueError):
    """An event that breaks the contract; ``reason`` names the attribute or field at fault."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_event(raw: bytes | str) -> CloudEvent:
    """Validate one event given as JSON text; raise ``InvalidEvent`` with a reason."""
    try:
        return _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe(exc)) from None


def describe(exc: ValidationError, limit: int = 3) -> str:
    """A short reason naming the attribute or field at fault, e.g. ``data.category: ...``."""
    parts: list[str] = []
    for error in exc.errors(include_url=False)[:limit]:
        loc = [str(p) for p in error["loc"]]
        if loc and loc[0].startswith(TYPE_PREFIX):
            loc = loc[1:]  # the discriminated union's tag, not a field
        message = error["msg"].removeprefix("Value error, ")
        kind = error["type"]
        if kind == "union_tag_invalid":
            loc, message = (
                ["type"],
                f"unknown event type {error['input'].get('type')!r}"[:120]
                if isinstance(error["input"], dict)
                else "unknown event type",
            )
        elif kind == "union_tag_not_found":
            loc, message = ["type"], "missing"
        elif kind == "model_type" and not loc:
            message = "the event must be a JSON object"
        elif kind == "json_invalid":
            message = f"not JSON ({error['ctx'].get('error', 'syntax error')})" if "ctx" in error else "not JSON"
        if ": " in message and not loc and message.split(": ", 1)[0].isidentifier():
            parts.append(message)  # a model rule that already names its attribute
        elif ": " in message and loc == ["data"] and message.split(": ", 1)[0].isidentifier():
            parts.append(f"data.{message}")
        else:
            where = ".".join(loc)
            parts.append(f"{where}: {message}" if where else message)
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def to_record(event: CloudEvent, value: bytes | None = None) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A Kafka record (key, value, headers) for an event: key = subject, structured JSON value
    (``value`` when the event's JSON is already at hand, else serialized here)."""
    json_value = event.to_json() if value is None else value
    return event.subject.encode(), json_value, [("content-type", CONTENT_TYPE.encode())]


def media_type(header: bytes | str) -> str:
    """The media type of a ``content-type`` value, lower-cased, without its parameters."""
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    return text.split(";", 1)[0].strip().lower()


def from_record(value: bytes | None, headers: Any = ()) -> CloudEvent:
    """Validate a Kafka record's value; a wrong ``content-type`` header is invalid too.

    As the CloudEvents Kafka binding says, a ``content-type`` starting with
    ``application/cloudevents`` (any case, parameters such as ``charset=UTF-8`` allowed) marks a
    structured-mode event; only its JSON format is supported. ``application/json`` is taken as
    structured JSON too; anything else is refused, naming the header.
    """
    for name, header in headers or ():
        if name.lower() != "content-type":
            continue
        kind = media_type(header)
        if kind.startswith("application/cloudevents"):
            if kind != CONTENT_TYPE:
                raise InvalidEvent(f"content-type: only {CONTENT_TYPE} is supported, got {kind[:60]!r}")
        elif kind != "application/json":
            raise InvalidEvent(f"content-type: expected {CONTENT_TYPE}, got {header[:60]!r}")
    if value is None:
        raise InvalidEvent("the record has no value")
    return parse_event(value)


#: namespace of the deterministic ids of the events our services emit
ID_NAMESPACE = uuid.UUID("6f1c2a8e-4d3b-5e7f-9a0b-1c2d3e4f5a6b")


E = TypeVar("E", bound=CloudEvent)


def derived_id(*parts: str) -> str:
    """A deterministic event id from its causes (e.g. cause id + purpose): a redelivered cause
    re-emits the same id, so downstream deduplicates."""
    return str(uuid.uuid5(ID_NAMESPACE, "\x1f".join(parts)))


def service_event(
    cls: type[E],
    *,
    service: str,
    officeid: str,
    subject: str,
    time: datetime,
    data: Data | dict[str, Any],
    cause: Sequence[str],
) -> E:
    """Build an event one of our services emits; its id is derived from ``cause``."""
    name = type_name(cls)
    payload = data.model_dump(mode="json", exclude_none=True) if isinstance(data, Data) else data
    raw = {
        "specversion": SPECVERSION,
        "id": derived_id(name, *cause),
        "source": f"/services/{service}",
        "type": name,
        "subject": subject,
        "time": time.isoformat(),
        "officeid": officeid,
        "datacontenttype": "application/json",
        "data": payload,
    }
    return cls.model_validate_json(json.dumps(raw))
