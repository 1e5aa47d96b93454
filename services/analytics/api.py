"""HTTP API: indicators as JSON or CSV, and the dashboard (bearer token or a session cookie
issued by its login form). An office's token sees its own office and the network totals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.analytics.domain.indicators import NETWORK
from services.analytics.export import contractors_csv, to_csv
from services.analytics.handlers.contractors import ContractorIndicators
from services.analytics.handlers.queries import Indicators
from services.analytics.handlers.reports import MonthlyReports
from shared.http import Caller, Problem
from shared.offices import Offices
from shared.sessions import Sessions as SignedSessions
from shared.sessions import sign_in, sign_out

STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "canopee_analytics_session"

PeriodParam = Annotated[Literal["day", "week", "month"], Query()]
ByParam = Annotated[Literal["office", "contractor"], Query()]
#: the dates a query may name (those of the monthly report): a default range counted back from a
#: date near year 1 would fall out of the calendar
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
From = Annotated[date | None, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY)]
To = Annotated[date | None, Query(alias="to", ge=FIRST_DAY, le=LAST_DAY)]


class Sessions(SignedSessions):
    """The signed session cookie of this page (``shared/sessions.py``)."""

    purpose = b"analytics-session"


def router(
    queries: Callable[[], Indicators],
    auth: Callable[[Request], Awaitable[Caller]],
    offices: Offices,
    sessions: Sessions,
    max_days: int,
    secure_cookie: bool = False,
    contractors: Callable[[], ContractorIndicators] | None = None,
    reports: Callable[[], MonthlyReports] | None = None,
) -> APIRouter:
    api = APIRouter()

    async def caller_of(request: Request) -> Caller:
        """The bearer token if given, else a valid session cookie, else 401."""
        if request.headers.get("authorization"):
            return await auth(request)
        cookie = request.cookies.get(SESSION_COOKIE)
        caller = sessions.read(cookie) if cookie else None
        if caller is None:
            raise Problem(401, "Unauthorized", "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        return caller

    async def kpis(
        caller: Caller, office: str | None, start: date | None, end: date | None, period: str, by: str = "office"
    ) -> dict[str, Any]:
        if office is not None:
            if office not in offices:
                raise Problem(404, "Not Found", f"unknown office {office!r}")
            if not caller.can_see(office):
                raise Problem(403, "Forbidden", "this token sees only its own office and the network")
        end = end or date.today()
        start = start or end - timedelta(days=89)
        if start > end:
            raise Problem(422, "Invalid request", "from must not be after to")
        if (end - start).days + 1 > max_days:
            raise Problem(422, "Invalid request", f"at most {max_days} days per query")
        # the network totals need every office; the caller then sees only what it may
        if by == "contractor" and contractors is not None:
            result = await contractors().contractors(offices.ids, start, end)
        else:
            result = await queries().indicators(offices.ids, start, end, period)  # type: ignore[arg-type]
        visible = [o for o in offices.ids if caller.can_see(o) and (office is None or o == office)]
        result["offices"] = {o: result["offices"][o] for o in visible}
        result["office_names"] = {o: offices.get(o).name for o in visible}  # type: ignore[union-attr]
        return result

    @api.get("/v1/kpis", tags=["indicators"], response_model=None)
    async def get_kpis(
        caller: Caller = Depends(caller_of),
        office: str | None = None,
        start: From = None,
        end: To = None,
        period: PeriodParam = "month",
        format: Literal["json", "csv"] = "json",
        by: ByParam = "office",
    ) -> Response:
        """Indicators per office and period, and the network totals (docs/DOMAIN.md "Indicators");
        ``by=contractor``: the contractor indicators of the range, per office and for the network."""
        if format == "csv":
            caller.require_operator("an export")
        result = await kpis(caller, office, start, end, period, by)
        if format == "csv":
            return _csv(result)
        return JSONResponse(result)

    @api.get("/v1/kpis.csv", tags=["indicators"], response_model=None)
    async def get_kpis_csv(
        caller: Caller = Depends(caller_of),
        office: str | None = None,
        start: From = None,
        end: To = None,
        period: PeriodParam = "month",
        by: ByParam = "office",
    ) -> Response:
        """The same indicators as CSV (one row per office or network and period, plus totals;
        ``by=contractor``: one row per office or network and contractor, plus totals); an export:
        not for read-only tokens."""
        caller.require_operator("an export")
        return _csv(await kpis(caller, office, start, end, period, by))

    @api.get("/v1/reports/monthly", tags=["indicators"], response_model=None)
    async def get_monthly_report(
        month: Annotated[
            str, Query(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$", description="the month, YYYY-MM (1900–2199)")
        ],
        caller: Caller = Depends(caller_of),
        office: str | None = None,
    ) -> Response:
        """The monthly report of an office (or, without ``office``, of the network: the admin
        token only) as a French PDF, from the same figures as ``/v1/kpis``."""
        if reports is None:
            raise Problem(404, "Not Found", "reports are not enabled")
        if office is not None:
            if office not in offices:
                raise Problem(404, "Not Found", f"unknown office {office!r}")
            if not caller.can_see(office):
                raise Problem(403, "Forbidden", "this token sees only its own office")
        elif caller.office is not None:
            raise Problem(403, "Forbidden", "the network report needs the admin token")
        first = date.fromisoformat(f"{month}-01")
        data = await reports().pdf(office, first)
        name = f"rapport-{office or 'reseau'}-{month}.pdf"
        return Response(
            data, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    @api.get("/dashboard/contractors", response_class=HTMLResponse, include_in_schema=False)
    async def contractors_page(request: Request) -> Response:
        try:
            await caller_of(request)
        except Problem:
            return HTMLResponse(_page("login.html"))
        return HTMLResponse(_page("contractors.html"))

    @api.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        try:
            await caller_of(request)
        except Problem:
            return HTMLResponse(_page("login.html"))
        return HTMLResponse(_page("dashboard.html"))

    @api.post("/dashboard/login", include_in_schema=False)
    async def login(request: Request, token: Annotated[str, Form()] = "") -> Response:
        signed = await sign_in(
            request, token, auth, sessions, cookie=SESSION_COOKIE, location="/dashboard", secure=secure_cookie
        )
        if signed is None:
            return HTMLResponse(_page("login.html").replace("<!--error-->", _LOGIN_ERROR), status_code=401)
        return signed

    @api.post("/dashboard/logout", include_in_schema=False)
    async def logout() -> Response:
        return sign_out(cookie=SESSION_COOKIE, location="/dashboard")

    return api


_LOGIN_ERROR = '<p class="error" role="alert">Jeton inconnu.</p>'


def _page(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _csv(result: dict[str, Any]) -> Response:
    result.pop("office_names", None)
    return Response(
        contractors_csv(result) if result.get("by") == "contractor" else to_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="kpis-{result["from"]}-{result["to"]}.csv"'},
    )


__all__ = ["NETWORK", "SESSION_COOKIE", "Sessions", "router"]
