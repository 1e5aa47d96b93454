"""Who may call an API, with which scope, reloaded without a restart; refusals logged without the
secret; brute force slowed down per client.

Scopes (``Scope``):

- ``office-read``: reads its own office's data (lists, requests, indicators); cannot acknowledge,
  export, replay, post events or change anything. Keys: the office's ``read_key_sha256``.
- ``office-operator``: everything of its own office (today's office keys: ``api_key_sha256``).
- ``network-admin``: every office; ``admin_key_sha256`` at the top of the offices file, and the
  ``CANOPEE_ADMIN_TOKEN`` setting (kept for compatibility).

Keys live in the offices file as SHA-256 hashes, several per office (a rotation: add the new hash,
move the callers, remove the old one). ``KeyRing`` reads the file again when its modification time
changes (checked at most once a second, on use) or on ``SIGHUP``; an invalid file is logged and the
keys already loaded stay in force.

``FailureLimiter``: a client (its address) that fails to authenticate ``max_failures`` times within
``window`` seconds gets 429 problems, with ``Retry-After``, until the window has passed.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import signal
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path

from fastapi import Request

from shared.offices import Offices, hash_key, load_offices

log = logging.getLogger(__name__)


class Scope(StrEnum):
    OFFICE_READ = "office-read"
    OFFICE_OPERATOR = "office-operator"
    NETWORK_ADMIN = "network-admin"


_RINGS: weakref.WeakSet[KeyRing] = weakref.WeakSet()
_SIGHUP_INSTALLED = False


def _on_sighup(signum: int, frame: object) -> None:
    for ring in list(_RINGS):
        ring.request_reload()


def _install_sighup() -> None:
    global _SIGHUP_INSTALLED
    if _SIGHUP_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(ValueError, AttributeError, OSError):  # no SIGHUP on this platform
        signal.signal(signal.SIGHUP, _on_sighup)
        _SIGHUP_INSTALLED = True


class KeyRing:
    """Key hash → (office, scope), from the offices file (reloaded) and the admin token setting."""

    def __init__(
        self,
        offices: Offices,
        admin_token: str | None = None,
        path: Path | None = None,
        *,
        check_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.admin_token = admin_token
        self.path = path
        self.check_every = check_every
        self.clock = clock
        self._keys = self._index(offices)
        self._stamp = self._stat()
        self._next_check = clock() + check_every
        self._force = False
        _RINGS.add(self)
        _install_sighup()

    @staticmethod
    def _index(offices: Offices) -> dict[str, tuple[str | None, Scope]]:
        keys: dict[str, tuple[str | None, Scope]] = {}
        for digest in offices.admin_key_sha256:
            keys[digest] = (None, Scope.NETWORK_ADMIN)
        for office in offices.office:
            for digest in office.read_key_sha256:
                keys[digest] = (office.id, Scope.OFFICE_READ)
            for digest in office.api_key_sha256:
                keys[digest] = (office.id, Scope.OFFICE_OPERATOR)
        return keys

    def _stat(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def request_reload(self) -> None:
        """Read the file again at the next use (``SIGHUP``)."""
        self._force = True

    def reload(self) -> bool:
        """Read the file now; False (keys unchanged, error logged) when it is missing or invalid."""
        if self.path is None:
            return False
        stamp = self._stat()
        try:
            offices = load_offices(self.path)
        except Exception as exc:
            log.error("offices file %s not reloaded, the keys in force stay: %s", self.path.name, type(exc).__name__)
            self._stamp = stamp
            return False
        self._keys = self._index(offices)
        self._stamp = stamp
        log.info("keys reloaded from %s", self.path.name)
        return True

    def _maybe_reload(self) -> None:
        now = self.clock()
        if self._force:
            self._force = False
            self._next_check = now + self.check_every
            self.reload()
        elif now >= self._next_check:
            self._next_check = now + self.check_every
            if self._stat() != self._stamp:
                self.reload()

    def identify(self, key: str) -> tuple[str | None, Scope] | None:
        """(office or None for the network, scope) of a presented key, or None when unknown."""
        self._maybe_reload()
        if self.admin_token and hmac.compare_digest(key.encode(), self.admin_token.encode()):
            return (None, Scope.NETWORK_ADMIN)
        return self._keys.get(hash_key(key))


class FailureLimiter:
    """Failed authentications per client within a sliding window; over the limit, refuse."""

    def __init__(
        self,
        max_failures: int = 10,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures

    def retry_after(self, client: str) -> float:
        """Seconds the client must wait (0: it may try)."""
        now = self.clock()
        failures = self._recent(client, now)
        if failures is None or len(failures) < self.max_failures:
            return 0.0
        return max(failures[0] + self.window - now, 0.1)

    def failed(self, client: str) -> None:
        now = self.clock()
        if client not in self._failures and len(self._failures) >= self.max_clients:
            for other in list(self._failures)[: self.max_clients // 10]:  # the oldest clients first
                self._recent(other, now)
                self._failures.pop(other, None)
        self._failures.setdefault(client, deque()).append(now)


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def log_refusal(request: Request, status: int, reason: str) -> None:
    """One line per refusal: route, client and reason; never the presented secret."""
    log.warning(
        "%s %s refused %d: %s (client %s)", request.method, request.url.path, status, reason, client_of(request)
    )


AuthDependency = Callable[[Request], Awaitable[object]]
