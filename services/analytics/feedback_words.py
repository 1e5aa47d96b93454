"""The tenants' words of a month, read from feedback's API (``GET /v1/voice``) when a monthly report
is drawn, with a read token (``CANOPEE_ANALYTICS_FEEDBACK_TOKEN``). Nothing is kept: the list is
handed to the report and dropped. A failure (feedback down, a timeout, a refusal, an answer that is
not a list) gives None and one log line naming only the kind of failure, never the words."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import httpx

from services.analytics.settings import AnalyticsSettings

log = logging.getLogger(__name__)


class FeedbackWords:
    """Reads one office's (or, ``office`` None, every office's) words over [since, until)."""

    def __init__(
        self, base_url: str, token: str, timeout_seconds: float = 5.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_seconds = timeout_seconds
        self.transport = transport

    async def words(
        self, office: str | None, since: datetime, until: datetime, limit: int
    ) -> list[dict[str, Any]] | None:
        params: dict[str, str | int] = {"since": since.isoformat(), "until": until.isoformat(), "limit": limit}
        if office is not None:
            params["office"] = office
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self.timeout_seconds,
                headers={"Authorization": f"Bearer {self.token}", "User-Agent": "canopee-analytics/1"},
                transport=self.transport,
            ) as client:
                response = await client.get("/v1/voice", params=params)
        except httpx.HTTPError as exc:
            log.warning("tenants' words not read from feedback: %s", type(exc).__name__)
            return None
        if response.status_code != 200:
            log.warning("tenants' words not read from feedback: HTTP %d", response.status_code)
            return None
        try:
            entries = response.json()
        except ValueError:
            entries = None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            log.warning("tenants' words not read from feedback: the answer is not a list of entries")
            return None
        return entries


def words_source(settings: AnalyticsSettings) -> FeedbackWords | None:
    """The report's source of words from analytics' settings; None when the feature is off."""
    if not settings.feedback_url or settings.feedback_token is None:
        return None
    return FeedbackWords(
        settings.feedback_url, settings.feedback_token.get_secret_value(), settings.feedback_timeout_seconds
    )
