"""Tenants' words: every comment of an answer (a survey after a request, a campaign) and every
free-text SMS reply is kept as a voice entry, its words masked, filed under its office with its
request (an SMS reply naming one of the tenant's requests in progress is linked to it), score,
channel and category; staff list them and mark one handled with a short action."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.feedback.domain.answers import Answer, CampaignAnswer, UnparsedReply
from services.feedback.domain.voice import (
    VoiceEntry,
    VoiceKind,
    VoiceQuery,
    VoiceStatus,
    handled,
    has_words,
    mentioned_request,
    voice_entry,
)
from services.feedback.ports import Deps


async def _linked(deps: Deps, office: str, tenant_ref: str, text: str) -> tuple[str | None, str | None]:
    """The tenant's request in progress the words name, and its category."""
    in_progress = await deps.store.requests_in_progress(office, tenant_ref)
    request_id = mentioned_request(text, in_progress) if in_progress else None
    return request_id, (in_progress.get(request_id) if request_id is not None else None)


async def _keep(deps: Deps, entry: VoiceEntry) -> None:
    if await deps.store.add_voice(entry):
        deps.metrics.voice.labels(entry.office, entry.kind.value).inc()


async def on_answer(deps: Deps, answer_id: str, answer: Answer, at: datetime) -> None:
    """The comment of a first answer to a survey after a request (or of an office rating)."""
    entry = await answer_entry(deps, answer_id, answer, at)
    if entry is not None:
        await _keep(deps, entry)


async def on_answers(deps: Deps, answers: Sequence[tuple[str, Answer | CampaignAnswer, datetime]]) -> None:
    """``on_answer`` (``on_campaign_answer``) of each answer, their entries kept in one write (each
    once, by id)."""
    entries = []
    for answer_id, answer, at in answers:
        if isinstance(answer, Answer):
            entry = await answer_entry(deps, answer_id, answer, at)
        else:
            entry = await campaign_entry(deps, answer_id, answer, at)
        if entry is not None:
            entries.append(entry)
    if entries:
        kept = await deps.store.add_voices(entries)
        for entry in entries:
            if entry.id in kept:
                deps.metrics.voice.labels(entry.office, entry.kind.value).inc()


async def answer_entry(deps: Deps, answer_id: str, answer: Answer, at: datetime) -> VoiceEntry | None:
    """The voice entry of an answer's comment (None: no words), linked to its request."""
    if not has_words(answer.comment):
        return None
    assert answer.comment is not None
    request_id, category = answer.request_id, None
    if request_id is None:
        request_id, category = await _linked(deps, answer.office, answer.tenant_ref, answer.comment)
    elif category is None:
        category = await deps.store.request_category(answer.office, request_id)
    return voice_entry(
        answer_id,
        office=answer.office,
        tenant_ref=answer.tenant_ref,
        kind=VoiceKind.SURVEY,
        channel=answer.channel,
        text=answer.comment,
        at=at,
        score=answer.score,
        request_id=request_id,
        survey_id=answer.survey_id,
        category=category,
    )


async def on_campaign_answer(deps: Deps, answer_id: str, answer: CampaignAnswer, at: datetime) -> None:
    """The comment of a first campaign answer; its score is the lowest axis rated."""
    entry = await campaign_entry(deps, answer_id, answer, at)
    if entry is not None:
        await _keep(deps, entry)


async def campaign_entry(deps: Deps, answer_id: str, answer: CampaignAnswer, at: datetime) -> VoiceEntry | None:
    """The voice entry of a campaign answer's comment (None: no words), linked to the request it
    names."""
    if not has_words(answer.comment):
        return None
    assert answer.comment is not None
    request_id, category = await _linked(deps, answer.office, answer.tenant_ref, answer.comment)
    return voice_entry(
        answer_id,
        office=answer.office,
        tenant_ref=answer.tenant_ref,
        kind=VoiceKind.CAMPAIGN,
        channel=answer.channel,
        text=answer.comment,
        at=at,
        score=min(answer.axes.values(), default=None),
        request_id=request_id,
        survey_id=answer.survey_id,
        campaign_id=answer.campaign_id,
        category=category,
    )


async def on_reply(deps: Deps, reply: UnparsedReply) -> None:
    """A free-text SMS reply that answered no survey."""
    if not has_words(reply.text):
        return
    request_id, category = await _linked(deps, reply.office, reply.tenant_ref, reply.text)
    entry = voice_entry(
        reply.id,
        office=reply.office,
        tenant_ref=reply.tenant_ref,
        kind=VoiceKind.SMS,
        channel="sms",
        text=reply.text,
        at=reply.at,
        request_id=request_id,
        category=category,
    )
    await _keep(deps, entry)


async def list_voice(deps: Deps, query: VoiceQuery) -> list[VoiceEntry]:
    """Entries of ``query`` (one office, or every office of the offices file), newest first."""
    offices = deps.offices.ids if deps.offices is not None else []
    return await deps.store.voices(query, offices)


class AlreadyHandled(Exception):
    """The entry was marked handled before."""


async def mark_handled(deps: Deps, entry_id: str, office: str | None, action: str) -> VoiceEntry | None:
    """Mark an entry handled with the action staff took; None when it does not exist or belongs to
    another office (``office``: the caller's, None for the admin); ``AlreadyHandled`` when it was."""
    entry = await deps.store.voice(entry_id)
    if entry is None or (office is not None and entry.office != office):
        return None
    if entry.status is VoiceStatus.HANDLED:
        raise AlreadyHandled(entry_id)
    done = handled(entry, deps.clock(), action)
    assert done.handled_at is not None
    assert done.action is not None
    await deps.store.mark_handled(entry_id, done.handled_at, done.action)
    deps.metrics.voice_handled.labels(entry.office).inc()
    return done
