"""The tenant survey page: server-rendered French HTML, mobile first, no JavaScript needed.

Accessibility: ``lang="fr"``, one ``fieldset``/``legend`` radio group per question, every control
labelled, large touch targets, a visible focus ring, text contrast above WCAG AA.
"""

from __future__ import annotations

from html import escape

from services.feedback.domain import AXIS_QUESTIONS, AXIS_TITLES, Questions

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:18px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1a1a1a;background:#f6f7f5}main{max-width:36rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;color:#14532d;margin:.5rem 0 1rem}fieldset{border:1px solid #6b7280;border-radius:.5rem;
margin:0 0 1.25rem;padding:.75rem}legend{font-weight:700;padding:0 .25rem}
.scale{display:flex;flex-wrap:wrap;gap:.5rem}.scale label{flex:1 0 3rem;min-height:3rem;display:flex;
align-items:center;justify-content:center;border:2px solid #14532d;border-radius:.5rem;background:#fff;
cursor:pointer;font-weight:700}.scale input{position:absolute;opacity:0;width:1px;height:1px}
.scale input:checked+span{color:#fff}.scale label:has(input:checked){background:#14532d;color:#fff}
.scale input:focus-visible+span{outline:3px solid #b45309;outline-offset:4px}
.hint{font-size:.9rem;color:#374151;margin:.25rem 0 0}textarea{width:100%;min-height:7rem;font:inherit;
padding:.5rem;border:2px solid #6b7280;border-radius:.5rem}
button{width:100%;min-height:3.25rem;font:inherit;font-weight:700;color:#fff;background:#14532d;border:0;
border-radius:.5rem;cursor:pointer}:focus-visible{outline:3px solid #b45309;outline-offset:2px}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex"><meta name="referrer" content="same-origin">'
        f"<title>{escape(title)} – Canopée</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _scale(name: str, values: range, required: bool, low: str, high: str) -> str:
    req = " required" if required else ""
    items = "".join(
        f'<label><input type="radio" name="{name}" value="{v}"{req if i == 0 else ""}><span>{v}</span></label>'
        for i, v in enumerate(values)
    )
    return f'<div class="scale">{items}</div><p class="hint">{escape(low)} … {escape(high)}</p>'


def form_page(token: str, form_field: str, error: str | None = None) -> str:
    """The survey form: score 1–5 required, recommendation 0–10 and comment optional."""
    alert = f'<p role="alert" style="color:#991b1b;font-weight:700">{escape(error)}</p>' if error else ""
    body = (
        "<h1>Votre avis sur l'intervention</h1>"
        "<p>Trois questions, dix secondes. Merci de nous aider à mieux vous servir.</p>"
        f"{alert}"
        f'<form method="post" action="/s/{escape(token)}">'
        f'<input type="hidden" name="form" value="{escape(form_field)}">'
        "<fieldset><legend>Êtes-vous satisfait(e) de l'intervention ? (obligatoire)</legend>"
        + _scale("score", range(1, 6), True, "1 = pas du tout satisfait", "5 = très satisfait")
        + "</fieldset>"
        "<fieldset><legend>Recommanderiez-vous votre bailleur à un proche ? (facultatif)</legend>"
        + _scale("nps", range(0, 11), False, "0 = pas du tout", "10 = certainement")
        + "</fieldset>"
        '<p><label for="comment"><strong>Un commentaire ?</strong> (facultatif, 1000 caractères au plus)</label>'
        '<textarea id="comment" name="comment" maxlength="1000"></textarea></p>'
        '<button type="submit">Envoyer mon avis</button></form>'
    )
    return _page("Votre avis", body)


def campaign_page(token: str, form_field: str, title: str, questions: Questions, error: str | None = None) -> str:
    """A campaign's form: one required 1–5 rating per charter axis asked, then the optional
    recommendation and comment when the campaign asks them."""
    alert = f'<p role="alert" style="color:#991b1b;font-weight:700">{escape(error)}</p>' if error else ""
    parts = [
        f"<h1>{escape(title)}</h1>",
        "<p>Quelques questions sur nos services, une minute au plus. De 1 (pas du tout satisfait) "
        "à 5 (très satisfait).</p>",
        alert,
        f'<form method="post" action="/s/{escape(token)}">',
        f'<input type="hidden" name="form" value="{escape(form_field)}">',
    ]
    for axis in questions.axes:
        parts.append(
            f"<fieldset><legend>{escape(AXIS_QUESTIONS[axis])} (obligatoire)</legend>"
            f'<p class="hint">{escape(AXIS_TITLES[axis])}</p>'
            + _scale(f"axis_{axis.value}", range(1, 6), True, "1 = pas du tout satisfait", "5 = très satisfait")
            + "</fieldset>"
        )
    if questions.nps:
        parts.append(
            "<fieldset><legend>Recommanderiez-vous votre bailleur à un proche ? (facultatif)</legend>"
            + _scale("nps", range(0, 11), False, "0 = pas du tout", "10 = certainement")
            + "</fieldset>"
        )
    if questions.comment:
        parts.append(
            '<p><label for="comment"><strong>Un commentaire ?</strong> (facultatif, 1000 caractères au plus)</label>'
            '<textarea id="comment" name="comment" maxlength="1000"></textarea></p>'
        )
    parts.append('<button type="submit">Envoyer mes réponses</button></form>')
    return _page("Votre avis", "".join(parts))


def thanks_page() -> str:
    return _page(
        "Merci",
        "<h1>Merci pour votre avis !</h1><p>Votre réponse a bien été enregistrée. "
        "Elle nous aide à améliorer nos interventions.</p>",
    )


def already_page() -> str:
    return _page(
        "Déjà répondu",
        "<h1>Vous avez déjà répondu</h1><p>Une réponse a déjà été enregistrée pour cette enquête. Merci !</p>",
    )


def invalid_page() -> str:
    """One page for a link that does not exist and one that expired: the two are not told apart."""
    return _page(
        "Lien non valable",
        "<h1>Ce lien n'est plus valable</h1><p>Ce lien d'enquête est inconnu ou a expiré. "
        "Pour nous donner votre avis, contactez votre agence.</p>",
    )


def forbidden_page() -> str:
    return _page(
        "Envoi refusé",
        "<h1>Envoi refusé</h1><p>Ce formulaire n'a pas pu être vérifié. Rouvrez le lien reçu et réessayez.</p>",
    )
