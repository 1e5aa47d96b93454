"""The staff pages' signed session cookies (shared/sessions.py)."""

from __future__ import annotations

from starlette.requests import Request

from services.analytics.api import Sessions as DashboardSessions
from services.feedback.voice_page import VoiceSessions
from services.notifications.followups_page import Sessions as FollowupSessions
from shared.http import Caller, Problem
from shared.sessions import SESSION_SECONDS, sign_in, sign_out


def test_a_session_keeps_who_logged_in_and_whether_read_only() -> None:
    sessions = FollowupSessions("admin-token-0123456789", clock=lambda: 1_000.0)
    for caller in (Caller(office=None), Caller(office="demo-nord"), Caller(office="demo-nord", read_only=True)):
        assert sessions.read(sessions.issue(caller)) == caller


def test_a_forged_expired_or_other_page_cookie_is_refused() -> None:
    now = [1_000.0]
    voice = VoiceSessions("admin-token-0123456789", clock=lambda: now[0])
    cookie = voice.issue(Caller(office="demo-nord", read_only=True))
    assert voice.read(cookie.replace("+read", "")) is None  # dropping read-only breaks the signature
    assert DashboardSessions("admin-token-0123456789").read(cookie) is None  # another page's key
    assert VoiceSessions("another-admin-token-0000").read(cookie) is None
    now[0] += SESSION_SECONDS + 1
    assert voice.read(cookie) is None


async def test_sign_in_checks_the_token_as_a_bearer_and_sets_the_page_cookie() -> None:
    seen: list[tuple[bytes, str]] = []

    async def auth(request: Request) -> Caller:
        seen.append((request.headers["authorization"].encode(), request.client.host if request.client else ""))
        if request.headers["authorization"] != "Bearer demo-nord-demo-key":
            raise Problem(401, "Unauthorized", "unknown token")
        return Caller(office="demo-nord")

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/followups/login",
        "headers": [(b"authorization", b"Bearer someone-else"), (b"origin", b"https://x.example")],
        "client": ("203.0.113.9", 4321),
    }
    sessions = FollowupSessions("admin-token-0123456789", clock=lambda: 1_000.0)
    # refused: None (the page answers with its own form), the client kept for the failed-login limit
    refused = await sign_in(Request(scope), "wrong", auth, sessions, cookie="c", location="/followups", secure=True)
    assert refused is None and seen == [(b"Bearer wrong", "203.0.113.9")]
    # the typed token (spaces around it dropped) replaces any bearer the request carried
    signed = await sign_in(
        Request(scope), " demo-nord-demo-key\n", auth, sessions, cookie="c", location="/followups", secure=True
    )
    assert signed is not None and signed.status_code == 303 and signed.headers["location"] == "/followups"
    cookie = signed.headers["set-cookie"]
    value = cookie.split(";", 1)[0].removeprefix("c=")
    assert sessions.read(value) == Caller(office="demo-nord")
    for attribute in ("HttpOnly", "SameSite=strict", "Secure", "Path=/", f"Max-Age={SESSION_SECONDS}"):
        assert attribute in cookie, cookie
    plain = await sign_in(Request(scope), "demo-nord-demo-key", auth, sessions, cookie="c", location="/", secure=False)
    assert plain is not None and "Secure" not in plain.headers["set-cookie"]
    out = sign_out(cookie="c", location="/followups")
    assert out.status_code == 303 and 'c=""' in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
