"""Storage limitation (docs/PRIVACY.md): tenants' words are kept ``comment_retention_days``, then
dropped by a periodic purge (scores, answers and alerts stay for the indicators); voice entries, the
staff list of those words, are deleted after ``voice_retention_days``."""

from __future__ import annotations

import logging
from datetime import timedelta

from services.feedback.ports import Deps

log = logging.getLogger(__name__)


async def purge(deps: Deps, retention_days: float, voice_retention_days: float) -> int:
    """Drop the words recorded more than ``retention_days`` ago and delete the voice entries older
    than ``voice_retention_days``; return how many records changed."""
    now = deps.clock()
    changed = await deps.store.purge_words(now - timedelta(days=retention_days))
    deleted = await deps.store.purge_voice(now - timedelta(days=voice_retention_days))
    if changed or deleted:
        log.info("retention purge: %d records lost their tenant's words, %d voice entries deleted", changed, deleted)
    return changed + deleted
