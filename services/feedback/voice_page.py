"""The staff page of tenants' words (``/voice``): French, server-rendered, no JavaScript. It logs
in as the analytics dashboard does: the office's token (or the admin token) typed once into a form,
then a signed session cookie (``VoiceSessions``) for eight hours."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from services.feedback.domain.voice import VoiceEntry, VoiceStatus
from shared.sessions import Sessions as SignedSessions

SESSION_COOKIE = "canopee_voice_session"

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1a1a1a;background:#f6f7f5}main{max-width:60rem;margin:0 auto;padding:1rem}h1{color:#14532d}
article{background:#fff;border:1px solid #9ca3af;border-radius:.5rem;padding:.75rem;margin:0 0 1rem}
.meta{font-size:.9rem;color:#374151}blockquote{margin:.5rem 0;padding-left:.75rem;border-left:4px solid #14532d}
input,select,button{font:inherit;min-height:2.5rem}button{color:#fff;background:#14532d;border:0;
border-radius:.4rem;padding:0 1rem;cursor:pointer}:focus-visible{outline:3px solid #b45309;outline-offset:2px}
.handled{color:#14532d;font-weight:700}.error{color:#991b1b;font-weight:700}
"""

_KINDS = {"survey": "commentaire d'enquête", "campaign": "commentaire de campagne", "sms": "réponse SMS"}
_CATEGORIES = {
    "repair": "réparation",
    "common_areas": "parties communes",
    "heating_hot_water": "chauffage, eau chaude",
    "neighbourhood": "voisinage",
    "administrative": "administratif",
    "rent_charges": "loyer, charges",
    "transfer": "mutation",
    "other": "autre",
}


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex"><meta name="referrer" content="same-origin">'
        f"<title>{escape(title)} – Canopée</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def login_page(error: bool = False) -> str:
    message = '<p class="error" role="alert">Jeton inconnu.</p>' if error else ""
    return _page(
        "Paroles de locataires",
        "<h1>Paroles de locataires</h1>"
        + message
        + '<form method="post" action="/voice/login"><label for="token">Jeton de l\'agence</label> '
        '<input id="token" name="token" type="password" autocomplete="current-password" required> '
        "<button>Se connecter</button></form>",
    )


def _entry(entry: VoiceEntry) -> str:
    facts = [entry.at.strftime("%d/%m/%Y %H:%M UTC"), _KINDS.get(entry.kind.value, entry.kind.value)]
    facts.append(f"canal {entry.channel}")
    if entry.score is not None:
        facts.append(f"note {entry.score}/5")
    if entry.category:
        facts.append(_CATEGORIES.get(entry.category, entry.category))
    if entry.request_id:
        facts.append(f"demande {entry.request_id}")
    facts.append(f"locataire {entry.tenant_ref}")
    meta = " · ".join(escape(f) for f in facts)
    if entry.status is VoiceStatus.HANDLED:
        done = entry.handled_at.strftime("%d/%m/%Y %H:%M UTC") if entry.handled_at else ""
        follow = f'<p class="handled">Traitée le {escape(done)} : {escape(entry.action or "")}</p>'
    else:
        follow = (
            f'<form method="post" action="/voice/{escape(entry.id)}/handled">'
            f'<label for="a-{escape(entry.id)}">Action menée</label> '
            f'<input id="a-{escape(entry.id)}" name="action" maxlength="300" required> '
            "<button>Marquer traitée</button></form>"
        )
    return (
        f'<article><p class="meta">{meta} · {escape(entry.office)}</p>'
        f"<blockquote>{escape(entry.text)}</blockquote>{follow}</article>"
    )


def list_page(entries: Sequence[VoiceEntry], status: str | None) -> str:
    choices = [("", "toutes"), ("new", "à traiter"), ("handled", "traitées")]
    options = "".join(
        f'<option value="{v}"{" selected" if (status or "") == v else ""}>{label}</option>' for v, label in choices
    )
    items = "".join(_entry(e) for e in entries) or "<p>Aucune parole de locataire sur la période.</p>"
    return _page(
        "Paroles de locataires",
        "<h1>Paroles de locataires</h1>"
        '<form method="get" action="/voice"><label for="status">Afficher</label> '
        f'<select id="status" name="status">{options}</select> <button>Filtrer</button></form>'
        f"<p>{len(entries)} paroles, les plus récentes d'abord (30 derniers jours). Numéros de téléphone et "
        "adresses e-mail masqués.</p>"
        + items
        + '<form method="post" action="/voice/logout"><button>Se déconnecter</button></form>',
    )


class VoiceSessions(SignedSessions):
    """The signed session cookie of this page (``shared/sessions.py``)."""

    purpose = b"voice-session"
