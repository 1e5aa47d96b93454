"""The survey form's anti-forgery field (HTTP side): an HMAC bound to the link's token and to the
browser's SameSite=Strict cookie nonce."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def form_field(secret: str, token: str, nonce: str) -> str:
    """The anti-forgery field of a survey form, bound to its token and to the browser's cookie nonce."""
    message = b"survey-form\x1f" + token.encode() + b"\x1f" + nonce.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def form_field_ok(secret: str, token: str, nonce: str, value: str) -> bool:
    if not nonce or not value:
        return False
    return hmac.compare_digest(form_field(secret, token, nonce).encode(), value.encode())


def new_nonce() -> str:
    return secrets.token_urlsafe(16)
