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
from collections.abc import Callable

from shared.http import Caller

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
