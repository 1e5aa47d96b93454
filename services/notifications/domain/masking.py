"""Masked forms of recipients for the audit log: ``+33 6 •• •• •• 78``, ``l•••@example.org``."""

from __future__ import annotations

import phonenumbers

DOT = "•"


def mask_phone(e164: str) -> str:
    """Country code, first national digit and the last two digits; the rest hidden."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return DOT * 4
    national = str(parsed.national_number)
    if len(national) < 4:
        return f"+{parsed.country_code} {DOT * 4}"
    hidden = len(national) - 3
    pairs = " ".join(DOT * 2 for _ in range((hidden + 1) // 2))
    return f"+{parsed.country_code} {national[0]} {pairs} {national[-2:]}"


def mask_email(address: str) -> str:
    """First letter of the local part, then dots, then the domain."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return DOT * 3
    return f"{local[0]}{DOT * 3}@{domain}"


def mask_recipient(address: str) -> str:
    return mask_email(address) if "@" in address else mask_phone(address)
