"""Signed session cookies of the staff pages (the dashboard, tenants' words, follow-up tasks).

A cookie is ``<who>.<expires>.<hmac>``: ``who`` is ``admin`` or an office id, with ``+read`` for a
read-only token, so a page logged in with an office-read token stays read-only. Each page signs
with its own key (``purpose`` and the service's admin token), so a cookie of one page opens no other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shared.http import Caller, Problem

#: how long a staff page's login lasts
SESSION_SECONDS = 8 * 3600


class Sessions:
    """Issue and read the signed session cookie of one page (``purpose`` names it)."""

    purpose: bytes = b"session"

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.key = hashlib.sha256(self.purpose + b"\x00" + secret.encode()).digest()
        self.clock = clock

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self.key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, caller: Caller) -> str:
        who = caller.office or "admin"
        payload = f"{who}{'+read' if caller.read_only else ''}.{int(self.clock()) + SESSION_SECONDS}"
        return f"{payload}.{self._sign(payload)}"

    def read(self, value: str) -> Caller | None:
        who, _, rest = value.partition(".")
        expires, _, signature = rest.partition(".")
        if not expires.isdigit() or not hmac.compare_digest(self._sign(f"{who}.{expires}"), signature):
            return None
        if int(expires) < self.clock():
            return None
        office, read = who.removesuffix("+read"), who.endswith("+read")
        return Caller(office=None if office == "admin" else office, read_only=read)


async def sign_in(
    request: Request,
    token: str,
    auth: Callable[[Request], Awaitable[Caller]],
    sessions: Sessions,
    *,
    cookie: str,
    location: str,
    secure: bool,
) -> Response | None:
    """A staff page's login form: ``token`` checked by ``auth`` as the same request with that bearer
    token would be (its client, for the limit of failed attempts); a redirect to ``location`` with
    the page's signed session cookie, or None when the token is refused (the page answers with its
    own form and message)."""
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"]
    headers.append((b"authorization", f"Bearer {token.strip()}".encode()))
    try:
        caller = await auth(Request({**request.scope, "headers": headers}))
    except Problem:
        return None
    response = RedirectResponse(location, status_code=303)
    response.set_cookie(
        cookie,
        sessions.issue(caller),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return response


def sign_out(*, cookie: str, location: str) -> Response:
    """A staff page's logout: back to ``location`` without the session cookie."""
    response = RedirectResponse(location, status_code=303)
    response.delete_cookie(cookie, path="/")
    return response
