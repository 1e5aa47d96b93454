"""HTTP building blocks: health and metrics routes, problem responses (RFC 9457), bearer auth."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.api_docs import document_api
from shared.auth import FailureLimiter, KeyRing, Scope, client_of, log_refusal
from shared.offices import Offices

PROBLEM = "application/problem+json"
#: statuses of a refused caller, logged by the problem handlers
REFUSALS = frozenset({401, 403, 429})


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

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        if exc.status in REFUSALS:  # every refusal is logged, with its reason, never the secret
            log_refusal(request, exc.status, exc.detail or exc.title)
        return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in REFUSALS:
            log_refusal(request, exc.status_code, str(exc.detail))
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}.get(
            exc.status_code, "Error"
        )
        return problem_response(exc.status_code, title, str(exc.detail), headers=getattr(exc, "headers", None))

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return problem_response(422, "Invalid request", "some parameters are invalid", errors=errors)

    document_api(app)  # security schemes and problem responses in the OpenAPI document
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)


@dataclass(frozen=True)
class Caller:
    """Who is calling an operator API: the network admin (every office) or one office, read-only
    (scope ``office-read``) or not (``office-operator``); see shared/auth.py."""

    office: str | None  # None = network admin
    read_only: bool = False

    @property
    def is_admin(self) -> bool:
        return self.office is None

    @property
    def scope(self) -> Scope:
        if self.office is None:
            return Scope.NETWORK_ADMIN
        return Scope.OFFICE_READ if self.read_only else Scope.OFFICE_OPERATOR

    def can_see(self, office: str) -> bool:
        return self.office is None or self.office == office

    def require_operator(self, what: str = "this action") -> None:
        """403 for a read-only caller (acknowledging, exporting, replaying, changing anything)."""
        if self.read_only:
            raise Problem(403, "Forbidden", f"a read-only token cannot do {what}")


def bearer_auth(
    admin_token: str | None,
    offices: Offices,
    *,
    offices_file: Path | None = None,
    limiter: FailureLimiter | None = None,
    keys: KeyRing | None = None,
) -> Callable[[Request], Awaitable[Caller]]:
    """A FastAPI dependency: ``Authorization: Bearer <token>`` → the caller, or a 401 problem
    (429 once a client failed too often). Keys are reloaded from ``offices_file`` when it changes
    or on SIGHUP; every refusal is logged, never with the token."""
    ring = keys or KeyRing(offices, admin_token, offices_file)
    failures = limiter or FailureLimiter()

    async def authenticate(request: Request) -> Caller:
        client = client_of(request)
        wait = failures.retry_after(client)
        if wait > 0:
            raise Problem(
                429,
                "Too Many Requests",
                "too many failed authentications from this client",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Problem(401, "Unauthorized", "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        found = ring.identify(token)
        if found is None:
            failures.failed(client)
            raise Problem(401, "Unauthorized", "unknown token", headers={"WWW-Authenticate": "Bearer"})
        office, scope = found
        return Caller(office=office, read_only=scope is Scope.OFFICE_READ)

    return authenticate


def operator(auth: Callable[[Request], Awaitable[Caller]]) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency like ``auth`` that also refuses read-only callers (403): for routes that
    acknowledge, export, replay or change anything."""

    async def authenticate(request: Request) -> Caller:
        caller = await auth(request)
        caller.require_operator(f"{request.method} {request.url.path}")
        return caller

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
