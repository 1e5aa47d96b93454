"""The tenant's request-tracker link, shared by the two services that meet on it.

Ticketing serves the tracker page (it owns the lifecycle); notifications puts the link in the
acknowledgement of ``request.opened``. Neither tells the other the link over the bus: both derive
the same token from a secret they share (``CANOPEE_TRACKER_SECRET``) and the request's office and
id — ``HMAC-SHA256(secret, "tracker" office request_id)``, 192 bits written in 32 URL-safe
characters. Nothing about the request can be read from the token, and without the secret nobody
can compute one. Ticketing records the *digest* of each token it derives when it applies
``request.opened`` and only answers tokens whose digest it holds: a token is revoked by deleting
its record (erasure of the tenant), and the page expires 30 days after the request was closed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

#: bytes of the HMAC kept in a token (192 bits, at least 128 as required of tenant links)
TOKEN_BYTES = 24
#: the tracker page's path; the token follows it
PATH = "/t/"


def tracker_token(secret: str, office: str, request_id: str) -> str:
    """The tracker token of a request (32 characters of ``[A-Za-z0-9_-]``)."""
    message = b"tracker\x00" + office.encode() + b"\x00" + request_id.encode()
    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:TOKEN_BYTES]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_digest(token: str) -> str:
    """What is stored of a token (SHA-256 hex): a leaked database gives no working link."""
    return hashlib.sha256(token.encode()).hexdigest()


def tracker_url(base_url: str, token: str) -> str:
    """The tenant's link: ``<base_url>/t/<token>``."""
    return base_url.rstrip("/") + PATH + token
