"""HTTP building blocks: health and metrics routes, problem responses (RFC 9457), bearer auth."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.offices import Offices

PROBLEM = "application/problem+json"


class Problem(Exception):
    """An error answered as ``application/problem+json``."""

    def __init__(self, status: int, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = extra.pop("headers", {}) or {}


def problem_response(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    headers = extra.pop("headers", None)
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error the app returns, including FastAPI's own, is a problem response."""

    async def on_problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}.get(
            exc.status_code, "Error"
        )
        return problem_response(exc.status_code, title, str(exc.detail), headers=getattr(exc, "headers", None))

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return problem_response(422, "Invalid request", "some parameters are invalid", errors=errors)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)


@dataclass(frozen=True)
class Caller:
    """Who is calling an operator API: the admin (every office) or one office."""

    office: str | None  # None = admin

    @property
    def is_admin(self) -> bool:
        return self.office is None

    def can_see(self, office: str) -> bool:
        return self.office is None or self.office == office


def bearer_auth(admin_token: str | None, offices: Offices) -> Callable[[Request], Awaitable[Caller]]:
    """A FastAPI dependency: ``Authorization: Bearer <token>`` → the caller, or a 401 problem."""

    async def authenticate(request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Problem(401, "Unauthorized", "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
            return Caller(office=None)
        office = offices.office_for_key(token)
        if office is None:
            raise Problem(401, "Unauthorized", "unknown token", headers={"WWW-Authenticate": "Bearer"})
        return Caller(office=office.id)

    return authenticate


def health_router(registry: CollectorRegistry, ready: Callable[[], Awaitable[dict[str, bool]]]) -> APIRouter:
    """``/metrics``, ``/health/live`` and ``/health/ready`` (503 when broker or store is unreachable)."""
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @router.get("/health/ready")
    async def is_ready() -> Response:
        checks = await ready()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    return router
