"""Follow-up tasks: a tenant message that could not go out digitally becomes a task for the office
(call, counter, visit, letter), with the words to tell the tenant; doing it emits ``followup.done``
(docs/DOMAIN.md, "Nobody left out"). Pure: which outcomes call for a task, the task, its event."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.events import FollowupChannel, FollowupDone, FollowupDoneData, FollowupOutcome, derived_id, service_event

from .policy import Reason

SERVICE = "notifications"

#: why a tenant message could not go out digitally, when it calls for a task; history (``stale``),
#: erasure, cancellations and unknown requests do not
TASK_REASONS = frozenset(
    {Reason.PREFERENCE_NONE.value, Reason.NO_CONTACT.value, Reason.CONSENT_WITHDRAWN.value, "failed"}
)

#: the reasons in the office's words on the worklist
REASON_WORDS = {
    Reason.PREFERENCE_NONE.value: "ne souhaite aucun message écrit",
    Reason.NO_CONTACT.value: "aucun téléphone ni e-mail connu",
    Reason.CONSENT_WITHDRAWN.value: "a retiré son accord pour les SMS et e-mails",
    "failed": "les envois par SMS et e-mail ont échoué",
}


class FollowupStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


def followup_id(cause_id: str, template: str) -> str:
    """One task per cause and message, whatever the channels tried."""
    return derived_id("followup", cause_id, template)


@dataclass(frozen=True)
class Followup:
    """A tenant to follow up in person, and what to tell them."""

    id: str
    office: str
    cause_id: str
    cause_type: str
    request_id: str | None
    tenant_ref: str | None
    template: str
    reason: str
    #: the message the tenant should have received (what to tell them)
    text: str
    created_at: datetime
    status: FollowupStatus = FollowupStatus.OPEN
    channel: FollowupChannel | None = None
    outcome: FollowupOutcome | None = None
    done_at: datetime | None = None
    #: whether ``followup.done`` reached the bus (the outbox's mark)
    published: bool = True

    def done(self, channel: FollowupChannel, outcome: FollowupOutcome, at: datetime) -> Followup:
        return replace(self, status=FollowupStatus.DONE, channel=channel, outcome=outcome, done_at=at, published=False)


def calls_for_task(reason: str | None, to_tenant: bool) -> bool:
    """Whether a tenant message's end (suppressed for ``reason``, or ``failed``) calls for a task."""
    return to_tenant and reason in TASK_REASONS


def done_event(task: Followup) -> FollowupDone:
    """``followup.done`` of a task done (its id derived from the task's: emitted once)."""
    if task.channel is None or task.outcome is None or task.done_at is None:
        raise ValueError(f"follow-up {task.id} is not done")
    return service_event(
        FollowupDone,
        service=SERVICE,
        officeid=task.office,
        subject=task.id,
        time=task.done_at,
        data=FollowupDoneData(
            followup_id=task.id,
            cause_id=task.cause_id,
            request_id=task.request_id,
            channel=task.channel,
            outcome=task.outcome,
            done_at=task.done_at,
        ),
        cause=(task.id, "done"),
    )
