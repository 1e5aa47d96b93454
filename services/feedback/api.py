"""HTTP routes: the tenant survey page ``/s/{token}``, the operators' detractor alerts and campaigns.

Operator routes need ``Authorization: Bearer <token>``: the admin token sees every office, an
office's token only its own; another office's alert or campaign answers 404, exactly as one that
does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from services.feedback import page
from services.feedback import voice_page as vpage
from services.feedback.domain import (
    AXIS_QUESTIONS,
    COMMENT_MAX,
    Alert,
    Campaign,
    CampaignError,
    CampaignProgress,
    CampaignSpec,
    OpenSurvey,
    PageOutcome,
    Questions,
    Selection,
)
from services.feedback.domain.alerts import ACTION_MAX
from services.feedback.domain.voice import (
    VOICE_ACTION_MAX,
    VOICE_DEFAULT_SPAN,
    VOICE_LIMIT_MAX,
    VOICE_MAX_SPAN,
    VoiceEntry,
    VoiceQuery,
    VoiceStatus,
)
from services.feedback.export import results_csv, results_json
from services.feedback.forms import form_field, form_field_ok, new_nonce
from services.feedback.handlers import alerts, answers, campaigns, voice
from services.feedback.ports import Deps
from shared.events import Axis, Category
from shared.http import Caller, Problem
from shared.sessions import sign_in, sign_out
from shared.web_security import public_page

VOICE_COOKIE = vpage.SESSION_COOKIE
VOICE_FIRST, VOICE_LAST = datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)

#: the form's anti-forgery cookie: SameSite=Strict, so another site's form post arrives without it
CSRF_COOKIE = "canopee_survey"

#: a form body larger than this is refused (a comment is at most 1000 characters)
MAX_FORM_BYTES = 16_384


def _html(body: str, status: int = 200) -> HTMLResponse:
    return public_page(body, status)


class QuestionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    axes: list[Axis] = Field(default_factory=lambda: list(AXIS_QUESTIONS), min_length=1, max_length=4)
    nps: bool = True
    comment: bool = True

    @model_validator(mode="after")
    def _unique(self) -> Self:
        if len(set(self.axes)) != len(self.axes):
            raise ValueError("axes: each axis at most once")
        return self


class CampaignIn(BaseModel):
    """A campaign: title, offices, which tenants, closing date, questions."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=120)
    offices: list[Annotated[str, Field(pattern=r"^[a-z0-9-]{2,40}$")]] = Field(min_length=1, max_length=50)
    selection: Selection = Selection.CONSENTED
    #: with selection "requests": tenants with a request opened in [period_start, period_end)
    period_start: AwareDatetime | None = None
    period_end: AwareDatetime | None = None
    closes_at: AwareDatetime
    questions: QuestionsIn = Field(default_factory=QuestionsIn)

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.selection is Selection.REQUESTS and (
            self.period_start is None or self.period_end is None or self.period_end <= self.period_start
        ):
            raise ValueError("selection 'requests' needs period_start before period_end")
        if len(set(self.offices)) != len(self.offices):
            raise ValueError("offices: each office at most once")
        return self


class CampaignOut(BaseModel):
    id: str
    title: str
    offices: list[str]
    selection: str
    period_start: datetime | None
    period_end: datetime | None
    closes_at: datetime
    questions: dict[str, Any]
    status: str
    created_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None
    targeted: int | None = None
    invited: int | None = None


def _campaign_out(campaign: Campaign, progress: CampaignProgress | None = None) -> CampaignOut:
    return CampaignOut(
        id=campaign.id,
        title=campaign.title,
        offices=list(campaign.offices),
        selection=campaign.selection.value,
        period_start=campaign.period_start,
        period_end=campaign.period_end,
        closes_at=campaign.closes_at,
        questions={
            "axes": [a.value for a in campaign.questions.axes],
            "nps": campaign.questions.nps,
            "comment": campaign.questions.comment,
        },
        status=campaign.status.value,
        created_at=campaign.created_at,
        opened_at=campaign.opened_at,
        closed_at=campaign.closed_at,
        targeted=campaign.targeted if progress is None else progress.targeted,
        invited=None if progress is None else progress.invited,
    )


class AlertOut(BaseModel):
    id: str
    office: str
    survey_id: str | None
    request_id: str | None
    tenant_ref: str
    score: int
    comment: str | None
    follow_up_due_at: datetime
    created_at: datetime
    open: bool
    acknowledged_at: datetime | None
    #: the campaign whose answer raised it (null: a rating after a request)
    campaign_id: str | None
    #: the answer was older than the office's history horizon when it arrived: recorded, nobody e-mailed
    historical: bool


class AckIn(BaseModel):
    """What the manager did (optional)."""

    model_config = ConfigDict(extra="forbid")

    action: str | None = Field(None, max_length=ACTION_MAX)


class HandledIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=VOICE_ACTION_MAX)

    @model_validator(mode="after")
    def _words(self) -> Self:
        if not self.action.strip():
            raise ValueError("action: say what was done")
        return self


class VoiceParams(BaseModel):
    """Filters of the tenants' words list."""

    model_config = ConfigDict(extra="forbid")

    office: str | None = Field(None, pattern=r"^[a-z0-9-]{2,40}$")
    #: between 1900 and 2199 (a default span counted back from a date near year 1 would fall out of
    #: the calendar)
    since: AwareDatetime | None = Field(None, ge=VOICE_FIRST, le=VOICE_LAST)
    until: AwareDatetime | None = Field(None, ge=VOICE_FIRST, le=VOICE_LAST)
    score_min: int | None = Field(None, ge=1, le=5)
    score_max: int | None = Field(None, ge=1, le=5)
    category: Category | None = None
    status: VoiceStatus | None = None
    limit: int = Field(100, ge=1, le=VOICE_LIMIT_MAX)


class VoiceOut(BaseModel):
    id: str
    office: str
    tenant_ref: str
    kind: str
    channel: str
    #: the tenant's words, phone numbers and e-mail addresses masked
    text: str
    at: datetime
    score: int | None
    request_id: str | None
    survey_id: str | None
    campaign_id: str | None
    category: str | None
    status: str
    handled_at: datetime | None
    action: str | None

    @classmethod
    def of(cls, entry: VoiceEntry) -> VoiceOut:
        return cls.model_validate(
            {**entry.__dict__, "kind": entry.kind.value, "status": entry.status.value}, from_attributes=False
        )


def _alert_out(alert: Alert) -> AlertOut:
    return AlertOut.model_validate(alert, from_attributes=True)


def _int(values: dict[str, list[str]], name: str, low: int, high: int) -> int | None:
    raw = values.get(name, [""])[0].strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(name)
    return int(raw)


def router(
    service: Callable[[], Deps],
    auth: Callable[[Request], Awaitable[Caller]],
    secret: str,
    own_origin: str,
    known_offices: frozenset[str],
) -> APIRouter:
    api = APIRouter()
    secure_cookie = own_origin.startswith("https://")

    def form_response(token: str, opened: OpenSurvey, nonce: str, error: str | None = None) -> HTMLResponse:
        field = form_field(secret, token, nonce)
        if opened.questions is not None:
            body = page.campaign_page(token, field, opened.title or "Votre avis", opened.questions, error)
        else:
            body = page.form_page(token, field, error)
        response = _html(body, 422 if error else 200)
        response.set_cookie(
            CSRF_COOKIE, nonce, max_age=86_400, path="/s/", httponly=True, samesite="strict", secure=secure_cookie
        )
        return response

    def cross_site(request: Request) -> bool:
        # a browser names the page that posted: another site's form is refused. Pages use the
        # same-origin referrer policy: with no-referrer, browsers would send "Origin: null"
        origin = request.headers.get("origin")
        if origin is not None:
            return origin != own_origin
        return request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")

    @api.get("/s/{token}", response_class=HTMLResponse, tags=["tenant page"])
    async def survey_form(token: str, request: Request) -> HTMLResponse:
        outcome, opened = await answers.open_survey(service(), token)
        if outcome is PageOutcome.INVALID or opened is None:
            return _html(page.invalid_page(), 404)
        if outcome is PageOutcome.ALREADY:
            return _html(page.already_page())
        nonce = request.cookies.get(CSRF_COOKIE) or new_nonce()
        return form_response(token, opened, nonce[:64])

    @api.post("/s/{token}", response_class=HTMLResponse, tags=["tenant page"])
    async def survey_answer(token: str, request: Request) -> HTMLResponse:
        if cross_site(request):
            return _html(page.forbidden_page(), 403)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _html(page.forbidden_page(), 413)
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        outcome, opened = await answers.open_survey(service(), token)
        if outcome is PageOutcome.INVALID or opened is None:  # no oracle: same answer for every bad link
            return _html(page.invalid_page(), 404)
        nonce = request.cookies.get(CSRF_COOKIE, "")[:64]
        if not form_field_ok(secret, token, nonce, values.get("form", [""])[0]):
            return _html(page.forbidden_page(), 403)
        if outcome is PageOutcome.ALREADY:
            return _html(page.already_page())
        comment = values.get("comment", [""])[0].strip()[:COMMENT_MAX] or None
        try:
            nps = _int(values, "nps", 0, 10)
        except ValueError:
            return form_response(token, opened, nonce, "La recommandation va de 0 à 10.")
        if opened.questions is not None:
            axes: dict[str, int] = {}
            for axis in opened.questions.axes:
                try:
                    score = _int(values, f"axis_{axis.value}", 1, 5)
                except ValueError:
                    score = None
                if score is None:
                    return form_response(token, opened, nonce, "Merci de répondre à chaque question de 1 à 5.")
                axes[axis.value] = score
            result = await answers.web_campaign_answer(
                service(),
                opened,
                axes,
                nps if opened.questions.nps else None,
                comment if opened.questions.comment else None,
            )
        else:
            try:
                score = _int(values, "score", 1, 5)
            except ValueError:
                score = None
            if score is None:
                return form_response(token, opened, nonce, "Merci de choisir une note de 1 à 5.")
            result = await answers.web_answer(service(), token, score, nps, comment)
        if result is PageOutcome.INVALID:
            return _html(page.invalid_page(), 404)
        if result is PageOutcome.ALREADY:
            return _html(page.already_page())
        return _html(page.thanks_page())

    # --- campaigns (operators) -----------------------------------------------------------------

    async def visible_campaign(campaign_id: str, caller: Caller) -> Campaign:
        campaign = await campaigns.campaign(service(), campaign_id)
        if campaign is None or (caller.office is not None and caller.office not in campaign.offices):
            raise Problem(404, "Not Found", "no such campaign")
        return campaign

    def may_run(campaign: Campaign, caller: Caller) -> None:
        if caller.office is not None and campaign.offices != (caller.office,):
            raise Problem(403, "Forbidden", "a campaign over several offices is run with the admin token")

    @api.post("/v1/campaigns", status_code=201, tags=["campaigns"])
    async def create_campaign(spec: CampaignIn, caller: Caller = Depends(auth)) -> CampaignOut:
        """Create a campaign (draft). An office token may only create one for its own office."""
        caller.require_operator("a campaign")
        unknown = [o for o in spec.offices if o not in known_offices]
        if unknown:
            raise Problem(422, "Invalid request", f"unknown offices: {', '.join(unknown)}")
        if caller.office is not None and spec.offices != [caller.office]:
            raise Problem(403, "Forbidden", "an office token creates campaigns for its own office only")
        deps = service()
        if spec.closes_at <= deps.clock():
            raise Problem(422, "Invalid request", "closes_at must be in the future")
        created = await campaigns.create_campaign(
            deps,
            CampaignSpec(
                title=spec.title,
                offices=tuple(spec.offices),
                selection=spec.selection,
                closes_at=spec.closes_at,
                period_start=spec.period_start,
                period_end=spec.period_end,
                questions=Questions(
                    axes=tuple(spec.questions.axes), nps=spec.questions.nps, comment=spec.questions.comment
                ),
            ),
            created_by=caller.office or "admin",
        )
        return _campaign_out(created)

    @api.get("/v1/campaigns", tags=["campaigns"])
    async def list_campaigns(caller: Caller = Depends(auth)) -> list[CampaignOut]:
        """Campaigns the caller may see (an office token: those including its office)."""
        found = await campaigns.campaigns(service())
        return [_campaign_out(c) for c in found if caller.office is None or caller.office in c.offices]

    @api.get("/v1/campaigns/{campaign_id}", tags=["campaigns"])
    async def read_campaign(campaign_id: str, caller: Caller = Depends(auth)) -> CampaignOut:
        campaign = await visible_campaign(campaign_id, caller)
        return _campaign_out(campaign, await campaigns.progress(service(), campaign))

    @api.post("/v1/campaigns/{campaign_id}/{action}", tags=["campaigns"])
    async def change_campaign(
        campaign_id: str, action: Literal["open", "close"], caller: Caller = Depends(auth)
    ) -> CampaignOut:
        """``open`` selects the tenants and starts the paced sending; ``close`` ends answers."""
        caller.require_operator(f"{action} a campaign")
        campaign = await visible_campaign(campaign_id, caller)
        may_run(campaign, caller)
        deps = service()
        try:
            if action == "open":
                campaign = await campaigns.open_campaign(deps, campaign)
            else:
                campaign = await campaigns.close_campaign(deps, campaign)
        except CampaignError as exc:
            raise Problem(409, "Conflict", str(exc)) from None
        return _campaign_out(campaign, await campaigns.progress(deps, campaign))

    @api.get("/v1/campaigns/{campaign_id}/results", tags=["campaigns"], response_model=None)
    async def campaign_results(
        campaign_id: str,
        caller: Caller = Depends(auth),
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Response:
        """Results per office and per axis with response rates (``format=csv``: one row per office
        and axis). An office token sees its own office only."""
        if format == "csv":
            caller.require_operator("an export")
        campaign = await visible_campaign(campaign_id, caller)
        results = await campaigns.results(service(), campaign, caller.office)
        if format == "csv":
            return Response(
                results_csv(results),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{campaign_id}.csv"'},
            )
        return JSONResponse(
            {"campaign": campaign_id, "status": campaign.status.value, "offices": results_json(results)}
        )

    # --- alerts --------------------------------------------------------------------------------

    @api.get("/v1/alerts", tags=["alerts"])
    async def list_alerts(
        caller: Caller = Depends(auth),
        office: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{2,40}$")] = None,
        open: bool = True,
    ) -> list[AlertOut]:
        """Detractor alerts (the open ones by default), oldest first; ``historical``: raised by an answer
        older than the office's history horizon (recorded, nobody was e-mailed)."""
        if caller.office is not None:
            if office is not None and office != caller.office:
                raise Problem(403, "Forbidden", "an office token sees only its own office")
            office = caller.office
        return [_alert_out(a) for a in await alerts.list_alerts(service(), office, open)]

    @api.post("/v1/alerts/{alert_id}/ack", tags=["alerts"])
    async def ack_alert(alert_id: str, body: AckIn | None = None, caller: Caller = Depends(auth)) -> AlertOut:
        """Acknowledge (close) a detractor alert: the manager called the tenant back; ``action``
        (optional, at most 300 characters) says what was done. The first acknowledgement publishes
        ``feedback.alert_acknowledged`` (the action with phone numbers and e-mails redacted). Not for
        read-only tokens."""
        caller.require_operator("an acknowledgement")
        alert = await alerts.acknowledge(service(), alert_id, caller.office, body.action if body else None)
        if alert is None:
            raise Problem(404, "Not Found", "no such alert")
        return _alert_out(alert)

    # --- tenants' words ------------------------------------------------------------------------

    sessions = vpage.VoiceSessions(secret)

    async def voice_caller(request: Request) -> Caller:
        """The bearer token if given, else the voice page's session cookie, else 401."""
        if request.headers.get("authorization"):
            return await auth(request)
        cookie = request.cookies.get(VOICE_COOKIE)
        caller = sessions.read(cookie) if cookie else None
        if caller is None:
            raise Problem(401, "Unauthorized", "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        return caller

    async def voice_query(caller: Caller, params: VoiceParams) -> VoiceQuery:
        deps = service()
        until = params.until or deps.clock()
        since = params.since or until - VOICE_DEFAULT_SPAN
        if since >= until:
            raise Problem(422, "Invalid request", "since must be before until")
        if until - since > VOICE_MAX_SPAN:
            raise Problem(422, "Invalid request", "a list spans at most 366 days")
        if params.score_min is not None and params.score_max is not None and params.score_min > params.score_max:
            raise Problem(422, "Invalid request", "score_min must not be above score_max")
        return VoiceQuery(
            since=since,
            until=until,
            office=voice_scope(caller, params.office, known_offices),
            score_min=params.score_min,
            score_max=params.score_max,
            category=params.category.value if params.category else None,
            status=params.status,
            limit=params.limit,
        )

    @api.get("/v1/voice", tags=["tenants' words"])
    async def list_voice(
        params: Annotated[VoiceParams, Query()], caller: Caller = Depends(voice_caller)
    ) -> list[VoiceOut]:
        """Tenants' words (survey and campaign comments, free-text SMS replies) of the caller's
        office (the admin: every office, or ``office``), newest first, over [since, until) (default:
        the last 30 days), filtered by score, request category and status. Phone numbers and e-mail
        addresses inside the words are masked."""
        query = await voice_query(caller, params)
        return [VoiceOut.of(e) for e in await voice.list_voice(service(), query)]

    async def handle(entry_id: str, caller: Caller, action: str) -> VoiceOut:
        caller.require_operator("marking tenants' words handled")
        try:
            entry = await voice.mark_handled(service(), entry_id, caller.office, action)
        except voice.AlreadyHandled:
            raise Problem(409, "Conflict", "this entry is already handled") from None
        if entry is None:
            raise Problem(404, "Not Found", "no such entry")
        return VoiceOut.of(entry)

    @api.post("/v1/voice/{entry_id}/handled", tags=["tenants' words"])
    async def voice_handled(entry_id: str, body: HandledIn, caller: Caller = Depends(voice_caller)) -> VoiceOut:
        """Mark an entry handled with the short action taken (1–300 characters). Another office's
        entry answers 404, as one that does not exist; an entry handled already answers 409."""
        return await handle(entry_id, caller, body.action)

    @api.get("/voice", response_class=HTMLResponse, include_in_schema=False)
    async def voice_page(request: Request, status: str = "") -> Response:
        try:
            caller = await voice_caller(request)
        except Problem:
            return _html(vpage.login_page())
        chosen = VoiceStatus(status) if status in VoiceStatus._value2member_map_ else None  # "": every entry
        query = await voice_query(caller, VoiceParams(status=chosen))
        return _html(vpage.list_page(await voice.list_voice(service(), query), chosen.value if chosen else None))

    @api.post("/voice/login", include_in_schema=False)
    async def voice_login(request: Request) -> Response:
        if cross_site(request):
            return _html(page.forbidden_page(), 403)
        values = parse_qs((await request.body())[:MAX_FORM_BYTES].decode("utf-8", "replace"))
        token = values.get("token", [""])[0]
        signed = await sign_in(
            request, token, auth, sessions, cookie=VOICE_COOKIE, location="/voice", secure=secure_cookie
        )
        return signed if signed is not None else _html(vpage.login_page(error=True), 401)

    @api.post("/voice/logout", include_in_schema=False)
    async def voice_logout() -> Response:
        return sign_out(cookie=VOICE_COOKIE, location="/voice")

    @api.post("/voice/{entry_id}/handled", include_in_schema=False)
    async def voice_page_handled(entry_id: str, request: Request) -> Response:
        if cross_site(request):
            return _html(page.forbidden_page(), 403)
        caller = await voice_caller(request)
        values = parse_qs((await request.body())[:MAX_FORM_BYTES].decode("utf-8", "replace"))
        action = values.get("action", [""])[0].strip()
        if action:
            try:
                await handle(entry_id, caller, action[:VOICE_ACTION_MAX])
            except Problem as exc:
                if exc.status != 409:
                    raise
        return RedirectResponse("/voice", status_code=303)

    return api


def voice_scope(caller: Caller, office: str | None, known_offices: frozenset[str]) -> str | None:
    """The one office whose words a caller lists (None: every office, the admin only). The single
    place that decides who sees which office's words: swap it when tokens carry finer scopes."""
    if office is not None and office not in known_offices:
        raise Problem(404, "Not Found", f"unknown office {office!r}")
    if caller.office is not None:
        if office is not None and office != caller.office:
            raise Problem(403, "Forbidden", "an office token sees only its own office")
        return caller.office
    return office


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
