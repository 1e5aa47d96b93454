"""Tenants' words ("voice"): every survey comment, campaign comment and free-text SMS reply, kept
for its office's staff with its office, request, score, channel and category, then marked handled
with a short action (docs/DOMAIN.md, "Surveys and ratings"). Phone numbers and e-mail addresses
inside the words are masked before they are stored; an SMS reply naming a request of the tenant
still in progress is linked to it. Pure: the handlers load and store."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.events import derived_id
from shared.observability import mask_personal_data

#: what a handled entry's action may say
VOICE_ACTION_MAX = 300
#: the longest period one list may span (its days are looked up one by one)
VOICE_MAX_SPAN = timedelta(days=366)
#: the period a list covers when none is given
VOICE_DEFAULT_SPAN = timedelta(days=30)
VOICE_LIMIT_MAX = 500

#: an SMS reply made only of digits, spaces and punctuation says nothing more than a score
_WORDLESS = re.compile(r"^[\W\d_]*$")


class VoiceKind(StrEnum):
    SURVEY = "survey"  # the comment of a survey after a request (page, SMS, office rating)
    CAMPAIGN = "campaign"  # the comment of a campaign answer
    SMS = "sms"  # a free-text SMS reply that answered no survey


class VoiceStatus(StrEnum):
    NEW = "new"
    HANDLED = "handled"


@dataclass(frozen=True)
class VoiceEntry:
    """One tenant's words, masked, with what staff need to follow it up."""

    id: str
    office: str
    tenant_ref: str
    kind: VoiceKind
    channel: str
    text: str
    at: datetime
    score: int | None = None
    request_id: str | None = None
    survey_id: str | None = None
    campaign_id: str | None = None
    category: str | None = None
    status: VoiceStatus = VoiceStatus.NEW
    handled_at: datetime | None = None
    action: str | None = None


@dataclass(frozen=True)
class VoiceQuery:
    """A list of an office's (or, for the admin, every office's) words, newest first: ``at`` in
    [since, until), score in [score_min, score_max], category and status when given."""

    since: datetime
    until: datetime
    office: str | None = None
    score_min: int | None = None
    score_max: int | None = None
    category: str | None = None
    status: VoiceStatus | None = None
    limit: int = 100

    def days(self) -> list[str]:
        """The UTC days (ISO dates) the period touches: the store looks entries up by day."""
        first, last = self.since.date(), (self.until - timedelta(microseconds=1)).date()
        return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]

    def accepts(self, entry: VoiceEntry) -> bool:
        return (
            (self.office is None or entry.office == self.office)
            and self.since <= entry.at < self.until
            and (self.score_min is None or (entry.score is not None and entry.score >= self.score_min))
            and (self.score_max is None or (entry.score is not None and entry.score <= self.score_max))
            and (self.category is None or entry.category == self.category)
            and (self.status is None or entry.status is self.status)
        )


def mask(text: str) -> str:
    """The words with phone numbers and e-mail addresses masked (in French: the page shows them)."""
    return mask_personal_data(text).replace("[phone]", "[téléphone masqué]").replace("[email]", "[e-mail masqué]")


def voice_id(cause: str) -> str:
    """One entry per answer or reply: its id derives from the answer's (or reply's) id."""
    return "VOX-" + derived_id("feedback.voice", cause)


def day_of(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


def has_words(text: str | None) -> bool:
    return text is not None and not _WORDLESS.match(text)


def mentioned_request(text: str, in_progress: Mapping[str, str | None]) -> str | None:
    """The first of the tenant's requests in progress (id → category) the text names (any case),
    else None."""
    found: list[tuple[int, str]] = []
    for request_id in in_progress:
        match = re.search(rf"(?<![\w-]){re.escape(request_id)}(?![\w-])", text, re.IGNORECASE)
        if match is not None:
            found.append((match.start(), request_id))
    return min(found)[1] if found else None


def voice_entry(
    cause: str,
    *,
    office: str,
    tenant_ref: str,
    kind: VoiceKind,
    channel: str,
    text: str,
    at: datetime,
    score: int | None = None,
    request_id: str | None = None,
    survey_id: str | None = None,
    campaign_id: str | None = None,
    category: str | None = None,
) -> VoiceEntry:
    """The entry of an answer's comment or an SMS reply (``cause``: its id), its words masked."""
    return VoiceEntry(
        id=voice_id(cause),
        office=office,
        tenant_ref=tenant_ref,
        kind=kind,
        channel=channel,
        text=mask(text),
        at=at,
        score=score,
        request_id=request_id,
        survey_id=survey_id,
        campaign_id=campaign_id,
        category=category,
    )


def handled(entry: VoiceEntry, at: datetime, action: str) -> VoiceEntry:
    """The entry marked handled at ``at`` with the short action staff took (masked too)."""
    return replace(entry, status=VoiceStatus.HANDLED, handled_at=at, action=mask(action.strip()[:VOICE_ACTION_MAX]))
