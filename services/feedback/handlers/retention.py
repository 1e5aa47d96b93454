"""Storage limitation (docs/PRIVACY.md): tenants' words are kept ``comment_retention_days``, then
dropped by a periodic purge; scores, answers and alerts stay for the indicators."""

from __future__ import annotations

import logging
from datetime import timedelta

from services.feedback.ports import Deps

log = logging.getLogger(__name__)


async def purge(deps: Deps, retention_days: float) -> int:
    """Drop the words recorded more than ``retention_days`` ago; return how many records changed."""
    changed = await deps.store.purge_words(deps.clock() - timedelta(days=retention_days))
    if changed:
        log.info("retention purge: %d records lost their tenant's words", changed)
    return changed
