"""The staff pages' signed session cookies (shared/sessions.py)."""

from __future__ import annotations

from services.analytics.api import Sessions as DashboardSessions
from services.feedback.voice_page import VoiceSessions
from services.notifications.followups_page import Sessions as FollowupSessions
from shared.http import Caller
from shared.sessions import SESSION_SECONDS


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
