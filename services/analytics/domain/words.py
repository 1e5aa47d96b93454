"""Tenants' words of the month in the monthly report: analytics keeps no comment, so at report time
only it reads the month's words from feedback (``GET /v1/voice``), and the report shows how many
were received and handled and a few recent excerpts, masked again here (phone numbers, e-mail
addresses) and cut short. Nothing of them is stored, logged or counted in a metric. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.observability import mask_personal_data

#: the longest excerpt the report prints (characters, "…" included)
EXCERPT_MAX = 200
#: the most entries one report reads from feedback (the API's own maximum)
WORDS_FETCH_MAX = 500

UNAVAILABLE = (
    "Les paroles de locataires du mois n'ont pas pu être lues dans le service des enquêtes "
    "(service indisponible ou accès refusé) ; elles se consultent dans le service des enquêtes."
)

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Words:
    """What the report says of the month's words: a sentence and the excerpts."""

    summary: str
    excerpts: Sequence[str] = ()


def mask(text: str) -> str:
    """The words with phone numbers and e-mail addresses masked (as feedback masks them)."""
    return mask_personal_data(text).replace("[phone]", "[téléphone masqué]").replace("[email]", "[e-mail masqué]")


def excerpt(text: str, limit: int = EXCERPT_MAX) -> str:
    """One masked excerpt on one line, at most ``limit`` characters."""
    flat = _SPACES.sub(" ", mask(text)).strip()
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def _when(entry: Mapping[str, object]) -> str:
    at = _at(entry)
    return "—" if at.year == 1 else at.strftime("%d/%m")


def _at(entry: Mapping[str, object]) -> datetime:
    try:
        at = datetime.fromisoformat(str(entry.get("at")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def select_words(lists: Mapping[str, Sequence[Mapping[str, object]]], count: int) -> Words:
    """The report's words from feedback's lists of the month, one per office: how many were
    received and handled, and the ``count`` most recent excerpts, each masked and cut short. An
    entry of another office than its list's is left out; a full list (``WORDS_FETCH_MAX``) makes
    the count a lower bound."""
    entries = sorted(
        (e for office, found in lists.items() for e in found if e.get("office") == office), key=_at, reverse=True
    )
    received = len(entries)
    if received == 0:
        return Words("Aucune parole de locataire reçue ce mois.")
    handled = sum(1 for e in entries if e.get("status") == "handled")
    at_least = "au moins " if any(len(found) >= WORDS_FETCH_MAX for found in lists.values()) else ""
    summary = (
        f"{at_least}{received} parole{'s' if received > 1 else ''} de locataires reçue{'s' if received > 1 else ''} "
        f"ce mois, dont {handled} traitée{'s' if handled > 1 else ''}. "
        f"Les plus récentes (numéros de téléphone et adresses e-mail masqués) :"
    )
    excerpts = []
    for entry in entries[:count]:
        score = entry.get("score")
        note = f", note {score}/5" if isinstance(score, int) else ""
        excerpts.append(f"{_when(entry)}{note} — « {excerpt(str(entry.get('text') or ''))} »")
    return Words(summary[0].upper() + summary[1:], excerpts)
