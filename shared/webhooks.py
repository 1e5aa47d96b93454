"""Signed webhooks, per the Standard Webhooks scheme (https://www.standardwebhooks.com/).

A call carries three headers: ``webhook-id`` (the message id, the same on the sender's retries),
``webhook-timestamp`` (Unix seconds when it was sent) and ``webhook-signature``: one or more
space-separated ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``. The receiver refuses a
call whose timestamp is outside its tolerance window (5 minutes by default, either way), whose
signature matches none of its secrets, or whose id it has already accepted (a replay: ids are kept
for longer than the window, after which a replay is refused as stale anyway).

Secrets are ``whsec_<base64 key>``; any other string is used as the key's UTF-8 bytes (secrets of
earlier versions). Two secrets can be valid at once (a rotation: give the receiver both, move the
sender to the new one, then drop the old one); the setting holds them separated by spaces.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret
#: how far a call's timestamp may be from the receiver's clock, either way
DEFAULT_TOLERANCE_SECONDS = 300.0
#: most secrets valid at once (the current one and the next, during a rotation)
MAX_SECRETS = 2


class InvalidSecret(ValueError):
    """A webhook secret that cannot be used (says why, never shows the secret)."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: ``whsec_`` + base64, or (earlier versions) the string's bytes."""
    secret = secret.strip()
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidSecret("a whsec_ secret must be followed by base64") from None
    else:
        key = secret.encode()
    if len(key) < 16:
        raise InvalidSecret("a webhook secret must hold at least 16 bytes")
    return key


def parse_secrets(value: str) -> list[bytes]:
    """The keys of a setting holding one or two secrets separated by spaces."""
    secrets = value.split()
    if not secrets:
        raise InvalidSecret("no webhook secret given")
    if len(secrets) > MAX_SECRETS:
        raise InvalidSecret(f"at most {MAX_SECRETS} webhook secrets at once (a rotation)")
    return [secret_key(s) for s in secrets]


def new_secret() -> str:
    """A fresh random secret in the standard form."""
    return SECRET_PREFIX + base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """The headers a sender (the SMS provider, the demo's tenants, a test) adds to a call."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret_key(secret), msg_id, timestamp, body),
        "content-type": "application/json",
    }


@dataclass(frozen=True)
class Refusal(Exception):
    """Why a call is refused: an HTTP status and a detail that never shows a secret."""

    status: int
    detail: str


@dataclass(frozen=True)
class Verified:
    msg_id: str
    timestamp: int


def verify(
    keys: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> Verified:
    """Check a call's headers against the keys; raise ``Refusal`` (401) when anything is off.
    Replays (an id already accepted) are the caller's to refuse, with the id returned here."""
    msg_id = headers.get(ID_HEADER, "")
    raw_timestamp = headers.get(TIMESTAMP_HEADER, "")
    signatures = headers.get(SIGNATURE_HEADER, "")
    if not msg_id or not raw_timestamp or not signatures:
        raise Refusal(401, f"missing {ID_HEADER}, {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if len(msg_id) > 256:
        raise Refusal(401, f"{ID_HEADER} is too long")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise Refusal(401, f"{TIMESTAMP_HEADER} is not a Unix time in seconds") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise Refusal(401, f"{TIMESTAMP_HEADER} is outside the tolerance window ({int(tolerance)} s)")
    given = [s for s in signatures.split() if s.startswith("v1,")]
    for key in keys:
        expected = signature(key, msg_id, timestamp, body)
        if any(hmac.compare_digest(expected.encode(), s.encode()) for s in given):
            return Verified(msg_id, timestamp)
    raise Refusal(401, f"no valid v1 signature in {SIGNATURE_HEADER}")
