"""The request API's questions: where one request stands now and the SLA alerts recorded for it,
filtered pages of request summaries (with an opaque cursor), and the open-requests gauge."""

from __future__ import annotations

import base64
import binascii
import re

from services.ticketing.domain.views import AlertRecord, RequestFilter, RequestSummary, View
from services.ticketing.handlers.context import Ticketing
from services.ticketing.handlers.projections import view_of


class InvalidCursor(ValueError):
    pass


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The key a cursor stands for; ``InvalidCursor`` for anything this API did not hand out."""
    try:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", cursor):
            raise ValueError(cursor)
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor: not one this API returned") from None
    if "|" not in key:
        raise InvalidCursor("cursor: not one this API returned")
    return key


async def find_request(t: Ticketing, office: str, request_id: str) -> View | None:
    """A request folded and evaluated now, or None when no event of it is known."""
    facts = await t.requests.get(office, request_id)
    if facts is None:
        return None
    return view_of(t, office, request_id, facts, t.clock())


async def alerts_of(t: Ticketing, office: str, request_id: str) -> list[AlertRecord]:
    """The SLA alerts recorded for a request (live or historical), ordered by key."""
    return await t.alerts.of_request(office, request_id)


async def list_requests(
    t: Ticketing, where: RequestFilter, limit: int, cursor: str | None
) -> tuple[list[RequestSummary], str | None]:
    """One page of summaries ordered by office and id; the cursor of the next page if any
    (``InvalidCursor`` for a cursor this API did not hand out)."""
    after = decode_cursor(cursor) if cursor else None
    items, more = await t.requests.page(where, limit, after)
    return items, (encode_cursor(items[-1].key) if more and items else None)


async def refresh_gauges(t: Ticketing) -> None:
    """Set the open-requests gauge from the store."""
    counts = await t.requests.count_open()
    t.metrics.open_requests.clear()
    for (office, state), n in counts.items():
        t.metrics.open_requests.labels(office, state).set(n)
