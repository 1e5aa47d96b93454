"""The office's follow-up worklist page: server-rendered French HTML, no JavaScript. Whom to call
or see, what to tell them, and a form to record how it went. Signed in like the analytics
dashboard: the office's token (or the admin token) in a login form, then a signed session cookie.

The tenant's phone is printed here, to office staff, and nowhere else (never in the JSON list,
never in a log)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from shared.sessions import Sessions as SignedSessions

from .domain.followups import REASON_WORDS, Followup

SESSION_COOKIE = "canopee_followups_session"

CHANNEL_WORDS = {"phone": "Appel", "counter": "Accueil", "visit": "Visite", "letter": "Courrier"}
OUTCOME_WORDS = {"reached": "Locataire informé(e)", "unreachable": "Injoignable", "refused": "A refusé"}

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:17px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1a1a1a;background:#f6f7f5}main{max-width:60rem;margin:0 auto;padding:1rem}h1{color:#14532d}
article{background:#fff;border:1px solid #6b7280;border-radius:.5rem;padding:.75rem;margin:0 0 1rem}
blockquote{margin:.5rem 0;padding:.5rem .75rem;border-left:4px solid #14532d;background:#f0fdf4}
label{margin-right:.75rem}select,input,button{font:inherit;min-height:2.5rem}button{background:#14532d;
color:#fff;border:0;border-radius:.4rem;padding:0 1rem}:focus-visible{outline:3px solid #b45309;outline-offset:2px}
"""


class Sessions(SignedSessions):
    """The signed session cookie of this page (``shared/sessions.py``)."""

    purpose = b"followups-session"


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">'
        f"<title>{escape(title)} – Canopée</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def login_page(error: bool = False) -> str:
    alert = '<p role="alert" style="color:#991b1b;font-weight:700">Jeton inconnu.</p>' if error else ""
    return _page(
        "Suivis à faire",
        "<h1>Suivis à faire</h1>"
        f"{alert}"
        '<form method="post" action="/followups/login"><p><label for="token">Jeton de votre agence</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" required></p>'
        '<button type="submit">Se connecter</button></form>',
    )


def worklist_page(items: Sequence[tuple[Followup, str | None]], office_names: dict[str, str]) -> str:
    """Open tasks, oldest first: who, why, what to tell them, the form to close each."""
    parts = [
        "<h1>Suivis à faire</h1>",
        f"<p>{len(items)} locataire(s) à joindre par téléphone, à l'accueil, en visite ou par courrier : "
        "ils n'ont reçu aucun message écrit.</p>",
    ]
    channels = "".join(f'<option value="{k}">{escape(v)}</option>' for k, v in CHANNEL_WORDS.items())
    outcomes = "".join(f'<option value="{k}">{escape(v)}</option>' for k, v in OUTCOME_WORDS.items())
    for task, phone in items:
        who = f"Locataire {escape(task.tenant_ref or 'inconnu')}"
        call = f' · <a href="tel:{escape(phone)}">{escape(phone)}</a>' if phone else " · aucun téléphone connu"
        about = f" · demande {escape(task.request_id)}" if task.request_id else ""
        # past its retention a task has lost its words (docs/PRIVACY.md)
        words = (
            f"<p>À lui dire :</p><blockquote>{escape(task.text)}</blockquote>"
            if task.text
            else "<p>Texte effacé (durée de conservation dépassée).</p>"
        )
        parts.append(
            f'<article id="task-{escape(task.id)}"><h2>{who}{call}</h2>'
            f"<p>{escape(office_names.get(task.office, task.office))}{about} · "
            f"{escape(REASON_WORDS.get(task.reason, task.reason))}</p>"
            f"{words}"
            f'<form method="post" action="/followups/{escape(task.id)}/done">'
            f'<label>Comment <select name="channel">{channels}</select></label>'
            f'<label>Résultat <select name="outcome">{outcomes}</select></label>'
            '<button type="submit">Fait</button></form></article>'
        )
    if not items:
        parts.append("<p>Aucun suivi en attente.</p>")
    parts.append('<form method="post" action="/followups/logout"><button type="submit">Se déconnecter</button></form>')
    return _page("Suivis à faire", "".join(parts))
